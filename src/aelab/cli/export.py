"""``export``: a checkpoint as safetensors + config.json, and ONNX encoder and decoder graphs."""

from __future__ import annotations

from pathlib import Path

NAME = "export"
HELP = "write model.safetensors + config.json and encoder/decoder ONNX files"
DESCRIPTION = (
    "Export a checkpoint to a folder: model.safetensors and config.json (which every command "
    "loads with -l DIR, as it loads a .pth), and encoder.onnx and decoder.onnx (flat images in "
    "[0, 1] to codes and back, with a dynamic batch axis) for ONNX runtimes."
)


def configure(p):
    p.add_argument("-l", "--load", required=True, metavar="PATH", help="checkpoint to export")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder to write (new or empty)")
    p.add_argument("--force", action="store_true", help="replace --out if it holds files")
    p.add_argument("--no-onnx", action="store_true", help="write only the safetensors weights and config.json")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..training import checkpoint
    from ..training.exported import export

    model = checkpoint.load_model(args.load)
    export(model, checkpoint.saved_data_config(args.load), args.out, args.force, onnx=not args.no_onnx)
    print(f"exported {model.config.layer_sizes} model to {args.out}/")
    return 0
