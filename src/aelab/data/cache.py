"""A cache of decoded image folders, so that only the first run pays for decoding every file.

An entry is raw ``.npy`` files (one per array, loaded back with ``mmap_mode="c"``: the pages are
read as they are touched, and the arrays are writable copy-on-write, so torch takes them without
a warning) plus a small JSON header, written last, that commits them. Each file is written
atomically. An entry is named by a hash of everything its arrays depend on (see
:func:`cache_key`), so a changed folder or setting simply asks for a different entry.

Anything wrong with an entry (another format version, a missing or cut-short part, a header
that does not match) makes it a miss, to be rebuilt: reading a cache never raises, and neither
does failing to write one (the data is then read afresh next time).

Where it lives: ``cache_dir`` if the caller gives one (it must be writable), else
``<data folder>/.aelab-cache/`` (hidden, so the folder reader skips it, and it moves with the
data), else, where the data folder is read-only, ``$XDG_CACHE_HOME/aelab/folders``
(``~/.cache/aelab/folders``); where none of these can be written, there is no cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..files import atomic_write
from .splits import RawSplits

FORMAT_VERSION = 1  # bump whenever decoding or the entry layout changes: old entries then miss
CACHE_FOLDER_NAME = ".aelab-cache"
USER_CACHE_SUBDIR = ("aelab", "folders")
ENTRY_PREFIX = "folder-"  # with the hex key, marks our files apart from others in a shared --cache-dir
HEADER_SUFFIX = ".json"
KEY_HEX_DIGITS = 64  # a sha256 in hex
HEADER_NAME = re.compile(rf"{ENTRY_PREFIX}([0-9a-f]{{{KEY_HEX_DIGITS}}}){re.escape(HEADER_SUFFIX)}")
# The Cache Directory Tagging spec (bford.info/cachedir): backup tools skip a folder holding this
# file, and so does the folder reader, so a --cache-dir inside the data is not taken for a class.
TAG_NAME = "CACHEDIR.TAG"
TAG_TEXT = "Signature: 8a477f597d28d172789f06886806bc55\n# a cache of decoded images made by aelab\n"
KEEP_ENTRIES = 8  # per cache folder: enough for a few settings of a few folders, bounded on disk
SPLIT_ARRAYS = ("train_images", "train_labels", "test_images", "test_labels")  # of RawSplits


def cache_key(files, settings: dict) -> str:
    """The hash naming an entry: every file's (relative path, size, mtime_ns), the settings and
    the format version. Adding, removing or touching a file changes it."""
    blob = json.dumps(
        {"format": FORMAT_VERSION, "files": sorted(list(f) for f in files), "settings": settings},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def folder_key(files: list[str], root: Path, settings: dict) -> str:
    """The key of a folder's entry: :func:`cache_key` of its files, named relative to ``root``."""
    start = len(os.path.join(root, ""))  # of the path relative to root, in every file's path
    return cache_key([file_entry(file, start) for file in files], settings)


def file_entry(file: str, start: int) -> tuple[str, int, int]:
    """What the key holds of one file; one that cannot be stat-ed fails later, when decoded."""
    try:
        info = os.stat(file)
    except OSError:
        return file[start:].replace(os.sep, "/"), -1, -1
    return file[start:].replace(os.sep, "/"), info.st_size, info.st_mtime_ns


def user_cache_folder() -> Path | None:
    try:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    except RuntimeError:  # no $HOME and no password entry (some containers): no user-wide cache
        return None
    return Path(base).joinpath(*USER_CACHE_SUBDIR)


def usable(folder: Path) -> bool:
    """Whether ``folder`` is (now) a writable folder; it is made, and tagged, if missing."""
    try:
        if not folder.exists():
            folder.mkdir(parents=True)
            (folder / TAG_NAME).write_text(TAG_TEXT)  # only in folders made here: never tag a user's own
    except OSError:
        pass  # not made (so not usable), or made but left untagged (usable still)
    return folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)


def is_cache_folder(folder: Path) -> bool:
    return (folder / TAG_NAME).is_file()


def cache_folders(data_root: Path, cache_dir=None) -> list[Path]:
    """The folders to look in, in order; an entry is written to the first."""
    if cache_dir is not None:
        cache_dir = Path(cache_dir)
        if not usable(cache_dir):
            raise UserError(
                f"--cache-dir {cache_dir} is not a writable folder; create it, "
                "or choose another, or leave it out to cache beside the data"
            )
        return [cache_dir]
    own, user = Path(data_root) / CACHE_FOLDER_NAME, user_cache_folder()
    if usable(own):  # the user-wide folder, if there, may hold what was written while this one could not be
        return [own, user] if user is not None and user.is_dir() else [own]
    return [user] if user is not None and usable(user) else []


def part_path(folder: Path, key: str, name: str) -> Path:
    return folder / f"{ENTRY_PREFIX}{key}.{name}.npy"


