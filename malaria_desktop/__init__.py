"""Malaria Desktop: offline thin-blood-smear screening aid (not a certified diagnostic device)."""

__version__ = "0.1.0"

INTENDED_USE = (
    "Screening aid for trained laboratory staff. Not a certified diagnostic device: "
    "every result must be reviewed by a qualified microscopist."
)
