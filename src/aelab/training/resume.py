"""``--resume``: check a saved run state against the command, then continue it exactly.

The run state (``MLP.8.pth.state``) holds the weights too, so it alone continues a run: the
weights file beside it is an export for the lab's code and may lag it by one epoch after a
crash between the two writes. A resumed run takes its settings from the command, which must
agree with the saved ones; a silent mismatch would make "resume" a different run.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from ..data.sources import DataConfig
from ..errors import UserError
from ..models.base import Autoencoder
from ..models.config import ModelConfig
from . import checkpoint, run_validation, validation
from .config import RunConfig
from .trainer import Trainer

# Settings that shape the optimizer, the schedule or the data order; -e may grow (see below).
MUST_MATCH = (
    "batch_size",
    "lr",
    "weight_decay",
    "loss",
    "schedule",
    "train_noise",
    "clip_noise",
    "binarize",
    "loader",
    "precision",
    "step",
)
DEVICE_NAMES = {"cpu": "the CPU", "cuda": "a GPU"}


def damaged(path: Path, detail: str) -> UserError:
    return UserError(
        f"cannot resume: {checkpoint.state_path(path)} is damaged or not from train.py "
        f"({detail}); start a new run without --resume"
    )


def load(path: Path, run: RunConfig) -> dict:
    """The run state saved beside ``path``, checked whole (:func:`.run_validation.run_state`: weights,
    optimizer, schedule, generators) and against this command's ``run``, before anything is built."""
    state = checkpoint.load_run_state(path)
    try:
        saved = run_validation.run_state(state)
    except validation.Invalid as err:
        raise damaged(path, str(err)) from None
    if saved.recipe != run.recipe:
        refuse("--recipe", run.recipe, saved.recipe)
    for name in MUST_MATCH:
        was, now = getattr(saved.train, name), getattr(run.train, name)
        if was != now:
            refuse("--" + name.replace("_", "-"), now, was)
    if saved.data != run.data:
        changed = [f.name for f in fields(DataConfig) if getattr(saved.data, f.name) != getattr(run.data, f.name)]
        raise UserError(
            f"cannot resume: the saved run trained on {saved.data.label} "
            f"({', '.join(f'{n} {getattr(saved.data, n)}' for n in changed)}); pass its "
            f"{' and '.join('--' + n.replace('_', '-') for n in changed)} or start a new run"
        )
    check_model(path, saved.model, run.model)
    epoch = state["epoch"]
    if run.train.schedule == "onecycle" and run.train.epochs != saved.train.epochs:
        raise UserError(
            f"cannot resume: a onecycle schedule is laid out over its {saved.train.epochs} epochs; "
            f"pass -e {saved.train.epochs}"
        )
    if run.train.epochs < epoch:
        raise UserError(f"cannot resume: {path} has trained {epoch} epochs already; pass -e {epoch} or more")
    return state


def refuse(flag: str, now, was) -> None:
    if isinstance(was, bool):  # an on/off flag
        raise UserError(
            f"cannot resume: the saved run was trained {'with' if was else 'without'} "
            f"{flag}; {'add' if was else 'drop'} it or start a new run"
        )
    raise UserError(
        f"cannot resume: {flag} {now} differs from the saved run's {was}; pass {flag} {was} or start a new run"
    )


def check_model(path: Path, saved: ModelConfig, now: ModelConfig) -> None:
    if saved != now:
        changed = [f.name for f in fields(saved) if getattr(saved, f.name) != getattr(now, f.name, None)]
        raise UserError(
            f"cannot resume: {path} holds a {saved.layer_sizes} model with a {saved.code_activation} "
            f"code and this command builds another ({', '.join(changed)} differ); pass the original "
            "run's --model and model flags (see train --help)"
        )


def load_weights(model: Autoencoder, state: dict, path: Path) -> None:
    """Put the saved weights into ``model``, which the command's flags shaped."""
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, KeyError, TypeError, ValueError) as err:
        raise damaged(path, f"weights: {str(err).splitlines()[0]}") from None


def restore(trainer: Trainer, state: dict, path: Path) -> None:
    """Optimizer, schedule, epoch, history and generators, as they were after the saved epoch."""
    # Run states from before this key existed all came from the CPU.
    saved_device, device = state.get("device", "cpu"), trainer.runtime.device.type
    if saved_device not in DEVICE_NAMES:
        raise damaged(path, f"unknown device {saved_device!r}")
    if saved_device != device:
        raise UserError(
            f"cannot resume: {path} was trained on {DEVICE_NAMES[saved_device]} and this run would "
            f"train on {DEVICE_NAMES[device]}; its data order and noise continue exactly only on "
            f"the same kind of device; pass --device {saved_device} or start a new run"
        )
    saved_groups = state["optimizer"].get("param_groups") or [{}]
    if len(saved_groups[0].get("params", ())) != len(trainer.optimizer.param_groups[0]["params"]):
        raise UserError(
            f"cannot resume: {checkpoint.state_path(path)} was saved by the other training "
            "step (fused or autograd: --step auto picks autograd under torchrun or --compile); "
            "resume with the same --step, process count and --compile setting"
        )
    steps, saved_steps = getattr(trainer.scheduler, "total_steps", None), state["scheduler"].get("total_steps")
    if steps is not None and saved_steps != steps:  # one-cycle: laid out over every batch of the run
        raise UserError(
            f"cannot resume: {checkpoint.state_path(path)} lays its one-cycle schedule over {saved_steps} "
            f"steps and this run has {steps} ({trainer.config.epochs} epochs of {len(trainer.batches)} "
            "batches); resume with the same data, -b and process count, or start a new run"
        )
    try:
        trainer.restore(state)
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as err:
        raise damaged(path, f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}") from None
