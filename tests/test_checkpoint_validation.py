"""Every checkpoint and run state is checked whole before anything is built from it.

The hostile files here are good ones edited (``checkpoint_edits.py``): a saved config that contradicts
its weights, crafted metadata, tensors of the wrong kind, optimizer and schedule states that would fail
mid-training. Each is refused with one line naming the file, and no model is built first. NaN weights
and every field replaced in turn: ``test_checkpoint_fields.py``.
"""

import math
import time

import pytest
import torch
from checkpoint_edits import (
    RUNS,
    config_edit,
    copy_of,
    edit,
    optimizer_edit,
    refused,
    saved_run,
    set_item,
    small_run,
)
from train_runs import our_error_lines, train_here

from aelab.cli import script_main
from aelab.errors import UserError
from aelab.models.mlp.model import autoencoderMLP4Layer
from aelab.training import checkpoint, resume


def test_good_files_of_every_kind_of_run_pass(good, tmp_path):
    for run in RUNS:
        path = copy_of(good, tmp_path, run)
        assert checkpoint.load_model(path).config.hidden == 32
        assert resume.load(path, saved_run(path))["epoch"] == 1
    lab = tmp_path / "lab.pth"
    torch.save(autoencoderMLP4Layer(N_bottleneck=8).double().state_dict(), lab)  # float64, no metadata
    assert checkpoint.load_model(lab).config.layer_sizes == "784-392-8"


# Row 3: a saved config that contradicts the weights is refused before any model is built.


@pytest.mark.parametrize(
    "values, words",
    [
        ({"hidden": 1_000_000}, ["inconsistent layer shapes", "fc1.weight is 32x784", "says 1000000x784"]),
        ({"hidden": 10**9}, ["inconsistent layer shapes", "784-1000000000-4-784"]),
        ({"bottleneck": 10**9}, ["inconsistent layer shapes", "fc2.weight is 4x32"]),
        ({"output_dim": 10**12}, ["inconsistent layer shapes", "fc4.weight is 784x32"]),
        ({"hidden": 1e9}, ["hidden must be a positive integer"]),
    ],
)
def test_a_config_that_contradicts_the_weights_is_refused_at_once(good, tmp_path, no_model, values, words):
    path = copy_of(good, tmp_path)
    edit(path, config_edit(**values))
    started = time.perf_counter()
    refused(path, *words, "load another checkpoint")
    assert time.perf_counter() - started < 1.0


def test_the_lab_command_refuses_it_in_one_line(good, tmp_path, no_model, capsys):
    path = copy_of(good, tmp_path)
    edit(path, config_edit(hidden=10**9))
    started = time.perf_counter()
    code = script_main(
        "lab", ["-l", str(path), "--index", "0", "--pair", "0", "1", "--no-show", "--data-root", str(good["root"])]
    )
    assert time.perf_counter() - started < 1.0
    error = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(error) == 1 and our_error_lines(error[0], "lab.py") == error, error
    assert "inconsistent layer shapes" in error[0]


def test_a_run_state_whose_config_contradicts_its_weights(good, tmp_path, no_model):
    path = copy_of(good, tmp_path)
    edit(checkpoint.state_path(path), lambda state: state["config"]["model"].update(hidden=10**9))
    with pytest.raises(UserError, match="inconsistent layer shapes: fc1.weight is 32x784"):
        resume.load(path, small_run(epochs=2))


# Row 4: crafted metadata, tensors of the wrong kind.


@pytest.mark.parametrize(
    "change, words",
    [
        (config_edit(image_shape=[1, 10, 10]), "image_shape [1, 10, 10] (100 pixels) for 784 inputs"),
        (config_edit(image_shape=[1, -28, -28]), "image_shape [1, -28, -28], not 3 positive whole numbers"),
        (config_edit(image_shape="28x28"), "image_shape '28x28', not 3 positive"),
        (config_edit(image_shape=784), "image_shape 784, not 3 positive"),
        (config_edit(image_shape=[1, True, 784]), "image_shape [1, True, 784]"),
        (config_edit(hidden="32"), "hidden must be a positive integer, got '32'"),
        (config_edit(code_activation=["relu"]), "code_activation must be one of"),
        (lambda state: state._metadata[""].update({checkpoint.CONFIG_KEY: [1, 2]}), "saved model config is a list"),
        (lambda state: setattr(state, "_metadata", {"": "x"}), "_metadata is not the dict"),
        (set_item("fc1.weight", lambda t: t.flatten()), "fc1.weight is 1-D (25088), not 2-D"),
        (set_item("fc2.bias", lambda t: t[None]), "fc2.bias is 2-D (1x4), not 1-D"),
        (set_item("fc2.weight", lambda t: t.to(torch.int64)), "fc2.weight holds int64 values, not floating-point"),
        (set_item("fc3.bias", lambda t: t.to(torch.complex64)), "fc3.bias holds complex64 values"),
        (set_item("fc4.bias", lambda t: t.tolist()), "fc4.bias is a list, not a tensor"),
        (set_item("fc4.bias", "bias"), "fc4.bias is a str, not a tensor"),
        (set_item("fc3.weight", lambda t: t.to_sparse()), "fc3.weight is a sparse_coo tensor, not a dense one"),
    ],
)
def test_crafted_weights_files_are_refused(good, tmp_path, no_model, change, words):
    path = copy_of(good, tmp_path)
    edit(path, change)
    refused(path, words)


