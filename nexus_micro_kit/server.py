"""The kit's fake MX Nexus server: HTTP scenarios for the `fetch` op (SEMANTICS.md S13-S22).

A referee, not an implementation: this module never imports `nexus_micro`.

    with FakeNexus() as nexus:
        trial = nexus.prepare("rate_limited_then_ok")
        reply = adapter.fetch(**trial.fetch)       # {"ok": true, "micro_deposits": [...]} or {"ok": false, ...}
        failures = trial.judge(reply)              # [] = pass, else [(rule_id, message), ...]

`FakeNexus` runs two listeners on 127.0.0.1: the main one (the "Nexus" origin) and a second
one on another port (the "other origin", the target of the redirect scenarios). Each `prepare`
makes a fresh run id and token; the base URL is `http://127.0.0.1:PORT/<run-id>/<scenario>/`
and every request that reaches either listener for that run id (or carries its token) is
recorded for `judge`.

`judge(reply)`:
- `{"skipped": true, "reason": ...}` -> what the server saw is judged first: a request that
  broke a rule (a followed redirect, a wrong header, too many attempts, a retry too early or
  too late) is reported as for any reply, so the case fails; only when the wire was clean (an
  adapter that skips before sending anything) is the answer exactly `[("skipped", reason)]`
  (not a pass, not a failure of a rule: the caller reports it apart). A skip is not blamed for
  attempts it did not make (no "too few requests" failure);
- `{"errored": true, ...}` -> a `("errored", message)` failure, plus whatever the server saw
  that breaks a rule;
- a reply that is neither ok/error/skipped/errored -> a `("protocol", message)` failure;
- otherwise one `(rule_id, message)` per broken rule: the outcome (category or records, S12
  equality), every request's method, path, token, Accept and body (S13), the number of
  attempts (S17, S17a, S18), the time between attempts (S17b: not before Retry-After, and not
  more than SLACK after it; S17c: not more than the full-jitter cap plus SLACK), requests to
  the other origin (S19) and the token reaching it (S22a).

Retry gaps are measured on the server, from the moment the previous response was completely
written (or the server reset or closed that connection) to the arrival of the next request's
head: they include the client's connection set-up, hence SLACK.

Scenarios are data (`_SCENARIOS`, in run order) plus one small `serve_*` function each; find
one by its name. Standard library only; `python -m nexus_micro_kit serve` calls `serve()`.
"""
from __future__ import annotations

import decimal
import email.utils
import ipaddress
import json
import math
import secrets
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional

__all__ = ["SCENARIOS", "FakeNexus", "Trial", "serve", "canonical_equal"]

MEDIA_TYPE = "application/vnd.mx.nexus.v1+json"
MAX_ATTEMPTS = 3                      # S17a: default max_retries 2
MAX_RESPONSE_BYTES = 65536            # the fetch op's cap for every scenario (S20a)
SLOW_BODY_TIMEOUT = 0.5               # the slow_body trial's per-read timeout (S21a)
SLOW_BODY_STALL = 3.0                 # how long slow_body stalls (woken early on close)
SLACK = 0.75                          # allowed on top of a retry wait's upper bound: connection
                                      # set-up and scheduling on a loaded 2-core machine

Failure = tuple[str, str]


# --------------------------------------------------------------------------------------------
# Bodies
# --------------------------------------------------------------------------------------------

# The OpenAPI document's example record, verbatim (routing_number 91000019 is an integer there).
EXAMPLE_RECORD = {
    "account_name": "My Test Account",
    "account_number": "333312345",
    "account_type": 1,
    "account_type_name": "CHECKING",
    "created_at": "2021-09-01T18:29:06.000Z",
    "email": "example@example.com",
    "error_code": None,
    "error_message": None,
    "first_name": "Josh",
    "guid": "MIC-09ba578e-8448-4f7f-89e1-b62ff2517edb",
    "institution_name": "MX Bank",
    "last_name": "James",
    "routing_number": 91000019,
    "status": 1,
    "status_name": "REQUESTED",
    "updated_at": "2021-09-01T18:29:07.000Z",
    "verified_at": "2021-09-01T18:29:07.000Z",
}

# A second record as real servers send them: offsets, nulls, a missing field, an extra field.
OBSERVED_RECORD = {
    "guid": "MIC-5f1c2a70-3b1e-4c55-9d0e-7a2b6c8d9e10",
    "account_name": "Rainy Day",
    "account_number": "3333987654321",
    "account_type": 2,
    "account_type_name": "SAVINGS",
    "created_at": "2021-10-22T21:44:38.000+05:30",
    "updated_at": "2021-10-08T21:39:07+00:00",
    "verified_at": None,
    "email": "jane.doe@example.com",
    "error_code": None,
    # error_message missing on purpose (S5a)
    "first_name": "Jane",
    "last_name": "Doe",
    "institution_name": None,
    "routing_number": "091000019",
    "status": 2,
    "status_name": "DEPOSITED",
    "is_manual": True,                # extra field (S5b): true, not 1
}

OK_BODY = {
    "micro_deposits": [
        {"micro_deposit": EXAMPLE_RECORD},
        {"micro_deposit": OBSERVED_RECORD, "links": {"self": "/micro_deposits/MIC-5f1c"}},
    ],
    "pagination": {"current_page": 1, "per_page": 25, "total_entries": 2, "total_pages": 1},
}

