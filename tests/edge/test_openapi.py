"""The real edge against its own OpenAPI document, with schemathesis: no 5xx, and every
answer's status, content type and body as the document says.

A real edge (uvicorn on loopback) holds an organisation's keys and profile, a queued
message and a dead drop of each kind, so the reads answer with real items. schemathesis
reads ``/openapi.json`` from it and sends, to every operation, requests that fit the
document and requests that do not (``EXAMPLES`` of each a run, or
``QUIETLINE_OPENAPI_EXAMPLES``; docs/testing.md gives the longer run).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import BaseSchema, Case, GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Ok

from quietline.clock import SystemClock
from quietline.edge import EdgeStore, create_app
from quietline.edge.openapi import OPENAPI
from quietline.edge_client import EdgeClient
from quietline.protocol.messages import cover_j2u, encrypt_cover_u2c, filler_c2j
from tests.edge.submissions import covernode_keys
from tests.support.edge_server import serve
from tests.support.organisation import Organisation
from tests.support.queues import queues_beside

# A real server: left out of `make check`, run by `make test`.
pytestmark = [pytest.mark.slow, pytest.mark.fuzz]

EXAMPLES = int(os.environ.get("QUIETLINE_OPENAPI_EXAMPLES", "100"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def edge_url() -> Iterator[str]:
    """A published edge with a queued message and a dead drop of each kind."""
    now = datetime.now(UTC)
    organisation = Organisation.create(now)
    with TemporaryDirectory() as folder:
        store = EdgeStore(Path(folder) / "edge.sqlite3")
        try:
            with (
                queues_beside(store) as queues,
                serve(
                    create_app(store, [organisation.anchor], SystemClock(), queues=queues.engine)
                ) as url,
            ):
                with EdgeClient(url) as admin:
                    organisation.publish(admin, now)
                    admin.send_u2c(encrypt_cover_u2c(covernode_keys(organisation)))
                    admin.publish_dead_drop(organisation.sign_user_dead_drop([cover_j2u()], now))
                    admin.publish_dead_drop(
                        organisation.sign_journalist_dead_drop([filler_c2j()], now, 1)
                    )
                yield url
        finally:
            store.close()


@pytest.fixture(scope="module")
def edge_schema(edge_url: str) -> BaseSchema:
    """The document as the running edge serves it."""
    return schemathesis.openapi.from_url(f"{edge_url}/openapi.json")


def _cases() -> list[tuple[str, str, GenerationMode]]:
    """Every operation with data that fits the document, and with data that does not where
    it takes any (a query or a body)."""
    cases = []
    for path, methods in OPENAPI["paths"].items():
        for method, operation in methods.items():
            takes_data = "parameters" in operation or "requestBody" in operation
            for mode in GenerationMode:
                if mode is GenerationMode.POSITIVE or takes_data:
                    cases.append((method.upper(), path, mode))
    return cases


CASES = _cases()
DOCUMENT = ("GET", "/openapi.json")


def test_the_served_document_has_every_operation(edge_url: str, edge_schema: BaseSchema) -> None:
    assert httpx.get(f"{edge_url}/openapi.json").json() == OPENAPI
    served = set()
    for result in edge_schema.get_all_operations():
        assert isinstance(result, Ok), result.err()
        served.add((result.ok().method.upper(), result.ok().path))
    # schemathesis leaves out the operation that serves the document it was read from.
    assert served | {DOCUMENT} == {(method, path) for method, path, _ in CASES}


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_every_operation_answers_as_documented(
    edge_schema: BaseSchema, method: str, path: str, mode: GenerationMode
) -> None:
    operation = edge_schema[path][method]
    # A read has no signature to fail: whatever query the document allows, it answers.
    checks = [*CHECKS, positive_data_acceptance] if method == "GET" else CHECKS

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=True,
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def answers_as_documented(case: Case[Any]) -> None:
        case.call_and_validate(checks=checks)

    answers_as_documented()
