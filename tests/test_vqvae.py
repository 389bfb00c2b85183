"""The VQ-VAE family: its codes are exactly codebook rows, the straight-through gradient reaches
the encoder unchanged, the moving averages and the restarts move the codebook as the paper's
appendix says, and every command trains, resumes, scores, runs the lab's steps, samples and
exports it."""

import pytest
import torch
from test_eval import assert_one_line_error, run_cli

from aelab.cli import script_main
from aelab.models.config import ModelConfig
from aelab.models.registry import build, trainable_shapes
from aelab.models.vqvae.model import RESTART_AFTER
from aelab.training import checkpoint
from aelab.web.decoder import describe

SMALL = ["--conv-channels", "4,8", "--code-dim", "4", "--codebook-size", "16", "-b", "64", "--seed", "0"]


def tiny(**settings):
    torch.manual_seed(0)
    settings = {"conv_channels": (4, 8), "code_dim": 2, "codebook_size": 3, **settings}
    return build(ModelConfig(family="vq-vae", **settings))


def test_the_bottleneck_is_the_whole_grid_of_code_vectors():
    assert ModelConfig(family="vq-vae").bottleneck == 16 * 7 * 7  # 28x28 through two stride-2 stages
    model = tiny()
    assert model.config.bottleneck == 2 * 7 * 7
    assert model.encode(torch.rand(3, 1, 28, 28)).shape == (3, 98)
    assert "codebook" in dict(model.named_buffers()) and "codebook" not in trainable_shapes(model.config)
    assert "codebook" in trainable_shapes(tiny(codebook_update="loss").config)


def test_quantize_gives_exactly_the_nearest_codebook_row():
    model = tiny()
    model.codebook.copy_(torch.tensor([[0.0, 0.0], [1.0, 1.0], [-2.0, 3.0]]))
    rows = torch.tensor([[0.1, -0.2], [0.9, 0.7], [-1.5, 2.0], [0.6, 0.5], [5.0, 5.0]])
    snapped, indices = model.quantize(rows)
    assert indices.tolist() == [0, 1, 2, 1, 1]
    assert torch.equal(snapped, model.codebook[indices])
    grid = rows.T.reshape(1, 2, 5, 1)  # the same vectors as a 5x1 grid, channels first
    snapped_grid, grid_indices = model.quantize(grid)
    assert grid_indices.reshape(-1).tolist() == [0, 1, 2, 1, 1]
    assert torch.equal(snapped_grid.reshape(2, 5).T, model.codebook[indices])


def test_the_straight_through_gradient_reaches_the_encoder_unchanged():
    model = tiny()
    z = torch.randn(2, 2, 7, 7, requires_grad=True)
    upstream = torch.randn(2, 2, 7, 7)
    snapped, _ = model.quantize(z)
    (snapped * upstream).sum().backward()
    assert torch.equal(z.grad, upstream)


def test_the_moving_averages_move_each_used_code_by_the_decay():
    model = tiny(ema_decay=0.9)
    model.unused_steps.zero_()
    start = torch.tensor([[0.0, 0.0], [1.0, 1.0], [-2.0, 3.0]])
    model.codebook.copy_(start)
    model.ema_sums.copy_(start)
    model.ema_counts.fill_(1.0)
    rows = torch.tensor([[0.2, 0.0], [0.0, 0.4], [2.0, 2.0]])  # two vectors choose code 0, one code 1
    model.update_codebook(rows, model.nearest(rows))
    counts = torch.tensor([0.9 + 0.1 * 2, 0.9 + 0.1 * 1, 0.9])
    sums = 0.9 * start + 0.1 * torch.tensor([[0.2, 0.4], [2.0, 2.0], [0.0, 0.0]])
    assert torch.allclose(model.ema_counts, counts) and torch.allclose(model.ema_sums, sums)
    assert torch.allclose(model.codebook, sums / counts[:, None])
    assert torch.allclose(model.codebook[2], start[2])  # unchosen: its count and sum decay together
    assert model.unused_steps.tolist() == [0, 0, 1]


@pytest.mark.parametrize("update", ["ema", "loss"])
def test_a_code_no_vector_chose_for_a_while_is_restarted_at_an_encoder_output(update):
    model = tiny(codebook_update=update)
    with torch.no_grad():
        model.codebook.copy_(torch.tensor([[0.0, 0.0], [1.0, 1.0], [100.0, 100.0]]))
        model.unused_steps.copy_(torch.tensor([0, 0, RESTART_AFTER - 1]))
    rows = torch.tensor([[0.1, 0.0], [0.9, 1.1]])
    with torch.no_grad():
        model.update_codebook(rows, model.nearest(rows))
    restarted = model.codebook[2]
    assert any(torch.equal(restarted, row) for row in rows)
    assert model.unused_steps.tolist() == [0, 0, 0]


