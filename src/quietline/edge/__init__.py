"""The edge: the only public component. It serves published keys, dead drops and status,
and queues fixed-size submissions; it stores nothing about who calls it."""

from quietline.edge.app import create_app
from quietline.edge.store import EdgeStore

__all__ = ["EdgeStore", "create_app"]
