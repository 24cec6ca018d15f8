from __future__ import annotations

import unicodedata

import pytest

from docflow.common.sanitize import sanitize_line, sanitize_text

pytestmark = pytest.mark.unit


def test_script_tags_are_removed_with_their_content() -> None:
    assert sanitize_line("<script>alert(1)</script>Quarterly <b>report</b>") == "Quarterly report"


def test_event_handler_attributes_disappear_with_the_tag() -> None:
    assert sanitize_line('<img src=x onerror="alert(1)">Photo') == "Photo"


def test_entities_become_plain_characters() -> None:
    assert sanitize_text("Tom &amp; Jerry &lt; 3") == "Tom & Jerry < 3"


def test_escaped_markup_cannot_come_back_as_a_tag() -> None:
    cleaned = sanitize_line("&lt;script&gt;alert(1)&lt;/script&gt;Safe")
    assert "<script" not in cleaned
    assert cleaned == "Safe"


def test_doubly_escaped_markup_is_removed_too() -> None:
    assert "<script" not in sanitize_line("&amp;lt;script&amp;gt;x&amp;lt;/script&amp;gt;ok")


def test_comparison_signs_in_plain_text_survive() -> None:
    assert sanitize_text("1 < 2 and 3 > 2") == "1 < 2 and 3 > 2"


def test_control_characters_are_removed_but_newlines_and_tabs_kept() -> None:
    assert sanitize_text("a\x00b\x07c\td\ne\x1b[31m\x7f\x9f") == "abc\td\ne[31m"


def test_carriage_returns_become_newlines() -> None:
    assert sanitize_text("one\r\ntwo\rthree") == "one\ntwo\nthree"


def test_lone_surrogates_are_dropped() -> None:
    assert sanitize_text("ok\ud800 fine") == "ok fine"


def test_entity_for_a_control_character_is_removed_after_unescaping() -> None:
    assert sanitize_text("a&#1;b &amp;") == "ab &"


def test_text_is_nfc_normalized() -> None:
    decomposed = "Cafe\u0301"
    cleaned = sanitize_text(decomposed)
    assert cleaned == "Café"
    assert unicodedata.is_normalized("NFC", cleaned)


def test_line_fields_collapse_whitespace() -> None:
    assert sanitize_line("  Q3\n\treport   draft ") == "Q3 report draft"


def test_nothing_but_markup_leaves_an_empty_string() -> None:
    assert sanitize_text("<script>x</script>\x00 ") == ""
