"""One run on the real MNIST files: the lab's recipe must learn. And where those files are found."""

import gzip

from conftest import find_real_root, write_mnist

from aelab.cli import script_main
from aelab.data.images import load_images
from aelab.data.sources import ALL_FILES, raw_folder
from aelab.training import checkpoint


def test_lab_recipe_loss_falls_on_real_mnist(real_root, tmp_path):
    save = tmp_path / "MLP.8.pth"
    assert (
        script_main(
            "train",
            [
                "-z",
                "8",
                "-e",
                "3",
                "-b",
                "2048",
                "-s",
                str(save),
                "--seed",
                "0",
                "--data-root",
                str(real_root),
                "--no-progress",
            ],
        )
        == 0
    )
    losses = checkpoint.load_run_state(save)["history"]["losses"]
    assert losses[0] > losses[1] > losses[2]
    assert losses[0] < 0.2 and losses[2] < 0.07  # the lab's curve: ~0.1 falling fast


def test_real_root_is_the_full_mnist(real_root):
    train, test = (load_images("mnist", real_root, train=t) for t in (True, False))
    assert (len(train), len(test)) == (60_000, 10_000)
    assert tuple(train.images.shape[1:]) == (1, 28, 28)


def gz_copies(tmp_path):
    """The tiny dataset as CI keeps MNIST: four .gz files in one folder, nothing unpacked."""
    source = raw_folder("mnist", write_mnist(tmp_path / "source"))
    gz_dir = tmp_path / "shared" / "datasets" / "MNIST" / "raw"
    gz_dir.mkdir(parents=True)
    for f in ALL_FILES:
        (gz_dir / f"{f}.gz").write_bytes(gzip.compress((source / f).read_bytes()))
    return source, gz_dir


def test_without_data_the_shared_gz_files_are_unpacked_by_the_loader(tmp_path):
    """CI's fresh clone: no ./data, the .gz files beside the clone; the real-data tests must run."""
    source, gz_dir = gz_copies(tmp_path)
    scratch = tmp_path / "scratch"
    root = find_real_root(tmp_path / "empty_data", gz_dir, lambda: scratch)
    assert root == scratch
    for f in ALL_FILES:
        assert (raw_folder("mnist", root) / f).read_bytes() == (source / f).read_bytes()
    assert len(load_images("mnist", root, train=True)) == 256
    assert sorted(p.name for p in gz_dir.iterdir()) == sorted(f"{f}.gz" for f in ALL_FILES)  # left alone


def test_data_folder_is_preferred_and_neither_means_none(tmp_path):
    _, gz_dir = gz_copies(tmp_path)
    data = write_mnist(tmp_path / "data")

    def no_scratch():
        raise AssertionError("./data has MNIST; nothing should be copied")

    assert find_real_root(data, gz_dir, no_scratch) == data
    assert find_real_root(tmp_path / "none", tmp_path / "no_gz", no_scratch) is None
    (gz_dir / "t10k-labels-idx1-ubyte.gz").unlink()  # three of four files are not a dataset
    assert find_real_root(tmp_path / "none", gz_dir, no_scratch) is None
