"""Which of three layouts a folder of users' own images has, and its image files in a fixed order:
``PATH/train/<class>/*`` and ``PATH/test/<class>/*`` (torchvision's ImageFolder with splits;
``train/`` and ``test/`` may also hold loose images), ``PATH/<class>/*`` (the test split a seeded
hold-out of each class) or ``PATH/*`` (no classes). A folder none fits is refused in one line.

Files are chosen by suffix, as ImageFolder does (a README beside the images is no error); hidden files
and folders are skipped, among them the cache (:mod:`.cache`) that makes every run after the first start at once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError
from . import cache
from .splits import NO_CLASSES

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff", ".ppm", ".pgm", ".pbm", ".pnm")
SKIPPED_FOLDERS = frozenset({"__MACOSX"})  # resource forks that macOS puts in zip archives
TRAIN, TEST = "train", "test"
MAX_LISTED = 5  # names shown in one line before "... (N in all)"


@dataclass
class Found:
    """The image files of a folder, in a fixed order, with their labels and (given) split."""

    root: Path
    files: list[str]  # strings, not Paths: pathlib costs more than the stat of each file
    labels: np.ndarray
    in_test: np.ndarray | None  # None: the test split is a hold-out
    class_names: tuple[str, ...]
    layout: str


def listing(names) -> str:
    names = list(names)
    return ", ".join(names[:MAX_LISTED]) + (f", ... ({len(names)} in all)" if len(names) > MAX_LISTED else "")


def visible(name: str) -> bool:
    return not name.startswith(".") and name not in SKIPPED_FOLDERS


def raise_it(err: OSError):
    raise err  # os.walk would skip an unreadable folder, and its images with it, without a word


def image_files(folder: Path, recursive: bool) -> list[str]:
    """The images under ``folder`` (all depths, following links, as ImageFolder), sorted."""
    found = []
    for here, dirs, names in os.walk(folder, onerror=raise_it, followlinks=True):
        dirs[:] = [d for d in dirs if visible(d) and not cache.is_cache_folder(Path(here, d))] if recursive else []
        found += [os.path.join(here, n) for n in names if visible(n) and n.lower().endswith(IMAGE_SUFFIXES)]
    return sorted(found)


def groups_in(folder: Path) -> tuple[list[tuple[str, list[str]]], bool]:
    """``([(class, images), ...], True)`` for a folder of class folders, else ``([("all", images)], False)``."""
    subs = sorted(p for p in folder.iterdir() if visible(p.name) and p.is_dir() and not cache.is_cache_folder(p))
    loose = image_files(folder, recursive=False)
    if not subs:
        if not loose:
            raise UserError(
                f"{folder} holds no images ({', '.join(IMAGE_SUFFIXES)}); put images in it, in class "
                "folders <class>/, or in train/<class>/ and test/<class>/"
            )
        return [(NO_CLASSES[0], loose)], False
    if loose:
        raise UserError(
            f"{folder} holds both loose images ({listing(map(os.path.basename, loose))}) and class folders "
            f"({listing(p.name for p in subs)}); move the loose images into a class folder"
        )
    classes = [(sub.name, image_files(sub, recursive=True)) for sub in subs]
    empty = [name for name, files in classes if not files]
    if empty:
        raise UserError(
            f"class folder(s) {listing(empty)} in {folder} hold no images ({', '.join(IMAGE_SUFFIXES)}); "
            "add images or remove the folder(s)"
        )
    return classes, True


def scan(root: Path) -> Found:
    """Which layout ``root`` has, and its image files; a folder none fits is refused in one line."""
    if not root.exists():
        raise UserError(f"image folder {root} does not exist; check the path")
    if not root.is_dir():
        raise UserError(f"{root} is a file, not a folder of images; give the folder (or an .npz/.npy file)")
    splits = [name for name in (TRAIN, TEST) if (root / name).is_dir()]
    if len(splits) == 1:
        other = TEST if splits == [TRAIN] else TRAIN
        raise UserError(
            f"{root} has {splits[0]}/ but no {other}/; add {other}/ with the same class folders, "
            "or put the class folders straight in it for a seeded hold-out"
        )
    if not splits:
        groups, classed = groups_in(root)
        return found_from(root, groups, None, "ImageFolder, hold-out" if classed else "flat, no classes")
    by_split = {split: groups_in(root / split) for split in (TRAIN, TEST)}
    names = {split: {name for name, _ in groups} if classed else set() for split, (groups, classed) in by_split.items()}
    if names[TRAIN] != names[TEST]:
        only = [
            f"only in {split}/: {listing(sorted(names[split] - names[other])) or '(loose images)'}"
            for split, other in ((TRAIN, TEST), (TEST, TRAIN))
            if names[split] - names[other] or not names[split]
        ]
        raise UserError(
            f"{root}: train/ and test/ hold different classes ({'; '.join(only)}); give both the same class folders"
        )
    layout = "ImageFolder, train/test" if names[TRAIN] else "train/test, no classes"
    return found_from(root, by_split[TRAIN][0], by_split[TEST][0], layout)


def found_from(root: Path, train, test, layout: str) -> Found:
    class_names = tuple(name for name, _ in train)
    groups = [(label, files, False) for label, (_, files) in enumerate(train)]
    groups += [(label, files, True) for label, (_, files) in enumerate(test or ())]
    files = [f for _, group, _ in groups for f in group]
    labels = np.concatenate([np.full(len(group), label, np.int64) for label, group, _ in groups])
    in_test = None if test is None else np.concatenate([np.full(len(group), t) for _, group, t in groups])
    return Found(root, files, labels, in_test, class_names, layout)
