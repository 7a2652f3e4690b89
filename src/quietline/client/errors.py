"""Errors a source client's user can act on; each message says what to do."""

from quietline.protocol.errors import QuietlineError


class SourceClientError(QuietlineError):
    """Something the user asked for cannot be done; the message says what to do."""


class NoVerifiedKeys(SourceClientError):
    """No published key set has verified yet (or every verified key has expired)."""


class TextTooLong(SourceClientError):
    """The text does not fit in one fixed-size message."""


class QueueFull(SourceClientError):
    """Every slot of the sending queue already holds an unsent message."""


class WrongPassphrase(SourceClientError):
    """The passphrase does not open the vault (or nobody ever wrote from this device)."""
