"""The readers of users' own images: folders in three layouts and .npz and .npy arrays. Every dataset
is written here, small, with Pillow and numpy (``image_files.py``); the cache: ``test_folder_cache.py``."""

import zlib
from pathlib import Path

import numpy as np
from image_files import SIDE, class_folder, pooled, refused, save
from PIL import Image

from aelab.data import decoding
from aelab.data.arrays import read_npy, read_npz
from aelab.data.folders import read_folder

RGB_PIXEL, RGB_LUMA = (200, 100, 50), 124  # 0.299*200 + 0.587*100 + 0.114*50 = 124.2
DARK_PIXEL, DARK_LUMA = (10, 20, 30), 18  # 2.99 + 11.74 + 3.42 = 18.15


def test_imagefolder_with_train_and_test(tmp_path):
    for split, n in (("train", 4), ("test", 2)):
        class_folder(tmp_path / split, {"cat": n, "dog": n})
    splits = read_folder(tmp_path)
    assert splits.train_images.shape == (8, 1, SIDE, SIDE) and splits.test_images.shape == (4, 1, SIDE, SIDE)
    assert splits.train_images.dtype == np.uint8 and splits.train_images.flags.c_contiguous
    assert splits.class_names == ("cat", "dog") and splits.skipped == () and "ImageFolder, train/test" in splits.source
    assert splits.train_labels.tolist() == [0] * 4 + [1] * 4 and splits.train_labels.dtype == np.int64
    assert splits.test_labels.tolist() == [0, 0, 1, 1] and splits.split_note == "test/ folder"
    assert splits.train_images[:4, 0, 0, 0].tolist() == [0, 1, 2, 3]  # files in name order


def test_class_folders_held_out_by_seed(tmp_path):
    data = class_folder(tmp_path / "data", {"a": 30, "b": 10})
    first, again = read_folder(data, seed=1), read_folder(data, seed=1, cache_dir=tmp_path / "elsewhere")
    other = read_folder(data, seed=2)
    assert np.array_equal(first.test_images, again.test_images)
    assert not np.array_equal(first.test_images, other.test_images)
    assert len(first.test_labels) == 4 and sorted(first.test_labels.tolist()) == [0, 0, 0, 1]  # 10% of each class
    assert len(first.train_labels) == 36 and "hold-out per class (seed 1)" in first.split_note


def test_flat_folder_has_no_classes(tmp_path):
    for i in range(10):
        save(tmp_path / f"{i}.png", i)
    (tmp_path / "README.txt").write_text("not an image, and not a .png: ignored")
    save(tmp_path / ".hidden.png", 0).write_bytes(b"hidden files are never read")
    splits = read_folder(tmp_path, test_fraction=0.2)
    assert splits.class_names == ("all",) and "flat" in splits.source
    assert len(splits.train_labels) == 8 and len(splits.test_labels) == 2 and not splits.train_labels.any()
    assert sorted(pooled(splits)[:, 0, 0, 0].tolist()) == list(range(10))


def test_jpeg_bmp_gif_and_16_bit_png(tmp_path):
    save(tmp_path / "b.jpg", 128, fmt="JPEG")
    Image.fromarray(np.full((SIDE, SIDE), 257 * 100, dtype=np.uint16)).save(tmp_path / "c.png")  # 16 bits
    palette = Image.new("P", (SIDE, SIDE), 60)
    palette.putpalette([level for i in range(256) for level in (i, i, i)])  # a palette of greys
    palette.save(tmp_path / "d.gif")
    grey = read_folder(tmp_path, test_fraction=0.4)
    assert sorted(pooled(grey).reshape(3, -1)[:, 0]) == [60, 100, 128]
    save(tmp_path / "a.bmp", (1, 2, 3))
    images = pooled(read_folder(tmp_path, test_fraction=0.25))
    assert images.shape == (4, 3, SIDE, SIDE)  # one colour image makes all colour
    assert sorted(images[:, :, 0, 0].tolist()) == [[1, 2, 3], [60] * 3, [100] * 3, [128] * 3]


