"""The hand-derived step must learn exactly what autograd + Adam learn."""

import pytest
import torch
from train_runs import run_state, train_here

from aelab.data.noise import add_noise
from aelab.models.config import ModelConfig
from aelab.models.mlp.model import MLPAutoencoder, init_lab_weights
from aelab.training.fused_step import FusedStep


def twin_models(code_activation):
    torch.manual_seed(0)
    a = MLPAutoencoder(ModelConfig(bottleneck=8, code_activation=code_activation))
    init_lab_weights(a)
    b = MLPAutoencoder(a.config)
    b.load_state_dict(a.state_dict())
    return a, b


@pytest.mark.parametrize("loss", ["mse", "bce"])
@pytest.mark.parametrize("code_activation", ["relu", "none"])
def test_same_parameters_as_autograd_for_several_steps(loss, code_activation):
    reference, fast = twin_models(code_activation)
    optimizer = torch.optim.Adam(reference.parameters(), lr=1e-3, weight_decay=1e-5)
    step = FusedStep(fast, lr=1e-3, weight_decay=1e-5, loss=loss)
    batches = torch.rand(3, 200, 784).pow(3)  # dark-heavy, like digits
    for images in batches:
        expected = reference.loss(images, images, loss)
        optimizer.zero_grad()
        expected.backward()
        optimizer.step()
        got = step(images)
        assert torch.allclose(got, expected.detach(), rtol=1e-5, atol=1e-7)
    for (name, p), q in zip(reference.named_parameters(), fast.parameters()):
        assert torch.allclose(p, q, rtol=1e-4, atol=1e-6), name


@pytest.mark.parametrize("clip", [False, True])
def test_noisy_inputs_and_clean_targets_as_autograd_has_them(clip):
    reference, fast = twin_models("none")
    optimizer = torch.optim.Adam(reference.parameters(), lr=1e-3)
    step = FusedStep(fast, lr=1e-3, weight_decay=0.0, loss="bce", train_noise=0.3, clip_noise=clip)
    # autograd's own products, so two Adam steps agree to the last digits (Adam magnifies any
    # other rounding in its near-zero gradients; the transposed products are checked below)
    step.transpose_narrow = False
    images = torch.rand(2, 100, 784).pow(3)
    for batch_index, batch in enumerate(images):
        torch.manual_seed(batch_index)  # the same noise for both
        noisy = add_noise(batch, torch.randn_like(batch), 0.3, clip)
        assert (noisy.min() >= 0 and noisy.max() <= 1) == clip
        expected = reference.loss(noisy, batch, "bce")
        optimizer.zero_grad()
        expected.backward()
        optimizer.step()
        torch.manual_seed(batch_index)
        assert torch.allclose(step(batch), expected.detach(), rtol=1e-5)
    for (name, p), q in zip(reference.named_parameters(), fast.parameters()):
        assert torch.allclose(p, q, rtol=1e-4, atol=1e-6), name


def test_binarised_batches_are_the_autograd_steps_coin_flips():
    """``--binarize`` on the MLP: the same draws as the plain loop's step, so the same run."""
    from aelab.training.config import TrainConfig
    from aelab.training.plain_loop import AutogradStep, TrainingLoss

    reference, fast = twin_models("none")
    config = TrainConfig(loss="bce", binarize=True, weight_decay=0.0)
    autograd = AutogradStep(TrainingLoss(reference, "bce"), torch.optim.Adam(reference.parameters(), lr=1e-3), config)
    step = FusedStep(fast, lr=1e-3, weight_decay=0.0, loss="bce", binarize=True)
    step.transpose_narrow = False  # autograd's own products (see the noisy-inputs test)
    for index, images in enumerate(torch.rand(2, 100, 784)):
        torch.manual_seed(index)
        expected = autograd(images)
        torch.manual_seed(index)
        assert torch.allclose(step(images), expected, rtol=1e-5)
    for (name, p), q in zip(reference.named_parameters(), fast.parameters()):
        assert torch.allclose(p, q, rtol=1e-4, atol=1e-6), name


