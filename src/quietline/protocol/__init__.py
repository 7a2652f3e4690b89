"""The Quietline protocol: pure functions and state machines over bytes and time.

Nothing in this package opens a socket or a file or reads the clock: callers pass
keys, bytes and ``now`` in, and get typed values or a :class:`ProtocolError` back.
"""
