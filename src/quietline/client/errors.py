"""Errors a source client's user can act on; each message says what to do."""

from quietline.protocol.errors import QuietlineError


class SourceClientError(QuietlineError):
    """Something the user asked for cannot be done; the message says what to do."""


class NoVerifiedKeys(SourceClientError):
    """No published key set has verified yet (or every verified key has expired)."""


class TextTooLong(SourceClientError):
    """The text does not fit in one fixed-size message."""


class QueueFull(SourceClientError):
    """As many messages as may wait to be sent are already waiting."""


class Conflict(SourceClientError):
    """The vault changed since it was read: read it again and redo the change."""


class ClientNotRunning(SourceClientError):
    """No run loop is working on this folder, so nothing can be sent or read now."""


class WrongPassphrase(SourceClientError):
    """The passphrase does not open the vault (or nobody ever wrote from this device)."""