def test_npz_uint8_with_test_split_and_labels(tmp_path):
    x_train = np.arange(4 * 5 * 6, dtype=np.uint8).reshape(4, 5, 6)
    np.savez(
        tmp_path / "d.npz",
        x_train=x_train,
        y_train=np.array([7, 3, 7, 3]),
        x_test=x_train[:2],
        y_test=np.array([[3], [9]]),
    )  # Keras' CIFAR keeps labels as N x 1
    splits = read_npz(tmp_path / "d.npz")
    assert splits.train_images.shape == (4, 1, 5, 6) and np.array_equal(splits.train_images[:, 0], x_train)
    assert splits.class_names == ("3", "7", "9")
    assert splits.train_labels.tolist() == [1, 0, 1, 0] and splits.test_labels.tolist() == [0, 2]
    assert splits.split_note == "x_test" and splits.source == f"npz {tmp_path / 'd.npz'}"


def test_npz_floats_rounded_and_colour_channels_last(tmp_path):
    floats = np.array([0.0, 0.2, 0.5, 1.0], dtype=np.float32).reshape(1, 1, 4)
    rgba = np.zeros((2, 1, 1, 4), dtype=np.uint8)
    rgba[..., :3], rgba[..., 3] = RGB_PIXEL, 9
    np.savez(tmp_path / "f.npz", x_train=floats.repeat(2, 0), x_test=floats)
    np.savez(tmp_path / "c.npz", x_train=rgba, x_test=rgba)
    assert read_npz(tmp_path / "f.npz").test_images.ravel().tolist() == [0, 51, 128, 255]  # 127.5 rounds up
    colour = read_npz(tmp_path / "c.npz")
    assert colour.train_images.shape == (2, 3, 1, 1) and colour.train_images[0, :, 0, 0].tolist() == list(RGB_PIXEL)
    assert read_npz(tmp_path / "c.npz", channels=1).test_images[0].ravel().tolist() == [RGB_LUMA]


def test_npy_and_npz_without_x_test_held_out(tmp_path):
    np.savez(tmp_path / "d.npz", x_train=np.zeros((20, 3, 3), np.uint8), y_train=np.arange(20) % 2)
    labelled = read_npz(tmp_path / "d.npz", test_fraction=0.2, seed=5)
    assert sorted(labelled.test_labels.tolist()) == [0, 0, 1, 1] and "seeded 20% hold-out" in labelled.split_note
    np.save(tmp_path / "x.npy", np.arange(50, dtype=np.uint8).reshape(50, 1, 1).repeat(2, 1))
    splits, again = (read_npy(tmp_path / "x.npy", seed=3) for _ in range(2))
    assert splits.test_images.shape == (5, 1, 2, 1) and splits.train_images.shape == (45, 1, 2, 1)
    assert np.array_equal(splits.test_images, again.test_images)
    assert not np.array_equal(splits.test_images, read_npy(tmp_path / "x.npy", seed=4).test_images)
    assert sorted(pooled(splits)[:, 0, 0, 0].tolist()) == list(range(50)) and splits.class_names == ("all",)
    assert splits.split_note == "seeded 10% hold-out (seed 3)"


