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


# What matplotlib's Agg canvas writes, by suffix (its own list, kept here so no check imports it).
IMAGE_SUFFIXES = ("png", "pdf", "svg", "svgz", "eps", "ps", "jpg", "jpeg", "tif", "tiff", "webp", "pgf", "raw", "rgba")


def check_image_path(path: str | Path, what: str) -> Path:
    """:func:`check_writable`, and a suffix a figure can be saved as: said before the work, not after it."""
    path = check_writable(path, what)
    suffix = path.suffix.lower().lstrip(".")
    if suffix and suffix not in IMAGE_SUFFIXES:
        raise UserError(
            f"{what} {path} has the suffix .{suffix}, which is no image format; use .png "
            f"(or one of {', '.join('.' + s for s in IMAGE_SUFFIXES[1:8])}, ...)"
        )
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


def temp_files_of(path: str | Path) -> list[Path]:
    """The temp files :func:`atomic_write` makes for ``path``; a killed writer leaves them behind."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    return sorted(folder.glob(f".{glob_escape(path.name)}.*.tmp"))


def glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def remove_stale_temp_files(*paths: str | Path) -> None:
    """Delete the temp files a killed writer of ``paths`` left; call it only while holding their
    :class:`PathLock`, so that no live writer's file is taken."""
    for path in paths:
        for temp in temp_files_of(path):
            temp.unlink(missing_ok=True)


class PathLock:
    """An exclusive lock on ``path`` for this process's lifetime in the ``with`` block: a second
    process that asks for it is refused at once. The kernel drops the lock when the process
    ends, however it ends, so a crashed run leaves no lock behind, only a hidden file that the
    next run takes over."""

    def __init__(self, path: str | Path, what: str):
        path = Path(path)
        self.path = path.with_name(f".{path.name}.lock")
        self.target, self.what = path, what
        self.handle = None

    def __enter__(self):
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks, so no guard against a second run
            return self
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise UserError(
                f"{self.target} is being written by {holder} (another run with the same {self.what}); "
                f"wait for it to finish or choose another {self.what}"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()}")
        handle.flush()
        self.handle = handle
        return self

    def __exit__(self, *exc):
        if self.handle is not None:
            self.path.unlink(missing_ok=True)  # while still locked, so no one takes a file on its way out
            self.handle.close()
            self.handle = None