@pytest.mark.parametrize(
    "change, words",
    [
        (set_item("fc1.weight", lambda t: t.flatten()), "fc1.weight is 1-D"),  # would not unpack into 2 sizes
        (set_item("fc1.weight", lambda t: t[:0]), "impossible model: hidden must be a positive integer, got 0"),
        (set_item("fc3.weight", lambda t: t[:, :6]), "fc3.weight is 392x6 where its other layers (784-392-8-784)"),
    ],
)
def test_crafted_lab_state_dicts_are_refused(good, tmp_path, no_model, change, words):
    path = tmp_path / "lab.pth"
    path.write_bytes(good["lab"])
    edit(path, change)
    refused(path, words)


@pytest.mark.parametrize(
    "change, words",
    [
        (optimizer_edit(lambda group, _: group.pop("betas")), "optimizer param group has no 'betas'"),
        (optimizer_edit(lambda group, _: group.update(betas=(0.9,))), "'betas' is (0.9,), not 2 values"),
        (optimizer_edit(lambda group, _: group.update(betas=("a", 0.9))), "'betas'[0] is 'a', not a finite number"),
        (optimizer_edit(lambda group, _: group.update(betas=(1.5, 0.9))), "'betas' is (1.5, 0.9), not (0.9, 0.999)"),
        (optimizer_edit(lambda group, _: group.update(eps=0.0)), "'eps' is 0.0, not 1e-08"),
        (optimizer_edit(lambda group, _: group.update(weight_decay=0.5)), "'weight_decay' is 0.5, not 1e-05"),
        (optimizer_edit(lambda group, _: group.update(lr=-1.0)), "'lr' is -1.0, not a finite number of at least 0"),
        (optimizer_edit(lambda group, _: group.update(lr="fast")), "'lr' is 'fast', not a finite number"),
        (optimizer_edit(lambda group, _: group.update(lr=math.nan)), "'lr' is nan"),
        (optimizer_edit(lambda group, _: group.update(eps=10**400)), "'eps' is"),
        (optimizer_edit(lambda group, _: group.update(amsgrad=True)), "'amsgrad' is True, not False"),
        (optimizer_edit(lambda group, _: group.update(fused="yes")), "'fused' is 'yes', not true, false or None"),
        (optimizer_edit(lambda group, _: group.update(extra=1)), "has an unexpected 'extra'"),
        (optimizer_edit(lambda group, _: group.update(params=[0, 1])), "optimizer params [0, 1] are neither"),
        (optimizer_edit(lambda group, _: group.update(params=["0"])), "optimizer params ['0']"),
        (optimizer_edit(lambda _, state: state.clear()), "does not cover exactly the parameters"),
        (optimizer_edit(lambda _, state: state[0].pop("exp_avg_sq")), "is not Adam's step, exp_avg and exp_avg_sq"),
        (optimizer_edit(lambda _, state: state[0].update(step="x")), "step is 'x', not a count of steps"),
        (optimizer_edit(lambda _, state: state[0].update(step=torch.tensor([1.0, 2.0]))), "step is 1-D"),
        (
            optimizer_edit(lambda _, state: state[0].update(exp_avg=torch.zeros(10))),
            "exp_avg is 10 where its parameter is 51284",
        ),
        (optimizer_edit(lambda _, state: state[0].update(exp_avg_sq=-state[0]["exp_avg_sq"] - 1)), "negative"),
        (lambda state: state["optimizer"].update(param_groups=[]), "does not hold the one param group"),
        (lambda state: state["optimizer"].update(param_groups="x"), "does not hold the one param group"),
        (lambda state: state["optimizer"].pop("state"), "not Adam's state and param_groups"),
        (lambda state: state.update(scheduler={}), "scheduler has no"),
        (lambda state: state["scheduler"].update(step=5), "scheduler has an unexpected 'step'"),
        (lambda state: state["scheduler"].update(best="x"), "scheduler 'best' is 'x', not a finite number"),
        (lambda state: state["scheduler"].update(mode="max"), "scheduler 'mode' is 'max', not 'min'"),
        (lambda state: state["scheduler"].update(last_epoch=1.5), "'last_epoch' is 1.5, not a whole number"),
        (lambda state: state["history"].update(losses=["a"]), "history's losses are not a list of finite numbers"),
        (lambda state: state["history"].update(extra=[]), "unexpected 'extra' in its loss history"),
        (lambda state: state["rng"][0].pop("shuffle"), "generator state 0 is not"),
        (lambda state: state["rng"][0].update(torch=torch.zeros(5056)), "generator state 0's torch holds float32"),
        (lambda state: state["rng"][0].update(torch=torch.zeros(3, dtype=torch.uint8)), "has 3 bytes, not 5056"),
        (lambda state: state["config"]["model"].update(image_shape=[1, 10, 10]), "image_shape [1, 10, 10]"),
        (lambda state: state["config"]["model"].pop("code_activation"), "model config has no 'code_activation'"),
        (lambda state: state["model"].update({"fc1.weight": state["model"]["fc1.weight"].flatten()}), "1-D"),
        (lambda state: state["model"].update({"fc2.weight": state["model"]["fc2.weight"].int()}), "int32 values"),
        (lambda state: state["config"]["train"].update(lr=10**400), "training config"),
        (lambda state: state["config"]["train"].update(epochs=10**400, schedule="onecycle"), "training config"),
        (lambda state: state["scheduler"].update(factor=-1.0), "'factor' is -1.0, not a finite number of at least 0"),
        (optimizer_edit(lambda group, _: group.update(capturable=True)), "'capturable' is True, not False"),
    ],
)
def test_crafted_run_states_are_refused_before_anything_is_built(good, tmp_path, no_model, change, words):
    path = copy_of(good, tmp_path)
    edit(checkpoint.state_path(path), change)
    with pytest.raises(UserError) as caught:
        resume.load(path, small_run(epochs=2))
    message = str(caught.value)
    assert "\n" not in message and str(checkpoint.state_path(path)) in message, message
    assert "is damaged or not from train.py" in message and "start a new run without --resume" in message
    assert words in message, message


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda state: state["scheduler"].update(last_epoch=99), "one-cycle schedule (99 of 4 steps taken) is not one"),
        (lambda state: state["scheduler"].update(total_steps=0), "one-cycle schedule (4 of 0 steps taken)"),
        (lambda state: state["scheduler"]["_schedule_phases"][0].update(end_step=0.0), "is not one of 1 of 1 epochs"),
        (optimizer_edit(lambda group, _: group.update(max_lr=10.0)), "'max_lr' is 10.0, not 0.001"),
        (optimizer_edit(lambda group, _: group.pop("initial_lr")), "optimizer param group has no 'initial_lr'"),
        (lambda state: state["scheduler"].update(_anneal_func_type="sin"), "'_anneal_func_type' is 'sin', not 'cos'"),
        (lambda state: state["scheduler"]["_schedule_phases"][0].update(start_lr="params"), "'start_lr' is 'params'"),
    ],
)
def test_crafted_one_cycle_states_are_refused(good, tmp_path, change, words):
    path = copy_of(good, tmp_path, "onecycle")
    edit(checkpoint.state_path(path), change)
    with pytest.raises(UserError, match="is damaged or not from train.py") as caught:
        resume.load(path, saved_run(path))
    assert words in str(caught.value)


def test_train_resume_refuses_a_crafted_optimizer_before_resuming(good, tmp_path, capsys):
    """Today's traceback came after "resuming ...": now the line comes first and nothing is written."""
    path = copy_of(good, tmp_path)
    edit(checkpoint.state_path(path), optimizer_edit(lambda group, _: group.pop("betas")))
    before = path.read_bytes(), checkpoint.state_path(path).read_bytes()
    assert train_here(path, good["root"], "-e", 2, "--resume") == 2
    captured = capsys.readouterr()
    error = captured.err.strip().splitlines()
    assert "resuming" not in captured.out and "epoch" not in captured.out
    assert len(error) == 1 and "optimizer param group has no 'betas'" in error[0], error
    assert (path.read_bytes(), checkpoint.state_path(path).read_bytes()) == before
