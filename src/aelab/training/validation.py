"""Checks on everything a checkpoint or run state holds, made before anything is built from it.

``weights_only=True`` stops a file from running code; these checks stop its data from lying:
a saved ``ModelConfig`` must fit the tensors there (those of its family's model built on the
meta device) (one claiming ``hidden=10**9`` would else
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
from ..models import registry
from ..models.config import DEFAULT_FAMILY, ModelConfig

CONFIG_KEY = "mnist_ae"  # where ModelConfig lives in the state dict's _metadata (the format's first name, kept)
FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


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


def check_model_weights(state, config: ModelConfig, source: str) -> ModelConfig:
    """Exactly the tensors a model of ``config`` holds (:func:`registry.expected_tensors`), each a
    dense float tensor of its shape, all finite."""
    try:
        expected = registry.on_meta(config).state_dict()
        shapes = {name: tuple(value.shape) for name, value in expected.items()}
    except (RuntimeError, OverflowError, ValueError, TypeError) as err:  # sizes no layer can take
        raise Invalid(f"its model config makes no buildable model ({short(str(err), 80)})") from None
    if not isinstance(state, dict) or set(state) != set(shapes):
        missing, extra = sorted(set(shapes) - set(state or ())), sorted(set(state or ()) - set(shapes))
        raise Invalid(
            f"its tensors are not those of the {config.layer_sizes} model {source} says"
            + (f" (missing {short(', '.join(missing[:3]))})" if missing else "")
            + (f" (unexpected {short(', '.join(map(str, extra[:3])))})" if extra else "")
        )
    for key, shape in shapes.items():
        # Weights in any float type; a buffer that counts (a batch norm's steps) in its own type.
        dtypes = FLOATS if expected[key].is_floating_point() else (expected[key].dtype,)
        if tuple(check_tensor(state[key], key, ndim=len(shape), dtypes=dtypes).shape) != shape:
            raise Invalid(
                f"inconsistent layer shapes: {key} is {dims(state[key].shape)} where {source} "
                f"({config.layer_sizes}-{config.output_dim}) say{'s' * source.endswith('config')} {dims(shape)}"
            )
    for key in shapes:
        check_finite(state[key], key)
    return config


def plain_weights_config(state: dict) -> ModelConfig:
    """The config of a state dict saved with none (the lab's own files), from the family that reads it."""
    found = ", ".join(sorted(short(str(k), 30) for k in state)[:4])
    for key, value in state.items():
        check_tensor(value, short(str(key), 30))
    try:
        config = registry.config_from_plain_weights(state)
    except (TypeError, ValueError) as err:
        raise Invalid(f"its weights make an impossible model: {err}") from None
    if config is None:
        raise Foreign(f"expected keys {registry.plain_keys()}, found {found or 'nothing'}")
    return config


def model_config(saved, what: str, require_all: bool) -> ModelConfig:
    """A saved ``ModelConfig``; fields it lacks take their defaults, except, with ``require_all``
    (a run state), those every family has had from the start: a family's later fields (a prior,
    say) take their defaults in files written before them."""
    if not isinstance(saved, dict):
        raise Invalid(f"its {what} is a {type(saved).__name__}, not a dict")
    name = saved.get("family", DEFAULT_FAMILY)
    if not isinstance(name, str):
        raise Invalid(f"its {what} has family {show(name)}, not a name")
    try:
        family = registry.get(name)
    except registry.UnknownFamily as err:
        raise Invalid(f"invalid {what}: {err}") from None
    own = [f.name for f in fields(family.config)]
    for name in (f.name for f in fields(ModelConfig) if require_all and f.name not in saved):
        raise Invalid(f"its {what} has no {name!r}")
    values = {name: saved[name] for name in own if name in saved}
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
        config = family.config(**values)
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
        return check_model_weights(state, plain_weights_config(state), "its other layers")
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
