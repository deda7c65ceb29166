"""How an email part's text travels: as it is (``7bit``, or ``8bit`` to a server that offers 8BITMIME) when
that changes nothing a reader sees, else quoted-printable.

Sending text as it is needs lines of at most 998 octets (RFC 5322 2.1.1, RFC 6152). Quoted-printable always
works but costs: a typical 12 KB HTML part grows by a tenth and is cut into 160 lines of 76 characters (a
receiving server handles each line), and encoding it was the largest single cost of building a message.

- Plain text has short lines: it goes as it is.
- HTML from MJML has a few very long lines. A line over the limit is broken right after a quoted attribute
  value inside a start tag (``<td style="…"`` ⏎ ``>``), the one place where HTML's grammar makes a line break
  mean nothing more than a space. Text, attribute values, comments and raw-text elements (``<style>``,
  ``<title>``…) are never touched, so the page is the same document byte for byte once parsed.
- Non-ASCII text goes ``8bit`` only when the server said it takes it (its EHLO reply lists 8BITMIME; the
  caller then sends ``BODY=8BITMIME``).
- Anything else (a stretch with no such break, a NUL, non-ASCII to a 7-bit server) goes quoted-printable.
- A lone CR becomes a line break either way: SMTP forbids it, and HTML and MIME text read it as one.
"""

import binascii
import re

MAX_LINE = 998  # octets per line, CRLF excluded (RFC 5322 2.1.1)

# A start tag up to the end of a complete attribute whose value is quoted: the tokenizer's "after attribute
# value (quoted)" state, where whitespace only separates attributes. Stricter than HTML's tokenizer (it
# wants whitespace between attributes), so it may miss a place to break, never invent one.
_START_TAG_TO_QUOTED_VALUE = re.compile(
    rb"<[A-Za-z][A-Za-z0-9-]*"
    rb"""(?:\s+[^\s"'<>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?)*"""
    rb"""\s+[^\s"'<>/=]+\s*=\s*"[^"]*["]"""
)
# Elements whose content is raw text (or, in title and textarea, text without tags): no "<" inside is a tag.
# Found by their first letters (a cheap scan), then checked by name, which is case-insensitive.
_RAW_TEXT_START = re.compile(rb"<[sStT](?:[tT][yY]|[cC][rR]|[iI][tT]|[eE][xX])")
_RAW_TEXT = re.compile(rb"<(?i:(style|script|title|textarea))\b")
# A single-quoted attribute value holding a "<": the one place a run of text that looks like a start tag
# ("<b c=\"d\"") can sit inside another tag's value without a ">" or a quote giving it away.
_MARKUP_IN_SINGLE_QUOTES = re.compile(rb"=\s*'[^']*<")
_RAW_TEXT_END = {
    name: re.compile(rb"</(?i:" + name + rb")\s*>") for name in (b"style", b"script", b"title", b"textarea")
}


def encode(subtype: str, text: str, *, eight_bit: bool) -> tuple[str, bytes]:
    """(``Content-Transfer-Encoding``, the part's body with CRLF line ends) for a ``text/<subtype>`` part of
    ``text`` in UTF-8; ``eight_bit`` when the server takes 8BITMIME."""
    if "\r" in text:  # SMTP allows no lone CR; HTML and MIME text read one as a line break anyway
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    data = text.encode("utf-8")
    ascii_only = text.isascii()
    if (ascii_only or eight_bit) and b"\x00" not in data:
        as_is = _html(data) if subtype == "html" else _short_lines(data)
        if as_is is not None:
            return "7bit" if ascii_only else "8bit", as_is.replace(b"\n", b"\r\n")
    body = binascii.b2a_qp(data, istext=True)
    return "quoted-printable", body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _short_lines(data: bytes) -> bytes | None:
    return data if all(len(line) <= MAX_LINE for line in data.split(b"\n")) else None


def _html(html: bytes) -> bytes | None:
    raw: list[tuple[int, int]] | None = None
    pieces: list[bytes] = []
    start = 0
    while True:
        newline = html.find(b"\n", start)
        end = len(html) if newline < 0 else newline
        if end - start > MAX_LINE:
            if raw is None:
                if _MARKUP_IN_SINGLE_QUOTES.search(html):
                    return None
                raw = _raw_text(html)
            cut = _cut(html, start, raw)
            if cut is None:
                return None
            pieces.append(html[start:cut])
            start = cut + 1 if html[cut] == 0x20 else cut  # a space gives way to the break
        else:
            pieces.append(html[start:end])
            if newline < 0:
                return b"\n".join(pieces)
            start = end + 1


def _raw_text(html: bytes) -> list[tuple[int, int]]:
    """(start, end) of each raw-text element."""
    spans = []
    position = 0
    while (candidate := _RAW_TEXT_START.search(html, position)) is not None:
        opening = _RAW_TEXT.match(html, candidate.start())
        if opening is None:
            position = candidate.end()
            continue
        closing = _RAW_TEXT_END[opening.group(1).lower()].search(html, opening.end())
        position = len(html) if closing is None else closing.end()
        spans.append((opening.start(), position))
    return spans


def _cut(html: bytes, start: int, raw: list[tuple[int, int]]) -> int | None:
    """Where to end the line that starts at ``start``: the last index at most :data:`MAX_LINE` on that
    follows a quoted attribute value in a start tag, outside comments and raw text (a space there gives way
    to the break; before ``>`` or ``/>`` the break is added); None if there is none."""
    end = start + MAX_LINE  # a line html[start:cut] holds at most MAX_LINE octets
    while (quote := html.rfind(b'"', start, end)) >= start:
        cut = quote + 1
        end = quote  # unless this one serves, look further back
        if html[cut] not in b" >/":
            continue
        comment = html.rfind(b"<!--", 0, cut)
        if comment > html.rfind(b"-->", 0, cut):  # inside a comment: look before it
            end = comment
            continue
        inside = next((first for first, last in raw if first < cut < last), None)
        if inside is not None:
            end = inside
            continue
        tag = html.rfind(b"<", 0, cut)
        if (
            html.rfind(b">", 0, cut) < tag
            and html.rfind(b"<", 0, tag) <= html.rfind(b">", 0, tag)  # no tag left open before it
            and _START_TAG_TO_QUOTED_VALUE.fullmatch(html, tag, cut)
        ):
            return cut
    return None
