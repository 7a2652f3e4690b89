"""The headers every answer of the desk's pages carries, and the Host check."""

from __future__ import annotations

import httpx

from quietline.desk.web.guard import CSP
from tests.desk.web.conftest import Served


def test_every_answer_carries_the_security_headers(served: Served) -> None:
    with httpx.Client(base_url=served.url) as client:
        for path in ("/unlock", "/inbox", "/static/desk.js", "/no-such-page"):
            answer = client.get(path)
            assert answer.headers["content-security-policy"] == CSP
            assert "default-src 'none'" in CSP
            assert "frame-ancestors 'none'" in CSP
            assert answer.headers["x-frame-options"] == "DENY"
            assert answer.headers["cache-control"] == "no-store"
            assert answer.headers["referrer-policy"] == "no-referrer"
        cookie = httpx.get(served.url + "/unlock").headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=strict" in cookie
        html = client.get("/unlock").text
        assert "<script>" not in html
        assert " style=" not in html
        assert "http://" not in html
        assert "https://" not in html


def test_a_request_for_another_host_name_is_refused(served: Served) -> None:
    for host in ("evil.example", "127.0.0.1.evil.example", "127.0.0.1:1", ""):
        answer = httpx.get(served.url + "/unlock", headers={"Host": host})
        assert answer.status_code == 421
        assert "csrf" not in answer.text
        assert answer.headers["content-security-policy"] == CSP
