"""Checkpoints the lab's own code can load, with a run's full state in a file beside them.

``MLP.8.pth`` is a plain ``state_dict`` with the lab's keys, so
``model.load_state_dict(torch.load("MLP.8.pth"))`` works in the lab's scripts. Its
``ModelConfig`` rides in the state dict's ``_metadata`` (which ``load_state_dict``
ignores), so the file alone rebuilds its model. Everything a run needs to continue
(the weights again, training config, epoch, loss history, optimizer, scheduler and RNG
state) goes to ``MLP.8.pth.state`` beside it. Every write is atomic: a temp file, then a rename.
"""

from __future__ import annotations

import pickle
import warnings
from collections import OrderedDict
from dataclasses import asdict
from pathlib import Path

import torch

from ..data.sources import DataConfig
from ..errors import UserError
from ..files import atomic_write
from ..models import registry
from ..models.base import Autoencoder
from ..models.config import ModelConfig
from . import validation
from .validation import CONFIG_KEY

DATA_KEY = "mnist_ae.data"  # where the DataConfig lives in the state dict's _metadata

STATE_SUFFIX = ".state"
NOT_READABLE = "not a readable PyTorch checkpoint (truncated, corrupt or another format)"


def state_path(weights_path: str | Path) -> Path:
    weights_path = Path(weights_path)
    return weights_path.with_name(weights_path.name + STATE_SUFFIX)


def save(path: str | Path, model: Autoencoder, run_state: dict | None = None) -> None:
    """Write the run state, when given, then the weights (lab format).

    The run state carries the weights too, so it alone continues a run: a crash between
    the two writes leaves a state one epoch ahead of the weights file, never a mismatched
    pair that ``--resume`` would have to trust.
    """
    # a copy: parameters may be views of one flat buffer, which torch.save would store whole, or
    # channels-last for training, which the lab's loader and other readers need not expect
    weights = OrderedDict(
        (k, v.detach().cpu().clone(memory_format=torch.contiguous_format)) for k, v in model.state_dict().items()
    )
    if run_state is not None:
        atomic_write(state_path(path), lambda tmp: torch.save({**run_state, "model": dict(weights)}, tmp))
    metadata = {CONFIG_KEY: asdict(model.config)}
    if run_state is not None and "config" in run_state:  # the data it trained on, for other commands
        metadata[DATA_KEY] = dict(run_state["config"]["data"])
    weights._metadata = {"": metadata}
    atomic_write(path, lambda tmp: torch.save(weights, tmp))


def safe_load(path: str | Path, what: str = "checkpoint"):
    """``torch.load(weights_only=True)`` with every failure turned into one clear line."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{what} {path} not found; check the path or train one with train.py")
    if path.is_dir():
        raise UserError(f"{what} {path} is a folder, not a file")
    try:
        with warnings.catch_warnings():  # a damaged file's warnings would add lines to its one error
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "unsupported global" in str(err).lower():
            raise UserError(
                f"refusing to load {path}: it holds Python objects that could run code, not plain "
                "weights; load only checkpoints you trust, re-saved as a state_dict"
            ) from None
        raise UserError(f"{path} is {NOT_READABLE}") from None
    except PermissionError:
        raise UserError(f"cannot read {what} {path}: permission denied") from None
    except Exception:  # a damaged file can fail in any layer of the reader; all mean the same
        raise UserError(f"{path} is {NOT_READABLE}") from None


def config_from_weights(state, path: Path) -> ModelConfig:
    """The ModelConfig of a loaded weights file, saved in it or read off the lab's weight shapes,
    once every tensor is checked against it (:func:`.validation.checkpoint_weights`): nothing is
    allocated for a file whose config and weights disagree."""
    try:
        return validation.checkpoint_weights(state)
    except validation.Foreign as err:
        raise UserError(
            f"{path} is not an autoencoder checkpoint: {err}; load one saved by train.py "
            "or by the lab's torch.save(model.state_dict())"
        ) from None
    except validation.Invalid as err:
        raise UserError(
            f"{path} is not a usable checkpoint: {err}; load another checkpoint or train a new one with train.py"
        ) from None


def load_model(path: str | Path, device: torch.device | str = "cpu") -> Autoencoder:
    """Rebuild a model of any family from our checkpoint, a plain state_dict the lab saved, or a
    folder ``aelab export`` wrote."""
    path = Path(path)
    if path.is_dir():
        from .exported import load_folder

        return load_folder(path, device)
    state = safe_load(path)
    config = config_from_weights(state, path)  # its tensors are now known to fit
    model = registry.build(config, initialize=False)
    model.load_state_dict(state)
    return model.to(device).eval()


def load_run_state(path: str | Path) -> dict:
    """The training state saved beside ``path``, for ``--resume``."""
    run_path = state_path(path)
    if not run_path.exists():
        raise UserError(
            f"cannot resume: {run_path} (the run state saved beside {path}) is missing; "
            "start a new run without --resume"
        )
    state = safe_load(run_path, what="run state")
    if not isinstance(state, dict) or "epoch" not in state:
        raise UserError(f"{run_path} is not a run state written by train.py")
    return state


def training_settings(state) -> dict | None:
    """The training settings and recipe a loaded run state records, as one dict, from the nested
    config or from a run state of before it; None when it records none."""
    saved = state.get("config") if isinstance(state, dict) else None
    if isinstance(saved, dict) and isinstance(saved.get("train"), dict):
        return {**saved["train"], "recipe": saved.get("recipe", "lab")}
    train = state.get("train_config") if isinstance(state, dict) else None
    return dict(train) if isinstance(train, dict) else None


def saved_data_config(path: str | Path) -> DataConfig | None:
    """The data a checkpoint (or exported folder) was trained on, when it says (the lab's own files do not)."""
    if Path(path).is_dir():
        from .exported import saved_data

        return saved_data(path)
    state = safe_load(path)
    return validation.recorded_data(getattr(state, "_metadata", {}).get("", {}).get(DATA_KEY), path)
