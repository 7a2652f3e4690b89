"""The organisation's key ceremonies: creating, enrolling, publishing and renewing keys."""
