"""nexus_micro over real HTTP: SEMANTICS.md S13-S22 against servers on 127.0.0.1.

Every test starts its own server(s) (tests/_servers.py: stdlib ThreadingHTTPServer on an
ephemeral port, in a daemon thread) and checks what the server saw (attempts, headers,
arrival times) as well as what the client returned or raised. Nothing here talks to anything
but 127.0.0.1, and nothing in nexus_micro is mocked.
"""
from __future__ import annotations

import json
import logging
import threading
import time
import traceback

import pytest

import nexus_micro as nm
from _servers import (
    SAMPLE_RECORD,
    by_token,
    chunked,
    close_delimited,
    free_port,
    head_then_stall,
    json_reply,
    raw,
    reply,
    reset,
    retry_after_date,
    serve,  # noqa: F401  (fixture)
    stall,
    trickle,
)

TOKEN = "SeSsIoN-7f3a9c1e-TOKEN-d0e5b2"  # distinctive: any leak is easy to spot
NEW_TOKEN = "FrEsH-91b2c3d4-TOKEN-a7e6f5"
MEDIA = "application/vnd.mx.nexus.v1+json"
ACCOUNT = "333312345678"

RECORD = SAMPLE_RECORD
GOOD = json.dumps({"micro_deposits": [{"micro_deposit": RECORD}]})
PII = (ACCOUNT, "Zephyr Household Checking", "zelda.quixote@example.com", "Zelda", "Quixote")


def client(server, **kw) -> nm.Client:
    kw.setdefault("timeout", 1.0)
    if "token_provider" not in kw or "session_token" in kw:
        kw.setdefault("session_token", TOKEN)
    token = kw.pop("session_token", None)
    return nm.Client(token, base_url=kw.pop("base_url", server.url), **kw)


def fails(server, exc_type, **kw):
    """Call the client and return the raised exception (which must be an ``exc_type``)."""
    with pytest.raises(exc_type) as info:
        client(server, **kw).list_microdeposits()
    assert_no_secret(info.value)
    return info.value


