"""The ``vae`` and ``conv-vae`` families: variational autoencoders (Kingma and Welling, 2014) on
the MLP body or the conv body, with a Gaussian posterior over the code.

This module declares both families without torch; :mod:`.model` holds the network.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..config import ModelConfig, check_whole_number, non_negative_number, option, whole_number
from ..conv import ConvConfig
from ..registry import Family, register

# bernoulli: each pixel a coin with the decoded probability (BCE); gaussian: a fixed-spread
# normal around the decoded value (a scaled MSE).
LIKELIHOODS = ("bernoulli", "gaussian")
MAX_BETA = 1e6  # far past any useful KL weight, and well inside what float32 losses hold


def kl_weight(text: str) -> float:
    """``--beta``: a finite number from 0 to :data:`MAX_BETA`."""
    value = non_negative_number(text)
    if value > MAX_BETA:
        raise ValueError(f"must be at most {MAX_BETA:g}, got {text}")
    return value


# standard: N(0, I); vamp: the mixture of the encoder's posteriors at learnt pseudo-inputs
# (Tomczak and Welling, 2018), a prior shaped like the codes the data gets.
PRIORS = ("standard", "vamp")
PSEUDO_INPUTS = 500  # the paper's K for MNIST
MAX_PSEUDO_INPUTS = 10_000


# pytorch/examples' vae: 784-400-20, Adam 1e-3 at batch 128, on dynamically binarised images.
TUTORIAL = dict(loss="elbo", hidden=400, bottleneck=20, batch_size=128, weight_decay=0.0, binarize=True)
BEST = dict(
    loss="elbo",
    hidden=512,
    depth=2,
    bottleneck=32,
    schedule="onecycle",
    lr=2e-3,
    batch_size=128,
    weight_decay=0.0,
    binarize=True,
)


@dataclass(frozen=True)
class VAEConfig(ModelConfig):
    """A VAE's decoder distribution and KL weight; its code is the posterior mean, with no activation."""

    family: str = "vae"
    code_activation: str = "none"
    likelihood: str = field(
        default="bernoulli",
        metadata=option(
            "VAEs: the decoder's distribution, bernoulli (default; BCE) or gaussian (scaled MSE)", choices=LIKELIHOODS
        ),
    )
    beta: float = field(default=1.0, metadata=option("VAEs: the weight of the KL term (default 1)", parse=kl_weight))
    prior: str = field(
        default="standard",
        metadata=option(
            "VAEs: the prior over codes, standard (N(0, I), default) or vamp (a mixture at learnt pseudo-inputs)",
            choices=PRIORS,
        ),
    )
    pseudo_inputs: int = field(
        default=PSEUDO_INPUTS,
        metadata=option(
            f"VAEs with --prior vamp: how many pseudo-inputs (default {PSEUDO_INPUTS})",
            parse=whole_number(1, MAX_PSEUDO_INPUTS),
            metavar="K",
        ),
    )

    def __post_init__(self):
        super().__post_init__()
        if self.code_activation != "none":
            raise ValueError("a VAE's code is its posterior mean, which takes no activation; drop --code-activation")
        if self.likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {', '.join(LIKELIHOODS)}, got {self.likelihood!r}")
        exact = isinstance(self.beta, float) or type(self.beta) is int and abs(self.beta) < 2**53
        beta = float(self.beta) if exact else math.nan  # not a number, or an int no float holds exactly
        if not math.isfinite(beta) or not 0 <= beta <= MAX_BETA:
            raise ValueError(f"beta must be a number from 0 to {MAX_BETA:g}, got {self.beta!r}")
        object.__setattr__(self, "beta", beta)
        if self.prior not in PRIORS:
            raise ValueError(f"prior must be one of {', '.join(PRIORS)}, got {self.prior!r}")
        check_whole_number(self.pseudo_inputs, "pseudo_inputs", 1, MAX_PSEUDO_INPUTS)


@dataclass(frozen=True)
class ConvVAEConfig(VAEConfig, ConvConfig):
    """A VAE on the conv body."""

    family: str = "conv-vae"


for name, config, body in (("vae", VAEConfig, "the MLP body"), ("conv-vae", ConvVAEConfig, "the conv body")):
    register(
        Family(
            name=name,
            config=config,
            model="aelab.models.vae.model:VariationalAutoencoder",
            summary=f"a variational autoencoder on {body}",
            # "lab" is pytorch/examples' recipe; "best" is tuned here (docs/recipes.md).
            recipes={"lab": TUTORIAL, "best": BEST},
            losses=("elbo",),
            loss_hint="the negative ELBO, whose reconstruction term --likelihood chooses",
            fused_step="aelab.training.fused_vae_step:FusedVAEStep",
        )
    )
