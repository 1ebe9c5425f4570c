"""CLI end to end: analyze (incl. the mixed good/bad folder of issue 2), classify, exit codes, gui fallback."""

from __future__ import annotations

import csv
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from malaria_desktop import __version__
from malaria_desktop.cli import main
from malaria_desktop.core.classification.crops import crop_cell
from malaria_desktop.core.report.counts import CELL_COLUMNS, IMAGE_COLUMNS, SLIDE_COLUMNS
from malaria_desktop.core.synthetic import generate_smear, write_synthetic_smear

ROOT = Path(__file__).resolve().parents[1]


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def _png_with_size(path: Path, width: int, height: int) -> None:
    """A tiny, well-formed PNG whose header claims ``width`` x ``height`` (a decompression-bomb header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The folder of issue 2's target: relative path -> expected status."""
    root = tmp_path_factory.mktemp("mixed")
    expected: dict[str, str] = {}

    def smear(seed: int) -> np.ndarray:
        return generate_smear(seed=seed, width=640, height=480, parasitized_fraction=0.2).image

    def good(rel: str, writer) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        writer(path)
        expected[rel] = "ok"

    def bad(rel: str, writer) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        writer(path)
        expected[rel] = "error"

    good("plain.png", lambda p: write_synthetic_smear(p, seed=1, width=640, height=480))
    good("commas, in name.png", lambda p: write_synthetic_smear(p, seed=2, width=640, height=480))
    good('quotes "here".jpg', lambda p: write_synthetic_smear(p, seed=3, width=640, height=480))
    good("ünïcødé_血液.png", lambda p: write_synthetic_smear(p, seed=4, width=640, height=480))
    good("=SUM(A1).png", lambda p: write_synthetic_smear(p, seed=5, width=640, height=480))
    good("nested/deeper/field.bmp", lambda p: write_synthetic_smear(p, seed=6, width=640, height=480))
    good("sixteen_bit.tif",
         lambda p: cv2.imwrite(str(p), cv2.cvtColor(smear(7), cv2.COLOR_RGB2BGR).astype(np.uint16) * 257))
    good("cmyk.jpg", lambda p: Image.fromarray(smear(8)).convert("CMYK").save(p, "JPEG", quality=95))
    good("rgba.png", lambda p: Image.fromarray(np.dstack([smear(9), np.full((480, 640), 255, np.uint8)])).save(p))
    good("blank.png", lambda p: Image.new("RGB", (640, 480), (235, 235, 235)).save(p))
    bad("empty.png", lambda p: p.write_bytes(b""))
    bad("truncated.png", lambda p: p.write_bytes((root / "plain.png").read_bytes()[:5000]))
    bad("text_renamed.png", lambda p: p.write_text("not an image at all\n"))
    bad("nested/huge_dimensions.png", lambda p: _png_with_size(p, 200_000, 200_000))
    (root / "nested" / "readme.txt").write_text("ignored: not an image suffix inside a folder")
    return root, expected