def test_a_first_training_step_starts_the_unchosen_codes_from_the_data():
    model = tiny(codebook_size=16)
    images = torch.rand(8, 1, 28, 28)
    chosen = set(model.quantize(model.features(images))[1].reshape(-1).tolist())
    assert len(chosen) < 16
    model.train()
    model.loss(images, images, "mse").backward()
    vectors = model.features(images).detach().permute(0, 2, 3, 1).reshape(-1, 2)
    for index in set(range(16)) - chosen:  # each restarted at one of the batch's encoder outputs
        assert (vectors == model.codebook[index]).all(1).any(), index


def test_codebook_usage_counts_perplexity_and_dead_codes():
    model = tiny(codebook_size=4)
    model.codebook.copy_(torch.tensor([[0.0, 0.0], [1e3, 1e3], [-1e3, 1e3], [1e3, -1e3]]))
    usage = model.codebook_usage(torch.rand(5, 1, 28, 28))
    assert usage == {"perplexity": pytest.approx(1.0), "dead": 3}


def test_the_explorer_runs_the_decoder_in_the_page():
    kinds = [layer["kind"] for layer in describe(tiny())[0]]
    assert kinds == ["conv_transpose", "relu", "conv_transpose", "relu", "conv_transpose"]


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--codebook-size", "1"], ["--codebook-size", "from 2 to 65536"]),
        (["--codebook-size", "70000"], ["--codebook-size", "from 2 to 65536"]),
        (["-z", "8"], ["bottleneck is code_dim x its 7x7 grid = 196, not 8", "drop -z"]),
        (["--image-size", "30", "30"], ["divisible by 4", "--conv-channels"]),
        (["--code-activation", "relu"], ["no activation", "drop --code-activation"]),
        (["--ema-decay", "1"], ["--ema-decay", "below 1"]),
    ],
)
def test_bad_vqvae_settings_are_one_line_and_write_nothing(tiny_root, tmp_path, capsys, extra, words):
    path = tmp_path / "m.pth"
    code, _, err = run_cli(
        capsys, "train", "--model", "vq-vae", "-s", path, "--data-root", tiny_root, *SMALL, "--no-progress", *extra
    )
    assert_one_line_error(code, err, *words)
    assert not path.exists()


def test_the_codebook_settings_belong_to_the_vqvae(tiny_root, tmp_path, capsys):
    code, _, err = run_cli(
        capsys, "train", "--model", "conv", "--codebook-size", "8", "-s", tmp_path / "m.pth", "--data-root", tiny_root
    )
    assert_one_line_error(code, err, "--codebook-size does not apply to a conv model", "vq-vae")


def test_every_command_runs_a_vqvae_and_resume_is_exact(tiny_root, tmp_path, capsys):
    once, twice = tmp_path / "once.pth", tmp_path / "twice.pth"
    args = ["train", "--model", "vq-vae", "--data-root", tiny_root, *SMALL, "--no-progress", "--step", "autograd"]
    assert run_cli(capsys, *args, "-s", once, "-e", "2")[0] == 0
    assert run_cli(capsys, *args, "-s", twice, "-e", "1")[0] == 0
    assert run_cli(capsys, *args, "-s", twice, "-e", "2", "--resume")[0] == 0
    a, b = torch.load(once, weights_only=True), torch.load(twice, weights_only=True)
    assert set(a) == set(b) and {"codebook", "ema_counts", "ema_sums", "unused_steps"} <= set(a)
    for name in a:
        assert torch.equal(a[name], b[name]), name
    model = checkpoint.load_model(twice)
    assert model.config.codebook_size == 16 and model.config.bottleneck == 4 * 7 * 7
    code, out, _ = run_cli(capsys, "eval", "-l", twice, "--data-root", tiny_root)
    assert code == 0 and "| MSE |" in out and "bottleneck 196" in out
    figures = tmp_path / "figures"
    lab = ["-l", str(twice), "--data-root", str(tiny_root), "--index", "3", "--pair", "0", "1"]
    assert script_main("lab", [*lab, "--out", str(figures), "--no-show"]) == 0
    assert {p.name for p in figures.iterdir()} >= {"reconstruction.png", "denoising.png", "interpolation.png"}
    assert run_cli(capsys, "sample", "-l", twice, "-n", "4", "--out", tmp_path / "s.png")[0] == 0
    assert (tmp_path / "s.png").exists()
    assert run_cli(capsys, "export", "-l", twice, "--out", tmp_path / "x", "--no-onnx")[0] == 0
    exported = checkpoint.load_model(tmp_path / "x").state_dict()
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, exported[name]), name


def test_a_codebook_trained_by_its_loss_trains_and_resumes(tiny_root, tmp_path, capsys):
    path = tmp_path / "loss.pth"
    args = ["train", "--model", "vq-vae", "--codebook-update", "loss", "-s", path, "--data-root", tiny_root, *SMALL]
    assert run_cli(capsys, *args, "--no-progress", "-e", "1")[0] == 0
    before = checkpoint.load_model(path).codebook.detach().clone()
    assert run_cli(capsys, *args, "--no-progress", "-e", "2", "--resume")[0] == 0
    after = checkpoint.load_model(path)
    assert isinstance(after.codebook, torch.nn.Parameter) and not torch.equal(before, after.codebook)