def header_path(folder: Path, key: str) -> Path:
    return folder / f"{ENTRY_PREFIX}{key}{HEADER_SUFFIX}"


def load(folders, key: str, names) -> tuple[dict, dict] | None:
    """``(arrays, meta)`` of the entry ``key`` holding exactly the arrays ``names``, or None."""
    for folder in folders:
        found = load_from(folder, key, set(names))
        if found is not None:
            return found
    return None


def load_from(folder: Path, key: str, names: set) -> tuple[dict, dict] | None:
    try:
        header = json.loads(header_path(folder, key).read_text())
        if header.get("format") != FORMAT_VERSION or header.get("key") != key or set(header["arrays"]) != names:
            return None
        arrays = {}
        for name, spec in header["arrays"].items():
            path = part_path(folder, key, name)
            if path.stat().st_size != spec["bytes"]:
                return None
            array = np.load(path, mmap_mode="c", allow_pickle=False)
            if list(array.shape) != spec["shape"] or array.dtype.str != spec["dtype"]:
                return None
            arrays[name] = array
        meta = header["meta"]
        return (arrays, meta) if isinstance(meta, dict) else None
    except Exception:  # a damaged entry fails in many ways (JSON, zip of numpy, OS); all mean "miss"
        return None


def store(folders, key: str, arrays: dict, meta: dict) -> Path | None:
    """Write the entry ``key`` into the first folder that takes it; its header, or None."""
    for folder in folders:
        try:
            specs = {}
            for name, array in arrays.items():
                path = part_path(folder, key, name)
                atomic_write(path, lambda tmp, array=array: save_npy(tmp, array))
                specs[name] = {"shape": list(array.shape), "dtype": array.dtype.str, "bytes": path.stat().st_size}
            header = {"format": FORMAT_VERSION, "key": key, "arrays": specs, "meta": meta}
            atomic_write(header_path(folder, key), lambda tmp, header=header: Path(tmp).write_text(json.dumps(header)))
        except Exception:  # a full disk or a folder gone read-only: try the next, else no cache
            continue
        prune(folder, keep=key)
        return header_path(folder, key)
    return None


def save_npy(path, array: np.ndarray) -> None:
    with open(path, "wb") as f:  # a handle: np.save given a name adds ".npy" to it
        np.save(f, np.ascontiguousarray(array), allow_pickle=False)


def prune(folder: Path, keep: str) -> None:
    """Delete all but the newest :data:`KEEP_ENTRIES` entries, so a folder that changes often
    does not fill the disk with stale copies. Only files named as ours are touched."""
    try:
        headers = sorted(
            (p for p in folder.iterdir() if HEADER_NAME.fullmatch(p.name)),
            key=lambda p: p.stat().st_mtime_ns,
            reverse=True,
        )
        for header in headers[KEEP_ENTRIES:]:
            key = HEADER_NAME.fullmatch(header.name).group(1)
            if key == keep:
                continue
            header.unlink(missing_ok=True)  # first, so a half-pruned entry is a miss, never a hit
            for part in folder.glob(f"{ENTRY_PREFIX}{key}.*.npy"):
                part.unlink(missing_ok=True)
    except OSError:  # another run pruning at the same time; a stale entry left is harmless
        pass


def cached_splits(folders, files: list[str], root: Path, settings: dict, source: str, read) -> RawSplits:
    """The splits of the folder ``root`` (its image ``files`` read with ``settings``) from its entry,
    memory-mapped; else ``read()``, stored, and read back from the entry just written (so the decoded
    copy is freed, and a run too big for memory streams its batches from the pages on disk, as it
    would on any later run), or as read where no entry can be written."""
    key = folder_key(files, root, settings)
    hit = load_splits(folders, key, root, source)
    if hit is not None:
        return hit
    splits = read()
    start = len(os.path.join(root, ""))
    meta = {
        "class_names": list(splits.class_names),
        "split_note": splits.split_note,
        "skipped": [s[start:].replace(os.sep, "/") for s in splits.skipped],
    }
    if store(folders, key, {name: getattr(splits, name) for name in SPLIT_ARRAYS}, meta) is None:
        return splits
    return load_splits(folders, key, root, source) or splits


def load_splits(folders, key: str, root: Path, source: str) -> RawSplits | None:
    """The folder ``root``'s splits from the entry ``key``, memory-mapped, or None."""
    hit = load(folders, key, SPLIT_ARRAYS)
    if hit is None:
        return None
    arrays, meta = hit
    try:
        return RawSplits(
            **arrays,
            class_names=tuple(str(n) for n in meta["class_names"]),
            source=source,
            split_note=str(meta["split_note"]),
            skipped=tuple(str(root / s) for s in meta["skipped"]),
        )
    except (KeyError, TypeError):  # a header from a damaged entry: read the folder afresh
        return None
