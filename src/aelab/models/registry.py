"""The family registry: every autoencoder family declares itself here, and nothing else in the
package asks which family it holds.

A family is one package under :mod:`aelab.models` (or any module of yours) that calls
:func:`register` with a :class:`Family`: its config class (fields, checks, command-line
options), its recipes, the losses it trains on, and where its ``nn.Module`` lives. The module
is named by a ``"module:Class"`` path and imported on first use, so listing the families for
``--help`` costs no torch. What a checkpoint must hold (its tensors), what the optimizer steps
(its parameters) and how big it is are read off a model built on the meta device, which
allocates nothing whatever the config claims.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import UserError

# The families that ship with the package; each registers itself when imported.
BUILTIN = ("aelab.models.mlp", "aelab.models.conv", "aelab.models.vae", "aelab.models.iwae", "aelab.models.vqvae")
RECIPE_NAMES = ("lab", "best")
_FAMILIES: dict[str, Family] = {}


class UnknownFamily(UserError, ValueError):
    """A family name no module registered."""


@dataclass(frozen=True)
class Family:
    """Everything the package needs to know about one family.

    Example (a toy family in a module of your own)::

        register(Family(name="tiny", config=TinyConfig, model="mypkg.tiny:TinyAutoencoder",
                        summary="one linear layer each way", recipes={"lab": {}, "best": {"lr": 3e-3}}))
    """

    name: str
    config: type  # the family's ModelConfig subclass
    model: str | type  # its Autoencoder subclass, or "module:Class" to import on first use
    summary: str  # one line for --help and the docs
    recipes: dict[str, dict]  # "lab" and "best": settings of the run config, by field name
    losses: tuple[str, ...] = ("mse", "bce")  # what it trains on; the recipes choose among them
    loss_hint: str = ""  # said when --loss names another: what to change instead
    # A hand-derived training step ("module:Class"), used where the step's ``unsupported`` allows.
    fused_step: str | type | None = None
    # Reads a plain state dict with no saved config (the lab's own files) into a config, or None.
    plain_weights: Callable[[dict], Any] | None = None
    plain_keys: str = ""  # how messages name the keys ``plain_weights`` reads

    def __post_init__(self):
        missing = [name for name in RECIPE_NAMES if name not in self.recipes]
        if missing:
            raise ValueError(f"family {self.name!r} has no {' or '.join(missing)} recipe")

    def model_class(self) -> type:
        return resolve(self.model)

    def fused_step_class(self) -> type | None:
        return resolve(self.fused_step) if self.fused_step is not None else None


def resolve(target: str | type) -> type:
    """A class given as itself or as ``"module:Class"``."""
    if not isinstance(target, str):
        return target
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def register(family: Family) -> Family:
    """Make ``family`` known to every command; a second family of one name replaces the first."""
    _FAMILIES[family.name] = family
    return family


def unregister(name: str) -> None:
    _FAMILIES.pop(name, None)


PLUGIN_GROUP = "aelab.families"  # installed packages may declare families under this entry-point group
_plugins_loaded = False


def load_builtin() -> None:
    """Import the package's families, and once, those other installed packages declare."""
    global _plugins_loaded
    for module in BUILTIN:
        importlib.import_module(module)
    if not _plugins_loaded:
        _plugins_loaded = True
        from importlib.metadata import entry_points

        for entry in entry_points(group=PLUGIN_GROUP):
            entry.load()


def names() -> tuple[str, ...]:
    """Every registered family's name, the package's own first."""
    return tuple(family.name for family in families())


def get(name: str) -> Family:
    load_builtin()
    if name not in _FAMILIES:
        raise UnknownFamily(f"unknown model family {name!r}; choose one of: {', '.join(_FAMILIES)}")
    return _FAMILIES[name]


def families() -> list[Family]:
    """Every registered family: the package's own in :data:`BUILTIN`'s order (whatever imported
    them first), then the others as they registered, so lists and messages never change order."""
    load_builtin()

    def place(family: Family) -> int:
        module = family.config.__module__
        return BUILTIN.index(module) if module in BUILTIN else len(BUILTIN)

    return sorted(_FAMILIES.values(), key=place)


def build(config, initialize: bool = True):
    """A new model of ``config``'s family and shape; with the family's initial weights unless
    ``initialize`` is False (a model about to load saved ones).

    Example::

        >>> model = build(ModelConfig(family="vae", bottleneck=2))
    """
    model = get(config.family).model_class()(config)
    if initialize:
        model.initialize()
    return model


def on_meta(config):
    """``config``'s model on the meta device: its tensors' names and shapes, no memory."""
    import torch

    with torch.device("meta"):
        return build(config, initialize=False)


def expected_tensors(config) -> dict[str, tuple[int, ...]]:
    """Every tensor a checkpoint of ``config`` holds (parameters and buffers), with its shape."""
    return {name: tuple(value.shape) for name, value in on_meta(config).state_dict().items()}


def trainable_shapes(config) -> dict[str, tuple[int, ...]]:
    """The parameters the optimizer steps, in their order, with their shapes (no buffers)."""
    return {name: tuple(p.shape) for name, p in on_meta(config).named_parameters()}


def parameter_count(config) -> int:
    """Weights and biases of every layer, counted on the meta device."""
    return sum(p.numel() for p in on_meta(config).parameters())


def config_from_plain_weights(state: dict):
    """The config of a state dict saved without one (the lab's ``torch.save(model.state_dict())``),
    from the first family that reads it; None when none does."""
    for family in families():
        if family.plain_weights is not None and (config := family.plain_weights(state)) is not None:
            return config
    return None


def plain_keys() -> str:
    return " or ".join(f.plain_keys for f in families() if f.plain_weights is not None)