def test_gradients_match_autograd_exactly_enough():
    reference, fast = twin_models("relu")
    images = torch.rand(64, 784)
    reference.loss(images, images, "mse").backward()
    step = FusedStep(fast, lr=0.0 + 1e-12, weight_decay=0.0)
    step(images)
    for (name, p), q in zip(reference.named_parameters(), fast.parameters()):
        assert torch.allclose(p.grad, q.grad, rtol=1e-4, atol=1e-8), name


def test_bf16_step_tracks_fp32():
    reference, fast = twin_models("relu")
    images = torch.rand(128, 784)
    fp32, bf16 = FusedStep(reference, 1e-3, 0.0), FusedStep(fast, 1e-3, 0.0, precision="bf16")
    assert (fp32.compute_dtype, bf16.compute_dtype) == (torch.float32, torch.bfloat16)
    for _ in range(3):
        loss32, loss16 = fp32(images), bf16(images)
        # bf16 products round differently (8 bits of mantissa): a step that quietly ran in fp32
        # would give fp32's loss to the last bit.
        assert loss16.item() != loss32.item()
    assert abs(loss32.item() - loss16.item()) < 0.02 * loss32.item()
    assert all(q.dtype == torch.float32 for q in fast.parameters())  # masters stay fp32
    moved = [not torch.equal(p, q) for p, q in zip(reference.parameters(), fast.parameters())]
    assert all(moved)  # every layer's update saw the bf16 rounding
    for (name, p), q in zip(reference.named_parameters(), fast.parameters()):
        assert (p - q).abs().max() < 1e-2, name  # and stayed close: three steps of lr 1e-3 apart


def test_train_with_bf16_trains_in_bf16(tiny_root, tmp_path, monkeypatch, capsys):
    """--precision bf16 end to end: recorded in the run state, said in the output, run by a bf16
    step, and visible in the losses, which differ from an fp32 run of the same seed but stay close."""
    dtypes = []
    real_step = FusedStep.__call__

    def step(self, images):
        dtypes.append(self.compute_dtype)
        return real_step(self, images)

    monkeypatch.setattr(FusedStep, "__call__", step)
    bf16, fp32 = tmp_path / "bf16.pth", tmp_path / "fp32.pth"
    assert train_here(bf16, tiny_root, "-e", 2, "--precision", "bf16") == 0
    out = capsys.readouterr().out
    assert dtypes and set(dtypes) == {torch.bfloat16}
    training_line = next(line for line in out.splitlines() if line.startswith("training "))
    assert training_line.endswith(", bf16") and "fused step" in training_line, training_line
    assert run_state(bf16)["config"]["train"]["precision"] == "bf16"
    dtypes.clear()
    assert train_here(fp32, tiny_root, "-e", 2) == 0
    assert set(dtypes) == {torch.float32}
    training_line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("training "))
    assert training_line.endswith(", fp32"), training_line
    assert run_state(fp32)["config"]["train"]["precision"] == "fp32"
    low, full = run_state(bf16)["history"]["losses"], run_state(fp32)["history"]["losses"]
    assert len(low) == len(full) == 2
    for a, b in zip(low, full):
        assert a != b and abs(a - b) < 0.02 * b, (low, full)


@pytest.mark.parametrize("loss", ["mse", "bce"])
def test_transposed_narrow_products_change_only_rounding(loss):
    """On a CPU the code layer's narrow products are computed transposed: the same gradients
    to within rounding, and the same parameters after the first Adam step."""
    reference, fast = twin_models("relu")
    as_autograd = FusedStep(reference, lr=1e-3, weight_decay=1e-5, loss=loss)
    as_autograd.transpose_narrow = False
    transposed = FusedStep(fast, lr=1e-3, weight_decay=1e-5, loss=loss)
    assert transposed.transpose_narrow  # the CPU default
    images = torch.rand(256, 784).pow(3)
    assert torch.equal(as_autograd(images), transposed(images))  # the forward pass is shared
    for (name, p), q in zip(reference.named_parameters(), fast.parameters()):
        scale = p.grad.abs().max()
        assert (p.grad - q.grad).abs().max() <= 1e-5 * scale, name
        assert torch.allclose(p, q, rtol=1e-4, atol=1e-6), name
