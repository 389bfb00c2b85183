"""How likely a VAE finds the test images: the negative ELBO and an importance-weighted NLL.

Conventions (the usual ones for binarised MNIST, so numbers compare with the literature):

* In nats per image, summed over pixels; lower is better.
* A Bernoulli decoder is scored on the test split binarised once: each pixel a coin flip with
  its grey level as the chance, from a seeded generator (the same images on every run).
  A Gaussian decoder is scored on the grey levels themselves, as a density (it can go negative).
* Both numbers come from the same K draws z_k ~ q(z|x) per image, with log weights
  w_k = log p(x|z_k) + log p(z_k) - log q(z_k|x): the negative ELBO is -mean_k w_k (the
  bound training minimises, at beta 1) and the IW-NLL is -log mean_k exp(w_k) (Burda et al.,
  2016), a tighter estimate of -log p(x) that approaches it as K grows.
"""

from __future__ import annotations

import math
import sys
from dataclasses import asdict, dataclass

import torch

from ..data.noise import seeded
from ..progress import progress_bar
from .inference import model_device

tqdm = progress_bar()

BINARIZE_SEED = 0
IMAGES_PER_CHUNK = 100
DRAW_BUDGET_FLOATS = 2**25  # decoded pixels held at once (128 MB of float32): bounds the memory


@dataclass
class Likelihood:
    negative_elbo: float
    iw_nll: float
    iw_samples: int
    n_images: int
    binarized: bool
    seed: int

    def to_dict(self) -> dict:
        return asdict(self)


def scored_images(model, clean: torch.Tensor, seed: int) -> torch.Tensor:
    """The images a decoder's density is measured on: seeded coin flips for a Bernoulli one."""
    if model.config.likelihood != "bernoulli":
        return clean
    return torch.bernoulli(clean.cpu(), generator=seeded(seed)).to(clean.device)


@torch.no_grad()
def likelihood(
    model, clean: torch.Tensor, iw_samples: int, seed: int = BINARIZE_SEED, progress: bool = False
) -> Likelihood:
    """Negative ELBO and IW-NLL of ``model`` on ``clean`` (flat images in [0, 1]), in nats per image."""
    model.eval()
    images = scored_images(model, clean.to(model_device(model)), seed)
    draws = seeded(seed + 1)  # other numbers than the binarisation's
    draws_per_pass = max(1, DRAW_BUDGET_FLOATS // (IMAGES_PER_CHUNK * images.shape[1]))
    elbo_total = nll_total = 0.0
    chunks = images.split(IMAGES_PER_CHUNK)
    for chunk in tqdm(chunks, desc="importance sampling", unit="chunk", disable=not progress, file=sys.stderr):
        weights = torch.cat(
            [
                model.log_weights(chunk, min(draws_per_pass, iw_samples - done), draws)
                for done in range(0, iw_samples, draws_per_pass)
            ]
        ).double()
        elbo_total -= weights.mean(0).sum().item()
        nll_total -= (torch.logsumexp(weights, 0) - math.log(iw_samples)).sum().item()
    return Likelihood(
        negative_elbo=elbo_total / len(images),
        iw_nll=nll_total / len(images),
        iw_samples=iw_samples,
        n_images=len(images),
        binarized=model.config.likelihood == "bernoulli",
        seed=seed,
    )


def likelihood_section(scores: dict[str, Likelihood]) -> list[str]:
    """The table eval prints, with its conventions under it."""
    from .tables import markdown_table

    rows = [
        [name, f"{s.negative_elbo:.2f}", f"{s.iw_nll:.2f}", str(s.iw_samples), str(s.n_images)]
        for name, s in scores.items()
    ]
    first = next(iter(scores.values()))
    data = (
        f"the test split binarised once (seeded coin flips, seed {first.seed})"
        if first.binarized
        else "the test split's grey levels (a density: it can go below 0)"
    )
    return (
        ["Likelihood, nats per image (lower is better):", ""]
        + markdown_table(["model", "negative ELBO", "IW-NLL", "K draws", "images"], rows)
        + [
            "",
            f"On {data}. Both from the same K draws z_k ~ q(z|x) per image, log weights "
            "w_k = log p(x|z_k) + log p(z_k) - log q(z_k|x): negative ELBO = -mean_k w_k, "
            "IW-NLL = -log mean_k exp(w_k) (Burda et al., 2016).",
        ]
    )
