"""Build docs/notebooks/tour.ipynb: the lab's Steps 4-6, a VAE and the loss curves, run from Python.

The notebook is generated rather than edited by hand so that its cells stay short and its saved
outputs are always those of the cells as they stand: this script writes the cells, executes them
on the real MNIST and saves the notebook with the outputs they gave.

Rerun it from the repository root after changing the API or the cells (it needs real MNIST in
./data/MNIST/raw, as scripts/setup.sh leaves it, and nbformat, nbclient and ipykernel, which
``pip install -e '.[test,eval]'`` installs)::

    .venv/bin/python docs/notebooks/make_tour.py                              # trains the models, seed 0
    .venv/bin/python docs/notebooks/make_tour.py --checkpoint runs/MLP.8.pth  # the lab's model instead

It takes a minute or two on a CPU. tests/test_notebook.py runs the saved notebook on tiny data.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
NOTEBOOK = HERE / "tour.ipynb"
CELL_TIMEOUT_S = 900  # the VAE's epochs and its likelihood, on a slow CPU
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
# Without ipywidgets, importing tqdm.auto warns even when no bar is drawn (every cell passes
# progress=False); Colab and JupyterLab have ipywidgets, so the saved outputs show what they show.
QUIET_TQDM = "ignore:IProgress not found"

INTRO = """# A tour of aelab from Python

The lab's Steps 4-6 (reconstruction, denoising, interpolation) for the lab's MLP, then a
variational autoencoder, then the loss curves, each in a line or two of
[the Python API](../python-api.md). On Colab, run `!pip install 'aelab[eval]'` first; the GPU,
when there is one, is picked by itself. MNIST is read from `./data` (downloaded there when
missing). `%matplotlib inline` lets a cell show the figure it ends with."""

LOAD = """%matplotlib inline
import aelab

train_set, test_set = aelab.load_data("mnist", progress=False)"""

TRAIN_INTRO = """## The lab's model

The lab's 784-392-8-392-784 MLP and its recipe, for 20 epochs (the lab trains for 50), seed 0;
then its test-set scores against PCA with as many components as the code."""

TRAIN = """model, history = aelab.train(data=train_set, epochs=20, seed=0, progress=False)
history.losses"""

LOADED_INTRO = """## The lab's model

A trained checkpoint of the lab's 784-392-8-392-784 MLP; then its test-set scores against PCA
with as many components as the code."""

LOAD_CHECKPOINT = """model = aelab.load({path!r})
model.config.layer_sizes"""

SCORE = """scores = aelab.evaluate(model, test_set, train_set, progress=False)
{name: round(row["mse"], 4) for name, row in scores["reconstruction"].items()}"""

STEP_4 = """**Step 4, reconstruction**: test image 90 (the first column) and the seven after it, over
their reconstructions."""

RECONSTRUCT = """aelab.plot_reconstructions(model, test_set.images[90:98])"""

STEP_5 = """**Step 5, denoising**: the same images with the lab's Gaussian noise,
`img + 0.1**0.5 * torch.randn(...)` (unclipped), over the model's reconstructions of the noisy
images."""

DENOISE = """import torch

torch.manual_seed(0)
images = test_set.images[90:98] / 255
aelab.plot_reconstructions(model, images + 0.1**0.5 * torch.randn(images.shape))"""

STEP_6 = """**Step 6, interpolation**: eight codes on the line from the code of test image 0 (a 7) to
that of test image 1 (a 2), decoded; both ends included."""

INTERPOLATE = """aelab.plot_interpolation(model, test_set.images[0], test_set.images[1])"""

VAE_INTRO = """## Another family: a VAE

The `vae` family's lab recipe (784-400-20, Bernoulli likelihood, ELBO) for 10 epochs, its
samples from the prior, and its negative ELBO and importance-weighted NLL in nats on the test
set (100 draws per image here; `aelab eval` uses 1000)."""

VAE = """vae, vae_history = aelab.train(aelab.config("vae", epochs=10, seed=0), train_set, progress=False)
aelab.plot_samples(vae, n=16)"""

LIKELIHOOD = """aelab.evaluate(vae, test_set, pca=False, iw_samples=100, progress=False)["likelihood"]"""

LOSSES_INTRO = """## Loss curves

The mean training loss of each epoch: MSE for the lab's MLP, the negative ELBO per image for
the VAE."""

MLP_LOSSES = """aelab.plot_losses(history, title="the lab's MLP (MSE)")"""

VAE_LOSSES = """aelab.plot_losses(vae_history, title="the VAE (negative ELBO, nats)")"""


def build(checkpoint: str | None = None) -> nbformat.NotebookNode:
    """The tour's cells, unexecuted; with ``checkpoint``, the lab's model is loaded, not trained."""
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    if checkpoint is None:
        model_cells = [md(TRAIN_INTRO), code(TRAIN)]
    else:
        model_cells = [md(LOADED_INTRO), code(LOAD_CHECKPOINT.format(path=checkpoint))]
    cells = [
        md(INTRO),
        code(LOAD),
        *model_cells,
        code(SCORE),
        md(STEP_4),
        code(RECONSTRUCT),
        md(STEP_5),
        code(DENOISE),
        md(STEP_6),
        code(INTERPOLATE),
        md(VAE_INTRO),
        code(VAE),
        code(LIKELIHOOD),
        md(LOSSES_INTRO),
        # A loaded checkpoint brings no history of its own to draw.
        *([code(MLP_LOSSES)] if checkpoint is None else []),
        code(VAE_LOSSES),
    ]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = dict(KERNELSPEC)
    notebook.metadata["language_info"] = {"name": "python"}
    return notebook


def execute(notebook: nbformat.NotebookNode, folder: Path, timeout: int = CELL_TIMEOUT_S) -> nbformat.NotebookNode:
    """Run every cell in ``folder`` (its ./data is where MNIST is read from) with this interpreter's
    ipykernel; a cell that raises stops the run with its traceback."""
    # jupyter_client starts the "python3" kernel with the interpreter that runs this script.
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        record_timing=False,  # timestamps would make every rerun a diff
        resources={"metadata": {"path": str(folder)}},
    )
    client.execute(env={**os.environ, "PYTHONWARNINGS": QUIET_TQDM})
    return notebook


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", help="a trained MLP checkpoint to load instead of training one")
    parser.add_argument("--out", type=Path, default=NOTEBOOK, help=f"where to write it (default {NOTEBOOK})")
    parser.add_argument("--folder", type=Path, default=REPO, help="where the cells run: its ./data holds MNIST")
    args = parser.parse_args(argv)
    notebook = execute(build(args.checkpoint), args.folder.resolve())
    nbformat.validate(notebook)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, args.out)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
