"""Tests for quietline.protocol.recipients: recipient ids and the tags the CoverNode routes by.

A recipient id is 1 to 128 printable ASCII characters without ``/`` or ``\\``, checked
when a :class:`RecipientId` is made; its tag is the first 4 bytes of SHA-256 of the id,
and the all-zero tag marks cover.
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quietline.protocol.errors import MalformedInput
from quietline.protocol.recipients import COVER_TAG, RecipientId, RecipientTag

JOURNALIST_ID = "static_test_journalist"

valid_ids = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters="/\\"),
    min_size=1,
    max_size=128,
)

# --- recipient tags (their size, SHA-256 rule and cover are in test_messages.py) ----------


def test_a_tag_names_only_its_own_id() -> None:
    tag = RecipientTag.of(JOURNALIST_ID)

    assert tag.names(JOURNALIST_ID)
    assert not tag.names("another_journalist")
    assert not COVER_TAG.names(JOURNALIST_ID)


# --- recipient ids ------------------------------------------------------------------------


@given(valid_ids)
def test_a_valid_id_is_the_same_string_and_carries_its_tag(text: str) -> None:
    recipient_id = RecipientId(text)

    assert recipient_id == text
    assert isinstance(recipient_id, str)
    assert recipient_id.tag == RecipientTag.of(text)


@pytest.mark.parametrize(
    "text", ["", "a/b", "a\\b", "tab\there", "new\nline", "\x7f", "é", "こんにちは", "x" * 129]
)
def test_an_id_that_breaks_the_rule_is_malformed(text: str) -> None:
    with pytest.raises(MalformedInput):
        RecipientId(text)


@pytest.mark.parametrize("value", [None, 42, b"alice", ["alice"]])
def test_a_non_string_is_not_an_id(value: object) -> None:
    with pytest.raises(MalformedInput):
        RecipientId(value)


def test_the_longest_id_is_128_characters() -> None:
    assert RecipientId("x" * 128) == "x" * 128
