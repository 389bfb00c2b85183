"""Checks on everything a checkpoint or run state holds, made before anything is built from it.

``weights_only=True`` stops a file from running code; these checks stop its data from lying:
a saved ``ModelConfig`` must fit the tensors there (one claiming ``hidden=10**9`` would else
allocate gigabytes first), every tensor is a finite, dense float one of its layer's shape, and a
run state's optimizer and scheduler are built as this package writes them. Each check raises
:class:`Invalid`, which the loaders put in a one-line message naming the file and the fix.
"""

from __future__ import annotations

import math
import reprlib
import sys
from dataclasses import fields

import torch

from ..errors import UserError
from ..models.config import ModelConfig
from .config import TrainConfig

CONFIG_KEY = "mnist_ae"  # where ModelConfig lives in the state dict's _metadata
LAB_KEYS = ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias",
            "fc3.weight", "fc3.bias", "fc4.weight", "fc4.bias")
FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
MODEL_FIELDS = tuple(f.name for f in fields(ModelConfig))
STATE_TYPES = {"epoch": int, "history": dict, "optimizer": dict, "scheduler": dict, "rng": list,
               "model": dict, "model_config": dict, "train_config": dict}
HISTORY_KEYS = ("losses", "lrs", "seconds")
ADAM_STATE = ("step", "exp_avg", "exp_avg_sq")
FIXED = ("betas", "eps", "weight_decay", "initial_lr", "max_lr", "min_lr")  # Adam's settings but lr
FREE = ("params", "foreach", "fused")  # checked apart: torch's choice of kernel is true, false or None


class Invalid(ValueError):
    """What is wrong with a file's contents, as a phrase for the loader's one-line message."""


class Foreign(Invalid):  # not the lab's 4-layer autoencoder at all: other keys
    pass


def short(text: str, limit: int = 60) -> str:
    text = text if text.isprintable() else text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= limit else text[:limit - 3] + "..."


def show(value) -> str:  # a value in a message, as Python writes it
    return short(reprlib.repr(value), 40)


def finite(value) -> bool:  # a number that fits a float (a pickle's int may have 400 digits)
    return isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) <= sys.float_info.max


def dims(shape) -> str:
    return "x".join(map(str, shape)) if len(shape) else "a scalar"


def layer_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Each weight's shape in a model of ``config``, in the order of its parameters."""
    c = config
    return {"fc1.weight": (c.hidden, c.input_dim), "fc1.bias": (c.hidden,),
            "fc2.weight": (c.bottleneck, c.hidden), "fc2.bias": (c.bottleneck,),
            "fc3.weight": (c.hidden, c.bottleneck), "fc3.bias": (c.hidden,),
            "fc4.weight": (c.output_dim, c.hidden), "fc4.bias": (c.output_dim,)}


def check_tensor(value, name: str, ndim: int | None = None, dtypes=FLOATS) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise Invalid(f"{name} is a {type(value).__name__}, not a tensor")
    if value.layout != torch.strided:
        raise Invalid(f"{name} is a {str(value.layout).replace('torch.', '')} tensor, not a dense one")
    if value.dtype not in dtypes:
        wanted = "floating-point" if dtypes is FLOATS else "/".join(str(d)[6:] for d in dtypes)
        raise Invalid(f"{name} holds {str(value.dtype)[6:]} values, not {wanted} ones")
    if ndim is not None and value.dim() != ndim:
        raise Invalid(f"{name} is {value.dim()}-D ({dims(value.shape)}), not {ndim}-D")
    return value


def check_finite(value: torch.Tensor, name: str) -> None:
    """No NaN or Inf, also once a float64 tensor is cast to the model's float32."""
    finite = torch.isfinite(value.float() if value.dtype == torch.float64 else value)
    if not bool(finite.all()):
        raise Invalid(f"{name} holds {int(finite.numel() - finite.sum())} NaN or infinite values "
                      "(no run of train.py saves them: training stops on a non-finite loss)")