# The canonical form of OK_BODY (S12), computed by hand from S5-S9.
OK_EXPECTED = [
    {
        "account_name": "My Test Account",
        "account_number": "333312345",
        "account_type": 1,
        "account_type_name": "CHECKING",
        "created_at": "2021-09-01T18:29:06.000000Z",
        "email": "example@example.com",
        "error_code": None,
        "error_message": None,
        "first_name": "Josh",
        "guid": "MIC-09ba578e-8448-4f7f-89e1-b62ff2517edb",
        "institution_name": "MX Bank",
        "last_name": "James",
        "routing_number": "091000019",            # S7: integer, padded to 9 digits
        "status": 1,
        "status_name": "REQUESTED",
        "updated_at": "2021-09-01T18:29:07.000000Z",
        "verified_at": "2021-09-01T18:29:07.000000Z",   # S5d: kept although not VERIFIED
        "extra": {},
    },
    {
        "account_name": "Rainy Day",
        "account_number": "3333987654321",
        "account_type": 2,
        "account_type_name": "SAVINGS",
        "created_at": "2021-10-22T16:14:38.000000Z",    # S9a: +05:30 converted to UTC
        "email": "jane.doe@example.com",
        "error_code": None,
        "error_message": None,                           # S5a: missing -> null
        "first_name": "Jane",
        "guid": "MIC-5f1c2a70-3b1e-4c55-9d0e-7a2b6c8d9e10",
        "institution_name": None,
        "last_name": "Doe",
        "routing_number": "091000019",
        "status": 2,
        "status_name": "DEPOSITED",
        "updated_at": "2021-10-08T21:39:07.000000Z",
        "verified_at": None,
        "extra": {"is_manual": True},
    },
]


def _json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode("utf-8")


def _error_body(code: Any, message: str) -> bytes:
    return _json_bytes({"error": {"code": code, "message": message}})


def _oversized_body() -> bytes:
    """Valid JSON, about 200 KB: an implementation that ignores the cap returns ok."""
    items = []
    for i in range(420):
        record = dict(EXAMPLE_RECORD, guid="MIC-%08d-8448-4f7f-89e1-b62ff2517edb" % i)
        items.append({"micro_deposit": record})
    body = _json_bytes({"micro_deposits": items})
    assert len(body) > 3 * MAX_RESPONSE_BYTES
    return body


def _truncated_prefix(size: int) -> bytes:
    """`size` bytes that are a complete JSON object padded with spaces: a client that parses
    a body cut short (instead of reporting transport_error) gets a valid document."""
    record = {k: EXAMPLE_RECORD[k] for k in ("guid", "status", "status_name", "account_type")}
    doc = _json_bytes({"micro_deposits": [{"micro_deposit": record}]})
    assert len(doc) < size
    return doc + b" " * (size - len(doc))


OK_BYTES = _json_bytes(OK_BODY)
EMPTY_BYTES = _json_bytes({"micro_deposits": []})
OVERSIZED_BYTES = _oversized_body()
TRUNCATED_DECLARED = 1000
TRUNCATED_SENT = _truncated_prefix(400)
HTML_BYTES = (b"<!DOCTYPE html>\n<html><head><title>Maintenance</title></head>"
              b"<body><h1>We'll be right back</h1></body></html>\n")


# --------------------------------------------------------------------------------------------
# S12 equality
# --------------------------------------------------------------------------------------------

_NUMBER_TYPES = (int, float, decimal.Decimal)


