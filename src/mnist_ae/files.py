"""Writing files so that nothing is ever half-written: every output checked before the work,
every write to a temp file renamed into place.

Used by everything that writes (checkpoints, figures, tables, unpacked data); imports no torch.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import UserError

DEFAULT_FILE_MODE = 0o666


def check_writable(path: str | Path, what: str) -> Path:
    """Fail before any work if ``path`` cannot be written, so no run is lost at the end."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UserError(f"{what} path {path} is a folder; give a file name")
    if not folder.is_dir():
        raise UserError(f"{what} folder {folder} does not exist; create it or choose another path")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UserError(f"cannot write {what} {path}: permission denied; choose a writable path")
    return path


def prepare_output_folder(out: Path, names, what: str) -> None:
    """Make ``out`` (one level) and check each ``out/name`` is writable, before any work."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a folder")
    if not out.exists():
        if not out.parent.is_dir():
            raise UserError(f"--out folder {out.parent} does not exist; create it or choose another")
        check_writable(out, f"{what} folder")
        out.mkdir()
    for name in names:
        check_writable(out / name, what)


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, write) -> None:
    """Call ``write(tmp_path)``, then rename over ``path``; a failure leaves ``path`` as it was."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    os.close(fd)
    try:
        os.chmod(tmp, DEFAULT_FILE_MODE & ~current_umask())  # mkstemp makes files private (0600)
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str) -> None:
    """``text`` to ``path``, atomically."""
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))
