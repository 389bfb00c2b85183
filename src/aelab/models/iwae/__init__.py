"""The ``iwae`` and ``conv-iwae`` families: a VAE's networks trained on the K-sample
importance-weighted bound (Burda, Grosse and Salakhutdinov, 2016), on the MLP or the conv body.

With K = 1 the bound is the ELBO; with more draws per image it is tighter, and the encoder is
no longer pushed to cover only where one draw lands. This module declares both families without
torch; :mod:`.model` holds the loss.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..config import check_whole_number, option, whole_number
from ..conv import ConvConfig
from ..registry import Family, register
from ..vae import BEST, TUTORIAL, VAEConfig

IW_TRAIN_SAMPLES = 5  # Burda et al.'s k = 5: most of the gain over the ELBO at a fifth of k = 50's cost
MAX_IW_TRAIN_SAMPLES = 1000  # each draw decodes the whole batch once more


@dataclass(frozen=True)
class IWAEConfig(VAEConfig):
    """A VAE trained on the importance-weighted bound of ``iw_train_samples`` draws per image."""

    family: str = "iwae"
    iw_train_samples: int = field(
        default=IW_TRAIN_SAMPLES,
        metadata=option(
            f"IWAEs: posterior draws per image in the training bound (default {IW_TRAIN_SAMPLES})",
            parse=whole_number(1, MAX_IW_TRAIN_SAMPLES),
            metavar="K",
        ),
    )

    def __post_init__(self):
        super().__post_init__()
        check_whole_number(self.iw_train_samples, "iw_train_samples", 1, MAX_IW_TRAIN_SAMPLES)
        if self.beta != 1.0:
            raise ValueError("the importance-weighted bound has no KL weight; drop --beta (or use --model vae)")


@dataclass(frozen=True)
class ConvIWAEConfig(IWAEConfig, ConvConfig):
    """An IWAE on the conv body."""

    family: str = "conv-iwae"


for name, config, body in (("iwae", IWAEConfig, "the MLP body"), ("conv-iwae", ConvIWAEConfig, "the conv body")):
    register(
        Family(
            name=name,
            config=config,
            model="aelab.models.iwae.model:ImportanceWeightedAutoencoder",
            summary=f"a VAE on {body} trained on the K-sample importance-weighted bound",
            # The VAE's recipes, so an iwae and a vae of one recipe differ only in the bound.
            recipes={"lab": TUTORIAL, "best": BEST},
            losses=("elbo",),
            loss_hint="the importance-weighted bound (--iw-train-samples draws per image)",
        )
    )