def canonical_equal(a: Any, b: Any) -> bool:
    """S12 equality: object members unordered, arrays in order, `true`/`false`/`null` equal only
    themselves (`True` != 1), numbers by exact mathematical value (1 == 1.0, 10**20 == 1e20)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, _NUMBER_TYPES) and isinstance(b, _NUMBER_TYPES):
        if isinstance(a, float) and not math.isfinite(a) or isinstance(b, float) and not math.isfinite(b):
            return False
        return a == b                  # Python compares int, float and Decimal exactly
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(canonical_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(canonical_equal(a[k], b[k]) for k in a)
    return False


def _first_difference(got: Any, want: Any, where: str = "micro_deposits") -> str:
    if isinstance(got, list) and isinstance(want, list):
        if len(got) != len(want):
            return "%s: %d item(s), expected %d" % (where, len(got), len(want))
        for i, (x, y) in enumerate(zip(got, want)):
            if not canonical_equal(x, y):
                return _first_difference(x, y, "%s[%d]" % (where, i))
    if isinstance(got, dict) and isinstance(want, dict):
        missing, unexpected = sorted(want.keys() - got.keys()), sorted(got.keys() - want.keys())
        if missing or unexpected:
            return "%s: missing members %s, unexpected members %s" % (where, missing, unexpected)
        for k in want:
            if not canonical_equal(got[k], want[k]):
                return _first_difference(got[k], want[k], "%s.%s" % (where, k))
    return "%s: got %s, expected %s" % (where, _short(got), _short(want))


def _short(value: Any, limit: int = 80) -> str:
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------------------------
# What the server saw
# --------------------------------------------------------------------------------------------

@dataclass
class SeenRequest:
    listener: str                      # "main" or "other"
    method: str
    path: str
    headers: list[tuple[str, str]]     # as received: names in their wire case, in order
    body_declared: Optional[int]       # Content-Length of the request, -1 if chunked, None if none
    t: float                           # time.monotonic() when the request head was read
    wall: float                        # time.time() at the same moment
    attempt: int                       # 1-based among this run's main-listener requests; 0 for "other"
    done: Optional[float] = None       # time.monotonic() when the server had written all of its
                                       # response, or reset/closed the connection (None: not yet)

    def header_values(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]


@dataclass
class _Run:
    run_id: str
    scenario: "Scenario"
    token: str
    path: str                          # "/<run-id>/<scenario>/micro_deposits"
    other_url: str                     # the same path on the other origin
    requests: list[SeenRequest] = field(default_factory=list)
    state: dict = field(default_factory=dict)   # scratch space for serve_* functions


# --------------------------------------------------------------------------------------------
# Scenario responses: one small function per scenario, called with the handler and the
# attempt number n (1, 2, ...) of this run.
# --------------------------------------------------------------------------------------------

def serve_ok(h: "_Handler", n: int) -> None:
    h.send_body(200, OK_BYTES)


def serve_empty(h: "_Handler", n: int) -> None:
    h.send_body(200, EMPTY_BYTES)


def serve_no_content_204(h: "_Handler", n: int) -> None:
    h.send_body(204, b"", length=False)


def serve_non_json_200(h: "_Handler", n: int) -> None:
    h.send_body(200, HTML_BYTES, content_type="text/html; charset=utf-8")


def serve_session_expired(h: "_Handler", n: int) -> None:
    h.send_body(401, _error_body("4011", "Session expired"))


def serve_session_expired_no_body(h: "_Handler", n: int) -> None:
    h.send_body(401, b"Unauthorized\n", content_type="text/plain")


def serve_expired_code_on_400(h: "_Handler", n: int) -> None:
    h.send_body(400, _json_bytes({"code": 4011, "message": "Session expired"}))


def serve_bad_request(h: "_Handler", n: int) -> None:
    h.send_body(400, _error_body("4001", "Bad request"))


def serve_forbidden(h: "_Handler", n: int) -> None:
    h.send_body(403, _error_body("4030", "Forbidden"))


def serve_not_found(h: "_Handler", n: int) -> None:
    h.send_body(404, _error_body("4040", "Not found"))


def serve_server_error_500(h: "_Handler", n: int) -> None:
    h.send_body(500, _error_body("5000", "Internal server error"))


def serve_rate_limited_then_ok(h: "_Handler", n: int) -> None:
    if n == 1:
        h.send_body(429, _error_body("4290", "Too many requests"), headers=[("Retry-After", "1")])
    else:
        serve_ok(h, n)


def serve_rate_limited_http_date_then_ok(h: "_Handler", n: int) -> None:
    if n == 1:
        retry_at = math.ceil(time.time() + 2.0)          # a whole second, 2 to 3 s ahead
        h.run.state["retry_at"] = retry_at
        date = email.utils.formatdate(retry_at, usegmt=True)
        h.send_body(429, _error_body("4290", "Too many requests"), headers=[("Retry-After", date)])
    else:
        serve_ok(h, n)


def serve_rate_limited_long_retry_after(h: "_Handler", n: int) -> None:
    h.send_body(429, _error_body("4290", "Too many requests"), headers=[("Retry-After", "3600")])


def serve_unavailable_then_ok(h: "_Handler", n: int) -> None:
    if n == 1:
        h.send_body(503, _error_body("5030", "Service unavailable"))
    else:
        serve_ok(h, n)


def serve_bad_gateway_then_ok(h: "_Handler", n: int) -> None:
    if n == 1:
        h.send_body(502, b"<html><body>502 Bad Gateway</body></html>", content_type="text/html")
    else:
        serve_ok(h, n)


def serve_retries_exhausted(h: "_Handler", n: int) -> None:
    if n < MAX_ATTEMPTS:
        h.send_body(503, _error_body("5030", "Service unavailable"))
    else:                                                # the last attempt decides (S17a)
        h.send_body(429, _error_body("4290", "Too many requests"))


def serve_reset_then_ok(h: "_Handler", n: int) -> None:
    if n == 1:
        h.reset()
    else:
        serve_ok(h, n)


def serve_slow_body(h: "_Handler", n: int) -> None:
    h.send_head(200, length=len(OK_BYTES))
    h.write(OK_BYTES[:10])
    h.stall(SLOW_BODY_STALL)
    h.abort()                                            # never send the rest


def serve_truncated(h: "_Handler", n: int) -> None:
    h.send_head(200, length=TRUNCATED_DECLARED)
    h.write(TRUNCATED_SENT)
    h.abort()                                            # FIN after 400 of 1000 bytes


def serve_broken_chunked(h: "_Handler", n: int) -> None:
    h.send_head(200, chunked=True)
    h.write(b"%x\r\n%s\r\n" % (len(EMPTY_BYTES), EMPTY_BYTES))
    h.write(b"zz\r\nthis is not a chunk\r\n")            # not a hex chunk size
    h.abort()


def serve_oversized(h: "_Handler", n: int) -> None:
    h.send_body(200, OVERSIZED_BYTES)


def serve_oversized_chunked(h: "_Handler", n: int) -> None:
    h.send_head(200, chunked=True)
    step = 16384
    for i in range(0, len(OVERSIZED_BYTES), step):
        part = OVERSIZED_BYTES[i:i + step]
        h.write(b"%x\r\n%s\r\n" % (len(part), part))
    h.write(b"0\r\n\r\n")


def serve_redirect_cross_origin(h: "_Handler", n: int) -> None:
    h.send_body(302, b"", headers=[("Location", h.run.other_url)])


def serve_redirect_307(h: "_Handler", n: int) -> None:
    h.send_body(307, b"", headers=[("Location", h.run.other_url)])


def serve_token_injection(h: "_Handler", n: int) -> None:
    serve_ok(h, n)                                       # whatever comes, the judge fails it (S13c)


def serve_other_origin(h: "_Handler", n: int) -> None:
    """The second listener: a valid empty list, so a client that follows a redirect gets ok."""
    h.send_body(200, EMPTY_BYTES)


# --------------------------------------------------------------------------------------------
# Extra checks on timing
# --------------------------------------------------------------------------------------------

def _jitter_cap(n: int) -> float:
    """S17c: the longest wait before retry n (1, 2, ...) without Retry-After."""
    return min(8.0, 0.5 * 2 ** (n - 1))


def _gap(before: SeenRequest, after: SeenRequest) -> Optional[float]:
    """Seconds from the end of `before`'s response to the arrival of `after`; None when the
    server was still busy with `before` (a client that gave up on it, e.g. a timeout)."""
    if before.done is None or before.done > after.t:
        return None
    return after.t - before.done


def _check_jitter_gaps(run: _Run, main: list[SeenRequest]) -> list[Failure]:
    """S17c: retry n comes at most min(8, 0.5 * 2^(n-1)) s (+ SLACK) after the last response."""
    failures = []
    for n in range(1, len(main)):
        gap = _gap(main[n - 1], main[n])
        cap = _jitter_cap(n)
        if gap is not None and gap > cap + SLACK:
            failures.append(("S17c", "retry %d came %.3f s after the previous response ended; "
                             "full jitter waits at most %.2f s (%.2f s of slack allowed)"
                             % (n, gap, cap, SLACK)))
    return failures


def _check_gap_after_retry_after_seconds(run: _Run, main: list[SeenRequest]) -> list[Failure]:
    if len(main) < 2:
        return []
    if main[1].t - main[0].t < 0.95:
        return [("S17b", "retried %.3f s after a 429 with Retry-After: 1 (must wait at least 1 s)"
                 % (main[1].t - main[0].t))]
    gap = _gap(main[0], main[1])
    if gap is not None and gap > 1.0 + SLACK:
        return [("S17b", "retried %.3f s after the 429 with Retry-After: 1 ended (must wait "
                 "exactly 1 s, no jitter; %.2f s of slack allowed)" % (gap, SLACK))]
    return []


def _check_gap_after_retry_after_date(run: _Run, main: list[SeenRequest]) -> list[Failure]:
    retry_at = run.state.get("retry_at")
    if len(main) < 2 or retry_at is None:
        return []
    if main[1].wall < retry_at - 1.0:
        return [("S17b", "retried %.3f s before the Retry-After HTTP-date (1 s of rounding slack "
                 "allowed)" % (retry_at - main[1].wall))]
    late = main[1].wall - retry_at
    if late > 1.0 + SLACK:
        gap = _gap(main[0], main[1])
        return [("S17b", "retried %.3f s after the Retry-After HTTP-date (%s after the 429 "
                 "ended); must wait exactly until that date (1 s of rounding and %.2f s of "
                 "slack allowed)" % (late, "?" if gap is None else "%.3f s" % gap, SLACK))]
    return []


# --------------------------------------------------------------------------------------------
# The scenarios
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Scenario:
    name: str
    rules: tuple[str, ...]             # rules[0] is the rule a wrong outcome is reported under
    summary: str
    serve: Callable[["_Handler", int], None]
    expect: str                        # "ok" or an error category
    records: Optional[list] = None     # the canonical records when expect == "ok"
    attempts: tuple[int, int] = (1, 1)  # allowed number of requests to the main listener
    count_rule: str = "S17"            # the rule a wrong number of attempts is reported under
    timeout: Optional[float] = None    # overrides prepare(timeout=...) when set
    token_suffix: str = ""             # appended to the random token
    check: Optional[Callable[[_Run, list[SeenRequest]], list[Failure]]] = None


_SCENARIOS: list[Scenario] = [
    Scenario("ok", ("S14", "S12", "S13a", "S13b"),
             "200 with the OpenAPI example record and an observed one -> ok, exact canonical "
             "records; 1 request", serve_ok, "ok", OK_EXPECTED),
    Scenario("empty", ("S14", "S2"),
             '200 {"micro_deposits": []} -> ok, no records; 1 request', serve_empty, "ok", []),
    Scenario("no_content_204", ("S14", "S1c"),
             "204 with an empty body -> malformed_response; 1 request",
             serve_no_content_204, "malformed_response"),
    Scenario("non_json_200", ("S1c", "S14", "S17"),
             "200 with an HTML body -> malformed_response, not retried; 1 request",
             serve_non_json_200, "malformed_response"),
    Scenario("session_expired", ("S14", "S15", "S18"),
             "401 with error code 4011 -> session_expired, no retry without a token provider; "
             "1 request", serve_session_expired, "session_expired", count_rule="S18"),
    Scenario("session_expired_no_body", ("S14", "S15", "S18"),
             "401 with a plain-text body (no code) -> unauthorized, no retry; 1 request",
             serve_session_expired_no_body, "unauthorized", count_rule="S18"),
    Scenario("expired_code_on_400", ("S14", "S15", "S17"),
             '400 with top-level {"code": 4011} -> session_expired (4011 with any status); '
             "1 request", serve_expired_code_on_400, "session_expired"),
    Scenario("bad_request", ("S14", "S17"),
             "400 with code 4001 -> http_error, 4xx not retried; 1 request",
             serve_bad_request, "http_error"),
    Scenario("forbidden", ("S14", "S17"),
             "403 -> forbidden, not retried; 1 request", serve_forbidden, "forbidden"),
    Scenario("not_found", ("S14", "S17"),
             "404 -> not_found, not retried; 1 request", serve_not_found, "not_found"),
    Scenario("server_error_500", ("S14", "S17"),
             "500 -> server_error, 500 not retried; 1 request",
             serve_server_error_500, "server_error"),
    Scenario("rate_limited_then_ok", ("S17b", "S16", "S17"),
             "429 with Retry-After: 1, then 200 -> ok; 2 requests, at least 1 s apart, the "
             "second at most 1 s + SLACK after the 429",
             serve_rate_limited_then_ok, "ok", OK_EXPECTED, attempts=(2, 2),
             check=_check_gap_after_retry_after_seconds),
    Scenario("rate_limited_http_date_then_ok", ("S17b", "S16", "S17"),
             "429 with Retry-After as an IMF-fixdate 2-3 s ahead, then 200 -> ok; 2 requests, "
             "the second not before the date nor more than 1 s + SLACK after it (1 s of "
             "rounding slack each way)",
             serve_rate_limited_http_date_then_ok, "ok", OK_EXPECTED, attempts=(2, 2),
             check=_check_gap_after_retry_after_date),
    Scenario("rate_limited_long_retry_after", ("S17b", "S16", "S14"),
             "429 with Retry-After: 3600 (over the 60 s cap) -> rate_limited, no retry; 1 request",
             serve_rate_limited_long_retry_after, "rate_limited", count_rule="S17b"),
    Scenario("unavailable_then_ok", ("S17", "S17c"),
             "503, then 200 -> ok; 2 requests, the retry within 0.5 s + SLACK",
             serve_unavailable_then_ok, "ok", OK_EXPECTED, attempts=(2, 2),
             check=_check_jitter_gaps),
    Scenario("bad_gateway_then_ok", ("S17", "S17c"),
             "502 with an HTML body, then 200 -> ok; 2 requests, the retry within 0.5 s + SLACK",
             serve_bad_gateway_then_ok, "ok", OK_EXPECTED, attempts=(2, 2),
             check=_check_jitter_gaps),
    Scenario("retries_exhausted", ("S17a", "S17", "S17c", "S14"),
             "503, 503, then 429 without Retry-After -> rate_limited (the last attempt's "
             "outcome); 3 requests, retries within 0.5 s and 1 s (+ SLACK)",
             serve_retries_exhausted, "rate_limited", attempts=(3, 3), count_rule="S17a",
             check=_check_jitter_gaps),
    Scenario("reset_then_ok", ("S17", "S17c"),
             "first connection reset (RST) without a response, then 200 -> ok; 2 requests, "
             "the retry within 0.5 s + SLACK", serve_reset_then_ok, "ok", OK_EXPECTED,
             attempts=(2, 2), check=_check_jitter_gaps),
    Scenario("slow_body", ("S21a", "S17", "S17a"),
             "200 headers and 10 bytes, then a 3 s stall (timeout 0.5 s) -> timeout, retried; "
             "3 requests (retry timing not judged: the server cannot see when the client gave "
             "up)", serve_slow_body, "timeout", attempts=(3, 3),
             count_rule="S17a", timeout=SLOW_BODY_TIMEOUT),
    Scenario("truncated", ("S20b", "S17", "S17a", "S17c"),
             "200, Content-Length: 1000, 400 bytes (a valid JSON prefix) then close -> "
             "transport_error, never parsed, retried; 3 requests, retries within 0.5 s and 1 s "
             "(+ SLACK)", serve_truncated, "transport_error", attempts=(3, 3), count_rule="S17a",
             check=_check_jitter_gaps),
    Scenario("broken_chunked", ("S20b", "S17", "S17a", "S17c"),
             "200 chunked, a valid chunk then a bad chunk-size line -> transport_error, "
             "retried; 3 requests, retries within 0.5 s and 1 s (+ SLACK)",
             serve_broken_chunked, "transport_error", attempts=(3, 3), count_rule="S17a",
             check=_check_jitter_gaps),
    Scenario("oversized", ("S20a", "S17"),
             "200 with a ~200 KB valid JSON body and Content-Length, cap 65536 -> "
             "response_too_large, not retried; 1 request", serve_oversized,
             "response_too_large"),
    Scenario("oversized_chunked", ("S20a", "S17"),
             "200 chunked (no Content-Length), ~200 KB valid JSON, cap 65536 -> "
             "response_too_large, not retried; 1 request", serve_oversized_chunked,
             "response_too_large"),
    Scenario("redirect_cross_origin", ("S19", "S22a", "S14"),
             "302 to the same path on another origin -> unexpected_redirect; 1 request, nothing "
             "reaches the other origin", serve_redirect_cross_origin, "unexpected_redirect"),
    Scenario("redirect_307", ("S19", "S22a", "S14"),
             "307 to the same path on another origin -> unexpected_redirect; 1 request, nothing "
             "reaches the other origin", serve_redirect_307, "unexpected_redirect"),
    Scenario("token_injection", ("S13c",),
             'token ending in "\\r\\nX-Injected: 1" -> invalid_argument; no request at all',
             serve_token_injection, "invalid_argument", attempts=(0, 0), count_rule="S13c",
             token_suffix="\r\nX-Injected: 1"),
]

_BY_NAME: dict[str, Scenario] = {s.name: s for s in _SCENARIOS}
assert len(_BY_NAME) == len(_SCENARIOS)

SCENARIOS: dict[str, str] = {
    s.name: "%s [%s]" % (s.summary, ", ".join(s.rules)) for s in _SCENARIOS
}


# --------------------------------------------------------------------------------------------
# Trial: one prepared scenario run, and its judge
# --------------------------------------------------------------------------------------------

class Trial:
    """One run of one scenario. `fetch` holds the fetch op's fields (minus seq/op)."""

    def __init__(self, nexus: "FakeNexus", run: _Run, timeout: float):
        self._nexus = nexus
        self._run = run
        self.scenario: str = run.scenario.name
        self.rules: list[str] = list(run.scenario.rules)
        self.run_id: str = run.run_id
        self.fetch: dict = {
            "base_url": "%s%s/%s/" % (nexus.url, run.run_id, run.scenario.name),
            "token": run.token,
            "timeout": timeout,
            "max_response_bytes": MAX_RESPONSE_BYTES,
        }

    @property
    def description(self) -> str:
        return SCENARIOS[self.scenario]

    @property
    def requests(self) -> list[SeenRequest]:
        """A copy of what the server saw for this trial so far (both listeners)."""
        with self._nexus._lock:
            return list(self._run.requests)

    def __repr__(self) -> str:
        return "Trial(%r, run_id=%r)" % (self.scenario, self.run_id)

    # -- judging ---------------------------------------------------------------------------

    def judge(self, reply: dict) -> list[Failure]:
        if not isinstance(reply, dict):
            return [("protocol", "the reply is not a JSON object")]
        if reply.get("skipped") is True:
            # The wire first: a skip does not excuse what was already sent (a followed
            # redirect that carried the token, say). Only a clean wire makes a skip.
            wire = self._judge_requests(skipped=True)
            if wire:
                return wire
            return [("skipped", str(reply.get("reason") or "skipped by the adapter"))]
        failures: list[Failure] = []
        if reply.get("errored") is True:
            failures.append(("errored", "the implementation crashed: %s"
                             % _excerpt(reply.get("message"))))
        else:
            failures.extend(self._judge_outcome(reply))
        failures.extend(self._judge_requests())
        return failures

    def _judge_outcome(self, reply: dict) -> list[Failure]:
        sc = self._run.scenario
        rule = sc.rules[0]
        if reply.get("ok") is True:
            records = reply.get("micro_deposits")
            if not isinstance(records, list):
                return [("protocol", "ok reply without a micro_deposits list")]
            if sc.expect != "ok":
                return [(rule, "expected error %r, got ok with %d record(s)" % (sc.expect, len(records)))]
            if not canonical_equal(records, sc.records):
                return [("S12", "records differ from the expected canonical form: "
                         + _first_difference(records, sc.records))]
            return []
        if reply.get("ok") is False:
            error = reply.get("error")
            if sc.expect == "ok":
                return [(rule, "expected ok, got error %s" % _short(error))]
            if error != sc.expect:
                return [(rule, "expected error %r, got %s" % (sc.expect, _short(error)))]
            return []
        return [("protocol", "the reply has neither ok, skipped nor errored")]

    def _judge_requests(self, *, skipped: bool = False) -> list[Failure]:
        """What the server saw. `skipped`: the adapter made no claim about the call, so too few
        attempts (none, typically) are not held against it; everything it did send is judged."""
        sc = self._run.scenario
        seen = self.requests
        main = [r for r in seen if r.listener == "main"]
        other = [r for r in seen if r.listener == "other"]
        failures: list[Failure] = []

        if sc.attempts == (0, 0):
            if seen:
                failures.append((sc.count_rule, "an invalid token must be refused before sending "
                                 "anything, but the server saw %d request(s)" % len(seen)))
            return failures

        failures.extend(self._check_each_request(main))

        lo, hi = sc.attempts
        if len(main) > MAX_ATTEMPTS:
            failures.append(("S17a", "%d requests: more than %d attempts (max_retries 2)"
                             % (len(main), MAX_ATTEMPTS)))
        elif len(main) > hi or len(main) < lo and not skipped:
            want = str(lo) if lo == hi else "%d to %d" % (lo, hi)
            failures.append((sc.count_rule, "%d request(s), expected %s" % (len(main), want)))

        if sc.check is not None:
            failures.extend(sc.check(self._run, main))

        if other:
            failures.append(("S19", "followed a redirect: %d request(s) reached the other origin"
                             % len(other)))
            if any(self._run.token in v for r in other for _, v in r.headers):
                failures.append(("S22a", "the session token was sent to another origin"))
        return failures

    def _check_each_request(self, main: list[SeenRequest]) -> list[Failure]:
        """S13a/S13b on every request; one failure per kind, naming the attempts."""
        token = self._run.token
        bad: dict[tuple[str, str], list[int]] = {}

        def note(rule: str, what: str, attempt: int) -> None:
            bad.setdefault((rule, what), []).append(attempt)

        for r in main:
            if r.method != "GET":
                note("S13a", "method %s, expected GET" % r.method, r.attempt)
            if r.path != self._run.path:
                note("S13a", "path %s, expected %s" % (_short(r.path), self._run.path), r.attempt)
            if r.body_declared not in (None, 0):
                note("S13a", "the request has a body", r.attempt)
            tokens = r.header_values("MD-SESSION-TOKEN")
            if not tokens:
                note("S13b", "no MD-SESSION-TOKEN header", r.attempt)
            elif len(tokens) > 1:
                note("S13b", "%d MD-SESSION-TOKEN headers" % len(tokens), r.attempt)
            elif tokens[0] != token:
                note("S13b", "MD-SESSION-TOKEN is not the session token byte for byte "
                     "(%d characters, expected %d)" % (len(tokens[0]), len(token)), r.attempt)
            accepts = r.header_values("Accept")
            types = [part.split(";")[0].strip().lower() for v in accepts for part in v.split(",")]
            if MEDIA_TYPE not in types:
                note("S13b", "Accept is %s, expected %s" % (_short(accepts) if accepts else "missing",
                                                            MEDIA_TYPE), r.attempt)
        return [(rule, "%s (attempt %s)" % (what, ", ".join(map(str, attempts))))
                for (rule, what), attempts in bad.items()]


