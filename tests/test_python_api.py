"""The Python API behaves as a library: it trains and scores exactly as the command line does,
checks every image batch's shape, and raises the package's error instead of exiting."""

import json
import subprocess
import sys

import pytest
import torch

import aelab
from aelab.cli import script_main
from aelab.models.config import ModelConfig
from aelab.models.registry import build

SMALL = dict(bottleneck=4, hidden=32, batch_size=85, seed=0)


@pytest.fixture
def tiny_sets(tiny_root):
    return aelab.load_data(root=tiny_root, progress=False)


def test_import_is_free_and_lists_the_api():
    code = "import sys, aelab; names = dir(aelab); print('torch' in sys.modules, 'train' in names, 'load' in names)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "True", "True"]
    for name in aelab.__all__:
        assert getattr(aelab, name).__doc__, name  # every public name says what it does


def test_training_from_python_is_train_py_bit_for_bit(tiny_root, tiny_sets, tmp_path):
    train_set, _ = tiny_sets
    model, history = aelab.train(data=train_set, epochs=2, progress=False, **SMALL)
    args = ["-z", "4", "--hidden", "32", "-b", "85", "--seed", "0", "-e", "2", "--no-progress"]
    assert script_main("train", [*args, "-s", str(tmp_path / "cli.pth"), "--data-root", str(tiny_root)]) == 0
    saved = torch.load(tmp_path / "cli.pth", weights_only=True)
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, saved[name]), name
    state = torch.load(tmp_path / "cli.pth.state", weights_only=True)
    assert history.losses == state["history"]["losses"]


def test_a_model_trains_further_from_its_own_weights(tiny_sets):
    train_set, test_set = tiny_sets
    model, first = aelab.train(data=train_set, epochs=1, progress=False, **SMALL)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    again, second = aelab.train(model, train_set, epochs=1, progress=False, seed=0)
    assert again is model and len(second.losses) == 1
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
    with pytest.raises(aelab.UserError, match="shape is fixed; bottleneck"):
        aelab.train(model, train_set, epochs=1, bottleneck=9, progress=False)


def test_evaluate_gives_the_numbers_eval_prints(tiny_root, tiny_sets, tmp_path):
    train_set, test_set = tiny_sets
    model, _ = aelab.train(data=train_set, epochs=1, progress=False, **SMALL)
    path = aelab.save(model, tmp_path / "m.pth")
    scores = aelab.evaluate(aelab.load(path, device="cpu"), test_set, train_set, progress=False)
    assert (
        script_main("eval", ["-l", str(path), "--data-root", str(tiny_root), "--json", str(tmp_path / "e.json")]) == 0
    )
    printed = json.loads((tmp_path / "e.json").read_text())
    assert scores["reconstruction"]["model"] == printed["reconstruction"]["m"]
    assert scores["reconstruction"]["PCA-4"] == printed["reconstruction"]["PCA-4"]
    assert scores["denoising"][0]["noisy_psnr"] == printed["denoising"][0]["noisy_psnr"]


def test_a_saved_model_loads_in_the_labs_code_and_reads_back_its_data(tiny_root, tiny_sets, tmp_path):
    model, _ = aelab.train(data=tiny_sets[0], epochs=1, progress=False, **SMALL)
    path = aelab.save(model, tmp_path / "m.pth")
    lab = aelab.autoencoderMLP4Layer(N_bottleneck=4)
    lab.fc1 = torch.nn.Linear(784, 32)
    lab.fc2, lab.fc3, lab.fc4 = torch.nn.Linear(32, 4), torch.nn.Linear(4, 32), torch.nn.Linear(32, 784)
    lab.load_state_dict(torch.load(path))  # the lab's own loading line
    loaded = aelab.load(path)
    assert loaded.source_path == path
    train_set, test_set = aelab.load_data(loaded, root=tiny_root, progress=False)
    assert torch.equal(test_set.images, tiny_sets[1].images)


