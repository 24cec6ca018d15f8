"""Sanitization of every untrusted string before it is stored (user input, model output).

Markup is stripped with nh3 (ammonia), control characters are removed (newline and tab stay),
lone surrogates are dropped (BSON cannot encode them) and the text is NFC-normalized.
"""

from __future__ import annotations

import html
import re
import unicodedata

import nh3

# C0 and C1 controls, DEL and lone surrogates; \t and \n are kept, \r is folded into \n first.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_LINE_BREAKS = re.compile("\r\n?")
_WHITESPACE_RUN = re.compile(r"\s+")
# Escaped markup is unescaped and cleaned again until nothing changes, so `&lt;script&gt;`
# cannot come back as a tag; nesting deeper than this keeps the escaped (inert) form.
_MAX_ROUNDS = 4
_NO_TAGS: set[str] = set()


def strip_control(text: str) -> str:
    if "\r" in text:
        text = _LINE_BREAKS.sub("\n", text)
    return _CONTROL.sub("", text)


def strip_markup(text: str) -> str:
    """Remove tags (and the content of script/style); entities come back as plain characters."""
    if "<" not in text and "&" not in text:
        return text  # nothing nh3 could change: the common case costs one scan
    current = text
    for _ in range(_MAX_ROUNDS):
        cleaned = nh3.clean(current, tags=_NO_TAGS, strip_comments=True)
        unescaped = html.unescape(cleaned)
        if unescaped == current:
            return unescaped
        current = unescaped
    # Still changing: keep nh3's escaped output, which a browser renders as inert text.
    return nh3.clean(current, tags=_NO_TAGS, strip_comments=True)


def normalize(text: str) -> str:
    if text.isascii() or unicodedata.is_normalized("NFC", text):
        return text
    return unicodedata.normalize("NFC", text)


def sanitize_text(text: str) -> str:
    """Body text: line structure is kept, surrounding whitespace trimmed."""
    controlled = strip_control(text)
    unmarked = strip_markup(controlled)
    if unmarked is not controlled:
        unmarked = strip_control(unmarked)  # an entity such as `&#1;` may decode to a control
    return normalize(unmarked).strip()


def sanitize_line(text: str) -> str:
    """A one-line field (title, source, metadata): whitespace runs become one space."""
    return _WHITESPACE_RUN.sub(" ", sanitize_text(text)).strip()
