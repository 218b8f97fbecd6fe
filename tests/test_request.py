"""build_request (S13) as a pure function: URL and header rules, no network."""

from __future__ import annotations

import pytest

import nexus_micro as nm


def test_s13a_url_and_s13b_headers() -> None:
    req = nm.build_request("tok-123", base_url="https://int-data.moneydesktop.com/")
    assert (req.method, req.url) == ("GET", "https://int-data.moneydesktop.com/micro_deposits")
    assert nm.build_request("t").url == nm.INTEGRATION_URL + "micro_deposits"
    assert nm.build_request("t", base_url="https://h.example/api").url == "https://h.example/api/micro_deposits"
    headers = dict(req.headers)
    assert headers["MD-SESSION-TOKEN"] == "tok-123"
    assert headers["Accept"] == headers["Content-Type"] == "application/vnd.mx.nexus.v1+json"
    assert headers["User-Agent"].startswith(f"nexus-micro/{nm.__version__} python/3.")


@pytest.mark.parametrize(
    "url",
    [
        "https://h/?", "https://h/#", "https://h/a?b=1", "https://@h/", "https://u:p@h/", "http://h.example/",
        "http://127.1/", "http://0x7f.1/", "http://[::ffff:127.0.0.1]/", "http://localhost./", "https://h/\tx",
        "https://h /", "https://h/\n", "ftp://h/", "https:///x", "h.example", "", "https://h:99999/",
    ],
)  # fmt: skip
def test_s13d_rejected_base_urls(url: str) -> None:
    with pytest.raises(ValueError, match="S13d"):
        nm.build_request("t", base_url=url)


@pytest.mark.parametrize(
    "url", ["http://localhost:8080/", "http://LOCALHOST/", "http://127.0.0.1:1/x/", "http://127.9.9.9/", "http://[::1]:5/", "http://[0::1]/"]
)
def test_s13d_loopback_http_is_allowed(url: str) -> None:
    assert nm.build_request("t", base_url=url).url.endswith("/micro_deposits")


@pytest.mark.parametrize("token", ["", " ", "a b", "a\r\nX-Injected: 1", "a\x00", "a\x7f", "caf\u00e9", "\t"])
def test_s13c_rejected_tokens_are_never_echoed(token: str) -> None:
    with pytest.raises(ValueError, match="S13c") as info:
        nm.build_request(token)
    if token.strip():
        assert token not in str(info.value)


def test_s22a_request_repr_hides_the_token() -> None:
    req = nm.build_request("secret-token-value-123")
    assert "secret-token-value-123" not in repr(req) and "secret-token-value-123" not in str(req)
    assert "<redacted>" in repr(req)
