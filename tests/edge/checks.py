"""Assertions shared by the edge's refusal tests: every stored row, and the refusal shape."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import httpx

TABLES = ("keys", "profiles", "dead_drops", "user_queue", "journalist_queue")


def stored_rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every edge table, to assert that a refused request changed nothing."""
    db = sqlite3.connect(path)
    try:
        return {
            table: sorted(db.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
            for table in TABLES
        }
    finally:
        db.close()


def assert_refused(response: httpx.Response, status: int) -> None:
    """The response is ``status`` with a non-empty ``{"error": ...}`` reason."""
    assert response.status_code == status, response.text
    reason = response.json()["error"]
    assert isinstance(reason, str)
    assert reason


def flip_last_hex(text: str) -> str:
    """A hex string with its last digit changed: a forged signature or certificate."""
    return text[:-1] + ("0" if text[-1] != "0" else "1")
