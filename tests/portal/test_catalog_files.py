"""Every translation catalog parses strictly and carries the same messages (a merge once dropped a msgstr)."""

from pathlib import Path

import pytest
from babel.messages.pofile import read_po

LOCALE = Path(__file__).resolve().parents[2] / "doorstep" / "locale"
CATALOGS = sorted(LOCALE.glob("*/LC_MESSAGES/messages.po"))


@pytest.mark.parametrize("path", CATALOGS, ids=lambda p: p.parts[-3])
def test_the_catalog_parses_strictly(path: Path) -> None:
    with path.open("rb") as handle:
        catalog = read_po(handle, abort_invalid=True)
    assert len(catalog) > 0


def test_every_catalog_has_the_same_messages() -> None:
    ids = {}
    for path in CATALOGS:
        with path.open("rb") as handle:
            ids[path.parts[-3]] = {m.id for m in read_po(handle) if m.id}
    english = ids["en"]
    assert {lang: sorted(english ^ mine)[:5] for lang, mine in ids.items() if mine != english} == {}
