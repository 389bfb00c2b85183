"""The cache of decoded image folders: hits skip decoding, changes and damage are read afresh, old
entries are pruned, and worker processes decode the same images as one."""

import json
import os

import numpy as np
import pytest
from image_files import class_folder, refused, save

from aelab.data import cache, decoding, folders
from aelab.data.folders import read_folder

ONE_SECOND_NS = 10**9


def counting_decoder(monkeypatch) -> list:
    calls = []
    real = folders.decode_files
    monkeypatch.setattr(folders, "decode_files", lambda *a, **k: calls.append(1) or real(*a, **k))
    return calls


def test_cache_hit_does_not_decode(tmp_path, monkeypatch):
    class_folder(tmp_path, {"a": 6, "b": 4})
    first = read_folder(tmp_path, image_size=(4, 4))
    monkeypatch.setattr(folders, "decode_files", None)  # decoding would fail now
    again = read_folder(tmp_path, image_size=(4, 4))
    for name in ("train_images", "train_labels", "test_images", "test_labels"):
        assert np.array_equal(getattr(first, name), getattr(again, name))
    assert (again.class_names, again.split_note, again.source) == (first.class_names, first.split_note, first.source)
    assert again.train_images.flags.writeable  # copy-on-write: torch takes it without a warning
    with pytest.raises(TypeError):  # another setting is another entry, decoded afresh
        read_folder(tmp_path, image_size=(5, 5))


def test_changed_folder_is_read_again(tmp_path, monkeypatch):
    class_folder(tmp_path, {"a": 4})
    calls = counting_decoder(monkeypatch)
    read_folder(tmp_path)
    read_folder(tmp_path)
    assert len(calls) == 1
    touched = (tmp_path / "a" / "001.png").stat()
    os.utime(tmp_path / "a" / "001.png", ns=(touched.st_atime_ns, touched.st_mtime_ns + ONE_SECOND_NS))
    read_folder(tmp_path)
    save(tmp_path / "a" / "new.png", 200)
    splits = read_folder(tmp_path)
    assert len(calls) == 3 and len(splits.train_labels) + len(splits.test_labels) == 5


@pytest.mark.parametrize("damage", ["truncate part", "drop part", "foreign header", "old format", "garbage header"])
def test_damaged_cache_is_rebuilt(tmp_path, monkeypatch, damage):
    class_folder(tmp_path, {"a": 5, "b": 5})
    good = np.array(read_folder(tmp_path).train_images)  # a copy: the arrays read map the entry's files
    entry = tmp_path / cache.CACHE_FOLDER_NAME
    header, part = next(entry.glob("folder-*.json")), next(entry.glob("folder-*.train_images.npy"))
    fields = json.loads(header.read_text())
    damages = {
        "truncate part": lambda: part.write_bytes(part.read_bytes()[:-3]),
        "drop part": part.unlink,
        "garbage header": lambda: header.write_bytes(b"\x00{not json"),
        "old format": lambda: header.write_text(json.dumps({**fields, "format": cache.FORMAT_VERSION - 1})),
        "foreign header": lambda: header.write_text(json.dumps({**fields, "key": "0" * 64})),
    }
    damages[damage]()
    calls = counting_decoder(monkeypatch)
    rebuilt = read_folder(tmp_path)
    assert len(calls) == 1 and np.array_equal(rebuilt.train_images, good)
    read_folder(tmp_path)
    assert len(calls) == 1  # the rebuilt entry is trusted again


def test_cache_locations(tmp_path, monkeypatch):
    class_folder(tmp_path / "data", {"a": 3})
    refused("--cache-dir", read_folder, tmp_path / "data", cache_dir=tmp_path / "data" / "a" / "000.png")
    read_folder(tmp_path / "data", cache_dir=tmp_path / "mine")
    assert list((tmp_path / "mine").glob("folder-*.json")) and not (tmp_path / "data" / ".aelab-cache").exists()
    for _ in range(2):  # a cache folder made inside the data is tagged, and so never taken for a class
        assert read_folder(tmp_path / "data", cache_dir=tmp_path / "data" / "cache").class_names == ("a",)
    # a data folder where no cache folder can be made: the user-wide one is used instead
    (tmp_path / "data" / cache.CACHE_FOLDER_NAME).write_text("in the way")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user"))
    read_folder(tmp_path / "data")
    assert list((tmp_path / "user" / "aelab" / "folders").glob("folder-*.json"))


def test_old_entries_pruned(tmp_path):
    class_folder(tmp_path, {"a": 3})
    for size in range(1, cache.KEEP_ENTRIES + 4):
        read_folder(tmp_path, image_size=(size, size))
    (tmp_path / cache.CACHE_FOLDER_NAME / "notes.json").write_text("not ours: never pruned")
    read_folder(tmp_path, image_size=(30, 30))
    left = list((tmp_path / cache.CACHE_FOLDER_NAME).iterdir())
    assert len([p for p in left if p.name.startswith("folder-")]) == cache.KEEP_ENTRIES * 5
    assert (tmp_path / cache.CACHE_FOLDER_NAME / "notes.json").exists()


def test_worker_processes_give_the_same_images(tmp_path, monkeypatch):
    class_folder(tmp_path, {"a": 40, "b": 30})
    (tmp_path / "a" / "junk.png").write_bytes(b"junk")
    serial = read_folder(tmp_path, skip_bad=True, cache_dir=tmp_path / "one")
    used, real = [], decoding.ProcessPoolExecutor
    monkeypatch.setattr(decoding, "ProcessPoolExecutor", lambda **kwargs: used.append(1) or real(**kwargs))
    monkeypatch.setattr(decoding, "MIN_PARALLEL_FILES", 0)
    parallel = read_folder(tmp_path, skip_bad=True, cache_dir=tmp_path / "two", progress=True)
    assert used and np.array_equal(serial.train_images, parallel.train_images) and serial.skipped == parallel.skipped
