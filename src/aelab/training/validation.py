"""Checks on everything a checkpoint or run state holds, made before anything is built from it.

``weights_only=True`` stops a file from running code; these checks stop its data from lying:
a saved ``ModelConfig`` must fit the tensors there (one claiming ``hidden=10**9`` would else
allocate gigabytes first), and every tensor is a finite, dense float one of its layer's shape.
(:mod:`.run_validation` checks the rest of a run state.) Each check raises :class:`Invalid`,
which the loaders put in a one-line message naming the file and the fix.
"""

from __future__ import annotations

import math
import reprlib
import sys
from dataclasses import fields

import torch

from ..data.sources import DataConfig
from ..errors import UserError
from ..models.config import ModelConfig

CONFIG_KEY = "mnist_ae"  # where ModelConfig lives in the state dict's _metadata (the format's first name, kept)
LAB_KEYS = ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias", "fc4.weight", "fc4.bias")
FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
MODEL_FIELDS = tuple(f.name for f in fields(ModelConfig))


class Invalid(ValueError):
    """What is wrong with a file's contents, as a phrase for the loader's one-line message."""


class Foreign(Invalid):  # not the lab's 4-layer autoencoder at all: other keys
    pass


def short(text: str, limit: int = 60) -> str:
    text = text if text.isprintable() else text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def show(value) -> str:  # a value in a message, as Python writes it
    return short(reprlib.repr(value), 40)


def finite(value) -> bool:  # a number that fits a float (a pickle's int may have 400 digits)
    return isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) <= sys.float_info.max


def dims(shape) -> str:
    return "x".join(map(str, shape)) if len(shape) else "a scalar"


def layer_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Each weight's shape in a model of ``config``, in the order of its parameters."""
    c = config
    return {
        "fc1.weight": (c.hidden, c.input_dim),
        "fc1.bias": (c.hidden,),
        "fc2.weight": (c.bottleneck, c.hidden),
        "fc2.bias": (c.bottleneck,),
        "fc3.weight": (c.hidden, c.bottleneck),
        "fc3.bias": (c.hidden,),
        "fc4.weight": (c.output_dim, c.hidden),
        "fc4.bias": (c.output_dim,),
    }


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
        raise Invalid(
            f"{name} holds {int(finite.numel() - finite.sum())} NaN or infinite values "
            "(no run of train.py saves them: training stops on a non-finite loss)"
        )


def parameter_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Each tensor's shape in a model of ``config``, in the order of its parameters. The families
    beyond the lab's are built on the meta device, which allocates nothing, whatever the config says."""
    if config.family == "mlp":
        return layer_shapes(config)
    from ..models.families import CLASSES

    try:
        with torch.device("meta"):
            model = CLASSES[config.family](config)
    except (RuntimeError, OverflowError, ValueError) as err:  # sizes no layer can take
        raise Invalid(f"its model config makes no buildable model ({short(str(err), 80)})") from None
    return {name: tuple(value.shape) for name, value in model.state_dict().items()}


def check_model_weights(state, config: ModelConfig, source: str) -> ModelConfig:
    """The weights of ``config``'s family: the lab's 8 tensors, or exactly the family's own."""
    if config.family == "mlp":
        return check_weights(state, config, source)
    shapes = parameter_shapes(config)
    if not isinstance(state, dict) or set(state) != set(shapes):
        missing, extra = sorted(set(shapes) - set(state or ())), sorted(set(state or ()) - set(shapes))
        raise Invalid(
            f"its tensors are not those of the {config.layer_sizes} model {source} says"
            + (f" (missing {short(', '.join(missing[:3]))})" if missing else "")
            + (f" (unexpected {short(', '.join(map(str, extra[:3])))})" if extra else "")
        )
    for key, shape in shapes.items():
        if tuple(check_tensor(state[key], key).shape) != shape:
            raise Invalid(f"{key} is {dims(state[key].shape)} where {source} says {dims(shape)}")
    for key in shapes:
        check_finite(state[key], key)
    return config


def check_keys(state) -> None:
    if not isinstance(state, dict) or set(state) != set(LAB_KEYS):
        found = (
            ", ".join(sorted(short(str(k), 30) for k in state)[:4]) if isinstance(state, dict) else type(state).__name__
        )
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
            raise Invalid(
                f"inconsistent layer shapes: {key} is {dims(state[key].shape)} where {source} "
                f"({config.layer_sizes}-{config.output_dim}) say{'s' * source.endswith('config')} "
                f"{dims(shape)}"
            )
    for key in LAB_KEYS:
        check_finite(state[key], key)
    return config


def config_from_shapes(state: dict) -> ModelConfig:
    """The shape of a plain state_dict the lab saved, read off fc1, fc2 and fc4."""
    hidden, input_dim = state["fc1.weight"].shape
    side = math.isqrt(input_dim)
    image_shape = (1, side, side) if side * side == input_dim else (1, 1, input_dim)
    try:
        return ModelConfig(
            input_dim=input_dim,
            hidden=hidden,
            bottleneck=state["fc2.weight"].shape[0],
            output_dim=state["fc4.weight"].shape[0],
            image_shape=image_shape,
        )
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
    if (
        not isinstance(shape, (list, tuple))
        or len(shape) != 3
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in shape)
    ):
        raise Invalid(
            f"its {what} has image_shape {show(shape)}, not 3 positive whole numbers (channels, height, width)"
        )
    try:
        config = ModelConfig(**values)
    except (TypeError, ValueError) as err:
        raise Invalid(f"invalid {what}: {short(str(err), 120)}") from None
    if math.prod(config.image_shape) != config.input_dim:
        raise Invalid(
            f"its {what} has image_shape {list(config.image_shape)} "
            f"({math.prod(config.image_shape)} pixels) for {config.input_dim} inputs"
        )
    return config


def checkpoint_weights(state) -> ModelConfig:
    """A weights file (``MLP.8.pth``): its ModelConfig, once the file is found whole and sound."""
    if not isinstance(state, dict):
        raise Foreign(f"expected a state_dict of tensors, found {type(state).__name__}")
    metadata = getattr(state, "_metadata", None) or {}
    if not isinstance(metadata, dict) or not isinstance(metadata.get("", {}), dict):
        raise Invalid("its _metadata is not the dict torch.save writes")
    saved = metadata.get("", {}).get(CONFIG_KEY)
    if saved is None:  # a plain state_dict from the lab's code: its shape is read off the weights
        check_keys(state)
        return check_weights(state)
    return check_model_weights(
        state, model_config(saved, "saved model config", require_all=False), "its saved model config"
    )


def recorded_data(saved, where) -> DataConfig | None:
    """The data a checkpoint or export says it trained on (None when it does not say), as one line when wrong."""
    if saved is None:
        return None
    try:
        return DataConfig.from_dict(dict(saved))
    except (UserError, TypeError, ValueError) as err:
        raise UserError(
            f"{where} records its training data wrongly ({str(err).splitlines()[0]}); pass --dataset "
            "to say which data to use"
        ) from None