def _excerpt(text: Any, limit: int = 200) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= limit else text[:limit] + "..."


# --------------------------------------------------------------------------------------------
# The HTTP side
# --------------------------------------------------------------------------------------------

class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False             # FakeNexus joins its own handler threads, with a budget
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address, nexus: "FakeNexus", listener: str):
        self.nexus = nexus
        self.listener = listener
        super().__init__(address, _Handler)

    def handle_error(self, request, client_address) -> None:  # no tracebacks on stderr
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeNexus/1"
    sys_version = ""
    timeout = 10.0                     # socket timeout: no read or write waits longer
    server: _Server

    run: _Run
    _aborted = False

    # -- bookkeeping ----------------------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        self.server.nexus._track(self.connection)

    def finish(self) -> None:
        try:
            if not self._aborted:
                super().finish()
        except OSError:
            pass
        finally:
            self.server.nexus._untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:  # quiet; never log tokens
        pass

    # -- every method ends up here ----------------------------------------------------------

    def _dispatch(self) -> None:
        nexus = self.server.nexus
        listener = self.server.listener
        declared = self._drain_request_body()
        run, seen = nexus._record(listener, self.command, self.path, list(self.headers.items()),
                                  declared)
        try:
            if run is None:
                self.send_body(404, _error_body("4040", "Unknown run"))
                return
            self.run = run
            if listener == "other":
                serve_other_origin(self, seen.attempt)
            elif self.command != "GET":
                self.send_body(405, _error_body("4050", "Method not allowed"))
            elif self.path != run.path:
                self.send_body(404, _error_body("4040", "Not found"))
            elif self.headers.get_all("MD-SESSION-TOKEN", []) != [run.token]:
                self.send_body(401, _error_body("4010", "Invalid session token"))
            else:
                run.scenario.serve(self, seen.attempt)
        except OSError:                # the client went away (reset, broken pipe, timeout)
            self.abort()
        finally:
            seen.done = time.monotonic()   # the response is written, or the connection is gone

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _dispatch

    def _drain_request_body(self) -> Optional[int]:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.close_connection = True
            return -1
        raw = self.headers.get("Content-Length")
        if raw is None:
            return None
        try:
            length = int(raw)
        except ValueError:
            self.close_connection = True
            return -1
        if length > 0:
            try:
                self.rfile.read(min(length, 1 << 20))
            except OSError:
                pass
            self.close_connection = True
        return length

    # -- tools for serve_* functions --------------------------------------------------------

    def send_head(self, status: int, *, length: Optional[int] = None, chunked: bool = False,
                  content_type: Optional[str] = MEDIA_TYPE,
                  headers: list[tuple[str, str]] = ()) -> None:
        """Status line and headers; `Connection: close` always (one request per connection)."""
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in headers:
            self.send_header(name, value)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        elif length is not None:
            self.send_header("Content-Length", str(length))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.flush()

    def send_body(self, status: int, body: bytes, *, headers: list[tuple[str, str]] = (),
                  content_type: Optional[str] = MEDIA_TYPE, length: bool = True) -> None:
        if not body and status in (204, 304):
            content_type = None
        self.send_head(status, length=len(body) if length else None,
                       content_type=content_type, headers=headers)
        if body and self.command != "HEAD":
            self.write(body)

    def write(self, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()

    def stall(self, seconds: float) -> None:
        """Sleep, but wake up at once when the server closes."""
        self.server.nexus._closing.wait(seconds)

    def abort(self) -> None:
        """Close the connection now (FIN), without finishing the response."""
        self.close_connection = True
        if self._aborted:
            return
        self._aborted = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._close_socket()

    def reset(self) -> None:
        """Close the connection with an RST (SO_LINGER 0), without any response."""
        self.close_connection = True
        self._aborted = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self._close_socket()

    def _close_socket(self) -> None:
        for closer in (self.rfile.close, self.connection.close):
            try:
                closer()
            except OSError:
                pass


class FakeNexus:
    """Two loopback listeners (main and "other origin") serving the scenarios. A context
    manager: `__enter__` starts both, `__exit__` stops both promptly (sleeping handlers wake)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        try:
            loopback = ipaddress.ip_address(host).is_loopback and ipaddress.ip_address(host).version == 4
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError("FakeNexus binds an IPv4 loopback address only, not %r" % host)
        self.host = host
        self.port = port
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._runs: dict[str, _Run] = {}
        self._by_token: dict[str, _Run] = {}
        self.unattributed: list[SeenRequest] = []   # requests that belong to no known run
        self._conns: set[socket.socket] = set()
        self._handler_threads: set[threading.Thread] = set()
        self._servers: list[_Server] = []
        self._threads: list[threading.Thread] = []

    # -- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> "FakeNexus":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def start(self) -> None:
        if self._servers:
            raise RuntimeError("FakeNexus already started")
        self._closing.clear()
        try:
            for listener, port in (("main", self.port), ("other", 0)):
                srv = _Server((self.host, port), self, listener)
                self._servers.append(srv)
                t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                                     name="FakeNexus-%s" % listener, daemon=True)
                t.start()
                self._threads.append(t)
        except BaseException:
            self.close()
            raise

    def close(self, budget: float = 2.0) -> None:
        self._closing.set()                         # wake stalled handlers first
        for srv, t in zip(self._servers, self._threads):
            srv.shutdown()
            srv.server_close()
            t.join(budget)
        with self._lock:
            conns = list(self._conns)
            threads = list(self._handler_threads)
        for conn in conns:                          # unblock reads and writes
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        end = time.monotonic() + budget
        for t in threads:
            t.join(max(0.0, end - time.monotonic()))
        self._servers, self._threads = [], []

    # -- addresses ------------------------------------------------------------------------

    def _address(self, index: int) -> str:
        if not self._servers:
            raise RuntimeError("FakeNexus is not started (use it as a context manager)")
        host, port = self._servers[index].server_address[:2]
        return "http://%s:%d/" % (host, port)

    @property
    def url(self) -> str:
        """The main listener, e.g. "http://127.0.0.1:40321/"."""
        return self._address(0)

    @property
    def other_url(self) -> str:
        """The second listener (the "other origin" of the redirect scenarios)."""
        return self._address(1)

    # -- trials ---------------------------------------------------------------------------

    def prepare(self, scenario: str, *, timeout: float = 2.0) -> Trial:
        sc = _BY_NAME.get(scenario)
        if sc is None:
            raise ValueError("unknown scenario %r (known: %s)" % (scenario, ", ".join(SCENARIOS)))
        run_id = secrets.token_hex(8)
        path = "/%s/%s/micro_deposits" % (run_id, sc.name)
        run = _Run(run_id=run_id, scenario=sc, token=secrets.token_urlsafe(24) + sc.token_suffix,
                   path=path, other_url=self.other_url.rstrip("/") + path)
        with self._lock:
            self._runs[run_id] = run
            self._by_token[run.token] = run
        return Trial(self, run, sc.timeout if sc.timeout is not None else timeout)

    def _record(self, listener: str, method: str, path: str, headers: list[tuple[str, str]],
                declared: Optional[int]) -> tuple[Optional[_Run], SeenRequest]:
        seen = SeenRequest(listener, method, path, headers, declared, time.monotonic(),
                           time.time(), 0)
        segments = path.split("/")
        with self._lock:
            run = self._runs.get(segments[1]) if len(segments) > 1 else None
            if run is None:                          # a client that lost the base path
                for name, value in headers:
                    if name.lower() == "md-session-token" and value in self._by_token:
                        run = self._by_token[value]
                        break
            if run is None:
                self.unattributed.append(seen)
                return None, seen
            if listener == "main":
                seen.attempt = 1 + sum(1 for r in run.requests if r.listener == "main")
            run.requests.append(seen)
        return run, seen

    def _track(self, conn: socket.socket) -> None:
        with self._lock:
            self._conns.add(conn)
            self._handler_threads.add(threading.current_thread())

    def _untrack(self, conn: socket.socket) -> None:
        with self._lock:
            self._conns.discard(conn)
            self._handler_threads.discard(threading.current_thread())


# --------------------------------------------------------------------------------------------
# python -m nexus_micro_kit serve
# --------------------------------------------------------------------------------------------

def serve(host: str = "127.0.0.1", port: int = 0) -> None:
    """Start a FakeNexus, print its URL and one prepared trial per scenario, block until Ctrl-C."""
    with FakeNexus(host, port) as nexus:
        print("fake Nexus on %s (other origin %s)" % (nexus.url, nexus.other_url), flush=True)
        for name in SCENARIOS:
            trial = nexus.prepare(name)
            print("%-32s %smicro_deposits  token=%s"
                  % (name, trial.fetch["base_url"], json.dumps(trial.fetch["token"])))
        print("Ctrl-C to stop.", flush=True)
        try:
            while not nexus._closing.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
