"""The Python API's results of a model: the scores ``aelab eval`` prints, a checkpoint, an export.

With :mod:`aelab.api`, these are the package's top-level calls (``aelab.evaluate``,
``aelab.save``, ``aelab.export``); they raise :class:`~aelab.errors.UserError` and never exit.
"""

from __future__ import annotations

from pathlib import Path

from .api import load_data


def evaluate(
    model,
    test_set=None,
    train_set=None,
    *,
    noise_stds=None,
    seed: int | None = None,
    clip_noise: bool = False,
    pca: bool = True,
    iw_samples: int = 1000,
    progress: bool = True,
) -> dict:
    """The numbers ``aelab eval`` prints (and writes with ``--json``), as a dict.

    Args:
        model: a model (:func:`load`, :func:`train`).
        test_set: the split to score (default: the test split of the data the model was trained on).
        train_set: the split a PCA with as many components as the code is fitted on, as a baseline
            (default: that data's train split); ``pca=False`` leaves it out.
        noise_stds, seed, clip_noise: the denoising rows, as ``--noise-std``, ``--seed``, ``--clip-noise``.
        iw_samples: draws per image for a VAE's negative ELBO and IW-NLL.

    Returns:
        ``{"reconstruction": {name: {"mse", "psnr", "ssim", "per_class_mse"}}, "denoising": [...],
        "likelihood": {...} (VAEs), ...}``, with the conventions the numbers follow.

    Example::

        >>> scores = aelab.evaluate(model, test_set)
        >>> round(scores["reconstruction"]["model"]["mse"], 4)
        0.0204
    """
    from .analysis.config import DENOISE_SEED, DENOISE_STDS
    from .analysis.evaluation import check_compatible, model_reconstructor
    from .analysis.evaluation import evaluate as score
    from .analysis.inference import model_device

    if test_set is None or (pca and train_set is None):
        train_split, test_split = load_data(model, progress=progress)
        test_set, train_set = test_set or test_split, train_set or train_split
    check_compatible(model, test_set)
    reconstructors = {"model": model_reconstructor(model)}
    pca_note = {}
    if pca:
        from .analysis.pca import PCAReconstructor, fit_pca

        k = model.config.bottleneck
        fitted = fit_pca(train_set.floats(), max_components=k)
        reconstructors[f"PCA-{k}"] = PCAReconstructor(fitted, k)
        pca_note = {
            "pca": {
                "name": f"PCA-{k}",
                "components": k,
                "fitted_on": f"{train_set.name} train split",
                "method": fitted.method,
            }
        }
    device = model_device(model)
    stds = DENOISE_STDS if noise_stds is None else tuple(noise_stds)
    report = score(reconstructors, test_set, stds, DENOISE_SEED if seed is None else seed, device, clip_noise)
    result = {**report.to_dict(), **pca_note}
    if model.variational:
        from .analysis.likelihood import likelihood

        result["likelihood"] = {
            "model": likelihood(model, test_set.floats(device), iw_samples, progress=progress).to_dict()
        }
    return result


def save(model, path) -> Path:
    """Write ``model`` as a checkpoint every command reads (and the lab's code: it is a plain
    state dict with the lab's keys for an MLP); atomically, so a failed write keeps the old file.

    Args:
        model: the model to save.
        path: the checkpoint's path (``~`` is expanded).

    Returns:
        The path written.

    Example::

        >>> aelab.save(model, "MLP.8.pth")
        PosixPath('MLP.8.pth')
    """
    from .training.run import save_run

    path = Path(path).expanduser()
    save_run(path, model, None)
    return path


def export(model, out, force: bool = False, onnx: bool = True) -> Path:
    """Write ``model`` as ``model.safetensors`` and ``config.json`` (and ``encoder.onnx`` and
    ``decoder.onnx``) in the folder ``out``, as ``aelab export`` does.

    Args:
        model: the model to export.
        out: the folder to write; it must not exist, or be empty, unless ``force``.
        onnx: also write the ONNX graphs (needs the ``export`` extra's onnx).

    Returns:
        The folder written.

    Example::

        >>> aelab.export(model, "MLP.8", onnx=False)
        PosixPath('MLP.8')
    """
    from .training import checkpoint
    from .training.exported import export as write

    out = Path(out).expanduser()
    source = getattr(model, "source_path", None)
    write(model, checkpoint.saved_data_config(source) if source else None, out, force, onnx=onnx)
    return out