def check_keys(state) -> None:
    if not isinstance(state, dict) or set(state) != set(LAB_KEYS):
        found = ", ".join(sorted(short(str(k), 30) for k in state)[:4]) if isinstance(state, dict) else \
            type(state).__name__
        raise Foreign(f"expected keys fc1.weight ... fc4.bias, found {found or 'nothing'}")


def check_weights(state, config: ModelConfig | None = None, source: str = "") -> ModelConfig:
    """The 8 lab tensors: keys, types, shapes against ``config`` (or read off them), all finite."""
    check_keys(state)
    for key in LAB_KEYS:
        check_tensor(state[key], key, ndim=2 if key.endswith("weight") else 1)
    if config is None:
        config, source = config_from_shapes(state), "its other layers"
    for key, shape in layer_shapes(config).items():
        if tuple(state[key].shape) != shape:
            raise Invalid(f"inconsistent layer shapes: {key} is {dims(state[key].shape)} where {source} "
                          f"({config.layer_sizes}-{config.output_dim}) say{'s' * source.endswith('config')} "
                          f"{dims(shape)}")
    for key in LAB_KEYS:
        check_finite(state[key], key)
    return config


def config_from_shapes(state: dict) -> ModelConfig:
    """The shape of a plain state_dict the lab saved, read off fc1, fc2 and fc4."""
    hidden, input_dim = state["fc1.weight"].shape
    side = math.isqrt(input_dim)
    image_shape = (1, side, side) if side * side == input_dim else (1, 1, input_dim)
    try:
        return ModelConfig(input_dim=input_dim, hidden=hidden, bottleneck=state["fc2.weight"].shape[0],
                           output_dim=state["fc4.weight"].shape[0], image_shape=image_shape)
    except ValueError as err:
        raise Invalid(f"its weights make an impossible model: {err}") from None


def model_config(saved, what: str, require_all: bool) -> ModelConfig:
    """A saved ``ModelConfig``; fields it lacks take their defaults unless ``require_all``."""
    if not isinstance(saved, dict):
        raise Invalid(f"its {what} is a {type(saved).__name__}, not a dict")
    for name in (name for name in MODEL_FIELDS if require_all and name not in saved):
        raise Invalid(f"its {what} has no {name!r}")
    values = {name: saved[name] for name in MODEL_FIELDS if name in saved}
    shape = values.get("image_shape", (1, 1, 1))
    if not isinstance(shape, (list, tuple)) or len(shape) != 3 or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in shape):
        raise Invalid(f"its {what} has image_shape {show(shape)}, not 3 positive whole numbers "
                      "(channels, height, width)")
    try:
        config = ModelConfig(**values)
    except (TypeError, ValueError) as err:
        raise Invalid(f"invalid {what}: {short(str(err), 120)}") from None
    if math.prod(config.image_shape) != config.input_dim:
        raise Invalid(f"its {what} has image_shape {list(config.image_shape)} "
                      f"({math.prod(config.image_shape)} pixels) for {config.input_dim} inputs")
    return config


def checkpoint_weights(state) -> ModelConfig:
    """A weights file (``MLP.8.pth``): its ModelConfig, once the file is found whole and sound."""
    check_keys(state)
    metadata = getattr(state, "_metadata", None) or {}
    if not isinstance(metadata, dict) or not isinstance(metadata.get("", {}), dict):
        raise Invalid("its _metadata is not the dict torch.save writes")
    saved = metadata.get("", {}).get(CONFIG_KEY)
    if saved is None:  # a plain state_dict from the lab's code: its shape is read off the weights
        return check_weights(state)
    return check_weights(state, model_config(saved, "saved model config", require_all=False),
                         "its saved model config")


