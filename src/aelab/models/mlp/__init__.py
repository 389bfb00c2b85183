"""The ``mlp`` family: the lab's 4-layer MLP autoencoder (784-392-8-392-784, ReLU, sigmoid).

This module declares the family (its config, recipes and hand-derived step) without torch;
:mod:`.model` holds the network.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import ModelConfig
from ..registry import Family, register

# The lab's parameter names, so state dicts move freely between this package and its scripts.
LAB_KEYS = ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias", "fc4.weight", "fc4.bias")


@dataclass(frozen=True)
class MLPConfig(ModelConfig):
    """The lab's network: one hidden layer each side, so ``depth`` stays 1."""

    family: str = "mlp"

    def __post_init__(self):
        super().__post_init__()
        if self.depth != 1:
            raise ValueError("the mlp family is the lab's network with one hidden layer on each side; depth must be 1")

    @property
    def layer_sizes(self) -> str:  # the lab's own name for its shape, with no family in front
        return self.shape_text


def config_from_lab_weights(state: dict) -> MLPConfig | None:
    """The shape of a plain state dict the lab saved, read off fc1, fc2 and fc4; None for other keys."""
    if set(state) != set(LAB_KEYS):
        return None
    for key in LAB_KEYS:
        wanted = 2 if key.endswith("weight") else 1
        if len(state[key].shape) != wanted:
            shape = "x".join(map(str, state[key].shape)) or "a scalar"
            raise ValueError(f"{key} is {len(state[key].shape)}-D ({shape}), not {wanted}-D")
    hidden, input_dim = state["fc1.weight"].shape
    side = int(input_dim**0.5)
    image_shape = (1, side, side) if side * side == input_dim else (1, 1, input_dim)
    return MLPConfig(
        input_dim=input_dim,
        hidden=hidden,
        bottleneck=state["fc2.weight"].shape[0],
        output_dim=state["fc4.weight"].shape[0],
        image_shape=image_shape,
    )


register(
    Family(
        name="mlp",
        config=MLPConfig,
        model="aelab.models.mlp.model:MLPAutoencoder",
        summary="the lab's 4-layer network (default)",
        recipes={
            "lab": {},
            # A linear code uses every bottleneck unit (a ReLU code lets units die), BCE on the logits
            # gives stronger gradients on near-0/1 pixels than MSE through a sigmoid, and a one-cycle
            # schedule at a smaller batch takes more, better-annealed steps in the same epochs. So
            # trained, the model fits the training split better than the test split; a little input
            # noise (clean targets) narrows that gap, where weight decay only underfits.
            "best": dict(
                code_activation="none",
                loss="bce",
                schedule="onecycle",
                lr=1e-2,
                weight_decay=0.0,
                batch_size=256,
                train_noise=0.1,
            ),
        },
        losses=("mse", "bce"),
        fused_step="aelab.training.fused_step:FusedStep",
        plain_weights=config_from_lab_weights,
        plain_keys="fc1.weight ... fc4.bias",
    )
)
