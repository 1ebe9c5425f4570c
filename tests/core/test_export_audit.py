"""Export items of the issue-24 audit: an unnamed slide with a Latin-1 file name (raw UnicodeEncodeError),
and crop pseudonyms that were a bare hash of the patient ID (recovered from a list of IDs in 1.8 s)."""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from malaria_desktop.core import pseudonym
from malaria_desktop.core.report.export import export_session, patient_group
from malaria_desktop.core.review.session import Session, SessionMetadata
from tests.core.test_export import make_field, read_csv


@pytest.fixture(autouse=True)
def own_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "user_data"
    monkeypatch.setenv("MALARIA_DESKTOP_DATA", str(data))
    return data


def _bare_hash_group(seed: str) -> str:
    digest = int(hashlib.sha256(seed.encode("utf-8")).hexdigest(), 16)
    return f"C{100_000_000 + digest % 900_000_000}"


@pytest.mark.skipif(os.name != "posix", reason="Latin-1 bytes in names are a POSIX file-system thing")
def test_unnamed_slide_with_a_latin1_file_name_exports(tmp_path: Path) -> None:
    images = tmp_path / "usb"
    images.mkdir()
    path = Path(os.fsdecode(os.path.join(os.fsencode(images), b"champ_caf\xe9.png")))
    field = make_field(images / "plain.png")  # OpenCV's imwrite crashes on such a name: write, then rename
    os.rename(images / "plain.png", path)
    session = Session(settings={"threshold": 0.5}, model={"name": "tiny"})  # no patient, no slide id
    session.set_result(replace(field, path=path))
    summary = export_session(session, tmp_path / "out", crops="all")
    assert not summary.missing_images and not summary.warnings, summary
    group = patient_group(session)
    crops = read_csv(tmp_path / "out" / "crops" / "manifest.csv")
    assert crops and {row["patient_id"] for row in crops} == {group}
    assert all(Path(row["path"]).name.startswith(group) for row in crops)
    assert summary.files and (tmp_path / "out" / "slide.csv").is_file()


def test_pseudonym_is_keyed_per_installation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    session = Session(metadata=SessionMetadata(patient_id="PT-0042"))
    first = patient_group(session)
    assert first == patient_group(session)  # stable on this installation (training groups by it)
    assert first != _bare_hash_group("patient:PT-0042")  # not the formula anyone can recompute
    key = pseudonym.key_path()
    assert key.is_file() and len(key.read_bytes()) == pseudonym.KEY_BYTES
    if os.name == "posix":
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    monkeypatch.setenv("MALARIA_DESKTOP_DATA", str(tmp_path / "another_pc"))
    assert patient_group(session) != first  # another installation, another secret


def test_a_list_of_likely_ids_does_not_give_the_patient_back() -> None:
    """The audit's attack: hash every plausible ID and compare. Without the key no candidate matches."""
    target = patient_group(Session(metadata=SessionMetadata(patient_id="PT-4711")))
    candidates = {_bare_hash_group(f"patient:PT-{i:04d}") for i in range(10_000)}
    assert target not in candidates  # (a chance match of 10,000 in 900 million: about 1 in 90,000)


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_a_key_file_that_is_a_link_is_not_trusted(own_data: Path) -> None:
    own_data.mkdir(parents=True, exist_ok=True)
    (own_data / pseudonym.KEY_FILE).symlink_to("/dev/zero")
    group = pseudonym.pseudonym("patient:x")
    assert group == pseudonym.pseudonym("patient:x")  # the process key: consistent within this run
    assert (own_data / pseudonym.KEY_FILE).is_symlink()