def assert_no_secret(exc: BaseException, secret: str = TOKEN) -> None:
    shown = [str(exc), repr(exc), "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))]
    for text in shown:
        assert secret not in text


def ok(status: int = 200, body: str = GOOD, headers=()):
    return reply(status, body, headers)


# ============================================================================ S14: statuses

def test_200_gives_records_and_server_saw_one_request(serve):
    server = serve(ok())
    records = client(server).list_microdeposits()
    assert server.count == 1
    assert len(records) == 1
    record = records[0]
    assert record.account_number == ACCOUNT
    assert record.guid == RECORD["guid"]
    assert record.status_name == "DEPOSITED" and record.is_deposited
    assert record.to_dict()["updated_at"] == "2021-10-22T16:14:38.000000Z"
    assert records.drift == ()


@pytest.mark.parametrize("status", [201, 203])
def test_other_2xx_bodies_are_parsed(serve, status):
    server = serve(ok(status))
    assert [r.guid for r in client(server).list_microdeposits()] == [RECORD["guid"]]


def test_200_whatever_its_content_type(serve):
    server = serve(reply(200, GOOD, [("Content-Type", "text/html; charset=latin-1")]))
    assert len(client(server).list_microdeposits()) == 1


def test_204_empty_is_malformed_response(serve):
    server = serve(reply(204))
    exc = fails(server, nm.MalformedResponse)
    assert exc.category == "malformed_response"
    assert server.count == 1


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_3xx_is_unexpected_redirect_with_location(serve, status):
    target = "https://elsewhere.invalid/micro_deposits"
    server = serve(reply(status, "moved", [("Location", target)]))
    exc = fails(server, nm.UnexpectedRedirect, max_retries=3)
    assert exc.category == "unexpected_redirect"
    assert exc.status == status
    assert exc.location == target
    assert target in str(exc)
    assert "base_url" in str(exc)  # what to do
    assert server.count == 1  # never retried


def test_3xx_without_location(serve):
    server = serve(reply(302, ""))
    exc = fails(server, nm.UnexpectedRedirect)
    assert exc.location is None and exc.status == 302


# status -> (class, category, words the message must contain: what to do)
STATUS_CASES = {
    400: (nm.HTTPError, "http_error", "code and message"),
    401: (nm.Unauthorized, "unauthorized", "POST /sessions"),
    403: (nm.Forbidden, "forbidden", "not allowed"),
    404: (nm.NotFound, "not_found", "base URL"),
    409: (nm.HTTPError, "http_error", "code and message"),
    418: (nm.HTTPError, "http_error", "code and message"),
    422: (nm.HTTPError, "http_error", "code and message"),
    429: (nm.RateLimited, "rate_limited", "Retry-After"),
    500: (nm.ServerError, "server_error", "retry later"),
    502: (nm.ServerError, "server_error", "retry later"),
    503: (nm.ServerError, "server_error", "retry later"),
    504: (nm.ServerError, "server_error", "retry later"),
    599: (nm.ServerError, "server_error", "retry later"),
    600: (nm.HTTPError, "http_error", "code and message"),
}


@pytest.mark.parametrize("status", sorted(STATUS_CASES))
def test_status_mapping(serve, status):
    cls, category, advice = STATUS_CASES[status]
    body = {"error": {"code": f"{status}9", "message": "Something happened"}}
    server = serve(json_reply(status, body, [("X-Request-Id", "req-abc-123")]))
    exc = fails(server, nm.HTTPError, max_retries=0)
    assert type(exc) is cls
    assert exc.category == category
    assert exc.status == status
    assert exc.code == f"{status}9"
    assert exc.message == "Something happened"
    assert exc.request_id == "req-abc-123"
    text = str(exc)
    assert f"HTTP {status}" in text
    assert "Something happened" in text
    assert advice in text
    assert "req-abc-123" in text
    assert server.count == 1


def test_error_classes_form_one_tree():
    for cls in (nm.Unauthorized, nm.SessionExpired, nm.Forbidden, nm.NotFound, nm.RateLimited, nm.ServerError):
        assert issubclass(cls, nm.HTTPError)
    assert issubclass(nm.SessionExpired, nm.Unauthorized)
    assert issubclass(nm.Timeout, nm.TransportError)
    for cls in (nm.HTTPError, nm.UnexpectedRedirect, nm.ResponseTooLarge, nm.TransportError,
                nm.MalformedResponse, nm.SchemaDrift):
        assert issubclass(cls, nm.NexusError)


def test_plain_text_error_body_is_excerpted(serve):
    server = serve(reply(502, "<html><body>Bad gateway from the proxy</body></html>", content_type="text/html"))
    exc = fails(server, nm.ServerError, max_retries=0)
    assert exc.code is None and exc.message is None
    assert "Bad gateway from the proxy" in str(exc)


# ============================================================================ S14/S15: 4011

@pytest.mark.parametrize(
    "status, body",
    [
        (401, {"error": {"code": "4011", "message": "Session expired"}}),
        (401, {"error": {"code": 4011, "message": "Session expired"}}),
        (401, {"code": 4011}),
        (401, {"code": "4011", "message": "expired"}),
        (400, {"error": {"code": "4011"}}),
        (403, {"code": 4011}),
        (500, {"error": {"code": "4011"}}),
    ],
)
def test_4011_is_session_expired_whatever_the_status(serve, status, body):
    server = serve(json_reply(status, body))
    exc = fails(server, nm.SessionExpired, max_retries=3)
    assert exc.category == "session_expired"
    assert exc.status == status
    assert exc.code == "4011"
    assert "expired" in str(exc) and "POST /sessions" in str(exc)
    assert server.count == 1  # final without a token provider (S18)


def test_4011_after_a_utf8_bom(serve):
    server = serve(reply(401, b"\xef\xbb\xbf" + b'{"error": {"code": "4011"}}'))
    fails(server, nm.SessionExpired)


@pytest.mark.parametrize(
    "body",
    [
        b"Session expired (4011)",  # not JSON
        b'{"code": 4011.0}',  # not an integer
        b'{"code": true}',
        b'{"error": "4011"}',  # a string error is a message, not a code
        b"",
    ],
)
def test_401_without_a_4011_code_is_unauthorized_not_session_expired(serve, body):
    server = serve(reply(401, body, content_type="text/plain"))
    exc = fails(server, nm.Unauthorized)
    assert type(exc) is nm.Unauthorized
    assert exc.category == "unauthorized"
    assert exc.status == 401
    assert server.count == 1


# ============================================================================ S17: retries

def test_retry_on_503_then_200(serve):
    server = serve(json_reply(503, {"error": {"code": "5030"}}), ok())
    records = client(server).list_microdeposits()
    assert len(records) == 1
    assert server.count == 2


@pytest.mark.parametrize("status", [502, 504])
def test_retry_on_502_and_504(serve, status):
    server = serve(reply(status, "", [("Retry-After", "0")]), ok())
    assert len(client(server).list_microdeposits()) == 1
    assert server.count == 2


def test_retry_on_reset_connection_then_200(serve):
    server = serve(reset(), ok())
    assert len(client(server).list_microdeposits()) == 1
    assert server.count == 2


def test_a_reset_every_time_is_a_transport_error_after_max_retries(serve):
    server = serve(reset())
    exc = fails(server, nm.TransportError, max_retries=1)
    assert exc.category in ("transport_error", "timeout")
    assert server.count == 2


def test_max_retries_bounds_the_attempts(serve):
    server = serve(reply(503, "", [("Retry-After", "0")]))
    exc = fails(server, nm.ServerError, max_retries=2)
    assert exc.status == 503
    assert server.count == 3  # S17a: 1 + max_retries


def test_max_retries_zero_means_one_attempt(serve):
    server = serve(reply(503, "", [("Retry-After", "0")]), ok())
    fails(server, nm.ServerError, max_retries=0)
    assert server.count == 1


@pytest.mark.parametrize(
    "first",
    [
        json_reply(400, {"error": {"code": "4001"}}),
        json_reply(401, {"error": {"code": "4010"}}),
        json_reply(403, {}),
        json_reply(404, {}),
        json_reply(500, {"error": {"code": "5000"}}),
        reply(200, "<html>not json</html>"),
        reply(200, '{"micro_deposits": {}}'),
        reply(302, "", [("Location", "https://elsewhere.invalid/")]),
    ],
    ids=["400", "401", "403", "404", "500", "200-html", "200-non-array", "302"],
)
def test_no_retry(serve, first):
    server = serve(first, ok())
    with pytest.raises(nm.NexusError) as info:
        client(server, max_retries=3).list_microdeposits()
    assert not isinstance(info.value, (nm.TransportError, nm.RateLimited))
    assert server.count == 1


def test_no_retry_on_schema_drift(serve):
    drifted = json.dumps({"micro_deposits": [{"micro_deposit": dict(RECORD, routing_number=91000019)}]})
    server = serve(reply(200, drifted), ok())
    with pytest.raises(nm.SchemaDrift) as info:
        client(server, max_retries=3).list_microdeposits(strict=True)
    assert info.value.category == "schema_drift"
    assert "routing_number" in str(info.value)
    assert server.count == 1
    # lenient: the same body parses, with a note naming the field
    server2 = serve(reply(200, drifted))
    records = client(server2).list_microdeposits()
    assert records[0].routing_number == "091000019"
    assert [(d.index, d.field, d.action) for d in records.drift] == [(0, "routing_number", "padded")]


# ============================================================================ S16/S17b: 429

def test_429_retry_after_seconds_is_honoured(serve):
    server = serve(reply(429, "", [("Retry-After", "1")]), ok())
    assert len(client(server).list_microdeposits()) == 1
    assert server.count == 2
    first, second = server.requests
    assert second.arrived - first.answered >= 1.0 - 0.005


def test_429_retry_after_http_date_is_honoured(serve):
    server = serve(retry_after_date(2), ok())
    assert len(client(server, timeout=1.0).list_microdeposits()) == 1
    assert server.count == 2
    first, second = server.requests
    assert second.arrived_wall >= first.note - 0.005  # not before the instant the server named
    assert second.arrived - first.answered >= 0.9  # the date was 1-2 s ahead


def test_503_retry_after_is_honoured(serve):
    server = serve(reply(503, "", [("Retry-After", "1")]), ok())
    assert len(client(server).list_microdeposits()) == 1
    first, second = server.requests
    assert second.arrived - first.answered >= 1.0 - 0.005


def test_retry_after_with_leading_zeros_is_honoured(serve):
    # "0000000000001" is 1*DIGIT, i.e. 1 second (S16); reading only its first digits gives 0.
    server = serve(reply(429, "", [("Retry-After", "0000000000001")]), ok())
    assert len(client(server).list_microdeposits()) == 1
    first, second = server.requests
    assert second.arrived - first.answered >= 1.0 - 0.005


def test_first_retry_after_header_wins(serve):
    server = serve(reply(503, "", [("Retry-After", "1"), ("Retry-After", "0")]), ok())
    assert len(client(server).list_microdeposits()) == 1
    first, second = server.requests
    assert second.arrived - first.answered >= 1.0 - 0.005


def test_503_with_retry_after_over_the_cap_is_final(serve):
    server = serve(reply(503, "", [("Retry-After", "61")]), ok())
    t0 = time.monotonic()
    exc = fails(server, nm.ServerError, max_retries=3)
    assert time.monotonic() - t0 < 0.5
    assert exc.retry_after == 61.0 and exc.status == 503
    assert server.count == 1


def test_retry_after_over_the_cap_is_not_waited_for(serve):
    server = serve(reply(429, '{"error": {"code": "4290"}}', [("Retry-After", "120")]), ok())
    t0 = time.monotonic()
    exc = fails(server, nm.RateLimited, max_retries=3)
    assert time.monotonic() - t0 < 0.5
    assert exc.category == "rate_limited"
    assert exc.status == 429
    assert exc.retry_after == pytest.approx(120.0)
    assert server.count == 1


def test_retry_after_date_over_the_cap(serve):
    import email.utils

    date = email.utils.formatdate(time.time() + 3600, usegmt=True)
    server = serve(reply(429, "", [("Retry-After", date)]), ok())
    exc = fails(server, nm.RateLimited, max_retries=3)
    assert 3500 < exc.retry_after <= 3600
    assert server.count == 1


def test_429_retries_run_out(serve):
    server = serve(reply(429, "", [("Retry-After", "0")]))
    exc = fails(server, nm.RateLimited, max_retries=2)
    assert exc.retry_after == 0.0
    assert server.count == 3


def test_garbage_retry_after_falls_back_to_backoff(serve):
    server = serve(reply(429, "", [("Retry-After", "soon")]), ok())
    assert len(client(server).list_microdeposits()) == 1
    assert server.count == 2


# ============================================================================ S21: time

def test_deadline_with_a_server_that_always_503s(serve):
    server = serve(reply(503, ""))
    t0 = time.monotonic()
    with pytest.raises((nm.ServerError, nm.Timeout)):
        client(server, deadline=1.5, max_retries=50).list_microdeposits()
    elapsed = time.monotonic() - t0
    assert elapsed < 1.5 + 0.25
    assert server.requests[-1].arrived - t0 < 1.5
    assert server.count >= 2  # it did retry while there was time


def test_deadline_refuses_a_retry_after_that_would_end_past_it(serve):
    server = serve(reply(503, "", [("Retry-After", "1")]))
    t0 = time.monotonic()
    exc = fails(server, nm.ServerError, deadline=1.5, max_retries=10)
    elapsed = time.monotonic() - t0
    # attempt 1 at ~0, wait 1 s, attempt 2 at ~1; a second 1 s wait would end at ~2 > 1.5: no wait
    assert server.count == 2
    assert elapsed < 1.3
    assert exc.status == 503


def test_deadline_with_a_stalling_server_is_timeout(serve):
    server = serve(stall(10))
    t0 = time.monotonic()
    exc = fails(server, nm.Timeout, timeout=10, deadline=1.5)
    assert time.monotonic() - t0 < 1.5 + 0.3
    assert exc.category == "timeout"
    assert isinstance(exc, nm.TransportError)


def test_deadline_bounds_a_trickling_body(serve):
    server = serve(trickle(200, 10_000, every=0.05, for_seconds=10))
    t0 = time.monotonic()
    fails(server, nm.Timeout, timeout=1.0, deadline=1.0)
    assert time.monotonic() - t0 < 1.0 + 0.3


def test_deadline_bounds_a_stall_that_follows_a_trickle(serve):
    # Bytes keep coming for 1.2 s, then nothing: the socket wait started at 1.2 s must not run
    # past the 1.5 s deadline (S21b bounds reads too).
    server = serve(trickle(200, 10_000, every=0.05, for_seconds=1.2, then_stall=10))
    t0 = time.monotonic()
    fails(server, nm.Timeout, timeout=5.0, deadline=1.5, max_retries=0)
    assert time.monotonic() - t0 < 1.5 + 0.3


def test_timeout_without_an_answer(serve):
    server = serve(stall(10))
    t0 = time.monotonic()
    exc = fails(server, nm.Timeout, timeout=0.3, max_retries=0)
    assert 0.25 < time.monotonic() - t0 < 1.0
    assert isinstance(exc, nm.TransportError) and exc.category == "timeout"


def test_slow_body_is_timeout(serve):
    server = serve(head_then_stall(200, [("Content-Length", "100")], b'{"micro_deposits"', seconds=10))
    t0 = time.monotonic()
    exc = fails(server, nm.Timeout, timeout=0.3, max_retries=0)
    assert time.monotonic() - t0 < 1.0
    assert isinstance(exc, nm.TransportError)


def test_timeout_is_retried(serve):
    server = serve(stall(10), ok())
    assert len(client(server, timeout=0.3).list_microdeposits()) == 1
    assert server.count == 2


def test_connection_refused_is_transport_error():
    port = free_port()
    c = nm.Client(TOKEN, base_url=f"http://127.0.0.1:{port}/", timeout=0.5, max_retries=0)
    with pytest.raises(nm.TransportError) as info:
        c.list_microdeposits()
    assert type(info.value) is nm.TransportError
    assert info.value.category == "transport_error"
    assert "127.0.0.1" in str(info.value)
    assert_no_secret(info.value)


# ============================================================================ S18: token_provider

def test_token_provider_on_401_is_called_once_and_the_request_repeated(serve):
    calls = []

    def provider():
        calls.append(1)
        return NEW_TOKEN

    server = serve(by_token(NEW_TOKEN, ok(), json_reply(401, {"error": {"code": "4011"}})))
    records = client(server, session_token=TOKEN, token_provider=provider, max_retries=0).list_microdeposits()
    assert len(records) == 1
    assert len(calls) == 1
    assert [s.token for s in server.requests] == [TOKEN, NEW_TOKEN]


def test_token_provider_second_401_is_final(serve):
    calls = []

    def provider():
        calls.append(1)
        return NEW_TOKEN

    server = serve(json_reply(401, {"error": {"code": "4010"}}))
    exc = fails(server, nm.Unauthorized, session_token=TOKEN, token_provider=provider, max_retries=5)
    assert exc.status == 401
    assert len(calls) == 1
    assert [s.token for s in server.requests] == [TOKEN, NEW_TOKEN]
    assert_no_secret(exc, NEW_TOKEN)


def test_token_provider_gives_the_first_token(serve):
    calls = []

    def provider():
        calls.append(1)
        return NEW_TOKEN

    server = serve(by_token(NEW_TOKEN, ok(), json_reply(401, {})))
    c = nm.Client(base_url=server.url, token_provider=provider, timeout=1.0)
    assert len(c.list_microdeposits()) == 1
    assert len(c.list_microdeposits()) == 1  # the token is kept, not asked for again
    assert len(calls) == 1
    assert [s.token for s in server.requests] == [NEW_TOKEN, NEW_TOKEN]


def test_token_provider_on_a_4011_401(serve):
    calls = []
    server = serve(by_token(NEW_TOKEN, ok(), json_reply(401, {"error": {"code": "4011", "message": "Session expired"}})))
    c = client(server, session_token=TOKEN, token_provider=lambda: calls.append(1) or NEW_TOKEN)
    assert len(c.list_microdeposits()) == 1
    assert len(calls) == 1
    assert [s.token for s in server.requests] == [TOKEN, NEW_TOKEN]


def test_401_without_token_provider_is_final(serve):
    server = serve(json_reply(401, {}), ok())
    fails(server, nm.Unauthorized, max_retries=3)
    assert server.count == 1


def test_token_provider_retry_does_not_use_up_max_retries(serve):
    server = serve(json_reply(401, {}), reply(503, "", [("Retry-After", "0")]), ok())
    c = client(server, session_token=TOKEN, token_provider=lambda: NEW_TOKEN, max_retries=1)
    assert len(c.list_microdeposits()) == 1
    assert server.count == 3


def test_token_provider_returning_a_bad_token_is_value_error_and_nothing_sent(serve):
    server = serve(json_reply(401, {}))
    c = client(server, session_token=TOKEN, token_provider=lambda: "bad token\r\nX-Evil: 1")
    with pytest.raises(ValueError) as info:
        c.list_microdeposits()
    assert "bad token" not in str(info.value)
    assert server.count == 1  # only the first request, with the good token


# ============================================================================ S19: redirects

@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirect_to_a_second_server_is_not_followed(serve, status):
    other = serve(ok())
    target = f"http://127.0.0.1:{other.port}/micro_deposits"
    server = serve(reply(status, "", [("Location", target)]))
    exc = fails(server, nm.UnexpectedRedirect, max_retries=3)
    assert exc.location == target
    assert exc.status == status
    time.sleep(0.05)
    assert other.count == 0  # so the token never reached it
    assert server.count == 1


def test_redirect_location_echoing_the_token_is_redacted_in_the_message(serve):
    server = serve(reply(302, "", [("Location", f"https://evil.invalid/?t={TOKEN}")]))
    exc = fails(server, nm.UnexpectedRedirect)  # fails() checks str/repr/traceback
    assert "evil.invalid" in str(exc)


# ============================================================================ S20: size

def test_content_length_over_the_cap_is_refused_without_reading(serve):
    # The server announces a body over the cap and then sends nothing: reading would time out.
    server = serve(head_then_stall(200, [("Content-Length", "2001")], seconds=10))
    t0 = time.monotonic()
    exc = fails(server, nm.ResponseTooLarge, max_response_bytes=2000, timeout=1.0, max_retries=3)
    assert time.monotonic() - t0 < 0.8
    assert exc.category == "response_too_large"
    assert server.count == 1  # not retried


def test_content_length_at_the_cap_is_fine(serve):
    body = GOOD.encode()
    server = serve(reply(200, body))
    assert len(client(server, max_response_bytes=len(body)).list_microdeposits()) == 1


def test_chunked_body_over_the_cap(serve):
    # A valid JSON document padded with whitespace: only the cap can make this fail.
    body = GOOD.encode() + b" " * 5000
    server = serve(chunked(200, [body[i:i + 700] for i in range(0, len(body), 700)]))
    fails(server, nm.ResponseTooLarge, max_response_bytes=2000, max_retries=3)
    assert server.count == 1


def test_chunked_body_under_the_cap_is_parsed(serve):
    body = GOOD.encode()
    server = serve(chunked(200, [body[:10], body[10:100], body[100:]]))
    assert len(client(server, max_response_bytes=len(body)).list_microdeposits()) == 1


def test_close_delimited_body_over_the_cap(serve):
    body = GOOD.encode() + b" " * 5000
    server = serve(close_delimited(200, body))
    fails(server, nm.ResponseTooLarge, max_response_bytes=2000)
    assert server.count == 1


def test_close_delimited_body_under_the_cap_is_parsed(serve):
    server = serve(close_delimited(200, GOOD.encode()))
    assert len(client(server).list_microdeposits()) == 1


@pytest.mark.parametrize("framing", ["length", "chunked", "close"])
def test_error_body_over_64k_still_gives_server_error(serve, framing):
    big = b'{"error": {"code": "5000", "message": "' + b"x" * 200_000 + b'"}}'
    responder = {
        "length": reply(500, big),
        "chunked": chunked(500, [big[i:i + 16384] for i in range(0, len(big), 16384)]),
        "close": close_delimited(500, big),
    }[framing]
    server = serve(responder)
    exc = fails(server, nm.ServerError, max_response_bytes=1000, max_retries=0)
    assert exc.status == 500
    assert len(str(exc)) < 1000


def test_truncated_body_is_transport_error_never_parsed(serve):
    # 400 bytes of a complete, valid document, but Content-Length says 1000.
    body = b'{"micro_deposits": []}'.ljust(400)
    truncated = raw(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n" + body)
    server = serve(truncated)
    exc = fails(server, nm.TransportError, max_retries=1)
    assert type(exc) is nm.TransportError
    assert server.count == 2  # retried (S17), and both attempts refused


def test_truncated_body_then_a_good_one(serve):
    body = b'{"micro_deposits": []}'.ljust(400)
    truncated = raw(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n" + body)
    server = serve(truncated, ok())
    records = client(server).list_microdeposits()
    assert len(records) == 1  # the second answer, not the (empty) cut first one
    assert server.count == 2


def test_broken_chunked_framing_is_transport_error(serve):
    body = GOOD.encode()
    server = serve(chunked(200, [body], terminate=False))
    exc = fails(server, nm.TransportError, max_retries=0)
    assert type(exc) is nm.TransportError


# ============================================================================ TLS

@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    from _servers import self_signed_cert

    return self_signed_cert(tmp_path_factory.mktemp("tls"))


def _server_tls(tls_files):
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*tls_files)
    return ctx


def test_tls_with_a_trusted_certificate(serve, tls_files):
    import ssl

    server = serve(ok(), tls=_server_tls(tls_files))
    ctx = ssl.create_default_context(cafile=tls_files[0])
    records = nm.Client(TOKEN, base_url=server.url, ssl_context=ctx, timeout=2.0).list_microdeposits()
    assert len(records) == 1
    assert server.requests[0].token == TOKEN


def test_tls_certificate_that_fails_verification_is_not_retried(serve, tls_files):
    # S17: a transport error is retried, "but not a TLS certificate that fails verification".
    server = serve(ok(), tls=_server_tls(tls_files))
    c = nm.Client(TOKEN, base_url=server.url, timeout=2.0, max_retries=3)
    with pytest.raises(nm.TransportError) as info:
        c.list_microdeposits()
    assert type(info.value) is nm.TransportError
    assert "certificate" in str(info.value).lower()
    assert_no_secret(info.value)
    time.sleep(0.05)
    assert server.connections == 1
    assert server.count == 0  # no HTTP request, so no token, went over the unverified connection


# ============================================================================ S13: the request

def test_request_headers_as_the_server_saw_them(serve):
    server = serve(ok())
    client(server, base_url=f"{server.url}api/v1").list_microdeposits()
    (seen,) = server.requests
    assert seen.method == "GET"
    assert seen.path == "/api/v1/micro_deposits"
    assert seen.header_all("md-session-token") == [TOKEN]
    assert seen.header("ACCEPT") == MEDIA
    assert seen.header("content-type") == MEDIA
    assert seen.header("user-agent").startswith("nexus-micro/")
    assert seen.body == b""
    assert seen.header("Content-Length") in (None, "0")
    assert seen.header("Transfer-Encoding") is None


@pytest.mark.parametrize(
    "base, path",
    [("", "/micro_deposits"), ("api/", "/api/micro_deposits"), ("a/b", "/a/b/micro_deposits")],
)
def test_request_path_under_the_base_url(serve, base, path):
    server = serve(ok())
    client(server, base_url=server.url + base).list_microdeposits()
    assert server.requests[0].path == path


def test_localhost_base_url_works(serve):
    server = serve(ok())
    c = nm.Client(TOKEN, base_url=f"http://localhost:{server.port}", timeout=1.0)
    assert len(c.list_microdeposits()) == 1
    assert server.requests[0].path == "/micro_deposits"


def test_token_with_every_visible_ascii_character_goes_byte_for_byte(serve):
    token = "".join(chr(c) for c in range(0x21, 0x7F))
    server = serve(ok())
    nm.Client(token, base_url=server.url, timeout=1.0).list_microdeposits()
    assert server.requests[0].header_all("MD-SESSION-TOKEN") == [token]


def test_build_request_fields():
    request = nm.build_request(TOKEN, base_url="https://int-data.moneydesktop.com")
    assert request.method == "GET"
    assert request.url == "https://int-data.moneydesktop.com/micro_deposits"
    headers = {k.lower(): v for k, v in request.headers}
    assert headers["md-session-token"] == TOKEN
    assert headers["accept"] == MEDIA and headers["content-type"] == MEDIA
    assert headers["user-agent"].startswith("nexus-micro/")
    assert nm.build_request(TOKEN).url == "https://int-data.moneydesktop.com/micro_deposits"


@pytest.mark.parametrize(
    "token",
    ["", " ", "a b", "abc\r\nX-Evil: 1", "abc\n", "abc\r", "\tabc", "a\x00b", "a\x7fb", "a\x1bb",
     "tökén", "a\u00a0b", "a\u2028b", "abc\ud800"],
)
def test_build_request_rejects_bad_tokens(token):
    with pytest.raises(ValueError) as info:
        nm.build_request(token, base_url="https://example.com/")
    assert "S13c" in str(info.value)
    if token.strip():
        assert token not in str(info.value) and token not in repr(info.value)


@pytest.mark.parametrize("token", [None, 123, b"bytes-token"])
def test_build_request_rejects_non_string_tokens(token):
    with pytest.raises(ValueError):
        nm.build_request(token, base_url="https://example.com/")  # type: ignore[arg-type]


def test_bad_token_means_nothing_is_sent(serve):
    server = serve(ok())
    with pytest.raises(ValueError):
        nm.Client("tok\r\nen", base_url=server.url).list_microdeposits()
    assert server.count == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/",
        "http://10.0.0.1/",
        "http://192.168.1.1:8080/",
        "http://localhost.example.com/",
        "http://127.0.0.1.nip.io/",
        "http://[::2]/",
        "https://user@example.com/",
        "https://user:pw@example.com/",
        "http://user:pw@127.0.0.1/",
        "https://example.com/?a=1",
        "https://example.com/?",
        "https://example.com/#frag",
        "https://example.com/#",
        "ftp://example.com/",
        "file:///etc/passwd",
        "example.com/micro",
        "/micro_deposits",
        "",
        "https://",
        "https:///path",
        "https://example.com:99999/",
    ],
)
def test_build_request_rejects_bad_base_urls(url):
    with pytest.raises(ValueError) as info:
        nm.build_request(TOKEN, base_url=url)
    assert "S13d" in str(info.value)
    assert TOKEN not in str(info.value)


