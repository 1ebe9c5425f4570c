"""Draw the application icon once and save it as PNG, Windows ICO and macOS ICNS.

Why a script: the icon is a build input (``build.spec`` embeds it in the executable), so it must be
reproducible from the repository instead of being an opaque binary nobody can change. Run it only when the
design changes: ``.venv/bin/python packaging/make_icons.py``; the outputs are committed.

The picture: a pink red blood cell with a pale centre and a dark purple ring-stage parasite, the thing the
app looks for, on a rounded teal tile that stays readable at 16 px.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

HERE = Path(__file__).resolve().parent
MASTER = 1024  # drawn large, downsampled with LANCZOS for every size
ICO_SIZES = [(16, 16), (24, 24), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)]


def _disc(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float, **kwargs: object) -> None:
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), **kwargs)


def draw_icon(size: int = MASTER) -> Image.Image:
    """The icon as an RGBA image of ``size`` x ``size``."""
    s = size / MASTER
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle((40 * s, 40 * s, 984 * s, 984 * s), radius=200 * s, fill=(22, 110, 120, 255))

    cell = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    cdraw = ImageDraw.Draw(cell)
    _disc(cdraw, 512 * s, 512 * s, 380 * s, fill=(236, 150, 160, 255))  # erythrocyte
    _disc(cdraw, 512 * s, 512 * s, 200 * s, fill=(248, 196, 200, 255))  # pale central zone
    cell = cell.filter(ImageFilter.GaussianBlur(radius=5 * s))
    img.alpha_composite(cell)

    draw = ImageDraw.Draw(img)
    # ring-stage trophozoite: a purple ring with a chromatin dot, off centre like in a real smear
    rx, ry, rr = 640 * s, 400 * s, 120 * s
    draw.ellipse((rx - rr, ry - rr, rx + rr, ry + rr), outline=(92, 36, 140, 255), width=max(1, int(44 * s)))
    _disc(draw, rx + 95 * s, ry - 80 * s, 62 * s, fill=(60, 16, 100, 255))
    return img


def main() -> None:
    master = draw_icon()
    master.resize((512, 512), Image.LANCZOS).save(HERE / "app_icon.png", optimize=True)
    master.save(HERE / "app_icon.ico", sizes=ICO_SIZES)
    master.resize((512, 512), Image.LANCZOS).save(HERE / "app_icon.icns")
    for name in ("app_icon.png", "app_icon.ico", "app_icon.icns"):
        print(f"{name}: {(HERE / name).stat().st_size} bytes")


if __name__ == "__main__":
    main()
