"""docs/tracking.md lists every shared payload with the status Doorstep derives: keep the table true."""

from pathlib import Path

import pytest

from doorstep.integrations.tracking import registry
from doorstep.shipments.status import Scan, derive_fingerprint, derive_state

ROOT = Path(__file__).resolve().parents[3]
SHARED = ROOT.parent / "shared" / "data" / "carrier-tracking"
FOLDERS = {"seventeentrack": "17track"}


def _rows() -> list[tuple[str, str, str, str, str]]:
    rows = []
    in_table = False
    for line in (ROOT / "docs" / "tracking.md").read_text().splitlines():
        if line.startswith("| source | file | status"):
            in_table = True
            continue
        if in_table and line.startswith("|") and not line.startswith("|---"):
            source, file, status, substatus, note = (part.strip() for part in line.strip("|").split("|"))
            rows.append((source, file, status, substatus, note))
    return rows


def _derived(source: str, path: Path) -> list[tuple[str, str, str]]:
    adapter = registry.get(source)
    assert adapter is not None
    parsed = adapter.parse(path.read_bytes())
    out = []
    for update in parsed.updates:
        scans = [
            Scan(
                c.occurred_at,
                c.status,
                c.substatus,
                derive_fingerprint(
                    c.occurred_at, c.raw_code or c.status, c.message, c.city, c.postal_code, c.country
                ),
            )
            for c in update.checkpoints
        ]
        state = derive_state(scans)
        out.append(
            (
                state.status.value,
                state.substatus.value if state.substatus else "\u2013",
                update.tracking_number,
            )
        )
    return out


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/data/carrier-tracking is not beside this checkout")
def test_every_shared_payload_of_a_supported_source_is_in_the_table_with_its_real_status() -> None:
    rows = _rows()
    listed = {(source, file) for source, file, *_ in rows}
    for source in registry.SOURCES:
        folder = SHARED / FOLDERS.get(source, source)
        if not folder.exists():
            continue
        for path in sorted(folder.iterdir()):
            if path.name != "SOURCES.md":
                assert (source, path.name) in listed, f"{source}/{path.name} missing from docs/tracking.md"
    by_file: dict[tuple[str, str], list[tuple[str, str, str, str]]] = {}
    for source, file, status, substatus, note in rows:
        by_file.setdefault((source, file), []).append((status, substatus, note, file))
    for (source, file), expected in by_file.items():
        path = SHARED / FOLDERS.get(source, source) / file
        if expected[0][0] == "n/a":
            with pytest.raises(ValueError):
                _derived(source, path)
            continue
        derived = _derived(source, path)
        if expected[0][0] == "(no parcel)":
            assert derived == [], file
            continue
        assert [(s, sub, number) for s, sub, number in derived] == [
            (s, sub, note) for s, sub, note, _ in expected
        ], file
