"""A family is one module: a toy one written to a temporary folder, never named anywhere in the
package, trains, resumes, evaluates, runs the lab's steps, exports and decodes as the explorer
would. Its batch norm gives it buffers, which the optimizer never steps and resume must carry."""

import importlib
import sys
import textwrap

import numpy as np
import pytest
import torch

from aelab.cli import main, script_main
from aelab.models import registry
from aelab.training import checkpoint
from aelab.web.decoder import describe, weight_bytes

TOY_MODULE = '''
"""A toy family: one hidden layer each way, a batch norm in the encoder."""

from dataclasses import dataclass, field

from torch import nn

from aelab.models.base import Autoencoder
from aelab.models.config import ModelConfig, option
from aelab.models.registry import Family, register


@dataclass(frozen=True)
class ToyConfig(ModelConfig):
    family: str = "toy"
    code_activation: str = "none"
    momentum: float = field(default=0.1, metadata=option("toy: the batch norm's momentum", parse=float))


class ToyAutoencoder(Autoencoder):
    def __init__(self, config):
        super().__init__(config)
        self.encoder = nn.Sequential(nn.Linear(config.input_dim, config.hidden),
                                     nn.BatchNorm1d(config.hidden, momentum=config.momentum), nn.ReLU(),
                                     nn.Linear(config.hidden, config.bottleneck))
        self.decoder = nn.Sequential(nn.Linear(config.bottleneck, config.hidden), nn.ReLU(),
                                     nn.Linear(config.hidden, config.output_dim))

    def encode(self, x):
        return self.encoder(x.reshape(len(x), -1))

    def decode_logits(self, code):
        return self.decoder(code)


register(Family(name="toy", config=ToyConfig, model=ToyAutoencoder, summary="a toy with a batch norm",
                recipes={"lab": {}, "best": {"lr": 3e-3, "loss": "bce"}}))
'''
SMALL = ["-z", "3", "--hidden", "16", "-b", "64", "--seed", "0", "--no-progress"]


@pytest.fixture
def toy_family(tmp_path, monkeypatch):
    folder = tmp_path / "plugin"
    folder.mkdir()
    (folder / "toy_family.py").write_text(textwrap.dedent(TOY_MODULE))
    monkeypatch.syspath_prepend(str(folder))
    importlib.import_module("toy_family")
    yield registry.get("toy")
    registry.unregister("toy")
    sys.modules.pop("toy_family", None)


def train(path, root, *extra) -> int:
    return script_main("train", ["--model", "toy", "-s", str(path), "--data-root", str(root), *SMALL, *extra])


def test_a_family_in_a_module_of_its_own_runs_every_command(toy_family, tiny_root, tmp_path, capsys):
    path = tmp_path / "toy.pth"
    assert train(path, tiny_root, "-e", "1", "--momentum", "0.3") == 0
    model = checkpoint.load_model(path)
    assert type(model).__name__ == "ToyAutoencoder" and model.config.momentum == 0.3
    assert model.encoder[1].num_batches_tracked.item() == 4  # 256 images in batches of 64
    assert main(["eval", "-l", str(path), "--data-root", str(tiny_root)]) == 0
    assert "toy" in capsys.readouterr().out
    figures = tmp_path / "figures"
    assert (
        script_main(
            "lab",
            [
                "-l",
                str(path),
                "--data-root",
                str(tiny_root),
                "--index",
                "3",
                "--pair",
                "0",
                "1",
                "--out",
                str(figures),
                "--no-show",
            ],
        )
        == 0
    )
    assert {p.name for p in figures.iterdir()} >= {"reconstruction.png", "denoising.png", "interpolation.png"}
    assert main(["export", "-l", str(path), "--out", str(tmp_path / "exported"), "--no-onnx"]) == 0
    exported = checkpoint.load_model(tmp_path / "exported")
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, exported.state_dict()[name]), name


