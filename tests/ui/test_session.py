"""What the UI does without the screen: the digest check a person types into, the
message meter and the passphrase pre-check (the link and the client are in test_app)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from quietline.cli.textinput import CHINESE_SAMPLE
from quietline.client.passphrase import WORDS, word_list
from quietline.protocol.pcs import MAX_STREAM_LEN, PaddedCompressedString
from quietline.ui.session import Fill, TypoInPassphrase, fill, groups_that_differ, typo_in

DIGEST = "JWpVFZ CDjw43 CmNO4o ZRSw"


def test_a_digest_matches_with_any_spacing_and_not_in_another_case() -> None:
    assert groups_that_differ(DIGEST, DIGEST) == []
    assert groups_that_differ("JWpVFZCDjw43CmNO4oZRSw", DIGEST) == []
    assert groups_that_differ("  JWp VFZCD jw43\tCmNO4o\nZRSw ", DIGEST) == []
    assert groups_that_differ("jwpvfz CDjw43 CmNO4o ZRSw", DIGEST) == [1]
    assert groups_that_differ("JWpVFZ CDjw43 CmNO4o", DIGEST) == [4]
    assert groups_that_differ("JWpVFZ CDjw43 CmNO4o ZRSwX", DIGEST) == [4]
    assert groups_that_differ(DIGEST + " ABCDEF", DIGEST) == [4, 5]
    assert groups_that_differ("", DIGEST) == [1, 2, 3, 4]


@given(st.text())
def test_any_typed_text_gets_an_answer_and_only_the_digest_matches(typed: str) -> None:
    differ = groups_that_differ(typed, DIGEST)
    assert all(1 <= n <= len(DIGEST.split()) + 1 for n in differ)
    assert (differ == []) == ("".join(typed.split()) == DIGEST.replace(" ", ""))


@given(st.text(max_size=3000))
def test_the_meter_is_the_padded_compressed_strings_exact_fill(text: str) -> None:
    measured = fill(text)
    assert measured.fits == PaddedCompressedString.fits(text)
    assert measured.used == PaddedCompressedString.space_needed(text)
    assert 0.0 <= measured.left <= 1.0
    if measured.fits:
        padded = PaddedCompressedString.from_text(text)
        assert int.from_bytes(padded.raw[:2], "big") == round(measured.used * MAX_STREAM_LEN)


def test_about_two_hundred_characters_of_chinese_fill_a_message() -> None:
    fits = max(n for n in range(1, 400) if fill(CHINESE_SAMPLE[:n]).fits)
    assert 180 <= fits <= 260
    assert fill(CHINESE_SAMPLE[: fits + 1]).used > 1.0
    assert fill("").left < 1.0  # an empty gzip stream already takes its header
    assert Fill(1.5, False).left == 0.0


def test_a_typed_passphrase_is_checked_word_by_word_before_any_derivation() -> None:
    words = word_list()[:WORDS]
    assert typo_in(" ".join(words).upper()) is None
    assert typo_in(" ".join(words[:4])) == TypoInPassphrase(4, 0)
    misspelt = [*words[:2], words[2] + "x", *words[3:]]
    found = typo_in(" ".join(misspelt))
    assert found is not None
    assert found.position == 3
