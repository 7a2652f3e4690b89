"""The two exception families of the protocol.

:class:`ProtocolError` means a peer (a server, a client, a file from elsewhere) sent
something that is not a valid protocol object: every parser raises it, and nothing
else, on garbage. :class:`MisuseError` means the caller asked for something the
protocol cannot do (a message too long to fit, a full sending queue, signing with an
expired key); it is a bug or a user error on our side, never the peer's.
"""


class ProtocolError(ValueError):
    """Input from a peer is malformed, forged, expired or otherwise unacceptable."""


class MalformedInput(ProtocolError):
    """Bytes or JSON that do not have the shape of the expected protocol object."""


class DecryptionFailed(ProtocolError):
    """A ciphertext did not open with the keys given (wrong key, tampered, or cover)."""


class BadSignature(ProtocolError):
    """A signature or certificate does not verify."""


class KeyExpired(ProtocolError):
    """A key, certificate or signature is used outside its validity period."""


class UntrustedKey(ProtocolError):
    """A key does not chain up to a pinned organisation anchor."""


class MisuseError(Exception):
    """The caller asked the protocol for something it cannot do."""


class MessageTooLong(MisuseError):
    """A text does not fit in the fixed-size padded message after compression."""


class SendingQueueFull(MisuseError):
    """Every slot of the private sending queue already holds a real message."""


class KeyUnavailable(MisuseError):
    """No valid key of the required role is available to encrypt or sign with."""