def test_the_explorer_decodes_a_new_family_from_its_layer_list(toy_family, tiny_root, tmp_path):
    path = tmp_path / "toy.pth"
    assert train(path, tiny_root, "-e", "1") == 0
    model = checkpoint.load_model(path)
    layers, params = describe(model)
    assert [layer["kind"] for layer in layers] == ["linear", "relu", "linear"]
    # Run the layer list as the page does: little-endian float32 weights in PyTorch's layout, in order.
    weights = np.frombuffer(weight_bytes(params), dtype="<f4")
    code = torch.randn(5, 3)
    x, offset = code.numpy().astype(np.float32), 0
    for layer in layers:
        if layer["kind"] == "relu":
            x = np.maximum(x, 0)
            continue
        n_in, n_out = layer["inputs"], layer["outputs"]
        w = weights[offset : offset + n_in * n_out].reshape(n_out, n_in)
        b = weights[offset + n_in * n_out : offset + n_in * n_out + n_out]
        x, offset = x @ w.T + b, offset + n_in * n_out + n_out
    assert offset == len(weights)
    np.testing.assert_allclose(1 / (1 + np.exp(-x)), model.decode(code).detach().numpy(), atol=1e-5)


def test_a_family_with_buffers_resumes_exactly(toy_family, tiny_root, tmp_path):
    once, twice = tmp_path / "once.pth", tmp_path / "twice.pth"
    assert train(once, tiny_root, "-e", "2", "--step", "autograd") == 0
    assert train(twice, tiny_root, "-e", "1", "--step", "autograd") == 0
    assert train(twice, tiny_root, "-e", "2", "--step", "autograd", "--resume") == 0
    state = checkpoint.load_run_state(twice)
    names = [name for name, _ in registry.on_meta(checkpoint.load_model(twice).config).named_parameters()]
    assert len(state["optimizer"]["param_groups"][0]["params"]) == len(names)  # no entry for a buffer
    a, b = torch.load(once, weights_only=True), torch.load(twice, weights_only=True)
    assert set(a) == set(b) and "encoder.1.running_mean" in a
    for name in a:
        assert torch.equal(a[name], b[name]), name


def test_the_command_line_offers_a_new_familys_own_settings(toy_family, tiny_root, tmp_path, capsys):
    with pytest.raises(SystemExit):
        script_main("train", ["--help"])
    text = " ".join(capsys.readouterr().out.split())  # as one line, whatever argparse wrapped
    assert "--momentum" in text and "a toy with a batch norm" in text
    assert train(tmp_path / "m.pth", tiny_root, "--model", "mlp", "--momentum", "0.2") == 2
    assert "--momentum does not apply to a mlp model; drop it or use --model toy" in capsys.readouterr().err
    assert not (tmp_path / "m.pth").exists()


def test_a_family_declares_the_lab_and_best_recipes():
    from aelab.models.config import ModelConfig

    with pytest.raises(ValueError, match="no best recipe"):
        registry.Family(name="x", config=ModelConfig, model="x:X", summary="", recipes={"lab": {}})


EARLIER_FIELDS = dict(
    input_dim=784,
    hidden=16,
    bottleneck=3,
    output_dim=784,
    code_activation="relu",
    image_shape=(1, 28, 28),
    family="mlp",
    depth=1,
    conv_channels=(32, 64),
    likelihood="bernoulli",
    beta=1.0,
)


@pytest.mark.parametrize("family", ["mlp", "conv", "vae", "conv-vae"])
def test_checkpoints_that_saved_every_familys_fields_still_load(tmp_path, family):
    # Before each family had a config of its own, every checkpoint saved all eleven fields.
    from aelab.models.config import ModelConfig

    earlier = {**EARLIER_FIELDS, "family": family, "code_activation": "none" if "vae" in family else "relu"}
    config = ModelConfig(**{k: v for k, v in earlier.items() if k in ModelConfig.from_dict(earlier).to_dict()})
    model = registry.build(config)
    weights = model.state_dict()
    weights._metadata = {"": {checkpoint.CONFIG_KEY: earlier}}
    torch.save(weights, tmp_path / "earlier.pth")
    loaded = checkpoint.load_model(tmp_path / "earlier.pth")
    assert loaded.config == config and type(loaded) is type(model)
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[name]), name
