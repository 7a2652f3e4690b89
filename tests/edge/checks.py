"""Assertions shared by the edge's refusal tests: every stored row, the refusal shape, and
the tables of bad requests the refusal tests walk through."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from starlette.testclient import TestClient

from tests.support.organisation import Organisation

TABLES = (
    "keys",
    "roles",
    "revocations",
    "profiles",
    "dead_drops",
    "user_queue",
    "journalist_queue",
)

# A bad request in a refusal table: what makes its JSON body, and the status it must get.
Refusal = tuple[Callable[[Organisation], object], int]


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


def assert_post_refused(
    edge: TestClient, path: str, refusal: Refusal, organization: Organisation
) -> None:
    """Posting the body ``refusal`` makes of ``organization`` to ``path`` is refused with
    the status ``refusal`` names (see :func:`assert_refused`)."""
    make, status = refusal
    assert_refused(edge.post(path, json=make(organization)), status)


def flip_last_hex(text: str) -> str:
    """A hex string with its last digit changed: a forged signature or certificate."""
    return text[:-1] + ("0" if text[-1] != "0" else "1")
