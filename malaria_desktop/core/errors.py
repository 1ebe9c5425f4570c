"""The error types the engine raises; each message is written for a lab technician, not a developer."""


class MalariaDesktopError(Exception):
    """Base class: anything the app can show to the user as a plain message."""


class ImageLoadError(MalariaDesktopError):
    """A file could not be read as a smear image (missing, corrupt, unsupported, too large)."""


class ModelError(MalariaDesktopError):
    """The classifier model directory is missing, corrupt or does not match its model card."""


class AnalysisCancelled(MalariaDesktopError):
    """Raised inside the pipeline when the caller asked to stop."""


class UnsafeTargetError(MalariaDesktopError):
    """A write target is not something we may replace (a symlink, device node, FIFO, or a folder of other files)."""


class ImageChangedError(ImageLoadError):
    """The image file on disk is no longer the one that was analysed (its content hash differs)."""


def describe_error(exc: BaseException) -> str:
    """A message for a report row: our own errors speak for themselves; anything else names its type."""
    if isinstance(exc, MalariaDesktopError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "Not enough memory to analyse this image (MemoryError). Try a smaller image."
    detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    return f"Unexpected error while analysing this image ({type(exc).__name__}{': ' + detail if detail else ''})."
