"""Latent figures: the 2-D view, the traversal's codes, the chosen examples, and ``figures``."""

import pytest
import torch
from test_eval import assert_one_line_error, run_cli

from aelab.analysis.config import LATENT_FIGURE_NAMES as FIGURE_NAMES
from aelab.analysis.latent import pick_examples, project_2d, traversal_codes
from aelab.data.images import load_images
from aelab.errors import UserError
from aelab.models.config import ModelConfig
from aelab.models.mlp.model import MLPAutoencoder, init_lab_weights
from aelab.training import checkpoint


def test_two_unit_codes_are_drawn_as_they_are_and_wider_ones_projected():
    codes = torch.randn(100, 2)
    assert torch.equal(project_2d(codes).points, codes)
    wide = torch.randn(100, 2) @ torch.randn(2, 6)  # all variance in two directions
    projection = project_2d(wide)
    assert projection.points.shape == (100, 2)
    assert "PC 1" in projection.xlabel and "PCA projection of the 6-D codes" == projection.how
    # A projection onto the plane the codes span keeps every pairwise distance.
    exact = "donot_use_mm_for_euclid_dist"
    assert torch.allclose(
        torch.cdist(projection.points, projection.points, compute_mode=exact),
        torch.cdist(wide, wide, compute_mode=exact),
        atol=1e-4,
    )


def test_traversal_sweeps_one_unit_between_its_percentiles_and_holds_the_rest_at_the_mean():
    codes = torch.rand(1000, 3) * torch.tensor([1.0, 10.0, 0.0])  # unit 3 never varies
    grid, ranges = traversal_codes(codes, n_steps=5)
    assert grid.shape == (3, 5, 3)
    mean = codes.mean(dim=0)
    for unit in range(3):
        low, high = torch.quantile(codes[:, unit], torch.tensor([0.01, 0.99]))
        assert grid[unit, 0, unit] == pytest.approx(low.item()) and grid[unit, -1, unit] == pytest.approx(high.item())
        assert ranges[unit] == pytest.approx((low.item(), high.item()))
        others = [u for u in range(3) if u != unit]
        assert torch.allclose(grid[unit][:, others], mean[others].expand(5, -1))
    assert ranges[2] == (0.0, 0.0)


def test_examples_are_the_first_test_image_of_each_class(tiny_root):
    images = load_images("mnist", tiny_root, train=False)
    ((a, b),) = pick_examples(images, [(3, 7)])
    assert images.labels[a] == 3 and images.labels[b] == 7
    assert not (images.labels[:a] == 3).any() and not (images.labels[:b] == 7).any()
    with pytest.raises(UserError, match="class 12"):
        pick_examples(images, [(3, 12)])


@pytest.mark.parametrize("bottleneck", [2, 4])
def test_figures_cli_writes_three_pngs(tiny_root, tmp_path, capsys, bottleneck):
    torch.manual_seed(0)
    model = MLPAutoencoder(ModelConfig(bottleneck=bottleneck))
    init_lab_weights(model)
    checkpoint.save(tmp_path / "m.pth", model)
    out = tmp_path / "figs"
    code, stdout, err = run_cli(
        capsys,
        "figures",
        "-l",
        tmp_path / "m.pth",
        "--out",
        out,
        "--data-root",
        tiny_root,
        "--pairs",
        "0-1",
        "3-8",
        "--n-steps",
        "4",
    )
    assert code == 0, err
    for name in FIGURE_NAMES:
        assert (out / name).read_bytes()[:4] == b"\x89PNG" and f"saved {out / name}" in stdout


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--pairs", "3-x"], ["pairs", "3-x"]),
        (["--pairs", "3-99"], ["class 99"]),
        (["--n-steps", "1"], ["n-steps"]),
    ],
)
def test_figures_bad_options_are_one_line_exit_2(tiny_root, tiny_checkpoint, tmp_path, capsys, argv, words):
    code, _, err = run_cli(
        capsys, "figures", "-l", tiny_checkpoint, "--out", tmp_path / "f", "--data-root", tiny_root, *argv
    )
    assert_one_line_error(code, err, *words)


def test_figures_refuse_a_checkpoint_for_another_image_size(tiny_root, tmp_path, capsys):
    small = MLPAutoencoder(ModelConfig(input_dim=100, output_dim=100, bottleneck=2, image_shape=(1, 10, 10)))
    checkpoint.save(tmp_path / "small.pth", small)
    code, _, err = run_cli(
        capsys, "figures", "-l", tmp_path / "small.pth", "--out", tmp_path / "f", "--data-root", tiny_root
    )
    assert_one_line_error(code, err, "100-pixel", "784")
    assert not (tmp_path / "f").exists()
