"""``export``: safetensors + config.json that every command loads, and ONNX graphs that agree with PyTorch."""

import json
import sys
from dataclasses import fields

import pytest
import torch
from test_eval import assert_one_line_error, run_cli

from aelab.cli import script_main
from aelab.data.images import load_images
from aelab.models import registry
from aelab.models.config import ModelConfig
from aelab.training import checkpoint
from aelab.training.exported import CONFIG_FILE, DECODER_FILE, ENCODER_FILE, WEIGHTS_FILE

ONNX_TOLERANCE = 1e-5
N_REAL_IMAGES = 1000


def small_shape(family: str) -> dict:
    """Small layers for every family: the lab's MLP at z=4, the others narrower, conv bodies two stages."""
    own = {f.name for f in fields(registry.get(family).config)}
    shape = dict(bottleneck=4) if family == "mlp" else dict(hidden=64, bottleneck=4)
    if "code_dim" in own:  # a vq-vae's code size is its grid's: code_dim per cell
        shape = dict(code_dim=2, codebook_size=16)
    return {**shape, **({"conv_channels": (8, 16)} if "conv_channels" in own else {})}


SHAPES = {family: small_shape(family) for family in registry.names()}


def saved_model(path, family="mlp"):
    torch.manual_seed(0)
    checkpoint.save(path, registry.build(ModelConfig(family=family, **SHAPES[family])))
    return path


def export(capsys, *argv):
    return run_cli(capsys, "export", *argv)


