"""Checks on a run state (``MLP.8.pth.state``) beyond its weights: the history, the generators,
and Adam's and the schedule's states, each built as this package writes them (see
:mod:`.validation` for the weights and the model config). Each check raises
:class:`~.validation.Invalid`.
"""

from __future__ import annotations

import math

import torch

from ..data.sources import DataConfig
from ..errors import UserError
from ..models import registry
from ..models.config import ModelConfig
from .config import EARLIER_DATA_FIELDS, RECIPE_NAMES, RunConfig, TrainConfig
from .validation import (
    Invalid,
    check_finite,
    check_model_weights,
    check_tensor,
    dims,
    finite,
    model_config,
    short,
    show,
)

STATE_TYPES = {"epoch": int, "history": dict, "optimizer": dict, "scheduler": dict, "rng": list, "model": dict}
HISTORY_KEYS = ("losses", "lrs", "seconds")
ADAM_STATE = ("step", "exp_avg", "exp_avg_sq")
FIXED = ("betas", "eps", "weight_decay", "initial_lr", "max_lr", "min_lr")  # Adam's settings but lr
FREE = ("params", "foreach", "fused")  # checked apart: torch's choice of kernel is true, false or None


def run_state(state: dict) -> RunConfig:
    """A run state (``MLP.8.pth.state``) as :meth:`.Trainer.run_state` writes it; its RunConfig."""
    for key, kind in STATE_TYPES.items():
        if not isinstance(state.get(key), kind) or isinstance(state.get(key), bool):
            raise Invalid(f"no valid {key!r}")
    model_values, train_values, data_values, recipe = saved_configs(state)
    try:  # a new run's optimizer and schedule, built from the saved settings, model the saved ones
        train = TrainConfig.from_dict(train_values)
        data = DataConfig.from_dict(data_values)
        group, schedule = fresh_states(train)
    except (TypeError, ValueError, ArithmeticError, UserError) as err:
        raise Invalid(f"training config: {short(str(err) or type(err).__name__, 120)}") from None
    check_history(state["history"], state["epoch"])
    if state.get("device", "cpu") not in ("cpu", "cuda"):
        raise Invalid(f"unknown device {show(state.get('device'))}")
    check_rng(state["rng"], state.get("device", "cpu"))
    config = check_model_weights(
        state["model"], model_config(model_values, "model config", require_all=True), "its model config"
    )
    check_optimizer(state["optimizer"], config, group)
    check_scheduler(state["scheduler"], train, schedule, state["epoch"])
    return RunConfig(model=config, data=data, train=train, recipe=recipe)


def saved_configs(state: dict) -> tuple[dict, dict, dict, str]:
    """The model's, training's and data's settings and the recipe, from the nested config, or from
    a run state of before it (a training config holding the data's fields and the recipe)."""
    if "config" in state:
        saved = state["config"]
        if not isinstance(saved, dict) or not all(isinstance(saved.get(k), dict) for k in ("model", "train", "data")):
            raise Invalid("its config is not the model, data and train settings train.py saves")
        model, train, data, recipe = saved["model"], saved["train"], saved["data"], saved.get("recipe", "lab")
    else:
        model, train = state.get("model_config"), state.get("train_config")
        if not isinstance(model, dict) or not isinstance(train, dict):
            raise Invalid("no valid 'config'")
        data, recipe = {k: train[k] for k in EARLIER_DATA_FIELDS if k in train}, train.get("recipe", "lab")
    if recipe not in RECIPE_NAMES:
        raise Invalid(f"unknown recipe {show(recipe)}")
    return model, train, data, recipe


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
    from .fused_ops import FlatAdam
    from .plain_loop import make_scheduler

    optimizer = FlatAdam(
        [torch.zeros(1, requires_grad=True)], lr=float(train.lr), weight_decay=float(train.weight_decay)
    )
    scheduler = make_scheduler(optimizer, train, steps_per_epoch)
    return optimizer.state_dict()["param_groups"][0], scheduler.state_dict()


def check_optimizer(optimizer: dict, config: ModelConfig, template: dict) -> None:
    """Adam's state for one param group: one entry per parameter of the model (autograd step; its
    buffers have none) or one flat one (fused)."""
    if set(optimizer) != {"state", "param_groups"}:
        raise Invalid("its optimizer state is not Adam's state and param_groups")
    groups = optimizer["param_groups"]
    if not isinstance(groups, list) or len(groups) != 1 or not isinstance(groups[0], dict):
        raise Invalid("its optimizer state does not hold the one param group train.py saves")
    group, shapes = groups[0], list(registry.trainable_shapes(config).values())
    params = group.get("params")
    if (
        not isinstance(params, list)
        or not all(type(p) is int for p in params)
        or params not in ([0], list(range(len(shapes))))
    ):
        raise Invalid(
            f"optimizer params {show(params)} are neither [0] (fused step) nor "
            f"[0, ..., {len(shapes) - 1}] (autograd step)"
        )
    like(
        {k: v for k, v in group.items() if k not in FREE},
        {k: v for k, v in template.items() if k not in FREE},
        "optimizer param group",
    )
    for key in group:
        wrong = key in FIXED and list(group[key] if key == "betas" else [group[key]]) != list(
            template[key] if key == "betas" else [template[key]]
        )
        if wrong or key in FREE[1:] and not isinstance(group[key], (bool, type(None))):
            raise Invalid(
                f"optimizer param group {key!r} is {show(group[key])}, not "
                f"{show(template[key]) if wrong else 'true, false or None'}"
            )
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
        if (
            total < train.epochs
            or total % train.epochs
            or done != epoch * per_epoch
            or scheduler["_schedule_phases"] != fresh_states(train, per_epoch)[1]["_schedule_phases"]
        ):
            raise Invalid(
                f"its one-cycle schedule ({done} of {total} steps taken) is not one of {epoch} of {train.epochs} epochs"
            )


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