def test_mixed_folder_one_row_per_file_no_traceback(mixed_folder, tiny_model_dir: Path, tmp_path: Path) -> None:
    root, expected = mixed_folder
    out = tmp_path / "report"
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(  # relative input paths, so the report's image names start with '=' etc.
        [sys.executable, "-m", "malaria_desktop", "analyze", ".", "--out", str(out), "--model", str(tiny_model_dir)],
        capture_output=True, text=True, encoding="utf-8", cwd=root, env=env, timeout=300,
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    rows = read_csv(out / "images.csv")
    got = {Path(r["image"].removeprefix("'")).as_posix(): r for r in rows}
    assert sorted(got) == sorted(expected)  # one row per file, readme.txt ignored
    for rel, status in expected.items():
        row = got[rel]
        assert row["status"] == status, (rel, row)
        if status == "error":
            assert row["error"] and int(row["n_cells"]) == 0
            assert "failed: " in proc.stderr and rel.split("/")[-1] in proc.stderr
        else:
            assert row["error"] == ""
    for rel in expected:
        if expected[rel] == "ok" and rel != "blank.png":
            assert int(got[rel]["n_cells"]) > 10, rel
    assert int(got["blank.png"]["n_cells"]) == 0 and "no_cells_found" in got["blank.png"]["flags"]
    assert got["empty.png"]["error"] and "empty" in got["empty.png"]["error"]
    assert "large" in got["nested/huge_dimensions.png"]["error"]
    assert [r["image"] for r in rows if "SUM" in r["image"]] == ["'=SUM(A1).png"]  # formula neutralised
    cells = read_csv(out / "cells.csv")
    assert {Path(c["image"].removeprefix("'")).as_posix() for c in cells} == {
        rel for rel, s in expected.items() if s == "ok" and rel != "blank.png"}
    slide = read_csv(out / "slide.csv")[0]
    assert int(slide["n_images"]) == len(expected) and int(slide["n_images_error"]) == 4
    assert int(slide["rbc_counted"]) == sum(int(r["n_cells"]) for r in rows)
    assert sorted(os.listdir(out)) == ["cells.csv", "images.csv", "manifest.json", "slide.csv"]  # no temp files
    assert os.listdir(out.parent) == ["report"]  # no staging folder left beside it
    from malaria_desktop.core.report.manifest import verify_folder

    assert verify_folder(out) == []


def test_analyze_all_good_exit_0_and_options(tiny_model_dir: Path, tmp_path: Path, capsys) -> None:
    files = []
    for seed in (21, 22):
        files.append(tmp_path / f"f{seed}.png")
        write_synthetic_smear(files[-1], seed=seed, width=640, height=480, parasitized_fraction=0.3)
    out = tmp_path / "out"
    code = main(["analyze", *map(str, files), "--out", str(out), "--model", str(tiny_model_dir),
                 "--rbc-per-ul", "4000000", "--hyper-cutoff", "2", "--threshold", "0.5", "--batch-size", "7"])
    assert code == 0
    assert "Analysed 2 images: 2 ok, 0 failed." in capsys.readouterr().out
    images = read_csv(out / "images.csv")
    assert list(images[0]) == list(IMAGE_COLUMNS)
    assert list(read_csv(out / "cells.csv")[0]) == list(CELL_COLUMNS)
    slide = read_csv(out / "slide.csv")[0]
    assert list(slide) == list(SLIDE_COLUMNS)
    n, k = int(slide["rbc_counted"]), int(slide["n_parasitized"])
    assert n == sum(int(r["n_cells"]) for r in images) and k > 0
    assert float(slide["parasites_per_ul"]) == pytest.approx(k / n * 4_000_000, abs=1)
    assert slide["rbc_per_ul"] == "4000000" and "hyperparasitaemia" in slide["flags"]

    strict = tmp_path / "strict"
    assert main(["analyze", *map(str, files), "--out", str(strict), "--model", str(tiny_model_dir),
                 "--threshold", "0.999999", "--exclude-edge-cells"]) == 0
    s2 = read_csv(strict / "slide.csv")[0]
    assert int(s2["n_parasitized"]) < k and int(s2["rbc_counted"]) < n and s2["edge_cells_counted"] == "0"
    assert len(read_csv(strict / "cells.csv")) == len(read_csv(out / "cells.csv"))  # edge cells still listed


@pytest.mark.parametrize("argv, message", [
    (["analyze", "x.png"], "--out"),
    (["analyze", "x.png", "--out", "o", "--threshold", "1.5"], "between 0 and 1"),
    (["analyze", "x.png", "--out", "o", "--rbc-per-ul", "0"], "must be > 0"),
    (["analyze", "x.png", "--out", "o", "--hyper-cutoff", "0"], "percentage"),
    (["frobnicate"], "invalid choice"),
])
def test_usage_errors_exit_2(argv, message, capsys) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_missing_model_is_usage_error(tmp_path: Path, capsys) -> None:
    write_synthetic_smear(tmp_path / "a.png", seed=1, width=320, height=240)
    code = main(["analyze", str(tmp_path / "a.png"), "--out", str(tmp_path / "o"), "--model",
                 str(tmp_path / "nomodel")])
    err = capsys.readouterr().err
    assert code == 2 and "does not exist" in err and "--model" in err and "Traceback" not in err


def test_empty_folder_is_usage_error(tmp_path: Path, tiny_model_dir: Path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["analyze", str(tmp_path / "empty"), "--out", str(tmp_path / "o"), "--model", str(tiny_model_dir)]) == 2
    assert "no image files found" in capsys.readouterr().err


def test_out_is_a_file_is_usage_error(tmp_path: Path, tiny_model_dir: Path, capsys) -> None:
    write_synthetic_smear(tmp_path / "a.png", seed=1, width=320, height=240)
    (tmp_path / "o").write_text("x")
    assert main(["analyze", str(tmp_path / "a.png"), "--out", str(tmp_path / "o"), "--model", str(tiny_model_dir)]) == 2
    assert "is a file" in capsys.readouterr().err


def test_version(capsys) -> None:
    assert main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out


def test_classify_nih_crops(tiny_model_dir: Path, tmp_path: Path, capsys) -> None:
    """Pre-cropped cells (black outside the cell) -> image, probability, label; a bad file -> error row."""
    smear = generate_smear(seed=31, width=800, height=600, parasitized_fraction=0.4)
    folder = tmp_path / "Parasitized_and_Uninfected"
    folder.mkdir()
    truth = {}
    yy, xx = np.mgrid[:600, :800]
    for i, tc in enumerate(c for c in smear.rbcs if not c.on_edge):
        r = int(max(tc.axes)) + 2
        x, y = int(tc.centroid[0]) - r, int(tc.centroid[1]) - r
        mask = ((xx - tc.centroid[0]) ** 2 + (yy - tc.centroid[1]) ** 2 <= tc.radius**2)[y : y + 2 * r, x : x + 2 * r]
        crop = np.where(mask[..., None], smear.image[y : y + 2 * r, x : x + 2 * r], 0).astype(np.uint8)
        name = f"cell_{i:03d}.png"
        cv2.imwrite(str(folder / name), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
        truth[name] = tc.parasitized
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    out = tmp_path / "cls.csv"
    code = main(["classify", str(folder), "--csv", str(out), "--model", str(tiny_model_dir), "--batch-size", "16"])
    assert code == 1
    rows = {Path(r["image"]).name: r for r in read_csv(out)}
    assert list(next(iter(rows.values()))) == ["image", "probability", "label", "error"]
    assert rows["broken.png"]["error"] and rows["broken.png"]["label"] == ""
    assert set(rows) == set(truth) | {"broken.png"}
    hits = [(rows[n]["label"] == "parasitized") == par for n, par in truth.items()]
    assert np.mean(hits) > 0.9
    assert "failed: " in capsys.readouterr().err


def test_classify_crop_matches_crop_cell(tiny_model_dir: Path, tmp_path: Path) -> None:
    """The CLI's decoding path gives exactly crop_cell(img, (0,0,w,h), None, size)."""
    from malaria_desktop.core.classification.crop_io import read_crop

    img = np.zeros((50, 40, 3), np.uint8)
    img[5:45, 5:35] = (200, 120, 150)
    img[20:24, 15:19] = (90, 40, 120)
    cv2.imwrite(str(tmp_path / "c.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    np.testing.assert_array_equal(read_crop(tmp_path / "c.png", 32), crop_cell(img, (0, 0, 40, 50), None, 32))


def test_gui_command_delegates_to_run_gui(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import types

    calls = {}
    fake = types.ModuleType("malaria_desktop.qt.app")
    fake.run_gui = lambda **kw: calls.update(kw) or 0  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "malaria_desktop.qt.app", fake)
    image = tmp_path / "a.png"
    image.write_bytes(b"x")
    assert main(["gui", str(image), "--model", "m", "--screenshot", "s.png", "--quit-after", "1.5"]) == 0
    assert calls == {"files": [image], "model_dir": Path("m"), "screenshot": Path("s.png"), "quit_after": 1.5}
    calls.clear()
    assert main([]) == 0 and calls["files"] == []  # no arguments opens the window
    calls.clear()
    assert main([str(image)]) == 0 and calls["files"] == [image]  # "open with" a file


def test_gui_unavailable_exits_2(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "malaria_desktop.qt.app", None)  # import fails
    assert main(["gui"]) == 2
    assert "analyze" in capsys.readouterr().err


def test_classify_fast_path_equals_load_image_path(tmp_path: Path) -> None:
    """OpenCV fast decoding and load_image agree; odd or damaged crops take the careful path."""
    from malaria_desktop.core.classification.crop_io import read_crop
    from malaria_desktop.core.errors import ImageLoadError
    from malaria_desktop.core.image_io import load_image

    rng = np.random.default_rng(1)
    img = np.zeros((70, 60, 3), np.uint8)
    img[5:65, 5:55] = rng.integers(80, 255, (60, 50, 3))
    writers = {
        "rgb.png": lambda p: cv2.imwrite(str(p), cv2.cvtColor(img, cv2.COLOR_RGB2BGR)),
        "grey.png": lambda p: cv2.imwrite(str(p), img[..., 1]),
        "rgba.png": lambda p: Image.fromarray(np.dstack([img, np.full(img.shape[:2], 255, np.uint8)])).save(p),
        "sixteen.png": lambda p: cv2.imwrite(str(p), cv2.cvtColor(img, cv2.COLOR_RGB2BGR).astype(np.uint16) * 257),
        "cell.bmp": lambda p: cv2.imwrite(str(p), cv2.cvtColor(img, cv2.COLOR_RGB2BGR)),
        "cell.jpg": lambda p: Image.fromarray(img).save(p, quality=95),
        "cmyk.jpg": lambda p: Image.fromarray(img).convert("CMYK").save(p, quality=95),
    }
    for name, write in writers.items():
        path = tmp_path / name
        write(path)
        loaded = load_image(path)
        want = crop_cell(loaded, (0, 0, loaded.shape[1], loaded.shape[0]), None, 32)
        np.testing.assert_array_equal(read_crop(path, 32), want, err_msg=name)
    for name in ("rgb.png", "cell.jpg"):
        truncated = tmp_path / f"cut_{name}"
        truncated.write_bytes((tmp_path / name).read_bytes()[:-40])
        with pytest.raises(ImageLoadError):
            read_crop(truncated, 32)


# ---------------------------------------------------------------- issue 13: reliability of the report files


def _analyze(files: list[Path], out: Path, model: Path, *extra: str) -> int:
    return main(["analyze", *map(str, files), "--out", str(out), "--model", str(model), *extra])


def test_parser_defaults_come_from_the_settings_type() -> None:
    from malaria_desktop.cli import build_parser
    from malaria_desktop.core.settings import DEFAULTS

    args = build_parser().parse_args(["analyze", "x.png", "--out", "o"])
    assert (args.rbc_per_ul, args.hyper_cutoff, args.target_cells, args.min_cells) == (
        DEFAULTS.rbc_per_ul, DEFAULTS.hyper_cutoff_pct, DEFAULTS.target_cells, DEFAULTS.min_cells)
    assert main(["analyze", "x.png", "--out", "o", "--target-cells", "0"]) == 2


def test_rerun_leaves_no_file_of_the_older_run(tiny_model_dir: Path, tmp_path: Path) -> None:
    """Item 3: the folder is one run; files an older run (or an older version) wrote do not survive."""
    files = [tmp_path / "a.png", tmp_path / "b.png"]
    for seed, f in enumerate(files):
        write_synthetic_smear(f, seed=seed, width=320, height=240)
    out = tmp_path / "report"
    assert _analyze(files, out, tiny_model_dir) == 0
    first = (out / "manifest.json").read_text()
    (out / "manifest.json").unlink()  # an old version's report folder had no manifest
    assert _analyze(files[:1], out, tiny_model_dir) == 0
    assert (out / "manifest.json").read_text() != first
    assert [r["image"] for r in read_csv(out / "images.csv")] == [str(files[0])]
    assert {c["image"] for c in read_csv(out / "cells.csv")} == {str(files[0])}


def test_failed_run_keeps_the_previous_report_whole(tiny_model_dir: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """Item 3: out of disk after cells.csv: the old images.csv/slide.csv must not meet a new cells.csv."""
    from malaria_desktop.core.report import counts as report

    files = [tmp_path / "a.png"]
    write_synthetic_smear(files[0], seed=3, width=320, height=240)
    out = tmp_path / "report"
    assert _analyze(files, out, tiny_model_dir) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def full(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(report, "write_slide_csv", full)
    monkeypatch.setattr("malaria_desktop.core.report.counts.write_slide_csv", full)
    assert _analyze(files, out, tiny_model_dir, "--rbc-per-ul", "4000000") == 1
    assert "No space" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert os.listdir(tmp_path) == ["a.png", "report"]


def test_out_folder_with_other_files_is_refused(tiny_model_dir: Path, tmp_path: Path, capsys) -> None:
    write_synthetic_smear(tmp_path / "a.png", seed=1, width=320, height=240)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "thesis.docx").write_text("precious")
    assert _analyze([tmp_path / "a.png"], docs, tiny_model_dir) == 2
    assert "other files" in capsys.readouterr().err and os.listdir(docs) == ["thesis.docx"]


@pytest.mark.skipif(os.name != "posix", reason="Latin-1 bytes in names are a POSIX file-system thing")
def test_non_utf8_file_name_gets_a_report(tiny_model_dir: Path, tmp_path: Path) -> None:
    """Item 5: a Latin-1 file name ended analyze with UnicodeEncodeError and no report."""
    folder = tmp_path / "usb"
    folder.mkdir()
    raw = os.path.join(os.fsencode(folder), b"champ_caf\xe9.png")
    write_synthetic_smear(Path(os.fsdecode(raw)), seed=2, width=320, height=240)
    out = tmp_path / "report"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "utf-8"}
    proc = subprocess.run([sys.executable, "-m", "malaria_desktop", "analyze", str(folder), "--out", str(out),
                           "--model", str(tiny_model_dir), "--progress"], capture_output=True, env=env, timeout=300)
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    rows = read_csv(out / "images.csv")
    assert [Path(r["image"]).name for r in rows] == ["champ_caf\\xe9.png"] and rows[0]["status"] == "ok"
    assert read_csv(out / "cells.csv")


def test_unreadable_sub_folder_reaches_the_report(tiny_model_dir: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """Item 13: an unreadable sub-folder was skipped silently; now it is a failed row and a warning."""
    inputs = tmp_path / "in"
    (inputs / "locked").mkdir(parents=True)
    write_synthetic_smear(inputs / "a.png", seed=4, width=320, height=240)
    real_scandir = os.scandir

    def scandir(path=".", *args, **kwargs):
        if Path(path) == inputs / "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path, *args, **kwargs)

    monkeypatch.setattr(os, "scandir", scandir)
    assert _analyze([inputs], tmp_path / "out", tiny_model_dir) == 1
    assert "cannot read the folder" in capsys.readouterr().err
    rows = {Path(r["image"]).name: r for r in read_csv(tmp_path / "out" / "images.csv")}
    assert rows["locked"]["status"] == "error" and "Permission denied" in rows["locked"]["error"]
    assert "some_images_failed" in read_csv(tmp_path / "out" / "slide.csv")[0]["flags"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_csv_target_that_is_a_fifo_or_symlink_is_refused(tiny_model_dir: Path, tmp_path: Path, capsys) -> None:
    """Item 10: --csv replaced device nodes and symlinks with a regular file."""
    crop = tmp_path / "c.png"
    cv2.imwrite(str(crop), np.full((40, 40, 3), 200, np.uint8))
    real = tmp_path / "real.csv"
    real.write_text("keep")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    for target in (link, fifo):
        assert main(["classify", str(crop), "--csv", str(target), "--model", str(tiny_model_dir)]) == 2
        assert "refusing to replace" in capsys.readouterr().err
    assert link.is_symlink() and real.read_text() == "keep" and not fifo.is_file()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_classify_on_a_fifo_finishes(tiny_model_dir: Path, tmp_path: Path) -> None:
    """Item 6: classify hung forever on a FIFO (and ignored Ctrl-C); now it is an error row."""
    fifo = tmp_path / "cell.png"
    os.mkfifo(fifo)
    out = tmp_path / "cls.csv"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "malaria_desktop", "classify", str(fifo), "--csv", str(out),
                           "--model", str(tiny_model_dir)], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert "not a regular file" in read_csv(out)[0]["error"]
