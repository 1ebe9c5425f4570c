"""load_image: every supported layout becomes RGB uint8; every bad file becomes one clear ImageLoadError."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from malaria_desktop.core.errors import ImageLoadError
from malaria_desktop.core.image_io import MAX_PIXELS, SUPPORTED_SUFFIXES, load_image


@pytest.fixture
def rgb() -> np.ndarray:
    """A smooth colourful image (JPEG-friendly) with a distinct top-left corner to check orientation."""
    h, w = 48, 64
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 4, y * 5, 255 - x * 2], axis=-1).astype(np.uint8)
    img[:8, :8] = (255, 0, 0)
    return img


def test_supported_suffixes():
    assert {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"} <= SUPPORTED_SUFFIXES
    assert all(s == s.lower() and s.startswith(".") for s in SUPPORTED_SUFFIXES)


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tif"])
def test_lossless_rgb_roundtrip(tmp_path: Path, rgb: np.ndarray, suffix: str):
    p = tmp_path / f"a{suffix}"
    Image.fromarray(rgb).save(p)
    out = load_image(p)
    assert out.dtype == np.uint8 and out.shape == rgb.shape
    assert np.array_equal(out, rgb)
    out[0, 0] = 0  # writeable


def test_jpeg(tmp_path: Path, rgb: np.ndarray):
    p = tmp_path / "a.jpg"
    Image.fromarray(rgb).save(p, quality=95)
    out = load_image(p)
    assert out.shape == rgb.shape and np.abs(out.astype(int) - rgb).mean() < 4


def test_grey_palette_and_one_bit(tmp_path: Path, rgb: np.ndarray):
    grey = rgb[..., 1]
    Image.fromarray(grey).save(tmp_path / "g.png")
    out = load_image(tmp_path / "g.png")
    assert out.shape == (*grey.shape, 3) and np.array_equal(out[..., 0], grey) and np.array_equal(out[..., 2], grey)
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=64).save(tmp_path / "p.png")
    assert np.abs(load_image(tmp_path / "p.png").astype(int) - rgb).mean() < 12
    Image.fromarray(grey > 128).save(tmp_path / "b.png")
    assert set(np.unique(load_image(tmp_path / "b.png"))) <= {0, 255}


def test_rgba_is_composited_on_white(tmp_path: Path, rgb: np.ndarray):
    alpha = np.full(rgb.shape[:2], 255, np.uint8)
    alpha[:, 32:] = 0
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(tmp_path / "a.png")
    out = load_image(tmp_path / "a.png")
    assert np.array_equal(out[:, :32], rgb[:, :32])
    assert (out[:, 32:] == 255).all()
    Image.fromarray(np.dstack([rgb[..., 0], alpha]), "LA").save(tmp_path / "la.png")
    assert (load_image(tmp_path / "la.png")[:, 40:] == 255).all()


def test_cmyk_jpeg(tmp_path: Path, rgb: np.ndarray):
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "c.jpg", quality=95)
    out = load_image(tmp_path / "c.jpg")
    assert out.shape == rgb.shape and np.abs(out.astype(int) - rgb).mean() < 10


def test_16bit_grey_tiff_scaled_by_bit_depth(tmp_path: Path):
    twelve_bit = (np.arange(48 * 64).reshape(48, 64) % 4096).astype(np.uint16)
    Image.fromarray(twelve_bit).save(tmp_path / "g16.tif")
    out = load_image(tmp_path / "g16.tif")
    expected = np.round(twelve_bit / 4095.0 * 255).astype(int)
    assert out.dtype == np.uint8 and np.abs(out[..., 0].astype(int) - expected).max() <= 1
    full = np.linspace(0, 65535, 48 * 64).reshape(48, 64).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "f16.png"), full)
    out = load_image(tmp_path / "f16.png")
    assert np.abs(out[..., 1].astype(int) - np.round(full / 257.0)).max() <= 1


def test_16bit_rgb_tiff_keeps_colour_and_depth(tmp_path: Path, rgb: np.ndarray):
    deep = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR).astype(np.uint16) * 257
    assert cv2.imwrite(str(tmp_path / "c48.tif"), deep)
    out = load_image(tmp_path / "c48.tif")
    assert out.shape == rgb.shape and np.abs(out.astype(int) - rgb).max() <= 1


def test_16bit_rgb_png_with_12bit_data(tmp_path: Path, rgb: np.ndarray):
    twelve = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR).astype(np.uint16) * 16  # max 4080: a 12-bit camera
    assert cv2.imwrite(str(tmp_path / "c48.png"), twelve)
    out = load_image(tmp_path / "c48.png")
    assert np.abs(out.astype(int) - rgb).max() <= 1  # divided by 4095/255, not cut to the high byte


def test_truncated_16bit_png_raises(tmp_path: Path):
    deep = np.random.default_rng(1).integers(0, 65535, (120, 160, 3)).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "full.png"), deep)
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    assert "damaged or incomplete" in _error(tmp_path / "cut.png")


def test_float_tiff(tmp_path: Path):
    f = np.linspace(0, 1, 48 * 64, dtype=np.float32).reshape(48, 64)
    Image.fromarray(f, "F").save(tmp_path / "f.tif")
    out = load_image(tmp_path / "f.tif")
    assert out[0, 0, 0] == 0 and out[-1, -1, 0] == 255


def test_multipage_tiff_gives_first_page(tmp_path: Path, rgb: np.ndarray):
    first, second = Image.fromarray(rgb), Image.fromarray(255 - rgb)
    first.save(tmp_path / "m.tif", save_all=True, append_images=[second])
    assert np.array_equal(load_image(tmp_path / "m.tif"), rgb)


@pytest.mark.parametrize("orientation, transform", [
    (3, lambda a: a[::-1, ::-1]),
    (6, lambda a: np.rot90(a, -1)),
    (8, lambda a: np.rot90(a, 1)),
])
def test_exif_orientation_is_applied(tmp_path: Path, rgb: np.ndarray, orientation, transform):
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(rgb).save(tmp_path / "r.jpg", quality=98, exif=exif)
    out = load_image(tmp_path / "r.jpg")
    expected = transform(rgb)
    assert out.shape == expected.shape
    assert np.abs(out.astype(int) - expected).mean() < 4


def _error(path: Path, **kw) -> str:
    with pytest.raises(ImageLoadError) as info:
        load_image(path, **kw)
    message = str(info.value)
    assert path.name in message  # the technician can tell which file it was
    assert "Traceback" not in message
    return message.lower()


def test_missing_empty_folder_and_text(tmp_path: Path):
    assert "not found" in _error(tmp_path / "nope.png")
    (tmp_path / "empty.png").write_bytes(b"")
    assert "empty" in _error(tmp_path / "empty.png")
    (tmp_path / "dir.png").mkdir()
    assert "folder" in _error(tmp_path / "dir.png")
    (tmp_path / "notes.png").write_text("this is not a picture\n")
    assert "not a readable image" in _error(tmp_path / "notes.png")


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_truncated_files_raise_instead_of_half_images(tmp_path: Path, suffix: str):
    noisy = np.random.default_rng(0).integers(0, 255, (200, 300, 3), dtype=np.uint8)
    full = tmp_path / f"full{suffix}"
    Image.fromarray(noisy).save(full)
    data = full.read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: len(data) // 2])
    assert "damaged or incomplete" in _error(cut)


def test_corrupt_png_chunk(tmp_path: Path, rgb: np.ndarray):
    p = tmp_path / "bad.png"
    Image.fromarray(rgb).save(p)
    data = bytearray(p.read_bytes())
    i = data.index(b"IDAT") + 20
    data[i : i + 30] = bytes(30)
    p.write_bytes(bytes(data))
    _error(p)


def _png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG whose header claims width x height but carries almost no data (a decompression-bomb shape)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)


def test_huge_dimensions_refused_before_decoding(tmp_path: Path):
    p = tmp_path / "huge.png"
    _png_header_only(p, 100_000, 100_000)
    msg = _error(p)
    assert "too large" in msg and "10000 megapixels" in msg and "allowed" in msg
    assert MAX_PIXELS == 100_000_000
    _png_header_only(p, 12_000, 10_000)  # 120 MP: over our limit, under Pillow's own bomb limit
    msg = _error(p)
    assert "too large" in msg and "12000x10000" in msg and "megapixels" in msg


def test_pixel_limit_is_configurable(tmp_path: Path, rgb: np.ndarray):
    p = tmp_path / "a.png"
    Image.fromarray(rgb).save(p)
    assert "megapixels" in _error(p, max_pixels=1000)
    assert load_image(p, max_pixels=48 * 64).shape == rgb.shape


def test_unsupported_format_named(tmp_path: Path, rgb: np.ndarray):
    p = tmp_path / "anim.gif"
    Image.fromarray(rgb).save(p)
    assert "not supported" in _error(p)


# ---------------------------------------------------------------- issue 13: EXIF, FIFOs, content hash, memory

_ORIENT = {1: lambda a: a, 2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
           5: lambda a: np.swapaxes(a, 0, 1), 6: lambda a: np.rot90(a, -1),
           7: lambda a: np.rot90(np.swapaxes(a, 0, 1), 2),
           8: lambda a: np.rot90(a, 1)}  # what Pillow's exif_transpose does for each EXIF orientation


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("layout", ["rgba", "palette", "grey16"])
def test_exif_orientation_for_alpha_palette_and_16bit_grey(tmp_path: Path, rgb: np.ndarray, layout: str,
                                                          orientation: int):
    """Item 13: orientation was ignored once the pixels were converted (alpha composite, I;16 scaling)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "o.png"  # (Pillow's own TIFF reader already turns some oriented TIFFs)
    if layout == "rgba":
        Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])).save(path, exif=exif)
        plain = rgb
    elif layout == "palette":
        image = Image.fromarray(rgb).quantize(64)
        image.save(path, exif=exif)
        plain = np.array(image.convert("RGB"))
    else:
        grey = (rgb[..., 1].astype(np.uint16) * 257)
        Image.fromarray(grey).save(path, exif=exif)
        plain = np.repeat(rgb[..., 1:2], 3, axis=2)
    expected = _ORIENT[orientation](plain)
    out = load_image(path)
    assert out.shape == expected.shape
    assert np.abs(out.astype(int) - expected).max() <= 1


