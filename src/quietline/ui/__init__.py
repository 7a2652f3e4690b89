"""The source's terminal app (``quietline source ui``), in English and Simplified Chinese:
a front end to the running source client that reaches it through its socket, as
``quietline source send`` and ``inbox`` do. ``session`` holds what it does, ``app`` the
screens, ``i18n`` the languages."""
