"""The Python examples of the README and of docs/python-api.md run as written.

A reader pastes these blocks into a notebook or a script; one that has drifted from the API
fails there, far from the change that broke it. Each file's ```python blocks run here in order,
in one namespace (a later block uses what an earlier one made), in a folder whose ./data holds
tiny MNIST files, as the docs promise.
"""

from __future__ import annotations

import re
import traceback

import pytest
from conftest import REPO, write_mnist

from aelab.models.base import Autoencoder

DOCUMENTS = ("README.md", "docs/python-api.md")
# A fence's opening line names the language; the block ends at the next fence at a line start.
PYTHON_BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def python_blocks(text: str) -> list[str]:
    """The code of every ```python block of a markdown text, in order."""
    return [match.group(1) for match in PYTHON_BLOCK.finditer(text)]


def run_blocks(blocks: list[str], name: str) -> dict:
    """Execute ``blocks`` in one fresh namespace; a block that raises fails the test with its text."""
    namespace: dict = {"__name__": "__main__"}
    for number, block in enumerate(blocks, 1):
        try:
            exec(compile(block, f"{name} python block {number}", "exec"), namespace)
        except Exception:
            pytest.fail(
                f"{name}: python block {number} of {len(blocks)} raised:\n\n{block}\n{traceback.format_exc()}",
                pytrace=False,
            )
    return namespace


def test_block_finder_reads_fences_as_markdown_does():
    text = "intro\n```python\na = 1\n```\n\n```bash\nls\n```\n```python\nb = 2\n\nc = 3\n```\n"
    assert python_blocks(text) == ["a = 1\n", "b = 2\n\nc = 3\n"]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_python_block_runs(document, tmp_path, monkeypatch):
    blocks = python_blocks((REPO / document).read_text(encoding="utf-8"))
    assert blocks, f"{document} has no ```python block; the test would pass by running nothing"
    write_mnist(tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    namespace = run_blocks(blocks, document)
    # The examples train or load a model; blocks that only imported would prove little.
    assert any(isinstance(value, Autoencoder) for value in namespace.values())


def test_a_failing_block_names_itself(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(pytest.fail.Exception, match=r"(?s)block 2 of 2 raised.*undefined_name"):
        run_blocks(["x = 1\n", "print(undefined_name)\n"], "example.md")
