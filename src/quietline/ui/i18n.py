"""The UI's languages: English (the messages as written) and Simplified Chinese, from
gettext catalogues.

The catalogues are the ``.po`` files under ``quietline/ui/locale``, shipped as package
data; each is compiled in memory when the UI starts (Babel reads the ``.po`` and writes
the ``.mo`` that :class:`gettext.GNUTranslations` reads), so the same files serve an
editable install, a wheel and a source tree, with no build step to forget and no compiled
file to fall out of date. Fuzzy and untranslated entries are left out, as msgfmt does.

The language is the ``--language`` flag, or else the locale as gettext reads it: the
first of ``LANGUAGE`` (a colon-separated list), ``LC_ALL``, ``LC_MESSAGES`` and ``LANG``
that is set. Any Chinese locale but a Traditional one (``zh_TW``, ``zh_HK``, ``zh_MO``,
``zh_Hant``) is Simplified Chinese; anything else is English.
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Mapping
from enum import StrEnum
from functools import cache
from importlib.resources import files

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

DOMAIN = "quietline"
LOCALE_VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")
TRADITIONAL = ("zh_tw", "zh_hk", "zh_mo", "zh_hant")


class Language(StrEnum):
    english = "en"
    chinese = "zh_CN"


def language_of(locale: str) -> Language:
    """The UI language for one locale name (``zh_CN.UTF-8``, ``zh-Hans``, ``C``, …)."""
    name = locale.split(".", maxsplit=1)[0].split("@", maxsplit=1)[0].replace("-", "_").lower()
    if name == "zh" or (name.startswith("zh_") and not name.startswith(TRADITIONAL)):
        return Language.chinese
    return Language.english


def from_environment(environment: Mapping[str, str]) -> Language:
    """The language the locale asks for, as gettext would pick the variable."""
    for variable in LOCALE_VARIABLES:
        value = environment.get(variable, "")
        if value:
            # LANGUAGE lists languages by preference; English is the one always there.
            first = value.split(":")[0] if variable == "LANGUAGE" else value
            return language_of(first)
    return Language.english


def catalogue_path(language: Language) -> str:
    return f"locale/{language.value}/LC_MESSAGES/{DOMAIN}.po"


@cache
def translations(language: Language) -> gettext.NullTranslations:
    """The catalogue of ``language``, compiled in memory (English needs none)."""
    if language is Language.english:
        return gettext.NullTranslations()
    source = files("quietline.ui").joinpath(catalogue_path(language)).read_bytes()
    catalogue = read_po(io.BytesIO(source), locale=language.value, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalogue, use_fuzzy=False)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)
