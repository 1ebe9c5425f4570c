"""Field images decoded for display ahead of need, in a background thread, kept in a small LRU cache.

Why: decoding a 1280x960 PNG takes ~70 ms; done on the GUI thread when an image is first shown, it froze
the window once per image (issue 11 item 8). The analysis controller asks for the image it will show
next while that image is still being analysed, and the viewer asks for the neighbours of the image on
screen, so ``get`` usually finds the pixels ready; ``load`` is the synchronous fallback.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from malaria_desktop.qt.image_view import qimage_from_rgb

CACHE_IMAGES = 6  # ~3.7 MB each for 1280x960 RGB


def decode(key: str, digest: str = "") -> QImage:
    """Read a field for display (raises the core's MalariaDesktopError / OSError / ValueError).

    ``digest``: the SHA-256 the analysis saw; a file changed since then is refused (outlines are drawn
    only on the very file they were found in).
    """
    from malaria_desktop.core.image_io import load_image  # lazily: OpenCV is not needed to open the window

    return qimage_from_rgb(load_image(Path(key), expect_sha256=digest))


class DisplayCache(QObject):
    """``get`` (cached or None), ``load`` (cached or decoded now), ``prefetch`` (decode in the background)."""

    ready = Signal(str)
    _delivered = Signal(str, object)

    def __init__(self, size: int = CACHE_IMAGES, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.size = size
        self._images: OrderedDict[str, QImage] = OrderedDict()
        self._digests: dict[str, str] = {}  # the file content each cached image was decoded for
        self._pending: dict[str, Future] = {}  # decodes in flight, or done and not yet delivered
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._delivered.connect(self._store)

    def get(self, key: str) -> QImage | None:
        image = self._images.get(key)
        if image is not None:
            self._images.move_to_end(key)
        return image

    def load(self, key: str, digest: str = "") -> QImage:
        """The image now: from the cache (when decoded from the content ``digest`` names), else decoded on
        the calling thread (and cached)."""
        image = self.get(key) if not digest or self._digests.get(key, "") == digest else None
        if image is None:
            image = self._prefetched(key, digest)
        if image is None:
            image = decode(key, digest)
            self._put(key, image, digest)
        return image

    def _prefetched(self, key: str, digest: str) -> QImage | None:
        """The background decode of ``key`` when one was asked for: waited for rather than decoding the file a
        second time beside it (a quick Ctrl+PgDown walk reaches images whose prefetch is in flight, or done
        with its delivery still queued: issue 20's reviewing stalls)."""
        with self._lock:
            future = self._pending.get(key)
            if future is not None and future.cancel():  # still queued behind another decode: decode it here
                del self._pending[key]
                return None
        if future is None or future.cancelled():
            return None
        try:
            image, found = future.result()
        except Exception:  # noqa: BLE001 - the synchronous load decodes it and reports the error
            return None
        if image is None or (digest and found != digest):
            return None  # failed, or not the file the analysis saw: the synchronous load decides
        self._put(key, image, found)
        return image

    def prefetch(self, key: str) -> None:
        """Decode ``key`` in the background unless it is cached or on its way (cached with its content's
        SHA-256, so ``load`` can tell whether it is the file the analysis saw)."""
        with self._lock:
            if key in self._images or key in self._pending:
                return
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="display-decode")
            self._pending[key] = self._pool.submit(self._work, key)

    def _work(self, key: str) -> tuple[QImage | None, str]:
        from malaria_desktop.core.image_io import file_sha256

        try:
            digest = file_sha256(key)
            image: QImage | None = decode(key)
        except Exception:  # noqa: BLE001 - the synchronous load reports the error when the image is shown
            image, digest = None, ""
        try:
            self._delivered.emit(key, (image, digest))
        except RuntimeError:  # the window closed while this image was decoded
            pass
        return image, digest

    def _store(self, key: str, delivered: tuple[QImage | None, str]) -> None:
        image, digest = delivered
        with self._lock:
            self._pending.pop(key, None)
        if image is not None:
            self._put(key, image, digest)
            self.ready.emit(key)

    def _put(self, key: str, image: QImage, digest: str = "") -> None:
        self._digests[key] = digest
        self._images[key] = image
        self._images.move_to_end(key)
        while len(self._images) > self.size:
            old, _image = self._images.popitem(last=False)
            self._digests.pop(old, None)

    def forget(self, key: str | None = None) -> None:
        if key is None:
            self._images.clear()
        else:
            self._images.pop(key, None)

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