def test_channels_converted_exactly(tmp_path):
    colour = np.zeros((2, 1, 2, 3), np.uint8)
    colour[:, 0, 0], colour[:, 0, 1] = RGB_PIXEL, DARK_PIXEL
    np.save(tmp_path / "c.npy", colour)
    grey = read_npy(tmp_path / "c.npy", channels=1)
    assert grey.train_images.shape == (1, 1, 1, 2) and grey.train_images.ravel().tolist() == [RGB_LUMA, DARK_LUMA]
    np.save(tmp_path / "g.npy", np.full((2, 2, 2), 77, np.uint8))
    assert read_npy(tmp_path / "g.npy", channels=3).test_images.shape == (1, 3, 2, 2)
    for name, value in (("a", RGB_PIXEL), ("b", DARK_PIXEL), ("c", 77)):
        save(tmp_path / "f" / f"{name}.png", value)
    as_grey = pooled(read_folder(tmp_path / "f", channels=1, test_fraction=0.4))
    assert sorted(as_grey[:, 0, 0, 0].tolist()) == [DARK_LUMA, 77, RGB_LUMA]
    as_colour = pooled(read_folder(tmp_path / "f", channels=3, test_fraction=0.4))
    assert sorted(as_colour[:, :, 0, 0].tolist()) == sorted([list(RGB_PIXEL), list(DARK_PIXEL), [77] * 3])


def test_image_size_resizes_and_mixed_sizes_refused(tmp_path):
    for i, size in enumerate([(28, 28)] * 3 + [(32, 32)] * 2 + [(48, 64)]):
        save(tmp_path / f"{i}.png", 90, size=size)
    refused("found 3 sizes: 28x28 (3 images), 32x32 (2), 48x64 (1); pass --image-size H W", read_folder, tmp_path)
    splits = read_folder(tmp_path, image_size=(20, 10))
    assert splits.train_images.shape[1:] == (1, 20, 10) and len(splits.test_images) == 1
    assert (splits.train_images == 90).all() and (splits.test_images == 90).all()  # a flat image stays flat


