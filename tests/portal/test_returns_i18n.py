"""Every word of the returns portal and the claim form is translated in each catalog."""

import re
from pathlib import Path

import pytest
from babel.messages import pofile

from doorstep.portal import claims, i18n, return_words

TEMPLATES = Path(i18n.__file__).resolve().parent / "templates"
PAGES = ("_return_macros.html", "return_items.html", "return_options.html", "return_review.html",
         "return_refused.html", "return_status.html", "claim_form.html", "claim_status.html")  # fmt: skip
CODE = [Path(return_words.__file__), Path(claims.__file__), Path(return_words.__file__).with_name("returns.py"),
        Path(return_words.__file__).with_name("return_status.py")]  # fmt: skip


def _message_ids() -> set[str]:
    found: set[str] = set()
    for name in PAGES:
        found |= set(re.findall(r"""_\(\s*["']([^"']+)["']""", (TEMPLATES / name).read_text()))
    for path in CODE:
        found |= set(re.findall(r'_\(\s*"((?:[^"\\]|\\.)+)"', path.read_text()))
    found |= set(return_words.REASONS.values()) | set(return_words.INELIGIBLE.values())
    found |= {text for pair in return_words.RESOLUTIONS.values() for text in pair}
    found |= {text for pair in return_words.METHODS.values() for text in pair}
    found |= {text for pair in return_words.HEADLINES.values() for text in pair if text}
    found |= {label for _, label in return_words.STEPS}
    found |= {text for pair in claims.KINDS.values() for text in pair} | set(claims.WHY_NOT.values())
    found |= set(claims.RESOLUTIONS.values()) | {t for pair in claims.STATUS.values() for t in pair if t}
    return found


@pytest.mark.parametrize("lang", [code for code in i18n.SUPPORTED if code != "en"])
def test_every_returns_message_is_translated(lang: str) -> None:
    path = i18n.LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        catalog = pofile.read_po(handle, locale=lang)
    untranslated = sorted(m for m in _message_ids() if not ((found := catalog.get(m)) and found.string))
    assert untranslated == []


def test_the_message_ids_were_found() -> None:
    ids = _message_ids()
    assert {
        "Start a return",
        "Confirm return",
        "Report a problem",
        "Too small",
        "Download label (PDF)",
    } <= ids
