"""The source's terminal app (``quietline source ui``), in English and Simplified Chinese:
a front end to the running source client that reaches it through its socket, as
``quietline source send`` and ``inbox`` do. ``session`` holds what it does, ``app`` the
screens, ``i18n`` the languages."""

from collections.abc import MutableMapping

# Textual's own settings come from variables named TEXTUAL...: some write what the app
# shows or what is typed to a file or a debugging server (TEXTUAL_LOG, TEXTUAL=devtools,
# TEXTUAL_SCREENSHOT), or type keys for the person (TEXTUAL_PRESS).
TEXTUAL_SETTINGS = "TEXTUAL"


def forget_textual_settings(environment: MutableMapping[str, str]) -> None:
    """Remove every Textual setting from ``environment``: called before Textual is
    imported (it reads them then), so a variable left in a shell or a service manager
    cannot make the app log or record what the person reads and writes."""
    for name in [name for name in environment if name.startswith(TEXTUAL_SETTINGS)]:
        del environment[name]