def run_state(state: dict) -> TrainConfig:
    """A run state (``MLP.8.pth.state``) as :meth:`.Trainer.run_state` writes it; its TrainConfig."""
    for key, kind in STATE_TYPES.items():
        if not isinstance(state.get(key), kind) or isinstance(state.get(key), bool):
            raise Invalid(f"no valid {key!r}")
    try:  # a new run's optimizer and schedule, built from the saved settings, model the saved ones
        train = TrainConfig.from_dict(state["train_config"])
        group, schedule = fresh_states(train)
    except (TypeError, ValueError, ArithmeticError, UserError) as err:
        raise Invalid(f"training config: {short(str(err) or type(err).__name__, 120)}") from None
    check_history(state["history"], state["epoch"])
    if state.get("device", "cpu") not in ("cpu", "cuda"):
        raise Invalid(f"unknown device {show(state.get('device'))}")
    check_rng(state["rng"], state.get("device", "cpu"))
    config = check_weights(state["model"], model_config(state["model_config"], "model config", require_all=True),
                           "its model config")
    check_optimizer(state["optimizer"], config, group)
    check_scheduler(state["scheduler"], train, schedule, state["epoch"])
    return train


def check_history(history: dict, epoch: int) -> None:
    for key in sorted(set(history) - set(HISTORY_KEYS), key=str):
        raise Invalid(f"unexpected {show(key)} in its loss history")
    for key in HISTORY_KEYS:
        values = history.get(key, ())
        if not isinstance(values, list) or not all(finite(v) and v >= 0 for v in values):
            raise Invalid(f"its history's {key} are not a list of finite numbers of at least 0")
    if not 0 < epoch == len(history["losses"]) == len(history["lrs"]) == len(history["seconds"]):
        raise Invalid(f"epoch {epoch} does not match its loss history")


def check_rng(rng: list, device: str) -> None:
    if not rng:
        raise Invalid("no generator states")
    cpu_size = torch.get_rng_state().numel()
    for rank, entry in enumerate(rng):
        if not isinstance(entry, dict) or not {"torch", "shuffle"} <= set(entry) <= {"torch", "shuffle", "cuda"}:
            raise Invalid(f"generator state {rank} is not the torch, shuffle (and cuda) states train.py saves")
        for name, value in entry.items():
            check_tensor(value, f"generator state {rank}'s {name}", ndim=1, dtypes=(torch.uint8,))
        for name in ("torch", "shuffle") if device == "cpu" else ("torch",):
            if entry[name].numel() != cpu_size:
                raise Invalid(f"generator state {rank}'s {name} has {entry[name].numel()} bytes, not {cpu_size}")


def fresh_states(train: TrainConfig, steps_per_epoch: int = 4) -> tuple[dict, dict]:
    """A new run's param group and scheduler state: what a saved one must look like."""
    # FlatAdam: torch's own Adam imports the compiler (seconds) the first time one is built.
    from .fused_step import FlatAdam
    from .plain_loop import make_scheduler

    optimizer = FlatAdam([torch.zeros(1, requires_grad=True)], lr=float(train.lr),
                         weight_decay=float(train.weight_decay))
    scheduler = make_scheduler(optimizer, train, steps_per_epoch)
    return optimizer.state_dict()["param_groups"][0], scheduler.state_dict()


