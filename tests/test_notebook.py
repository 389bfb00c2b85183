"""docs/notebooks/tour.ipynb ships with its outputs and still runs, cell by cell, in a real kernel.

The notebook is what a Colab or Jupyter user opens first; a renamed argument would break it
silently, since nothing else imports it. Here it runs in an ipykernel of this interpreter, in a
folder whose ./data holds tiny MNIST, and every figure cell must show an image.
"""

from __future__ import annotations

import copy
import sys

import pytest
from conftest import REPO, write_mnist

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOK = REPO / "docs" / "notebooks" / "tour.ipynb"
CELL_TIMEOUT_S = 300  # a slow or busy CPU; each cell takes a second or two on tiny data
N_TEST = 128  # the tour shows test images 90-97
WHO_RUNS = "import sys\nprint(sys.executable)"


def code_cells(notebook) -> list:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def is_figure_cell(cell) -> bool:
    """A cell that ends with one of the API's figures."""
    last_line = cell.source.strip().splitlines()[-1]
    return "aelab.plot_" in last_line


def has_image(cell) -> bool:
    return any("image/png" in output.get("data", {}) for output in cell.outputs)


def errors(cell) -> list[str]:
    return [f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"]


def test_the_saved_notebook_holds_its_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    cells = code_cells(notebook)
    assert sum(map(is_figure_cell, cells)) >= 5  # Steps 4-6, the VAE's samples, the loss curves
    for cell in cells:
        assert cell.execution_count is not None, f"never run:\n{cell.source}"
        assert not errors(cell), cell.source
        assert has_image(cell) or not is_figure_cell(cell), f"no figure saved:\n{cell.source}"


def test_every_cell_runs_in_a_kernel_of_this_interpreter(tmp_path, monkeypatch):
    write_mnist(tmp_path / "data", n_test=N_TEST)
    # Jupyter's and IPython's own folders go to tmp: a user's kernelspec or profile could
    # otherwise start another interpreter or run start-up code.
    for variable in ("JUPYTER_DATA_DIR", "JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
        monkeypatch.setenv(variable, str(tmp_path / variable.lower()))
    monkeypatch.delenv("JUPYTER_PATH", raising=False)
    notebook = copy.deepcopy(nbformat.read(NOTEBOOK, as_version=4))
    for cell in code_cells(notebook):
        cell.outputs, cell.execution_count = [], None
    notebook.cells.append(nbformat.v4.new_code_cell(WHO_RUNS))
    client = nbclient.NotebookClient(
        notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as err:
        pytest.fail(f"a cell of {NOTEBOOK.name} raised:\n{err}", pytrace=False)

    *tour, who = code_cells(notebook)
    assert "".join(o.get("text", "") for o in who.outputs).strip() == sys.executable
    for cell in tour:
        assert cell.execution_count is not None and not errors(cell), cell.source
        if is_figure_cell(cell):
            assert has_image(cell), f"no image from:\n{cell.source}"
    # The scores cells returned numbers, not only figures.
    assert any("PCA-8" in o.get("data", {}).get("text/plain", "") for c in tour for o in c.outputs)
    assert any("iw_nll" in o.get("data", {}).get("text/plain", "") for c in tour for o in c.outputs)