@pytest.mark.parametrize("url", ["https://example.com/a\nb", "https://example.com/a\r\nX-Evil: 1", "https://exa\tmple.com/"])
def test_build_request_rejects_control_characters_in_base_url(url):
    # Python's urlsplit silently drops \t \r \n before parsing, so a check made on the parts alone
    # would accept these and build a URL holding control characters (S13d: not a valid URL).
    with pytest.raises(ValueError):
        nm.build_request(TOKEN, base_url=url)


@pytest.mark.parametrize(
    "url, expected",
    [
        ("http://127.0.0.1", "http://127.0.0.1/micro_deposits"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/micro_deposits"),
        ("http://127.9.8.7/x", "http://127.9.8.7/x/micro_deposits"),
        ("http://localhost", "http://localhost/micro_deposits"),
        ("http://LOCALHOST:9/", "http://LOCALHOST:9/micro_deposits"),
        ("http://[::1]", "http://[::1]/micro_deposits"),
        ("http://[::1]:8443/api/", "http://[::1]:8443/api/micro_deposits"),
        ("https://data.moneydesktop.com/", "https://data.moneydesktop.com/micro_deposits"),
    ],
)
def test_build_request_accepts(url, expected):
    assert nm.build_request(TOKEN, base_url=url).url == expected


def test_client_rejects_bad_base_url_at_construction():
    with pytest.raises(ValueError):
        nm.Client(TOKEN, base_url="http://example.com/")


# ============================================================================ S22: secrets

def test_token_not_in_request_or_client_repr(serve):
    request = nm.build_request(TOKEN, base_url="https://example.com/")
    for text in (repr(request), str(request), f"{request}", f"{request!r}"):
        assert TOKEN not in text
    assert "<redacted>" in repr(request)
    server = serve(ok())
    c = client(server)
    c2 = nm.Client(base_url=server.url, token_provider=lambda: TOKEN)
    c2.list_microdeposits()
    for obj in (c, c2):
        assert TOKEN not in repr(obj) and TOKEN not in str(obj)


@pytest.mark.parametrize(
    "status, body, headers",
    [
        (401, {"error": {"code": "4010", "message": f"token {TOKEN} is not valid"}}, []),
        (401, {"error": {"code": "4011", "message": f"token {TOKEN} expired"}}, []),
        (400, {"code": TOKEN, "message": TOKEN}, []),
        (500, {"error": TOKEN}, []),
        (403, {}, [("X-Request-Id", f"req-{TOKEN}")]),
        (404, {}, [("Request-Id", TOKEN)]),
    ],
)
def test_hostile_server_echoing_the_token_in_json_is_redacted(serve, status, body, headers):
    server = serve(json_reply(status, body, headers))
    exc = fails(server, nm.HTTPError, max_retries=0)  # fails() checks str, repr and the traceback
    assert "<redacted>" in str(exc)


def test_hostile_echo_is_not_kept_in_the_error_attributes(serve):
    # S22a: the token never appears in an error message. HTTPError.message is that message, and
    # request_id / location are shown to people and logged by callers just the same.
    server = serve(json_reply(401, {"error": {"code": "4010", "message": f"bad {TOKEN}"}}, [("X-Request-Id", TOKEN)]))
    exc = fails(server, nm.Unauthorized)
    assert TOKEN not in repr(vars(exc))
    server2 = serve(reply(302, "", [("Location", f"https://evil.invalid/?t={TOKEN}")]))
    exc2 = fails(server2, nm.UnexpectedRedirect)
    assert TOKEN not in repr(vars(exc2))


@pytest.mark.parametrize("status", [401, 418, 500])
def test_hostile_server_echoing_the_token_in_plain_text_is_redacted(serve, status):
    server = serve(reply(status, f"Bad token: {TOKEN}", content_type="text/plain"))
    exc = fails(server, nm.HTTPError, max_retries=0)
    assert "<redacted>" in str(exc)


def _assert_no_token_fragment(text: str, size: int = 8) -> None:
    for i in range(len(TOKEN) - size + 1):
        assert TOKEN[i:i + size] not in text, f"token fragment {TOKEN[i:i + size]!r} leaked"


@pytest.mark.parametrize("cut", range(175, 200, 4))
def test_no_part_of_the_token_leaks_when_the_echoed_message_is_cut(serve, cut):
    # The shown message is cut at 200 characters: if it is cut before redaction, the first
    # characters of the token survive (S22a: the token never appears in an error message).
    server = serve(json_reply(401, {"error": {"code": "4010", "message": "m" * cut + TOKEN}}))
    exc = fails(server, nm.Unauthorized)
    _assert_no_token_fragment(str(exc))
    _assert_no_token_fragment(repr(exc))


def test_no_part_of_the_token_leaks_when_the_echoed_request_id_is_cut(serve):
    # The request id is cut at 100 characters, before redaction.
    server = serve(json_reply(403, {}, [("X-Request-Id", "r" * 90 + TOKEN)]))
    exc = fails(server, nm.Forbidden)
    _assert_no_token_fragment(str(exc))


def test_no_part_of_the_token_leaks_from_a_plain_text_excerpt(serve):
    body = "x" * 70 + TOKEN  # the plain-text excerpt keeps 80 characters
    server = serve(reply(502, body, content_type="text/plain"))
    exc = fails(server, nm.ServerError, max_retries=0)
    _assert_no_token_fragment(str(exc))


def test_a_token_with_a_backslash_echoed_in_plain_text_is_redacted(serve):
    # The plain-text excerpt is shown with repr(), which doubles backslashes: redacting the raw
    # token then misses it, and the token is readable in the message.
    token = "abc\\def-7Q2Z9-secret"
    server = serve(reply(500, f"bad token {token}", content_type="text/plain"))
    c = nm.Client(token, base_url=server.url, timeout=1.0, max_retries=0)
    with pytest.raises(nm.ServerError) as info:
        c.list_microdeposits()
    text = str(info.value)
    assert token not in text
    assert repr(token)[1:-1] not in text


def test_token_not_in_transport_or_timeout_errors(serve):
    for responder, cls in ((stall(10), nm.Timeout), (reset(), nm.TransportError)):
        server = serve(responder)
        fails(server, cls, timeout=0.3, max_retries=0)


# ============================================================================ threads

def test_twenty_threads_share_one_client(serve):
    server = serve(ok())
    c = client(server, timeout=2.0)
    results, errors = [], []

    def work():
        try:
            results.append(c.list_microdeposits())
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert errors == []
    assert len(results) == 20
    assert all(r[0].guid == RECORD["guid"] for r in results)
    assert server.count == 20
    assert all(s.token == TOKEN for s in server.requests)


def test_twenty_threads_share_one_token_refresh(serve):
    calls = []
    lock = threading.Lock()

    def provider():
        with lock:
            calls.append(1)
        time.sleep(0.05)  # make a racing second refresh likely if it can happen
        return NEW_TOKEN

    gate = threading.Barrier(20)
    server = serve(by_token(NEW_TOKEN, ok(), json_reply(401, {"error": {"code": "4011"}})))
    c = client(server, session_token=TOKEN, token_provider=provider, timeout=2.0, max_retries=0)
    results, errors = [], []

    def work():
        gate.wait()
        try:
            results.append(c.list_microdeposits())
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert errors == []
    assert len(results) == 20
    assert len(calls) == 1
    assert all(s.token in (TOKEN, NEW_TOKEN) for s in server.requests)
    assert sum(s.token == NEW_TOKEN for s in server.requests) == 20


# ============================================================================ logging

def _log_text(caplog) -> str:
    return "\n".join(f"{r.name} {r.levelname} {r.getMessage()}" for r in caplog.records)


def test_debug_log_of_a_call(serve, caplog):
    drifted = json.dumps({"micro_deposits": [{"micro_deposit": dict(RECORD, routing_number=91000019, status="2")}]})
    server = serve(reply(503, "", [("Retry-After", "0")]), reply(200, drifted, [("X-Request-Id", "req-42")]))
    caplog.set_level(logging.DEBUG, logger="nexus_micro")
    client(server, base_url=server.url + "v1/").list_microdeposits()
    mine = [r for r in caplog.records if r.name == "nexus_micro"]
    text = _log_text(caplog)
    url = server.url + "v1/micro_deposits"
    calls = [r.getMessage() for r in mine if "GET" in r.getMessage() and url in r.getMessage()]
    assert len(calls) == 2, text
    assert "503" in calls[0] and "attempt=1" in calls[0]
    assert "200" in calls[1] and "attempt=2" in calls[1] and "req-42" in calls[1]
    assert all("elapsed_ms=" in m for m in calls)
    assert "drift" in text and "routing_number" in text  # drift notes, by type only
    assert TOKEN not in text
    for secret in PII:
        assert secret not in text
    assert "91000019" not in text  # drift notes name the type, never the value (S22b)


def test_debug_log_never_holds_the_token_even_when_the_server_echoes_it(serve, caplog):
    server = serve(reply(200, GOOD, [("X-Request-Id", f"req-{TOKEN}")]))
    caplog.set_level(logging.DEBUG, logger="nexus_micro")
    client(server).list_microdeposits()
    assert caplog.records, "nothing was logged"
    assert TOKEN not in _log_text(caplog)


def test_debug_log_of_a_token_refresh(serve, caplog):
    server = serve(by_token(NEW_TOKEN, ok(), json_reply(401, {})))
    caplog.set_level(logging.DEBUG, logger="nexus_micro")
    client(server, session_token=TOKEN, token_provider=lambda: NEW_TOKEN).list_microdeposits()
    text = _log_text(caplog)
    assert "401" in text and "200" in text
    assert TOKEN not in text and NEW_TOKEN not in text


def test_nothing_logged_above_debug_on_success(serve, caplog):
    server = serve(ok())
    caplog.set_level(logging.DEBUG, logger="nexus_micro")
    client(server).list_microdeposits()
    assert [r for r in caplog.records if r.name == "nexus_micro" and r.levelno > logging.DEBUG] == []
