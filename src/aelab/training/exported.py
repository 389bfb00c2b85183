"""A model as the ecosystem shares it: ``model.safetensors`` + ``config.json`` in one folder, and
``encoder.onnx`` / ``decoder.onnx`` for runtimes without PyTorch.

The folder loads back wherever a checkpoint does (``-l DIR``): safetensors holds only tensors,
so nothing in it can run code, and every tensor is checked against ``config.json`` (shapes,
names, finite values) by :mod:`.validation` before a model is built, as a ``.pth`` is.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from ..data.sources import DataConfig
from ..errors import UserError
from ..files import DEFAULT_FILE_MODE, current_umask
from ..models import registry
from ..models.base import Autoencoder
from . import validation

WEIGHTS_FILE, CONFIG_FILE = "model.safetensors", "config.json"
ENCODER_FILE, DECODER_FILE = "encoder.onnx", "decoder.onnx"
FORMAT = "aelab export"
EARLIER_FORMATS = ("mnist-ae export",)  # the same folder, written under the package's first name
FORMAT_VERSION = 1
ONNX_OPSET = 17  # every op these models use has been in the standard since well before it
INSTALL_HINT = "pip install 'aelab[export]'"
FOLDER_MODE = 0o777


def check_onnx() -> None:
    try:
        import onnx  # noqa: F401  torch's exporter serialises through it
    except ImportError:
        raise UserError(
            f"writing ONNX graphs needs the onnx package, which is not installed; {INSTALL_HINT}, or pass --no-onnx"
        ) from None


def safetensors_torch():
    try:
        import safetensors.torch
    except ImportError:
        raise UserError(
            f"exported folders store weights as safetensors, which is not installed; {INSTALL_HINT}"
        ) from None
    return safetensors.torch


class Encoder(nn.Module):
    """``images`` (N x pixels in [0, 1]) -> ``codes``: the model's ``encode`` as a graph of its own."""

    def __init__(self, model: Autoencoder):
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model.encode(images)


class Decoder(nn.Module):
    """``codes`` -> ``images`` (N x pixels in [0, 1])."""

    def __init__(self, model: Autoencoder):
        super().__init__()
        self.model = model

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        return self.model.decode(codes)


def export_onnx(module: nn.Module, example: torch.Tensor, path: Path, names: tuple[str, str]) -> None:
    """One graph with a dynamic batch axis, by PyTorch's TorchScript-based exporter: quick, it needs
    only the onnx package, and these small graphs need nothing newer."""
    import warnings

    with warnings.catch_warnings():  # torch announces its newer exporter; this one stays supported
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (example,),
            str(path),
            input_names=[names[0]],
            output_names=[names[1]],
            dynamic_axes={names[0]: {0: "batch"}, names[1]: {0: "batch"}},
            opset_version=ONNX_OPSET,
            dynamo=False,
        )


def write_folder(folder: Path, model: Autoencoder, data: DataConfig | None, onnx: bool = True) -> None:
    """Write the export into ``folder``, which must be new or empty."""
    model = model.cpu().eval()
    weights = {k: v.detach().clone(memory_format=torch.contiguous_format) for k, v in model.state_dict().items()}
    safetensors_torch().save_file(weights, str(folder / WEIGHTS_FILE), metadata={"format": FORMAT})
    config = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "model": asdict(model.config),
        "data": data.to_dict() if data is not None else None,
    }
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    if onnx:
        c = model.config
        export_onnx(Encoder(model), torch.rand(2, c.input_dim), folder / ENCODER_FILE, ("images", "codes"))
        export_onnx(Decoder(model), torch.rand(2, c.bottleneck), folder / DECODER_FILE, ("codes", "images"))


def export(model: Autoencoder, data: DataConfig | None, out: Path, force: bool = False, onnx: bool = True) -> None:
    """Write the folder ``out`` whole or not at all: into a temp folder beside it, then renamed."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise UserError(f"--out {out} exists and is not empty; choose a new folder or pass --force to replace it")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"--out folder {parent} does not exist; create it or choose another")
    if not os.access(parent, os.W_OK):
        raise UserError(f"cannot write in {parent}: permission denied; choose a writable folder")
    safetensors_torch()  # a missing package stops the export before any file is made
    if onnx:
        check_onnx()
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=parent))
    try:
        write_folder(staging, model, data, onnx)
        for file in staging.iterdir():  # the temp folder and some writers make files private (0600)
            os.chmod(file, DEFAULT_FILE_MODE & ~current_umask())
        os.chmod(staging, FOLDER_MODE & ~current_umask())
        if out.exists():  # --force: the old folder goes only once the new one is whole
            retired = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=parent))
            os.replace(out, retired / out.name)
            os.replace(staging, out)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def read_config(folder: Path) -> dict:
    path = folder / CONFIG_FILE
    if not path.is_file():
        raise UserError(
            f"{folder} has no {CONFIG_FILE}, so it is not an exported model; export one with "
            "aelab export -l CKPT --out DIR, or pass a .pth checkpoint"
        )
    try:
        config = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UserError(f"{path} is not valid JSON ({str(err).splitlines()[0]}); export the model again") from None
    if (
        not isinstance(config, dict)
        or config.get("format") not in (FORMAT, *EARLIER_FORMATS)
        or not isinstance(config.get("model"), dict)
    ):
        raise UserError(
            f'{path} is not an aelab export\'s config (no "format": "{FORMAT}" with a "model"); export the model again'
        )
    return config


def load_folder(folder: str | Path, device: torch.device | str = "cpu") -> Autoencoder:
    """The model an exported folder holds, every tensor checked against its config.json first."""
    folder = Path(folder)
    config = read_config(folder)
    weights_path = folder / WEIGHTS_FILE
    if not weights_path.is_file():
        raise UserError(f"{folder} has no {WEIGHTS_FILE}; export the model again")
    try:
        model_config = validation.model_config(config["model"], f"{CONFIG_FILE} model", require_all=False)
    except validation.Invalid as err:
        raise UserError(f"{folder / CONFIG_FILE} is not usable: {err}; export the model again") from None
    try:
        weights = safetensors_torch().load_file(str(weights_path))
    except UserError:
        raise
    except Exception as err:  # the reader's errors differ by version; all mean a damaged file
        raise UserError(
            f"{weights_path} is not a readable safetensors file ({str(err).splitlines()[0][:80]}); "
            "export the model again"
        ) from None
    try:
        validation.check_model_weights(weights, model_config, f"its {CONFIG_FILE}")
    except validation.Invalid as err:
        raise UserError(f"{weights_path} does not match {CONFIG_FILE}: {err}; export the model again") from None
    model = registry.build(model_config, initialize=False)
    model.load_state_dict(weights)
    return model.to(device).eval()


def saved_data(folder: str | Path) -> DataConfig | None:
    """The data an exported model was trained on, when its config.json says."""
    return validation.recorded_data(read_config(Path(folder)).get("data"), Path(folder) / CONFIG_FILE)