@pytest.mark.parametrize("family", registry.names())
def test_onnx_graphs_agree_with_pytorch_on_real_test_images(real_root, tmp_path, capsys, family):
    import onnxruntime as ort  # the onnx extra: a missing one is an error, never a skip

    path = saved_model(tmp_path / "m.pth", family)
    assert export(capsys, "-l", path, "--out", tmp_path / "out")[0] == 0
    model = checkpoint.load_model(path)
    images = load_images("mnist", real_root, train=False).floats()[:N_REAL_IMAGES]
    encoder = ort.InferenceSession(str(tmp_path / "out" / ENCODER_FILE), providers=["CPUExecutionProvider"])
    decoder = ort.InferenceSession(str(tmp_path / "out" / DECODER_FILE), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        codes, decoded = model.encode(images), model.decode(model.encode(images))
    onnx_codes = torch.from_numpy(encoder.run(None, {"images": images.numpy()})[0])
    # the decoder gets PyTorch's codes, so each graph is compared on its own; batch sizes vary: the axis is dynamic
    onnx_images = torch.from_numpy(decoder.run(None, {"codes": codes[:7].numpy()})[0])
    assert (onnx_codes - codes).abs().max() <= ONNX_TOLERANCE
    assert (onnx_images - decoded[:7]).abs().max() <= ONNX_TOLERANCE
    assert onnx_codes.shape == codes.shape and onnx_images.shape == (7, model.config.output_dim)


@pytest.mark.parametrize("family", registry.names())
def test_an_exported_folder_loads_back_tensor_for_tensor(tmp_path, capsys, family):
    path = saved_model(tmp_path / "m.pth", family)
    assert export(capsys, "-l", path, "--out", tmp_path / "out", "--no-onnx")[0] == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [CONFIG_FILE, WEIGHTS_FILE]
    original, loaded = checkpoint.load_model(path), checkpoint.load_model(tmp_path / "out")
    assert loaded.config == original.config and type(loaded) is type(original)
    a, b = original.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_the_lab_on_an_export_draws_the_same_figures_bit_for_bit(tiny_root, tmp_path, capsys):
    path = tmp_path / "MLP.pth"
    assert (
        script_main(
            "train",
            [
                "-z",
                "3",
                "--hidden",
                "16",
                "-e",
                "2",
                "-b",
                "64",
                "--seed",
                "0",
                "-s",
                str(path),
                "--data-root",
                str(tiny_root),
                "--no-progress",
            ],
        )
        == 0
    )
    assert export(capsys, "-l", path, "--out", tmp_path / "MLP")[0] == 0
    config = json.loads((tmp_path / "MLP" / CONFIG_FILE).read_text())
    assert config["data"]["dataset"] == "mnist" and config["model"]["bottleneck"] == 3
    lab = ["--data-root", str(tiny_root), "--index", "3", "--pair", "1", "2", "--seed", "0"]
    assert script_main("lab", ["-l", str(path), "--out", str(tmp_path / "from_pth"), *lab]) == 0
    assert script_main("lab", ["-l", str(tmp_path / "MLP"), "--out", str(tmp_path / "from_dir"), *lab]) == 0
    figures = sorted(p.name for p in (tmp_path / "from_pth").iterdir())
    assert figures and figures == sorted(p.name for p in (tmp_path / "from_dir").iterdir())
    for name in figures:
        assert (tmp_path / "from_pth" / name).read_bytes() == (tmp_path / "from_dir" / name).read_bytes(), name


def test_export_refuses_a_folder_with_files_unless_forced(tmp_path, capsys):
    path = saved_model(tmp_path / "m.pth")
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    code, _, err = export(capsys, "-l", path, "--out", out, "--no-onnx")
    assert_one_line_error(code, err, "not empty", "--force")
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert export(capsys, "-l", path, "--out", out, "--no-onnx", "--force")[0] == 0
    assert sorted(p.name for p in out.iterdir()) == [CONFIG_FILE, WEIGHTS_FILE]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pth", "out"]  # no temp folder left behind
    code, _, err = export(capsys, "-l", path, "--out", path)
    assert_one_line_error(code, err, "is a file")


def exported(tmp_path, capsys, family="mlp"):
    out = tmp_path / "out"
    assert export(capsys, "-l", saved_model(tmp_path / "m.pth", family), "--out", out, "--no-onnx")[0] == 0
    return out


def edit_weights(out, change):
    from safetensors.torch import load_file, save_file

    weights = load_file(str(out / WEIGHTS_FILE))
    change(weights)
    save_file(weights, str(out / WEIGHTS_FILE))


def edit_config(out, change):
    config = json.loads((out / CONFIG_FILE).read_text())
    change(config)
    (out / CONFIG_FILE).write_text(json.dumps(config))


def nan_first(weights):
    weights[next(iter(weights))][0] = float("nan")


BROKEN = {
    "no config": (lambda out: (out / CONFIG_FILE).unlink(), ["no config.json"]),
    "malformed config": (lambda out: (out / CONFIG_FILE).write_text("{not json"), ["not valid JSON"]),
    "foreign config": (lambda out: (out / CONFIG_FILE).write_text("[1, 2]"), ["not an aelab export"]),
    "config disagrees": (lambda out: edit_config(out, lambda c: c["model"].update(bottleneck=5)), ["does not match"]),
    "impossible config": (lambda out: edit_config(out, lambda c: c["model"].update(hidden=-3)), ["hidden"]),
    "no weights": (lambda out: (out / WEIGHTS_FILE).unlink(), ["no model.safetensors"]),
    "corrupt weights": (lambda out: (out / WEIGHTS_FILE).write_bytes(b"\x10\x00garbage"), ["not a readable"]),
    "NaN weights": (lambda out: edit_weights(out, nan_first), ["NaN"]),
    "wrong shape": (lambda out: edit_weights(out, lambda w: w.update({"fc2.bias": torch.zeros(9)})), ["fc2.bias"]),
    "extra tensor": (lambda out: edit_weights(out, lambda w: w.update(extra=torch.zeros(1))), ["extra"]),
}


@pytest.mark.parametrize("case", BROKEN)
def test_a_broken_export_is_refused_in_one_line(tmp_path, capsys, case):
    out = exported(tmp_path, capsys)
    damage, words = BROKEN[case]
    damage(out)
    code, _, err = run_cli(capsys, "sample", "-l", out, "--out", tmp_path / "s.png")  # any command that loads
    assert_one_line_error(code, err, *words)
    assert not (tmp_path / "s.png").exists()


def test_a_conv_export_with_an_extra_tensor_is_refused(tmp_path, capsys):
    out = exported(tmp_path, capsys, "conv")
    edit_weights(out, lambda w: w.update(extra=torch.zeros(1)))
    code, _, err = run_cli(capsys, "eval", "-l", out)
    assert_one_line_error(code, err, "unexpected extra")


def test_missing_safetensors_names_the_extra(tmp_path, capsys, monkeypatch):
    path = saved_model(tmp_path / "m.pth")
    monkeypatch.setitem(sys.modules, "safetensors.torch", None)
    code, _, err = export(capsys, "-l", path, "--out", tmp_path / "out")
    assert_one_line_error(code, err, "aelab[export]")
    assert not (tmp_path / "out").exists()


def test_missing_onnx_names_the_extra_and_no_onnx_works_without_it(tmp_path, capsys, monkeypatch):
    path = saved_model(tmp_path / "m.pth")
    monkeypatch.setitem(sys.modules, "onnx", None)
    code, _, err = export(capsys, "-l", path, "--out", tmp_path / "out")
    assert_one_line_error(code, err, "aelab[export]", "--no-onnx")
    assert not (tmp_path / "out").exists()
    assert export(capsys, "-l", path, "--out", tmp_path / "out", "--no-onnx")[0] == 0
