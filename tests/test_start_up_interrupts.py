"""Ctrl-C while a command starts (row 9 of docs/hostile-inputs.md's table): before, during
and after torch's import and while the package itself loads, it ends in exit status 130 and one
line, never a traceback and never a run that trains on as if no key had been pressed."""

import signal
import subprocess
import sys
import time

import pytest
from conftest import REPO


@pytest.mark.parametrize("delay", [0.3, 0.6, 0.9, 1.4])
def test_ctrl_c_during_start_up_exits_130_with_one_line(tiny_root, tmp_path, delay):
    process = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "train.py"),
            "-e",
            "50",
            "-b",
            "64",
            "--no-progress",
            "-s",
            str(tmp_path / "m.pth"),
            "--data-root",
            str(tiny_root),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err and ("interrupted" in lines[0] or "SIGINT" in lines[0]), err


# Sent from inside torch's import, at the module whose C++ set-up once aborted the process when
# a KeyboardInterrupt was raised in it; prints whether torch got to finish loading.
CTRL_C_INSIDE_TORCH_IMPORT = """
import atexit, os, signal, sys

class CtrlCWhenTorchDistributedLoads:
    def find_spec(self, name, path=None, target=None):
        if name == "torch.distributed":
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, CtrlCWhenTorchDistributedLoads())
atexit.register(lambda: print("torch loaded:", hasattr(sys.modules.get("torch"), "distributed")))
sys.argv = ["train.py", *sys.argv[1:]]
from aelab.launch import run_script
run_script("train", "train.py")
"""


def test_ctrl_c_inside_torchs_import_waits_for_it_then_exits_130(tiny_root, tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            CTRL_C_INSIDE_TORCH_IMPORT,
            "-e",
            "50",
            "--no-progress",
            "-s",
            str(tmp_path / "m.pth"),
            "--data-root",
            str(tiny_root),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert done.returncode == 130 and done.stderr.strip() == "train.py: interrupted", done.stderr
    assert done.stdout.strip() == "torch loaded: True" and not (tmp_path / "m.pth").exists()


INTERRUPTED_IMPORT = """
import sys

class CtrlCWhileLoading:  # the key pressed just as the command-line package is imported
    def find_spec(self, name, path=None, target=None):
        if name == "aelab.cli":
            raise KeyboardInterrupt
        return None

sys.meta_path.insert(0, CtrlCWhileLoading())
from aelab import launch
{call}
"""


@pytest.mark.parametrize(
    "call, prog", [("launch.run_script('train', prog='train.py')", "train.py"), ("launch.main()", "aelab")]
)
def test_ctrl_c_while_the_package_loads_exits_130_with_one_line(call, prog):
    result = subprocess.run(
        [sys.executable, "-c", INTERRUPTED_IMPORT.format(call=call)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 130 and result.stderr == f"{prog}: interrupted\n", result.stderr