def test_bad_files_refused_or_skipped(tmp_path):
    class_folder(tmp_path, {"a": 5, "b": 5})
    (tmp_path / "a" / "junk.png").write_bytes(b"not a png at all")
    whole = (tmp_path / "b" / "000.png").read_bytes()
    (tmp_path / "b" / "cut.png").write_bytes(whole[: len(whole) // 2])
    message = refused("junk.png", read_folder, tmp_path)
    assert "and 1 other file" in message and "--skip-bad-images" in message
    splits = read_folder(tmp_path, skip_bad=True)
    assert sorted(Path(s).name for s in splits.skipped) == ["cut.png", "junk.png"]
    assert len(splits.train_labels) + len(splits.test_labels) == 10
    assert read_folder(tmp_path, skip_bad=True).skipped == splits.skipped  # from the cache too


def test_folders_refused_in_one_line(tmp_path):
    refused("does not exist", read_folder, tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    refused("holds no images", read_folder, tmp_path / "empty")
    class_folder(tmp_path / "split" / "train", {"a": 2, "b": 2, "c": 2})
    class_folder(tmp_path / "split" / "test", {"a": 1, "b": 1, "d": 1})
    refused("only in train/: c; only in test/: d", read_folder, tmp_path / "split")
    class_folder(tmp_path / "one" / "train", {"a": 2})
    refused("has train/ but no test/", read_folder, tmp_path / "one")
    class_folder(tmp_path / "mixed", {"a": 2})
    save(tmp_path / "mixed" / "loose.png", 1)
    refused("both loose images (loose.png)", read_folder, tmp_path / "mixed")
    class_folder(tmp_path / "hollow", {"a": 2})
    (tmp_path / "hollow" / "b").mkdir()
    refused("class folder(s) b in", read_folder, tmp_path / "hollow")
    refused("--image-size", read_folder, tmp_path / "mixed", image_size=(0, 5))
    refused("--test-fraction", read_folder, tmp_path / "mixed", test_fraction=1.0)
    refused("--channels", read_folder, tmp_path / "mixed", channels=2)


def test_arrays_refused_in_one_line(tmp_path):
    np.savez(tmp_path / "keys.npz", images=np.zeros((2, 2, 2)), labels=np.zeros(2))
    refused("has no x_train array (it holds: images, labels)", read_npz, tmp_path / "keys.npz")
    for name, x in [
        ("nan", np.full((2, 2, 2), np.nan)),
        ("big", np.full((2, 2, 2), 1.5)),
        ("int", np.full((2, 2, 2), 256)),
        ("shape", np.zeros((2, 1, 5, 5))),
    ]:
        np.save(tmp_path / f"{name}.npy", x)
    refused("NaN", read_npy, tmp_path / "nan.npy")
    refused("float pixels must be 0-1", read_npy, tmp_path / "big.npy")
    refused("integers 256 to 256", read_npy, tmp_path / "int.npy")
    refused("channels last", read_npy, tmp_path / "shape.npy")
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    refused("not a readable numpy .npy", read_npy, tmp_path / "objects.npy")
    (tmp_path / "text.npz").write_text("hello")
    refused("not a readable numpy .npz file (not numpy data)", read_npz, tmp_path / "text.npz")
    refused("holds one array", read_npz, tmp_path / "int.npy")
    refused("does not exist", read_npz, tmp_path / "gone.npz")
    np.savez(tmp_path / "half.npz", x_train=np.zeros((2, 2, 2)), x_test=np.zeros((2, 2, 2)), y_train=np.zeros(2))
    refused("has y_train but no y_test", read_npz, tmp_path / "half.npz")


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """A PNG file's chunks as (type, data), its signature left out."""
    chunks, pos = [], len(decoding.PNG_SIGNATURE)
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        chunks.append((data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]))
        pos += length + 12
    return chunks


def png_file(path: Path, chunks) -> Path:
    """A PNG file of ``chunks``, each with its CRC."""
    parts = [decoding.PNG_SIGNATURE]
    for kind, body in chunks:
        parts += [len(body).to_bytes(4, "big"), kind, body, zlib.crc32(kind + body).to_bytes(4, "big")]
    path.write_bytes(b"".join(parts))
    return path


def test_small_pngs_read_past_pillows_parser_decode_as_pillow_does(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    grey, rgb = rng.integers(0, 256, (9, 7), dtype=np.uint8), rng.integers(0, 256, (9, 7, 3), dtype=np.uint8)
    Image.fromarray(grey).save(tmp_path / "grey.png")
    Image.fromarray(rgb).save(tmp_path / "rgb.png", dpi=(72, 72))  # with an ancillary chunk, pHYs
    header, idat = png_chunks((tmp_path / "grey.png").read_bytes())[:2]
    split = [header, (b"tEXt", b"k\x00v"), (b"IDAT", idat[1][:5]), (b"IDAT", idat[1][5:]), (b"IEND", b"")]
    fast = {"grey.png", "rgb.png", "split.png"}
    png_file(tmp_path / "split.png", split)  # text, and the data in two IDAT chunks, as libpng writes it
    png_file(tmp_path / "bad-crc.png", split).write_bytes((tmp_path / "split.png").read_bytes()[:-1] + b"\x00")
    png_file(tmp_path / "no-end.png", split[:-1])
    png_file(tmp_path / "unknown-critical.png", [*split[:-1], (b"ABCD", b""), split[-1]])
    Image.fromarray(np.dstack([rgb, grey])).save(tmp_path / "rgba.png")
    Image.fromarray(grey).convert("P").save(tmp_path / "palette.png")
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "16-bit.png")
    files = sorted(str(p) for p in tmp_path.glob("*.png"))
    ours = {Path(f).name: decoding.decode(f, None) for f in files}
    assert {Path(f).name for f in files if decoding.small_png(f) is not None} == fast
    monkeypatch.setattr(decoding, "small_png", lambda path: None)  # every file through Image.open
    for f in files:  # the same pixels, or the same words for a file that is not an image
        mine, pillows = ours[Path(f).name], decoding.decode(f, None)
        assert type(mine) is type(pillows)
        assert mine == pillows if isinstance(mine, str) else np.array_equal(mine, pillows)
    assert np.array_equal(ours["split.png"], grey) and np.array_equal(ours["rgb.png"], rgb)
