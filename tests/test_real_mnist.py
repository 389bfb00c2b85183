"""One run on the real MNIST files: the lab's recipe must learn."""

from mnist_ae.training import checkpoint
from mnist_ae.cli import script_main


def test_lab_recipe_loss_falls_on_real_mnist(real_root, tmp_path):
    save = tmp_path / "MLP.8.pth"
    assert script_main("train", ["-z", "8", "-e", "3", "-b", "2048", "-s", str(save), "--seed", "0",
                                 "--data-root", str(real_root), "--no-progress"]) == 0
    losses = checkpoint.load_run_state(save)["history"]["losses"]
    assert losses[0] > losses[1] > losses[2]
    assert losses[0] < 0.2 and losses[2] < 0.07  # the lab's curve: ~0.1 falling fast
