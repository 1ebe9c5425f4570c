"""The review window on small screens: every review action visible, F3 keeps context, names readable.

Usage: ``.venv/bin/python -m benchmarks.review_screens [--out docs] [--model DIR|tiny] [--fields 6]``

For 1366x768 at 100 % and 1280x720 logical pixels at 150 % (``QT_SCALE_FACTOR=1.5``, a 1920x1080 screen
at 150 %), each in a fresh interpreter (the scale factor is read when Qt starts): the window is opened at
that size (offscreen), synthetic fields with long camera-style file names are analysed, F3 shows the
first uncertain cell, and the script prints and checks (issue 20):

- every button of the View and Review bars lies inside the window (there is no overflow menu);
- the image view's size, and how many cells fit across its short side after F3 (target >= 3);
- whether the file names in the image list are shown whole (elided in the middle only when too long);

and saves the window as ``review_WxH[_150].png`` in ``--out`` (look at it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import ROOT

SCREENS = ((1366, 768, 1.0), (1280, 720, 1.5))
NAMES = "PA171697_IMG_2017040{}_151010.png"  # like the phone-camera fields of the issue ("PA1…JPG")


def one_screen(width: int, height: int, out: Path, model: str | None, fields: int) -> dict:
    """Runs inside the child interpreter (QT_SCALE_FACTOR already set)."""
    scratch = Path(tempfile.mkdtemp(prefix="review_screens_"))
    os.environ["MALARIA_DESKTOP_DATA"] = str(scratch / "user_data")
    from benchmarks.gui_review import load_model, pump, wait_until
    from malaria_desktop.core.synthetic import write_synthetic_smear
    from malaria_desktop.qt.actions import ActionId
    from malaria_desktop.qt.app import application, create_app
    from malaria_desktop.qt.settings import AppSettings

    application()
    classifier, _which = load_model(model, scratch)
    paths = [scratch / NAMES.format(i) for i in range(fields)]
    for i, path in enumerate(paths):
        write_synthetic_smear(path, seed=700 + i, width=1280, height=960, parasitized_fraction=0.06)
    window = create_app(classifier=classifier, settings=AppSettings.at_path(scratch / "settings.ini"))
    window.resize(width, height)
    window.show()
    window.open_paths(paths)
    wait_until(lambda: not window.runner.running and not window.document.pending_paths(), 600)
    pump(500)
    window.view.setFocus()
    window.action_map[ActionId.NEXT_UNCERTAIN].trigger()
    pump(300)
    view = window.view
    cell = next((i for i in view.overlay_items() if i.cell_id == view.selected_cell), None)
    vp = view.viewport().size()
    size = max(cell.boundingRect().width(), cell.boundingRect().height()) if cell is not None else float("nan")
    across = min(vp.width(), vp.height()) / (view.zoom_factor() * size) if cell is not None else float("nan")
    hidden = []
    for bar in (window.view_toolbar, window.review_toolbar):
        for action, button in bar.buttons.items():
            where = button.mapTo(window, button.rect().topLeft())
            inside = window.rect().contains(where) and window.rect().contains(where + button.rect().bottomRight())
            if not button.isVisible() or not inside or bar.hidden_actions():
                hidden.append(action.iconText())
    table = window.slide_panel.list
    fm = table.fontMetrics()
    icon = table.iconSize().width() if table.iconSize().width() > 0 else 16
    names = [table.model().index(r, 0).data() for r in range(table.model().rowCount())]
    whole = sum(1 for n in names if fm.horizontalAdvance(n) + icon + 12 <= table.columnWidth(0))
    scale = os.environ.get("QT_SCALE_FACTOR", "1")
    name = f"review_{width}x{height}" + ("" if scale in ("1", "1.0") else f"_{round(float(scale) * 100)}")
    out.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(out / f"{name}.png"))
    report = {"screen": f"{width}x{height} logical at {float(scale):.0%}", "view": [vp.width(), vp.height()],
              "cells_across_after_F3": round(across, 1), "hidden_buttons": hidden,
              "bar_rows": [window.view_toolbar.height(), window.review_toolbar.height()],
              "names_whole": f"{whole} of {len(names)}", "name_column_px": table.columnWidth(0),
              "screenshot": str(out / f"{name}.png")}
    window.close()
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    parser.add_argument("--model", default=None, help="model folder, or 'tiny' for the test model")
    parser.add_argument("--fields", type=int, default=6)
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        w, h = (int(v) for v in args.child.split("x"))
        print("RESULT " + json.dumps(one_screen(w, h, args.out, args.model, args.fields)), flush=True)
        return 0
    failed = False
    for w, h, scale in SCREENS:
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen", QT_SCALE_FACTOR=str(scale))
        cmd = [sys.executable, "-m", "benchmarks.review_screens", "--child", f"{w}x{h}", "--out", str(args.out),
               "--fields", str(args.fields)]
        cmd += ["--model", args.model] if args.model else []
        run = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, cwd=ROOT)
        line = next((x for x in run.stdout.splitlines() if x.startswith("RESULT ")), None)
        if line is None:
            print(run.stdout[-2000:], run.stderr[-3000:])
            return 1
        r = json.loads(line[7:])
        ok = not r["hidden_buttons"] and r["cells_across_after_F3"] >= 3
        failed |= not ok
        print(f"{r['screen']}: image view {r['view'][0]}x{r['view'][1]}, {r['cells_across_after_F3']} cells across "
              f"after F3, buttons outside the window: {r['hidden_buttons'] or 'none'} (bar heights {r['bar_rows']}), "
              f"file names whole: {r['names_whole']} (column {r['name_column_px']} px)  "
              f"[{'PASS' if ok else 'FAIL'}]  -> {r['screenshot']}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
