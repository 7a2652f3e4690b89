from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from quietline.client.passphrase import word_list
from quietline.desk.web.pseudonyms import REF_LEN, WORDS, pseudonym
from quietline.protocol.keys import EncryptionKeyPair, ReplyKey

keys = st.binary(min_size=32, max_size=32)


def test_a_source_keeps_its_name_on_a_desk_and_gets_another_on_another_desk() -> None:
    source = ReplyKey.of(EncryptionKeyPair.generate())
    desk, other_desk = b"\x01" * 32, b"\x02" * 32
    assert pseudonym(desk, source) == pseudonym(desk, source)
    assert pseudonym(desk, source).name != pseudonym(other_desk, source).name
    other_source = ReplyKey.of(EncryptionKeyPair.generate())
    assert pseudonym(desk, source).ref != pseudonym(desk, other_source).ref


@given(keys, keys)
def test_a_name_is_words_from_the_list_and_shows_nothing_of_the_key(
    desk_key: bytes, raw: bytes
) -> None:
    named = pseudonym(desk_key, ReplyKey(raw))
    words = named.name.split(" ")
    assert len(words) == WORDS
    assert set(words) <= set(word_list())
    assert len(named.ref) == REF_LEN
    assert raw.hex()[:8] not in named.ref
    assert str(named) == named.name