def check_optimizer(optimizer: dict, config: ModelConfig, template: dict) -> None:
    """Adam's state for one param group: the model's 8 tensors (autograd step) or one flat one (fused)."""
    if set(optimizer) != {"state", "param_groups"}:
        raise Invalid("its optimizer state is not Adam's state and param_groups")
    groups = optimizer["param_groups"]
    if not isinstance(groups, list) or len(groups) != 1 or not isinstance(groups[0], dict):
        raise Invalid("its optimizer state does not hold the one param group train.py saves")
    group, shapes = groups[0], list(layer_shapes(config).values())
    params = group.get("params")
    if not isinstance(params, list) or not all(type(p) is int for p in params) or params not in (
            [0], list(range(len(shapes)))):
        raise Invalid(f"optimizer params {show(params)} are neither [0] (fused step) nor [0, ..., 7] (autograd step)")
    like({k: v for k, v in group.items() if k not in FREE}, {k: v for k, v in template.items() if k not in FREE},
         "optimizer param group")
    for key in group:
        wrong = key in FIXED and list(group[key] if key == "betas" else [group[key]]) != list(
            template[key] if key == "betas" else [template[key]])
        if wrong or key in FREE[1:] and not isinstance(group[key], (bool, type(None))):
            raise Invalid(f"optimizer param group {key!r} is {show(group[key])}, not "
                          f"{show(template[key]) if wrong else 'true, false or None'}")
    state = optimizer["state"]
    if not isinstance(state, dict) or set(state) != set(params):
        raise Invalid("its optimizer state does not cover exactly the parameters of its param group")
    for index, shape in zip(params, shapes if len(params) > 1 else [(sum(math.prod(s) for s in shapes),)]):
        entry, where = state[index], f"optimizer state of parameter {index}"
        if not isinstance(entry, dict) or set(entry) != set(ADAM_STATE):
            raise Invalid(f"{where} is not Adam's step, exp_avg and exp_avg_sq")
        step = entry["step"]
        if isinstance(step, torch.Tensor):
            step = check_tensor(step, f"{where}'s step", ndim=0).item()
        if not finite(step) or step < 0:
            raise Invalid(f"{where}'s step is {show(step)}, not a count of steps")
        for name in ADAM_STATE[1:]:
            value = check_tensor(entry[name], f"{where}'s {name}")
            if tuple(value.shape) != shape:
                raise Invalid(f"{where}'s {name} is {dims(value.shape)} where its parameter is {dims(shape)}")
            check_finite(value, f"{where}'s {name}")
        if bool((entry["exp_avg_sq"] < 0).any()):
            raise Invalid(f"{where}'s exp_avg_sq has negative values")


def check_scheduler(scheduler: dict, train: TrainConfig, template: dict, epoch: int) -> None:
    """The saved schedule has the fields, types and fixed settings of a new one (``template``)."""
    like(scheduler, template, "scheduler")
    if train.schedule == "onecycle":  # one step per batch, laid out over all epochs
        total, done = scheduler["total_steps"], scheduler["last_epoch"]
        per_epoch = total // train.epochs
        if total < train.epochs or total % train.epochs or done != epoch * per_epoch or \
                scheduler["_schedule_phases"] != fresh_states(train, per_epoch)[1]["_schedule_phases"]:
            raise Invalid(f"its one-cycle schedule ({done} of {total} steps taken) is not one of {epoch} of "
                          f"{train.epochs} epochs")


def like(value, template, where: str, signed: bool = False) -> None:
    """``value`` is built as ``template``: the same keys, lengths, kinds, flags, strings; numbers at
    least 0 unless ``signed`` (a one-cycle phase's end_step is -0.4 on short runs)."""
    if isinstance(template, dict):
        if not isinstance(value, dict):
            raise Invalid(f"{where} is a {type(value).__name__}, not a dict")
        for key in sorted(set(value) ^ set(template), key=str):
            raise Invalid(f"{where} has {'no' if key in template else 'an unexpected'} {show(key)}")
        for key, t in template.items():
            like(value[key], t, f"{where} {key!r}", signed=key == "end_step")
        return
    if isinstance(template, bool) or template is None or isinstance(template, str):
        ok, wanted = type(value) is type(template) and value == template, show(template)
    elif isinstance(template, (int, float)):  # infinite only where a new one is (a plateau's best loss)
        ok = finite(value) or (math.isinf(template) and isinstance(value, float) and math.isinf(value))
        ok = ok and (signed or value >= 0) and (isinstance(template, float) or isinstance(value, int))
        wanted = f"a {'whole' if isinstance(template, int) else 'finite'} number" + " of at least 0" * (not signed)
    elif isinstance(template, (list, tuple)):
        ok, wanted = isinstance(value, (list, tuple)) and len(value) == len(template), f"{len(template)} values"
        for i, (v, t) in enumerate(zip(value, template) if ok else ()):
            like(v, t, f"{where}[{i}]", signed)
    else:
        ok, wanted = type(value) is type(template), type(template).__name__
    if not ok:
        raise Invalid(f"{where} is {show(value)}, not {wanted}")
