"""Generated passphrases: five words of CoverDrop's copy of the EFF large word list."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quietline.client import passphrase


def test_the_word_list_is_the_one_coverdrop_ships() -> None:
    words = passphrase.word_list()
    assert len(words) == passphrase.WORD_LIST_SIZE == 7775
    assert words[:3] == ("abacus", "abdomen", "abdominal")
    assert words[-1] == "zoom"
    assert all(word.isascii() and word == word.lower() and " " not in word for word in words)
    # Five words of 7,775: CoverDrop's passphrase strength without a secure element.
    assert passphrase.WORDS * math.log2(len(words)) > 64.6


def test_generated_passphrases_are_listed_words_and_differ() -> None:
    made = {passphrase.generate() for _ in range(50)}
    assert len(made) == 50
    known = set(passphrase.word_list())
    for words in made:
        assert len(words.split()) == passphrase.WORDS
        assert set(words.split()) <= known
        assert passphrase.normalise(words) == words


def test_typed_passphrases_are_normalised_and_typos_named_without_echo() -> None:
    assert passphrase.normalise(" Zoom\tzoning  ZOOKEEPER zoologist zoology\n") == (
        "zoom zoning zookeeper zoologist zoology"
    )
    with pytest.raises(passphrase.NotAPassphrase, match="word 3 is not") as typo:
        passphrase.normalise("zoom zoning zookeepr zoologist zoology")
    assert "zookeepr" not in str(typo.value)
    with pytest.raises(passphrase.NotAPassphrase, match="5 words; this has 6"):
        passphrase.normalise("zoom zoning zookeeper zoologist zoology zoom")


def test_a_shown_passphrase_reads_back() -> None:
    words = passphrase.generate()
    shown = passphrase.shown(words)
    assert passphrase.read_shown(f"before\n{shown}after\n") == words
    with pytest.raises(ValueError, match="no passphrase"):
        passphrase.read_shown("nothing here")


@given(st.text(max_size=200))
def test_any_typed_text_is_a_passphrase_or_a_clear_refusal(typed: str) -> None:
    words = typed.lower().split()
    if len(words) == passphrase.WORDS and set(words) <= set(passphrase.word_list()):
        assert passphrase.normalise(typed) == " ".join(words)
    else:
        with pytest.raises(passphrase.NotAPassphrase, match=r"a typo\?|check for"):
            passphrase.normalise(typed)
