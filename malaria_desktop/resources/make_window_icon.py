"""Write ``icon.png`` (the window icon the running app reads) from the project's one icon drawing.

Run once when the design changes: ``.venv/bin/python malaria_desktop/resources/make_window_icon.py``.
It reuses ``resources/make_icons.draw_icon`` so the window, taskbar and installer icons are the same picture.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parents[1] / "resources" / "make_icons.py"

if __name__ == "__main__":
    spec = importlib.util.spec_from_file_location("make_icons", SOURCE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from PIL import Image

    module.draw_icon().resize((256, 256), Image.Resampling.LANCZOS).save(HERE / "icon.png", optimize=True)
    print(HERE / "icon.png")