def test_fifo_is_refused_without_blocking(tmp_path: Path):
    """Item 6: a named pipe must not be opened (opening it for reading blocks forever)."""
    import os

    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    fifo = tmp_path / "field.png"
    os.mkfifo(fifo)
    message = _error(fifo)
    assert "not a regular file" in message


def test_content_hash_is_checked(tmp_path: Path, rgb: np.ndarray):
    """Item 8: the same name and size with other pixels is 'changed since it was analysed'."""
    from malaria_desktop.core.errors import ImageChangedError
    from malaria_desktop.core.image_io import file_sha256

    path = tmp_path / "field.png"
    Image.fromarray(rgb).save(path)
    digest = file_sha256(path)
    assert len(digest) == 64 and np.array_equal(load_image(path, expect_sha256=digest), rgb)
    Image.fromarray(255 - rgb).save(path)  # same name, same size, another field
    with pytest.raises(ImageChangedError, match="changed since it was analysed"):
        load_image(path, expect_sha256=digest)
    assert load_image(path, expect_sha256="").shape == rgb.shape  # no hash recorded (old session): no check


def test_deep_png_decode_scales_in_place(tmp_path: Path, rgb: np.ndarray):
    """16-bit colour PNG: the scaled result equals the reference formula (done in row chunks now)."""
    deep = rgb.astype(np.uint16) * 257
    cv2.imwrite(str(tmp_path / "d.png"), cv2.cvtColor(deep, cv2.COLOR_RGB2BGR))
    np.testing.assert_array_equal(load_image(tmp_path / "d.png"), rgb)