@pytest.mark.parametrize("family", ["mlp", "conv"])
def test_models_take_images_or_flat_pixels_uint8_or_float_and_refuse_the_rest(family):
    torch.manual_seed(0)
    model = build(ModelConfig(family=family, hidden=16, bottleneck=3)).eval()
    pixels = torch.randint(0, 256, (5, 1, 28, 28), dtype=torch.uint8)
    codes = model.encode(pixels.float() / 255)
    assert torch.equal(model.encode(pixels), codes)
    assert torch.equal(model.encode(pixels.reshape(5, -1)), codes)
    assert model.reconstruct(pixels).shape == (5, 1, 28, 28)
    for wrong, words in (
        (pixels.permute(0, 2, 3, 1), "takes images N x 1 x 28 x 28 or flat N x 784, not 5 x 28 x 28 x 1"),
        (pixels[:, 0], "not 5 x 28 x 28"),
        (torch.zeros(5, 783), "not 5 x 783"),
        (pixels.int(), "uint8 (0-255) or floating-point (0-1) pixels, not torch.int32"),
        (torch.full((2, 784), float("nan")), "NaN or infinite"),
    ):
        with pytest.raises(aelab.UserError, match=words.replace("(", r"\(").replace(")", r"\)")):
            model.encode(wrong)


def test_library_calls_raise_not_exit(tmp_path, tiny_sets):
    from matplotlib.figure import Figure

    (tmp_path / "folder").mkdir()
    for call, words in (
        (lambda: aelab.load(tmp_path / "missing.pth"), "not found"),
        (lambda: aelab.load(tmp_path / "folder"), "no config.json"),
        (lambda: aelab.config("nope"), "unknown model family 'nope'"),
        (lambda: aelab.config(width=3), "'width' is not a setting"),
        (lambda: aelab.train(object(), tiny_sets[0]), "takes a model, a run config or None"),
        (lambda: aelab.load_data(tmp_path / "nothing-here"), "no such named set"),
    ):
        with pytest.raises(aelab.UserError, match=words):
            call()
    model, history = aelab.train(data=tiny_sets[0], epochs=1, progress=False, **SMALL)
    figures = [
        aelab.plot_reconstructions(model, tiny_sets[1], n=4),
        aelab.plot_interpolation(model, tiny_sets[1].images[0], tiny_sets[1].images[1], n_steps=4),
        aelab.plot_losses(history),
    ]
    assert all(isinstance(f, Figure) and f._repr_png_().startswith(b"\x89PNG") for f in figures)
    assert len(figures[0].axes) == 8 and len(figures[1].axes) == 6
    with pytest.raises(aelab.UserError, match="no prior to sample from"):
        aelab.plot_samples(model)


STATE_SCRIPT = """
import gc, signal, sys
import matplotlib
import aelab
before = (signal.getsignal(signal.SIGINT), gc.get_freeze_count(), matplotlib.get_backend())
train_set, test_set = aelab.load_data(root=sys.argv[1], progress=False)
model, history = aelab.train(data=train_set, epochs=1, progress=False, bottleneck=4, hidden=32, batch_size=85)
aelab.plot_reconstructions(model, test_set).savefig(sys.argv[2])
print(before == (signal.getsignal(signal.SIGINT), gc.get_freeze_count(), matplotlib.get_backend()), before[1])
"""


def test_library_calls_leave_signals_the_collector_and_the_backend_alone(tiny_root, tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", STATE_SCRIPT, str(tiny_root), str(tmp_path / "r.png")],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.stdout.split() == ["True", "0"], result.stderr[-2000:]
    assert (tmp_path / "r.png").stat().st_size > 0


def test_evaluate_reads_the_default_data_for_a_model_never_saved(tiny_root, tiny_sets, monkeypatch):
    monkeypatch.chdir(tiny_root.parent)  # ./data: where a model trained here finds its data by default
    model, _ = aelab.train(data=tiny_sets[0], epochs=1, progress=False, **SMALL)
    scores = aelab.evaluate(model, noise_stds=[0.1], progress=False)
    assert scores["n_images"] == len(tiny_sets[1]) and set(scores["reconstruction"]) == {"model", "PCA-4"}
