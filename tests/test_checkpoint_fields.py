"""NaN or Inf weights are refused on load, and any field of a checkpoint replaced by a hostile value is
refused in one line or harmless. The files are good ones edited (``checkpoint_edits.py``).
"""

import math

import pytest
import torch
from checkpoint_edits import copy_of, edit, nan_at, optimizer_edit, refused, saved_config, set_item, small_run

from aelab.cli import script_main
from aelab.errors import UserError
from aelab.training import checkpoint, resume, run_validation, validation

# Row 6: NaN or Inf weights are refused on load.


@pytest.mark.parametrize(
    "change, words",
    [
        (nan_at("fc2.bias"), "fc2.bias holds 1 NaN or infinite values"),
        (nan_at("fc1.weight", math.inf), "fc1.weight holds 1 NaN or infinite values"),
        (nan_at("fc4.weight", -math.inf), "fc4.weight holds 1 NaN"),
        (set_item("fc3.bias", lambda t: t.double().fill_(1e300)), "fc3.bias holds 32 NaN or infinite values"),
    ],
)
def test_non_finite_weights_are_refused(good, tmp_path, no_model, change, words):
    path = copy_of(good, tmp_path)
    edit(path, change)
    refused(path, words, "training stops on a non-finite loss")


def test_non_finite_lab_state_dict_is_refused(good, tmp_path, no_model):
    path = tmp_path / "lab.pth"
    path.write_bytes(good["lab"])
    edit(path, nan_at("fc1.bias"))
    refused(path, "fc1.bias holds 1 NaN")


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda state: nan_at("fc2.weight")(state["model"]), "fc2.weight holds 1 NaN"),
        (optimizer_edit(lambda _, state: nan_at("exp_avg", math.inf)(state[0])), "exp_avg holds 1 NaN or infinite"),
        (optimizer_edit(lambda _, state: state[0].update(step=torch.tensor(math.nan))), "step is nan"),
    ],
)
def test_non_finite_run_states_are_refused(good, tmp_path, no_model, change, words):
    path = copy_of(good, tmp_path)
    edit(checkpoint.state_path(path), change)
    with pytest.raises(UserError, match="is damaged or not from train.py") as caught:
        resume.load(path, small_run(epochs=2))
    assert words in str(caught.value)


def test_eval_refuses_a_nan_checkpoint_in_one_line(good, tmp_path, capsys):
    path = copy_of(good, tmp_path)
    edit(path, nan_at("fc4.bias"))
    code = script_main("eval", ["-l", str(path), "--device", "cpu", "--data-root", str(good["root"])])
    error = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(error) == 1 and "fc4.bias holds 1 NaN" in error[0], error


HOSTILE = [
    None,
    "x",
    "x\ny",
    math.nan,
    math.inf,
    -1,
    10**400,
    True,
    [],
    {},
    [1, 2],
    {"a": 1},
    torch.tensor([1, 2]),
    torch.tensor(math.nan),
    torch.zeros(0),
]


def leaves(value, path=()):
    """Every place in a nested state a value sits, as a path of keys and indices."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, (*path, key))
    elif isinstance(value, (list, tuple)) and value:
        for index, item in enumerate(value):
            yield from leaves(item, (*path, index))
    if path:
        yield path


def replaced(state, path, new):
    """A copy of ``state`` with the value at ``path`` replaced (tuples become lists on the way)."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(state, dict):
        copy = type(state)(state)
        if hasattr(state, "_metadata"):
            copy._metadata = state._metadata
    else:
        copy = list(state)
    copy[head] = replaced(state[head], rest, new)
    return copy


# The training and data settings of a run state's config: a resume compares them with its command's.
COMPARED = {("config", "train"), ("config", "data")}


@pytest.mark.parametrize("run", ["fused", "onecycle"])
def test_any_field_of_a_run_state_replaced_is_refused_in_one_line_or_harmless(good, tmp_path, run):
    """Every value in the state, in turn, replaced by each hostile value: never an exception but ours."""
    path = copy_of(good, tmp_path, run)
    state = torch.load(checkpoint.state_path(path), weights_only=True)
    accepted = set()
    for place in leaves(state):
        for value in HOSTILE:
            try:
                run_validation.run_state(replaced(state, place, value))
            except validation.Invalid as err:
                assert "\n" not in str(err), str(err)
            else:
                accepted.add(place[:2] if place[:2] in COMPARED else place[-1])
    # What the state may hold in place of a value written: torch's choice of Adam kernel, an infinite best
    # loss (a new plateau schedule's), and settings a resume takes from the command and then compares.
    assert accepted <= {*COMPARED, "foreach", "fused", "mode_worse", "best"}, accepted


def test_any_field_of_a_weights_file_replaced_is_refused_in_one_line_or_harmless(good, tmp_path):
    path = copy_of(good, tmp_path)
    state = torch.load(path, weights_only=True)
    config = dict(saved_config(state))
    for key in config:
        for value in HOSTILE:
            edited = replaced(state, (), state)
            edited._metadata = {"": {checkpoint.CONFIG_KEY: {**config, key: value}}}
            try:
                validation.checkpoint_weights(edited)
            except validation.Invalid as err:
                assert "\n" not in str(err), str(err)
            else:
                assert key == "code_activation" or value == config[key], (key, value)
