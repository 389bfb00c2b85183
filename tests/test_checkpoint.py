import pytest
import torch

from aelab import files
from aelab.errors import UserError
from aelab.models.config import ModelConfig
from aelab.models.mlp.model import MLPAutoencoder, autoencoderMLP4Layer, init_lab_weights
from aelab.training import checkpoint


def assert_same_tensors(a: dict, b: dict):
    assert list(a) == list(b)
    for key in a:
        assert torch.equal(a[key], b[key]), key


def trained_like(config=ModelConfig(bottleneck=5, code_activation="none")):
    torch.manual_seed(3)
    model = MLPAutoencoder(config)
    init_lab_weights(model)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return model


def test_round_trip_our_checkpoint(tmp_path):
    model = trained_like()
    path = tmp_path / "m.pth"
    checkpoint.save(path, model, {"epoch": 3, "history": {"losses": [0.3, 0.2, 0.1]}})
    loaded = checkpoint.load_model(path)
    assert loaded.config == model.config
    assert_same_tensors(model.state_dict(), loaded.state_dict())
    assert checkpoint.load_run_state(path)["history"]["losses"] == [0.3, 0.2, 0.1]


def test_our_checkpoint_loads_in_the_labs_code(tmp_path):
    model = trained_like()
    path = tmp_path / "MLP.8.pth"
    checkpoint.save(path, model)
    lab_model = autoencoderMLP4Layer(N_bottleneck=5)
    lab_model.load_state_dict(torch.load(path))  # exactly the lab's loading line
    assert_same_tensors(model.state_dict(), lab_model.state_dict())


def test_labs_plain_state_dict_loads_in_ours(tmp_path):
    lab_model = autoencoderMLP4Layer(N_bottleneck=3)
    path = tmp_path / "lab.pth"
    torch.save(lab_model.state_dict(), path)  # exactly the lab's saving line
    loaded = checkpoint.load_model(path)
    assert loaded.config.bottleneck == 3 and loaded.config.code_activation == "relu"
    assert_same_tensors(lab_model.state_dict(), loaded.state_dict())


def test_writes_are_atomic(tmp_path):
    path = tmp_path / "m.pth"
    checkpoint.save(path, trained_like())
    before = path.read_bytes()

    def crash(tmp):
        open(tmp, "wb").write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        files.atomic_write(path, crash)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.pth"]


class RunsCode:
    def __reduce__(self):
        return (print, ("this ran",))


@pytest.mark.parametrize(
    "content,message",
    [
        (b"not a checkpoint", "not a readable PyTorch checkpoint"),
        (None, "not found"),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path, content, message):
    path = tmp_path / "bad.pth"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UserError, match=message):
        checkpoint.load_model(path)


def test_code_running_pickle_is_refused(tmp_path, capsys):
    path = tmp_path / "evil.pth"
    torch.save({"fc1.weight": RunsCode()}, path)
    with pytest.raises(UserError, match="could run code"):
        checkpoint.load_model(path)
    assert "this ran" not in capsys.readouterr().out


def test_truncated_checkpoint(tmp_path):
    path = tmp_path / "m.pth"
    checkpoint.save(path, trained_like())
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(UserError, match="truncated"):
        checkpoint.load_model(path)


def test_foreign_and_misshapen_checkpoints(tmp_path):
    other = tmp_path / "other.pth"
    torch.save(torch.nn.Conv2d(1, 2, 3).state_dict(), other)
    with pytest.raises(UserError, match="not an autoencoder checkpoint"):
        checkpoint.load_model(other)
    broken = autoencoderMLP4Layer(N_bottleneck=4).state_dict()
    broken["fc3.weight"] = torch.zeros(392, 6)
    path = tmp_path / "broken.pth"
    torch.save(broken, path)
    with pytest.raises(UserError, match="inconsistent layer shapes"):
        checkpoint.load_model(path)


def test_unwritable_targets_are_caught_before_work(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        files.check_writable(tmp_path / "missing" / "m.pth", "checkpoint")
    with pytest.raises(UserError, match="is a folder"):
        files.check_writable(tmp_path, "checkpoint")
