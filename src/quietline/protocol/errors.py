"""The one root of Quietline's errors, and the two families of the protocol.

Every error Quietline raises on purpose is a :class:`QuietlineError`. Each carries a
``status_hint``, the HTTP status an edge answers when the error refuses a request (as
h11's ``error_status_hint``), so the edge maps errors to statuses from the error itself.

:class:`ProtocolError` means a peer (a server, a client, a file from elsewhere) sent
something that is not a valid protocol object: every parser raises it, and nothing
else, on garbage. :class:`MisuseError` means the caller asked for something the
protocol cannot do (a message too long to fit, a full sending queue, signing with an
expired key); it is a bug or a user error on our side, never the peer's.
"""

from __future__ import annotations

from typing import ClassVar


class QuietlineError(Exception):
    """Something Quietline refuses or cannot do; the message says what and, where a
    person can act on it, what to do."""

    default_status: ClassVar[int] = 500
    # For a refusal that passes (503): how long the edge asks the caller to wait.
    retry_after_seconds: ClassVar[int | None] = None

    def __init__(self, message: str, *, status_hint: int | None = None) -> None:
        super().__init__(message)
        self.status_hint = self.default_status if status_hint is None else status_hint

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class ProtocolError(QuietlineError, ValueError):
    """Input from a peer is malformed, forged, expired or otherwise unacceptable."""

    default_status = 400


class MalformedInput(ProtocolError):
    """Bytes or JSON that do not have the shape of the expected protocol object."""


class DecryptionFailed(ProtocolError):
    """A ciphertext did not open with the keys given (wrong key, tampered, or cover)."""


class BadSignature(ProtocolError):
    """A signature or certificate does not verify."""

    default_status = 403


class KeyExpired(ProtocolError):
    """A key, certificate or signature is used outside its validity period."""


class UntrustedKey(ProtocolError):
    """A key does not chain up to a pinned organisation anchor."""

    default_status = 403


class MisuseError(QuietlineError):
    """The caller asked the protocol for something it cannot do."""


class MessageTooLong(MisuseError):
    """A text does not fit in the fixed-size padded message after compression."""


class KeyUnavailable(MisuseError):
    """No valid key of the required role is available to encrypt or sign with."""


class UnknownRecipient(MisuseError):
    """The recipient asked for is not one the organisation publishes or the desk holds."""

    default_status = 404
