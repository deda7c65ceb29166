"""SMS segment counting (GSM 03.38 / 3GPP TS 23.040), checked against an independent packing model."""

from hypothesis import given
from hypothesis import strategies as st

from doorstep.messaging import segments

BASIC = sorted(segments.GSM7_BASIC)
EXTENSION = sorted(segments.GSM7_EXTENSION)
gsm7_text = st.text(alphabet=st.sampled_from(BASIC + EXTENSION), max_size=700)
any_text = st.text(max_size=400)


def test_known_boundaries() -> None:
    assert segments.count("") == segments.SegmentCount("GSM-7", 0, 0)
    assert segments.count("a" * 160) == segments.SegmentCount("GSM-7", 160, 1)
    assert segments.count("a" * 161) == segments.SegmentCount("GSM-7", 161, 2)
    assert segments.count("a" * 306).segments == 2
    assert segments.count("a" * 307).segments == 3
    # extension characters cost two septets: 80 euro signs fill one segment, 81 need two
    assert segments.count("€" * 80) == segments.SegmentCount("GSM-7", 160, 1)
    assert segments.count("€" * 81).segments == 2
    # an escape pair is never split: 152 plain septets then "€" must start a new segment
    assert segments.count("a" * 152 + "€" + "a" * 10).segments == 2
    assert segments.count("a" * 152 + "€" + "a" * 152).segments == 3
    # one character outside GSM-7 makes the whole text UCS-2
    assert segments.count("a" * 69 + "ç") == segments.SegmentCount("UCS-2", 70, 1)
    assert segments.count("a" * 70 + "ç").segments == 2
    assert segments.count("ç" * 134).segments == 2
    assert segments.count("ç" * 135).segments == 3
    # an emoji is a surrogate pair: two UTF-16 units, never split
    assert segments.count("📦" * 35) == segments.SegmentCount("UCS-2", 70, 1)
    assert segments.count("a" * 66 + "📦" + "a" * 10).segments == 2
    assert segments.count("a" * 66 + "📦" + "a" * 67).segments == 3


def _model(text: str) -> tuple[str, int]:
    """An independent count: emit the encoded units, then cut them into segments without splitting a
    character (every segment but the first may start with a character's second unit only if the cut
    falls between characters)."""
    gsm = all(c in segments.GSM7_BASIC or c in segments.GSM7_EXTENSION for c in text)
    if gsm:
        chars = [["ESC", c] if c in segments.GSM7_EXTENSION else [c] for c in text]
        single, multi, encoding = 160, 153, "GSM-7"
    else:
        chars = [[c, "LOW"] if ord(c) > 0xFFFF else [c] for c in text]
        single, multi, encoding = 70, 67, "UCS-2"
    total = sum(len(c) for c in chars)
    if total == 0:
        return encoding, 0
    if total <= single:
        return encoding, 1
    parts: list[list[str]] = [[]]
    for units in chars:
        if len(parts[-1]) + len(units) > multi:
            parts.append([])
        parts[-1].extend(units)
    return encoding, len(parts)


@given(gsm7_text)
def test_gsm7_texts_match_the_model(text: str) -> None:
    count = segments.count(text)
    assert (count.encoding, count.segments) == _model(text)
    assert count.units == len(text) + sum(c in segments.GSM7_EXTENSION for c in text)


@given(any_text)
def test_any_text_matches_the_model(text: str) -> None:
    count = segments.count(text)
    assert (count.encoding, count.segments) == _model(text)


@given(any_text)
def test_more_text_never_costs_fewer_segments(text: str) -> None:
    # appending a GSM-7 character never changes the encoding, so it can only add segments
    assert segments.count(text + "a").segments >= segments.count(text).segments


@given(any_text)
def test_folding_keeps_length_or_makes_gsm7(text: str) -> None:
    folded = segments.fold_to_gsm7(text)
    assert folded == text or segments.is_gsm7(folded)
