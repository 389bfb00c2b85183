"""The report's sections that a checkpoint's files answer on their own: the model and its data,
the recipe and the training history from the run state beside the weights, and where the page
was built. A checkpoint without a run state (a plain state_dict, as the lab's code saves) still
gets every section, each saying what was not recorded.
"""

from __future__ import annotations

import dataclasses
import platform
import time

import torch

from ..data.images import ImageSet, describe_size
from ..errors import UserError
from ..training import checkpoint
from ..training.config import TrainConfig
from ..training.runtime import Runtime
from .report_figures import loss_figure
from .report_html import Details, Facts, Image, Section, Table, Text
from .sweep import machine_description

RUN_OWN = ("dataset", "seed")  # settings each run picks for itself: no recipe has a value for them
NOT_RECORDED = "not recorded: no run state beside the weights (a plain state_dict, as the lab's code saves)"


def read_run_state(path) -> tuple[dict | None, str]:
    """The run state saved beside ``path`` and, when there is none to use, why."""
    if not checkpoint.state_path(path).is_file():
        return None, NOT_RECORDED
    try:
        return checkpoint.load_run_state(path), ""
    except UserError as err:  # the weights alone still make a report; say what is missing
        return None, f"not readable: {err}"


def shown(value) -> str:
    return "none" if value is None else str(value)


def family(model) -> str:
    return getattr(model.config, "family", None) or type(model).__name__


def parameter_count(model) -> int:
    return sum(p.numel() for p in model.parameters())


def model_section(model, path, train_set: ImageSet, test_set: ImageSet) -> Section:
    config = model.config
    shape = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(vars(config))
    shape.setdefault("family", family(model))
    present = test_set.labels.unique(sorted=True).tolist()
    return Section(
        "model",
        "Model and data",
        [
            Facts(
                [("checkpoint", str(path)), ("parameters", f"{parameter_count(model):,}")]
                + [(name, shown(value)) for name, value in shape.items()]
            ),
            Facts(
                [
                    ("dataset", test_set.name),
                    ("image shape", describe_size(test_set.image_shape)),
                    ("images", f"{len(train_set):,} train, {len(test_set):,} test"),
                    ("classes", ", ".join(test_set.class_name(c) for c in present)),
                ]
            ),
        ],
    )


def recipe_section(state: dict | None, why_not: str) -> Section:
    settings = checkpoint.training_settings(state)
    if settings is None:
        return Section("recipe", "Recipe", [Text(why_not or NOT_RECORDED)])
    defaults = dataclasses.asdict(TrainConfig())
    rows = []
    for name, value in settings.items():
        lab = defaults.get(name, value)
        differs = name in defaults and shown(lab) != shown(value) and name not in RUN_OWN
        rows.append([name, shown(value), shown(lab) if differs else ""])
    return Section(
        "recipe",
        "Recipe",
        [
            Text(
                "The training settings of the run config saved beside the weights; the last column gives the "
                "lab's value (TrainConfig's default) where this run's differs."
            ),
            Table(["setting", "value", "the lab's"], rows, numeric_from=3),
        ],
    )


def training_section(state: dict | None, why_not: str, test_mse: float | None) -> Section:
    history = (state or {}).get("history") or {}
    if not history.get("losses"):
        return Section("training", "Training", [Text(why_not or NOT_RECORDED)])
    losses, lrs, seconds = history["losses"], history.get("lrs", []), history.get("seconds", [])
    settings = checkpoint.training_settings(state) or {}
    objective = settings.get("loss", "mse")
    per_epoch = [b - a for a, b in zip([0.0] + seconds, seconds)]
    planned = settings.get("epochs")
    facts = [
        ("epochs", f"{len(losses)}" + (f" of {planned} planned" if planned and planned != len(losses) else "")),
        ("final train loss", f"{losses[-1]:.5f} ({objective})"),
        ("trained on", shown(state.get("device"))),
    ]
    if per_epoch:
        facts += [
            ("training time", f"{seconds[-1]:.1f} s in all"),
            (
                "per epoch",
                f"{seconds[-1] / len(per_epoch):.2f} s on average, "
                f"{min(per_epoch):.2f} s fastest, {max(per_epoch):.2f} s slowest",
            ),
        ]
    mse_line = test_mse if objective == "mse" else None  # a test MSE over another loss's curve would mislead
    rows = [
        [str(epoch), f"{loss:.5f}", f"{lr:.2e}", f"{took:.2f}", f"{at:.1f}"]
        for epoch, (loss, lr, took, at) in enumerate(zip(losses, lrs, per_epoch, seconds), start=1)
    ]
    return Section(
        "training",
        "Training",
        [
            Facts(facts),
            Image(
                loss_figure(history, objective, mse_line),
                "training loss per epoch",
                "Training loss per epoch (mean over the epoch's batches), learning rate on the right axis.",
            ),
            Details(
                "every epoch",
                [Table(["epoch", "loss", "learning rate", "seconds", "cumulative s"], rows, numeric_from=0)],
            ),
        ],
    )


def environment_section(runtime: Runtime, started: float) -> Section:
    import matplotlib
    import numpy

    return Section(
        "environment",
        "Environment",
        [
            Facts(
                [
                    ("python", platform.python_version()),
                    ("torch", torch.__version__),
                    ("numpy", numpy.__version__),
                    ("matplotlib", matplotlib.__version__),
                    ("device and CPU", machine_description(runtime)),
                    ("report built", f"{time.strftime('%Y-%m-%d %H:%M %Z')}, in {time.perf_counter() - started:.1f} s"),
                ]
            ),
            Text("Where this page was built; the training may have run elsewhere (see Training).", note=True),
        ],
    )
