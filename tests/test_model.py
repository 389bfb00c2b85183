import pytest
import torch

from aelab.models.config import ModelConfig
from aelab.models.mlp import LAB_KEYS
from aelab.models.mlp.model import MLPAutoencoder, autoencoderMLP4Layer, init_lab_weights


def test_lab_shapes_and_keys():
    model = autoencoderMLP4Layer(N_input=784, N_bottleneck=8, N_output=784)
    assert list(model.state_dict()) == list(LAB_KEYS)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes["fc1.weight"] == (392, 784)
    assert shapes["fc2.weight"] == (8, 392)
    assert shapes["fc3.weight"] == (392, 8)
    assert shapes["fc4.weight"] == (784, 392)
    assert model.type == "MLP4" and model.input_shape == (1, 784)


def test_forward_is_decode_of_encode_in_unit_range():
    torch.manual_seed(0)
    model = MLPAutoencoder(ModelConfig(bottleneck=3))
    x = torch.rand(5, 784)
    code = model.encode(x)
    assert code.shape == (5, 3) and (code >= 0).all()  # the lab's ReLU on the code
    out = model(x)
    assert torch.equal(out, model.decode(code))
    assert out.shape == (5, 784) and (out >= 0).all() and (out <= 1).all()
    assert torch.equal(model.encode(x.reshape(5, 1, 28, 28)), code)


def test_linear_code_can_be_negative():
    torch.manual_seed(0)
    model = MLPAutoencoder(ModelConfig(bottleneck=16, code_activation="none"))
    assert (model.encode(torch.rand(64, 784)) < 0).any()


# Of n uniform draws the largest |w| falls below this share of the bound with chance 0.98**n:
# 1e-7 for the smallest layer tested (2 x 392), and the draws are seeded besides.
XAVIER_REACHED = 0.98


@pytest.mark.parametrize("bottleneck", [8, 2])
def test_lab_init(bottleneck):
    """Xavier-uniform weights fill their whole range up to the bound (PyTorch's default init stops
    at 1/sqrt(fan_in), about half of it here); every bias is exactly 0.01."""
    torch.manual_seed(0)
    model = MLPAutoencoder(ModelConfig(bottleneck=bottleneck))
    init_lab_weights(model)
    biases = [p for n, p in model.named_parameters() if n.endswith("bias")]
    assert len(biases) == 4
    assert all(torch.all(p == 0.01) for n, p in model.named_parameters() if n.endswith("bias"))
    bound = (6 / (784 + 392)) ** 0.5
    assert model.fc1.weight.abs().max() <= bound
    layers = (model.fc1, model.fc2, model.fc3, model.fc4)
    assert [tuple(layer.weight.shape) for layer in layers] == [
        (392, 784),
        (bottleneck, 392),
        (392, bottleneck),
        (784, 392),
    ]
    for name, layer in zip(("fc1", "fc2", "fc3", "fc4"), layers):
        fan_out, fan_in = layer.weight.shape
        xavier = (6 / (fan_in + fan_out)) ** 0.5
        largest = layer.weight.abs().max().item()
        assert XAVIER_REACHED * xavier <= largest <= xavier, (name, largest, xavier)
        assert torch.all(layer.bias == 0.01), name
        assert layer.bias.dtype == torch.float32 and layer.bias.numel() == fan_out


def test_interpolation_endpoints_equal_reconstructions():
    torch.manual_seed(1)
    model = MLPAutoencoder()
    init_lab_weights(model)
    a, b = torch.rand(784), torch.rand(1, 28, 28)
    strip = model.interpolate(a, b, n_steps=8)
    assert strip.shape == (8, 784)
    assert torch.equal(strip[0], model(a[None])[0])
    assert torch.equal(strip[-1], model(b.reshape(1, -1))[0])
    codes = model.encode(torch.stack([a, b.reshape(-1)]))
    middle = model.decode(((codes[0] + codes[1]) / 2)[None])[0]
    assert torch.allclose(model.interpolate(a, b, n_steps=3)[1], middle, atol=1e-6)


@pytest.mark.parametrize("bad", [dict(bottleneck=0), dict(hidden=-1), dict(code_activation="tanh")])
def test_config_rejects_bad_shapes(bad):
    with pytest.raises(ValueError):
        ModelConfig(**bad)


def test_interpolate_needs_two_steps():
    with pytest.raises(ValueError):
        MLPAutoencoder().interpolate(torch.rand(784), torch.rand(784), n_steps=1)
