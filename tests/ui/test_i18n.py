"""The UI's languages: every message the code marks has a Simplified Chinese translation
in the catalogue (and the catalogue nothing stale), the catalogue compiles, and the
language follows the flag or the locale as gettext reads it."""

from __future__ import annotations

import re
from importlib.resources import files
from io import BytesIO

import pytest
from babel.messages.extract import extract
from babel.messages.pofile import read_po

from quietline.ui import i18n
from quietline.ui.i18n import Language, from_environment, language_of

KEYWORDS = {"_": None, "N_": None}
MARKED = ("app.py",)


def marked_messages() -> set[str]:
    """Every message ``_`` or ``N_`` marks in the UI's code."""
    found: set[str] = set()
    for name in MARKED:
        source = files("quietline.ui").joinpath(name).read_bytes()
        for _line, message, _comments, _context in extract(
            "python", BytesIO(source), keywords=KEYWORDS
        ):
            assert isinstance(message, str)
            found.add(message)
    return found


def catalogue() -> dict[str, str]:
    raw = files("quietline.ui").joinpath(i18n.catalogue_path(Language.chinese)).read_bytes()
    read = read_po(BytesIO(raw))
    assert not [entry.id for entry in read if entry.id and entry.fuzzy]
    return {str(entry.id): str(entry.string) for entry in read if entry.id}


def test_every_marked_message_has_a_chinese_translation_and_none_is_stale() -> None:
    marked, translated = marked_messages(), catalogue()
    assert len(marked) > 50
    assert sorted(marked - translated.keys()) == []
    assert sorted(translated.keys() - marked) == []
    assert [message for message, text in translated.items() if not text.strip()] == []


def test_translations_keep_every_placeholder_and_are_chinese() -> None:
    for message, text in catalogue().items():
        assert re.findall(r"\{[^}]*\}", message) == re.findall(r"\{[^}]*\}", text), message
        if re.search("[A-Za-z]{4}", re.sub(r"\{[^}]*\}|Ctrl-.|quietline source run", "", message)):
            assert re.search("[\u4e00-\u9fff]", text), message


def test_the_catalogue_compiles_and_english_is_the_messages_themselves() -> None:
    chinese = i18n.translations(Language.chinese)
    assert chinese.gettext("Unlock") == "解锁"
    assert chinese.gettext("a message nobody marked") == "a message nobody marked"
    assert i18n.translations(Language.english).gettext("Unlock") == "Unlock"


@pytest.mark.parametrize(
    ("locale", "language"),
    [
        ("zh_CN.UTF-8", Language.chinese),
        ("zh_SG", Language.chinese),
        ("zh-Hans", Language.chinese),
        ("zh", Language.chinese),
        ("zh_TW.UTF-8", Language.english),
        ("zh_Hant_HK", Language.english),
        ("en_GB.UTF-8", Language.english),
        ("C", Language.english),
        ("fr_FR@euro", Language.english),
    ],
)
def test_a_locale_names_its_language(locale: str, language: Language) -> None:
    assert language_of(locale) == language


def test_the_first_locale_variable_set_decides_as_gettext_reads_them() -> None:
    assert from_environment({}) == Language.english
    assert from_environment({"LANG": "zh_CN.UTF-8"}) == Language.chinese
    assert from_environment({"LANG": "zh_CN.UTF-8", "LC_ALL": "C"}) == Language.english
    assert from_environment({"LANG": "C", "LC_MESSAGES": "zh_CN.UTF-8"}) == Language.chinese
    assert from_environment({"LC_ALL": "C", "LANGUAGE": "zh_CN:en"}) == Language.chinese
    assert from_environment({"LANGUAGE": "", "LANG": "zh_CN"}) == Language.chinese
