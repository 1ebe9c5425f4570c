"""Malaria Desktop: offline thin-blood-smear screening aid (not a certified diagnostic device)."""

from malaria_desktop.offline import stay_offline

stay_offline()  # before anything below or in a subpackage can load ONNX Runtime (offline.py says why)

__version__ = "0.1.0"

INTENDED_USE = (
    "Screening aid for trained laboratory staff. Not a certified diagnostic device: "
    "every result must be reviewed by a qualified microscopist."
)
