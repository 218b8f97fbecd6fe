"""The kit's fake MX Nexus server: HTTP scenarios for the `fetch` op (SEMANTICS.md S13-S22).

A referee, not an implementation: this module never imports `nexus_micro`.

    with FakeNexus() as nexus:
        trial = nexus.prepare("rate_limited_then_ok")
        reply = adapter.fetch(**trial.fetch)       # {"ok": true, "micro_deposits": [...]} or {"ok": false, ...}
        failures = trial.judge(reply, features=adapter_features)   # [] = pass, else [(rule_id, message), ...]

`FakeNexus` runs two listeners on 127.0.0.1: the main one (the "Nexus" origin) and a second
one on another port (the "other origin", the target of the redirect scenarios). Scenarios that
play a fault below HTTP (a refused or never-completing connect, a reset at accept, a TLS
certificate nobody trusts) get a port of their own from `prepare`, so that every connection to
it belongs to that trial. Each `prepare` makes a fresh run id and token; the base URL is
`http://127.0.0.1:PORT/<run-id>/<scenario>/` (or the scenario's own form, for the S13d base URL
cases), and every request that reaches a listener for that run id (or carries its token) is
recorded for `judge`.

`judge(reply, features=())` (`features`: what the adapter's start reply listed):
- `{"skipped": true, "reason": ...}` -> what the server saw is judged first: a request that
  broke a rule (a followed redirect, a wrong header, too many attempts, a retry too early or
  too late) is reported as for any reply, so the case fails; only when the wire was clean (an
  adapter that skips before sending anything) is the answer exactly `[("skipped", reason)]`;
  a skip is not blamed for attempts it did not make;
- `{"errored": true, ...}` -> a `("errored", message)` failure, plus whatever the server saw
  that breaks a rule;
- a reply that is neither ok/error/skipped/errored -> a `("protocol", message)` failure;
- otherwise one `(rule_id, message)` per broken rule: the outcome (category, or records by S12
  equality, and with the `drift` feature the drift notes exactly, S11), every request's
  method, target, token, Accept and body (S13), the number of attempts (S17, S17a, S18), the
  time between attempts (S17b, S17c), how long the client waited on a stalled or trickling
  response before giving up (S20c, S21a, S21b), requests to the other origin (S19) and the
  token reaching it (S22a). Secrets in the reply itself are the runner's to check.

Times are measured on the server: a request's arrival is when its head was read; a response
ends when the server has written it (or reset or closed the connection); a client "gave up"
when the server saw it close the connection while the server was stalling or trickling. A
retry gap runs from the end of the previous response (or the give-up) to the next request's
arrival, so it includes the client's connection set-up: hence SLACK. Requests are counted, not
connections: responses that precede another attempt allow keep-alive, so a pooling client may
send its retry on the same connection; every response after which no request is due closes
its connection, so that no trial's connection is reused by the next trial.

Scenarios are data (`_SCENARIOS`, in run order) plus one small `serve_*` function each; find
one by its name. `scenarios_markdown()` renders them as the scenario table of the kit README. Standard
library only; `python -m nexus_micro_kit serve` calls `serve()`.
"""
from __future__ import annotations

import calendar
import decimal
import email.utils
import functools
import http
import ipaddress
import json
import math
import secrets
import select
import shlex
import socket
import ssl
import struct
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Tuple

__all__ = [
    "SCENARIOS",
    "SCENARIO_FEATURES",
    "FakeNexus",
    "Trial",
    "canonical_equal",
    "scenarios_markdown",
    "serve",
]

MEDIA_TYPE = "application/vnd.mx.nexus.v1+json"
MAX_ATTEMPTS = 3                      # S17a: default max_retries 2
MAX_RESPONSE_BYTES = 65536            # the fetch op's cap for every scenario (S20a)
ERROR_BODY_CAP = 65536                # S20c: error bodies are read up to 64 KiB
RETRY_AFTER_CAP = 60                  # S17b
SLACK = 0.15                          # allowed on top of every upper time bound: connection set-up and
                                      # scheduling of client and server threads. Measured on a loaded
                                      # 2-core machine: at most 0.03 s (see the kit README, "HTTP scenarios"). Small enough
                                      # to catch a Retry-After waited twice or with jitter added
EARLY = 0.02                          # a retry may arrive this much before its Retry-After delay (two
                                      # clocks read on two threads)
EARLY_TIMEOUT = 0.1                   # a give-up may be seen this much before `timeout` has passed since
                                      # the server read the request (the client's wait starts when it has
                                      # sent it, which the server learns a little later)
FAST_TIMEOUT = 0.3                    # the `timeout` of the scenarios that stall: the kit waits for it
SLOW_BODY_TIMEOUT = FAST_TIMEOUT
STALL = 3.0                           # the longest a stall lasts (cut short when the client goes away
                                      # or the server closes)
TRICKLE_STEP = 0.05                   # a trickle writes one byte this often: each read is short
TRICKLE_LIMIT = 2.0                   # after this long a trickle sends the rest at once: a client that
                                      # is still reading gets a complete response, and fails its judge
DEADLINE = 0.6                        # the deadline of the S21b scenarios (their timeout is 2 s)
ALPHA = 1e-5                          # the false-alarm probability of each statistical backoff test
JITTER_NOISE = 0.05                   # how much a constant wait's gaps may spread by measurement alone
REFUSED_MIN = 0.005                   # three refused connects with full jitter take less very rarely

Failure = Tuple[str, str]

# What the next request must wait for, set by serve functions on the request they answer.
JITTER = ("jitter",)                  # a retry after full jitter (S17c)
REFRESH = ("refresh",)                # the repeat with the provider's fresh token (S18): not judged


def after(seconds: float) -> tuple:
    """A retry exactly `seconds` after the response ended (S17b: Retry-After delay-seconds)."""
    return ("after", float(seconds))


def until(wall: float) -> tuple:
    """A retry at the wall-clock instant `wall` (S17b: a Retry-After HTTP-date), or at once when
    that instant has passed."""
    return ("until", float(wall))


# --------------------------------------------------------------------------------------------
# Bodies
# --------------------------------------------------------------------------------------------

# The OpenAPI document's example record, verbatim (routing_number 91000019 is an integer there:
# the example violates the document's own schema, so schema checkers flag the `ok` scenario).
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

# The drift notes of OK_BODY (S11, canonical form), by hand: the integer routing number of the
# example is padded (S7). Nothing else drifts: offsets convert (S9a), a timestamp without a
# fraction is fine (S9), nulls, a missing field and an extra field are not drift (S5a, S5b).
OK_DRIFT = [{"index": 0, "field": "routing_number", "type": "integer", "action": "padded", "rule": "S7"}]


def _json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode("utf-8")


def _error_body(code: Any, message: str) -> bytes:
    return _json_bytes({"error": {"code": code, "message": message}})


def _oversized_body() -> bytes:
    """Valid JSON, about 200 KB: an implementation that ignores the cap returns ok."""
    items = []
    for i in range(420):
        record = dict(EXAMPLE_RECORD, guid=f"MIC-{i:08d}-8448-4f7f-89e1-b62ff2517edb")
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


def _expired_body_of_size(size: int) -> bytes:
    """An error body with code 4011 first and padding inside a string after it, exactly `size`
    bytes: any prefix of it is invalid JSON (S15: then no code), so only a client that read it
    all finds the 4011."""
    head, tail = b'{"error":{"code":"4011","message":"Session expired"},"padding":"', b'"}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


OK_BYTES = _json_bytes(OK_BODY)
EMPTY_BYTES = _json_bytes({"micro_deposits": []})
OVERSIZED_BYTES = _oversized_body()
TRUNCATED_DECLARED = 1000
TRUNCATED_SENT = _truncated_prefix(400)
HTML_BYTES = (b"<!DOCTYPE html>\n<html><head><title>Maintenance</title></head>"
              b"<body><h1>We'll be right back</h1></body></html>\n")
# The OK body cut after the first record's personal data (S22b): complete framing, invalid JSON.
PERSONAL_PREFIX = OK_BYTES[:OK_BYTES.index(b'"last_name":"James",') + len(b'"last_name":"James",')]
ERROR_AT_CAP = _expired_body_of_size(ERROR_BODY_CAP)
ERROR_OVER_CAP = _expired_body_of_size(ERROR_BODY_CAP + 1)
HUGE_DIGITS = "99999999999999999999999"           # more than any 64-bit integer


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
        if (isinstance(a, float) and not math.isfinite(a)) or (isinstance(b, float) and not math.isfinite(b)):
            return False
        return a == b                  # Python compares int, float and Decimal exactly
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(canonical_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(canonical_equal(a[k], b[k]) for k in a)
    return False


def _exactly_equal(a: Any, b: Any) -> bool:
    """S11: drift notes compare member by member exactly (0 is not 0.0 or false)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _first_difference(got: Any, want: Any, where: str = "micro_deposits") -> str:
    if isinstance(got, list) and isinstance(want, list):
        if len(got) != len(want):
            return f"{where}: {len(got)} item(s), expected {len(want)}"
        for i, (x, y) in enumerate(zip(got, want)):
            if not canonical_equal(x, y):
                return _first_difference(x, y, f"{where}[{i}]")
    if isinstance(got, dict) and isinstance(want, dict):
        missing, unexpected = sorted(want.keys() - got.keys()), sorted(got.keys() - want.keys())
        if missing or unexpected:
            return f"{where}: missing members {missing}, unexpected members {unexpected}"
        for k in want:
            if not canonical_equal(got[k], want[k]):
                return _first_difference(got[k], want[k], f"{where}.{k}")
    return f"{where}: got {_short(got)}, expected {_short(want)}"


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
    """One request as the server saw it; listener "port" marks a bare connection to a trial's
    own port (no request was read: a reset at accept, a TLS handshake)."""

    listener: str                      # "main", "other" or "port"
    method: str
    target: str                        # the request target as sent (path, query)
    headers: list[tuple[str, str]]     # as received: names in their wire case, in order
    body_declared: int | None          # Content-Length of the request, -1 if chunked, None if none
    t: float                           # time.monotonic() when the request head was read
    wall: float                        # time.time() at the same moment
    attempt: int                       # 1-based among this run's main-listener (or port) arrivals
    conn_index: int = 1                # 1 for the first request on its connection, 2 on a reused one...
    done: float | None = None          # when the server had written all of its response, or
                                       # reset/closed the connection (None: not yet)
    gone: float | None = None          # when the client closed the connection while the server
                                       # stalled or trickled (None: not seen)
    head_sent: float | None = None     # when the final response head was written
    end_from: float | None = None      # when the write (or close) that ended the response began:
                                       # the client cannot have seen the end before (the recorded
                                       # ends come after a thread switch, up to ~10 ms late)
    last_write: float | None = None    # when the server last wrote to the client
    wait: tuple | None = None          # what the next request must wait for (JITTER, after(), ...)
    note: str = ""                     # what was played: "head", "body", "error_body", "deadline",
                                       # and for port connections "reset", "refused", "handshake",
                                       # "plaintext"
    outlasted: bool = False            # a trickle ran out while the client was still reading

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0].split("#", 1)[0]

    @property
    def ended(self) -> float | None:
        """When this attempt ended for the client: its give-up, else the response's end."""
        return self.gone if self.gone is not None else self.done

    def header_values(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    @property
    def token(self) -> str | None:
        values = self.header_values("MD-SESSION-TOKEN")
        return values[0] if len(values) == 1 else None


@dataclass
class _Run:
    run_id: str
    scenario: Scenario
    token: str
    path: str                          # "/<run-id>/<scenario>/micro_deposits"
    other_url: str                     # the same path on the other origin
    refresh_token: str | None = None
    requests: list[SeenRequest] = field(default_factory=list)
    state: dict = field(default_factory=dict)   # scratch space for serve_* functions
    port: _Port | None = None          # the trial's own listener, for faults below HTTP
    samples: list = field(default_factory=list)  # (retry n, gap, cap) of its full-jitter retries
    passed: bool | None = None         # the last judge's verdict (None: not judged yet)
    elapsed: float | None = None       # from prepare() to the first judge(): the call and its overhead

    @property
    def tokens(self) -> tuple[str, ...]:
        return (self.token,) if self.refresh_token is None else (self.token, self.refresh_token)


# --------------------------------------------------------------------------------------------
# Scenario responses: one small function per scenario, called with the handler and the
# attempt number n (1, 2, ...) of this run. `h.seen` is the request being answered.
# --------------------------------------------------------------------------------------------

def serve_ok(h: _Handler, n: int) -> None:
    h.respond(200, OK_BYTES)


def serve_empty(h: _Handler, n: int) -> None:
    h.respond(200, EMPTY_BYTES)


def serve_no_content_204(h: _Handler, n: int) -> None:
    h.respond(204, b"", length=False)


def serve_non_json_200(h: _Handler, n: int) -> None:
    h.respond(200, HTML_BYTES, content_type="text/html; charset=utf-8")


def serve_malformed_with_personal_data(h: _Handler, n: int) -> None:
    h.respond(200, PERSONAL_PREFIX)


def serve_session_expired(h: _Handler, n: int) -> None:
    h.respond(401, _error_body("4011", "Session expired"))


def serve_session_expired_no_body(h: _Handler, n: int) -> None:
    h.respond(401, b"Unauthorized\n", content_type="text/plain")


def serve_expired_code_on_400(h: _Handler, n: int) -> None:
    h.respond(400, _json_bytes({"code": 4011, "message": "Session expired"}))


def serve_bad_request(h: _Handler, n: int) -> None:
    h.respond(400, _error_body("4001", "Bad request"))


def serve_forbidden(h: _Handler, n: int) -> None:
    h.respond(403, _error_body("4030", "Forbidden"))


def serve_not_found(h: _Handler, n: int) -> None:
    h.respond(404, _error_body("4040", "Not found"))


def serve_server_error_500(h: _Handler, n: int) -> None:
    h.respond(500, _error_body("5000", "Internal server error"))


def _status(status: int, body: bytes = b"", **kwargs: Any) -> Callable[[_Handler, int], None]:
    """A serve function that answers every attempt with `status` (the status boundaries)."""

    def serve_status(h: _Handler, n: int) -> None:
        h.respond(status, body, **kwargs)

    serve_status.__name__ = f"serve_status_{status}"
    return serve_status


def _then_ok(first: Callable[[_Handler, int], None]) -> Callable[[_Handler, int], None]:
    """Attempt 1 plays `first`; every later attempt gets the OK body."""

    def serve_then_ok(h: _Handler, n: int) -> None:
        if n == 1:
            first(h, n)
        else:
            serve_ok(h, n)

    serve_then_ok.__name__ = first.__name__ + "_then_ok"
    return serve_then_ok


def _unavailable(h: _Handler, retry_after: str | None = None, *, wait: tuple | None = JITTER,
                 more: list[tuple[str, str]] = ()) -> None:
    """503, with a Retry-After value when given; keep-alive, as another attempt follows."""
    headers = list(more) if retry_after is None else [("Retry-After", retry_after), *more]
    h.respond(503, _error_body("5030", "Service unavailable"), headers=headers, keep_alive=True, wait=wait)


def serve_rate_limited_then_ok(h: _Handler, n: int) -> None:
    if n == 1:
        h.respond(429, _error_body("4290", "Too many requests"), headers=[("Retry-After", "1")],
                  keep_alive=True, wait=after(1))
    else:
        serve_ok(h, n)


def serve_rate_limited_http_date_then_ok(h: _Handler, n: int) -> None:
    if n == 1:
        retry_at = math.ceil(time.time() + 1.0)          # a whole second, 1 to 2 s ahead
        h.run.state["retry_at"] = retry_at
        h.respond(429, _error_body("4290", "Too many requests"),
                  headers=[("Retry-After", email.utils.formatdate(retry_at, usegmt=True))],
                  keep_alive=True, wait=until(retry_at))
    else:
        serve_ok(h, n)


def serve_rate_limited_long_retry_after(h: _Handler, n: int) -> None:
    h.respond(429, _error_body("4290", "Too many requests"), headers=[("Retry-After", "3600")])


def serve_unavailable_then_ok(h: _Handler, n: int) -> None:
    if n == 1:
        _unavailable(h)
    else:
        serve_ok(h, n)


def serve_unavailable_retry_after_then_ok(h: _Handler, n: int) -> None:
    if n == 1:
        _unavailable(h, "001", wait=after(1))            # leading zeros: 1 s (S16)
    else:
        serve_ok(h, n)


def serve_bad_gateway_then_ok(h: _Handler, n: int) -> None:
    if n == 1:
        h.respond(502, b"<html><body>502 Bad Gateway</body></html>", content_type="text/html",
                  keep_alive=True, wait=JITTER)
    else:
        serve_ok(h, n)


def serve_gateway_timeout_then_ok(h: _Handler, n: int) -> None:
    if n == 1:
        h.respond(504, _error_body("5040", "Gateway timeout"), keep_alive=True, wait=JITTER)
    else:
        serve_ok(h, n)


def serve_retries_exhausted(h: _Handler, n: int) -> None:
    if n < MAX_ATTEMPTS:
        _unavailable(h)
    else:                                                # the last attempt decides (S17a)
        h.respond(429, _error_body("4290", "Too many requests"), wait=JITTER)


def serve_backoff_full_jitter(h: _Handler, n: int) -> None:
    if n < MAX_ATTEMPTS:
        _unavailable(h)
    else:
        h.respond(503, _error_body("5030", "Service unavailable"), wait=JITTER)


def serve_reset_then_ok(h: _Handler, n: int) -> None:
    if n == 1:
        h.reset(wait=JITTER)
    else:
        serve_ok(h, n)


def serve_slow_body(h: _Handler, n: int) -> None:
    h.seen.wait, h.seen.note = JITTER, "body"
    h.send_head(200, [("Content-Type", MEDIA_TYPE), ("Content-Length", str(len(OK_BYTES)))])
    h.write(OK_BYTES[:10])
    if not h.wait_gone(STALL):
        h.abort()                                        # never send the rest


def serve_truncated(h: _Handler, n: int) -> None:
    h.send_head(200, [("Content-Type", MEDIA_TYPE), ("Content-Length", str(TRUNCATED_DECLARED))])
    h.write(TRUNCATED_SENT)
    h.abort(wait=JITTER)                                 # FIN after 400 of 1000 bytes


def serve_broken_chunked(h: _Handler, n: int) -> None:
    h.send_head(200, [("Content-Type", MEDIA_TYPE), ("Transfer-Encoding", "chunked")])
    h.write(b"%x\r\n%s\r\n" % (len(EMPTY_BYTES), EMPTY_BYTES))
    h.write(b"zz\r\nthis is not a chunk\r\n")            # not a hex chunk size
    h.abort(wait=JITTER)


def serve_oversized(h: _Handler, n: int) -> None:
    h.respond(200, OVERSIZED_BYTES)


def serve_oversized_chunked(h: _Handler, n: int) -> None:
    h.send_head(200, [("Content-Type", MEDIA_TYPE), ("Transfer-Encoding", "chunked")])
    step = 16384
    for i in range(0, len(OVERSIZED_BYTES), step):
        part = OVERSIZED_BYTES[i:i + step]
        h.write(b"%x\r\n%s\r\n" % (len(part), part))
    h.write(b"0\r\n\r\n")
    h.seen.done = time.monotonic()


def serve_redirect_cross_origin(h: _Handler, n: int) -> None:
    h.respond(302, b"", headers=[("Location", h.run.other_url)])


def serve_redirect_307(h: _Handler, n: int) -> None:
    h.respond(307, b"", headers=[("Location", h.run.other_url)])


def serve_token_injection(h: _Handler, n: int) -> None:
    serve_ok(h, n)                                       # whatever comes, the judge fails it (S13c)


def serve_other_origin(h: _Handler, n: int) -> None:
    """The second listener: a valid empty list, so a client that follows a redirect gets ok."""
    h.respond(200, EMPTY_BYTES)


# -- S22a: the server echoes the token ----------------------------------------------------------

def _encoded_all(text: str) -> str:
    """Every byte percent-encoded, lower-case hex: `%73%65...`."""
    return "".join(f"%{b:02x}" for b in text.encode("utf-8"))


def serve_redirect_echoes_token(h: _Handler, n: int) -> None:
    location = "{}?session={}".format(h.run.other_url, urllib.parse.quote(h.run.token, safe=""))
    h.respond(302, b"", headers=[("Location", location)])


def serve_error_echoes_token(h: _Handler, n: int) -> None:
    token = h.run.token
    some = urllib.parse.quote(token, safe="").replace("%2B", "%2b")   # some characters, mixed case
    body = _json_bytes({"error": {"code": "4010", "message": f"invalid session token {_encoded_all(token)}"},
                        "token": token, "hint": some})
    h.respond(401, body, headers=[("X-Request-Id", some)])


# -- S14: interim responses ---------------------------------------------------------------------

def serve_interim_100_then_ok(h: _Handler, n: int) -> None:
    h.interim(100)
    serve_ok(h, n)


def serve_interim_102_103_199_then_ok(h: _Handler, n: int) -> None:
    h.interim(102)
    h.interim(103, [("Link", "</style.css>; rel=preload; as=style")])
    h.interim(199, [("X-Unknown-Interim", "1")])
    serve_ok(h, n)


def serve_switching_protocols_101(h: _Handler, n: int) -> None:
    h.send_head(101, [("Upgrade", "websocket"), ("Connection", "Upgrade")], keep_alive=True)
    h.write(b"\x81\x05hello")                             # a websocket frame, as if upgraded
    h.abort()


# -- S21a: the head is one wait -------------------------------------------------------------------

def _head_stall(h: _Handler, n: int) -> None:
    h.seen.wait, h.seen.note = JITTER, "head"
    h.wait_gone(STALL)                                   # the request was read; nothing is sent


def _head_trickle(h: _Handler, n: int) -> None:
    h.seen.wait, h.seen.note = JITTER, "head"
    head = h.head_bytes(200, [("Content-Type", MEDIA_TYPE), ("Content-Length", str(len(OK_BYTES)))])
    if h.trickle(head, TRICKLE_STEP, TRICKLE_LIMIT):
        h.mark_head_sent()
        h.seen.outlasted = True
        h.write(OK_BYTES)


def _interim_flood(h: _Handler, n: int) -> None:
    h.seen.wait, h.seen.note = JITTER, "head"
    started = time.monotonic()
    while time.monotonic() - started < TRICKLE_LIMIT:
        h.interim(102)
        if h.wait_gone(0.1):
            return
    h.seen.outlasted = True
    h.respond(200, OK_BYTES, wait=JITTER)


serve_head_stall_then_ok = _then_ok(_head_stall)
serve_head_trickle_then_ok = _then_ok(_head_trickle)
serve_interim_flood_then_ok = _then_ok(_interim_flood)


# -- S20c: error bodies ------------------------------------------------------------------------

def serve_error_body_cut_short(h: _Handler, n: int) -> None:
    body = _error_body("5000", "Internal server error " + "x" * 900)
    h.send_head(500, [("Content-Type", MEDIA_TYPE), ("Content-Length", str(len(body)))])
    h.write(body[:300])
    h.abort()


def serve_error_body_stalled(h: _Handler, n: int) -> None:
    body = _error_body("4040", "Not found " + "x" * 900)
    h.seen.note = "error_body"
    h.send_head(404, [("Content-Type", MEDIA_TYPE), ("Content-Length", str(len(body)))])
    h.write(body[:100])
    if not h.wait_gone(STALL):
        h.abort()


def serve_error_body_trickle(h: _Handler, n: int) -> None:
    body = _error_body("4030", "Forbidden " + "x" * 2000)
    h.seen.note = "error_body"
    h.send_head(403, [("Content-Type", MEDIA_TYPE), ("Content-Length", str(len(body)))])
    started = time.monotonic()
    for i in range(len(body)):
        if time.monotonic() - started >= TRICKLE_LIMIT:
            h.seen.outlasted = True
            break
        h.write(body[i:i + 1])
        if h.wait_gone(TRICKLE_STEP):
            return
    h.abort()


def serve_error_body_over_cap(h: _Handler, n: int) -> None:
    h.respond(401, ERROR_OVER_CAP)


def serve_error_body_at_cap(h: _Handler, n: int) -> None:
    h.respond(401, ERROR_AT_CAP)


# -- S20d: Content-Length on a 2xx --------------------------------------------------------------

def _framed(*lengths: str) -> Callable[[_Handler, int], None]:
    """Attempt k (1, 2, ...) sends the OK body with the Content-Length field(s) lengths[k-1]
    ("|" separates two fields) and closes; the attempt after the last gets a good response."""

    def serve_framed(h: _Handler, n: int) -> None:
        if n > len(lengths):
            serve_ok(h, n)
            return
        size = len(OK_BYTES)
        fields = [("Content-Length", value.format(n=size, m=size + 1, x=f"{size:x}"))
                  for value in lengths[n - 1].split("|")]
        h.respond(200, OK_BYTES, headers=fields, length=False, wait=JITTER)

    return serve_framed


def serve_content_length_with_chunked(h: _Handler, n: int) -> None:
    if n > 1:
        serve_ok(h, n)
        return
    h.seen.wait = JITTER
    h.send_head(200, [("Content-Type", MEDIA_TYPE), ("Content-Length", str(len(OK_BYTES))),
                      ("Transfer-Encoding", "chunked")])
    h.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(OK_BYTES), OK_BYTES))
    h.abort()


def serve_content_length_overflow(h: _Handler, n: int) -> None:
    h.respond(200, OK_BYTES, headers=[("Content-Length", HUGE_DIGITS)], length=False)


def serve_error_content_length_bad(h: _Handler, n: int) -> None:
    body = _error_body("4040", "Not found")
    h.respond(404, body, headers=[("Content-Length", f"{len(body)}, {len(body) + 1}")], length=False)


# -- S16: Retry-After forms ----------------------------------------------------------------------

def _year_offset(years: int, month: int, second: int = 0) -> int:
    """Noon UTC on the 15th of `month`, `years` from the current year."""
    return calendar.timegm((time.gmtime().tm_year + years, month, 15, 12, 0, second))


def _retry_after_month(month: int) -> Callable[[_Handler, int], None]:
    """Attempt 1: a date last year in `month` (past: wait 0); attempt 2: a date next year in
    `month` (over the cap: no retry)."""

    def serve_month(h: _Handler, n: int) -> None:
        if n == 1:
            _unavailable(h, email.utils.formatdate(_year_offset(-1, month), usegmt=True), wait=after(0))
        else:
            _unavailable(h, email.utils.formatdate(_year_offset(1, month), usegmt=True), wait=None)

    serve_month.__name__ = f"serve_retry_after_month_{month}"
    return serve_month


def _retry_after_value(make: Callable[[], str], *, ignored: bool) -> Callable[[_Handler, int], None]:
    """503 with Retry-After `make()`: an ignored value gets a full-jitter retry and then ok; an
    accepted one is over the cap, so nothing follows."""

    def serve_value(h: _Handler, n: int) -> None:
        if n == 1 or not ignored:
            _unavailable(h, make(), wait=JITTER if ignored else None)
        else:
            serve_ok(h, n)

    return serve_value


def _future_date(**change: str) -> Callable[[], str]:
    """An IMF-fixdate next year (over the cap), with parts replaced: day name, second, zone."""

    def make() -> str:
        text = email.utils.formatdate(_year_offset(1, 1), usegmt=True)   # "Fri, 15 Jan 2027 12:00:00 GMT"
        day, rest = text.split(", ", 1)
        if "day" in change:
            day = change["day"] if change["day"] != "wrong" else _WEEKDAYS[(_WEEKDAYS.index(day) + 3) % 7]
        if "second" in change:
            rest = rest[: -len("00 GMT")] + change["second"] + " GMT"
        if "zone" in change:
            rest = rest[: -len("GMT")] + change["zone"]
        return f"{day}, {rest}"

    return make


_WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def serve_retry_after_two_headers(h: _Handler, n: int) -> None:
    _unavailable(h, "3600", wait=None, more=[("Retry-After", "0")])   # the first counts (S16)


# -- S18: a token provider -----------------------------------------------------------------------

def _unauthorized(h: _Handler, wait: tuple | None) -> None:
    h.respond(401, _error_body("4010", "Session invalid"), keep_alive=True, wait=wait)


def serve_refresh_then_ok(h: _Handler, n: int) -> None:
    if h.seen.token == h.run.refresh_token:
        serve_ok(h, n)
    else:
        _unauthorized(h, REFRESH)


def serve_refresh_still_unauthorized(h: _Handler, n: int) -> None:
    _unauthorized(h, REFRESH if h.seen.token == h.run.token else None)


def serve_refresh_on_4011_400(h: _Handler, n: int) -> None:
    if h.seen.token == h.run.refresh_token:
        serve_ok(h, n)
    else:
        h.respond(400, _json_bytes({"code": 4011, "message": "Session expired"}), keep_alive=True, wait=REFRESH)


def serve_refresh_does_not_count(h: _Handler, n: int) -> None:
    if h.seen.token != h.run.refresh_token:
        _unauthorized(h, REFRESH)
        return
    fresh = h.run.state["fresh"] = h.run.state.get("fresh", 0) + 1
    if fresh < MAX_ATTEMPTS:
        _unavailable(h)
    else:
        serve_ok(h, n)


# -- S21b: the deadline ----------------------------------------------------------------------------

def serve_deadline_head_stall(h: _Handler, n: int) -> None:
    h.seen.wait, h.seen.note = JITTER, "deadline"
    h.wait_gone(STALL)


def serve_deadline_retry_after(h: _Handler, n: int) -> None:
    _unavailable(h, "2", wait=after(2))


def serve_deadline_body_trickle(h: _Handler, n: int) -> None:
    h.seen.wait, h.seen.note = JITTER, "deadline"
    h.send_head(200, [("Content-Type", MEDIA_TYPE), ("Content-Length", str(len(OK_BYTES)))])
    started = time.monotonic()
    for i in range(len(OK_BYTES)):
        if time.monotonic() - started >= TRICKLE_LIMIT:
            h.seen.outlasted = True
            h.write(OK_BYTES[i:])
            return
        h.write(OK_BYTES[i:i + 1])
        if h.wait_gone(0.1):
            return


# --------------------------------------------------------------------------------------------
# Judging time
# --------------------------------------------------------------------------------------------

def _jitter_cap(n: int) -> float:
    """S17c: the longest wait before retry n (1, 2, ...) without Retry-After."""
    return min(8.0, 0.5 * 2 ** (n - 1))


def _gap(before: SeenRequest, after: SeenRequest) -> float | None:
    """Seconds from the end of `before` (the client's give-up, else the response's end) to the
    arrival of `after`; None when the server was still busy with `before` then (a client that
    gave up without closing the connection)."""
    end = before.ended
    if end is None or end > after.t:
        return None
    return after.t - end


def _wall(request: SeenRequest, monotonic: float) -> float:
    return request.wall + (monotonic - request.t)


def _irwin_hall_cdf(total: float, k: int) -> float:
    """P(U1 + ... + Uk <= total) for k independent uniforms on [0, 1] (exact rationals: the
    alternating sum cancels badly in floats)."""
    if total <= 0:
        return 0.0
    if total >= k:
        return 1.0
    x = Fraction(total)
    s = sum((-1) ** j * math.comb(k, j) * (x - j) ** k for j in range(int(total) + 1))
    return float(s / math.factorial(k))


def _range_cdf(spread: float, k: int) -> float:
    """P(max - min of k independent uniforms on [0, 1] <= spread)."""
    r = min(1.0, max(0.0, spread))
    return k * r ** (k - 1) - (k - 1) * r ** k


def _backoff_statistics(samples: list[tuple[int, float, float]]) -> list[Failure]:
    """S17c over many retries, where one gap cannot tell: full jitter makes gap/cap uniform on
    [0, 1], independently. A client that never waits has a sum of gap/cap that uniforms reach
    with probability below ALPHA; one that waits a constant (or a fixed exponential) has gaps
    before retry n that spread less than uniforms do, by more than measurement noise."""
    failures = []
    values = [min(1.0, gap / cap) for _n, gap, cap in samples]
    if len(values) >= 2:
        p = _irwin_hall_cdf(sum(values), len(values))
        if p < ALPHA:
            waited, share = sum(g for _n, g, _c in samples), 100 * sum(values) / len(values)
            failures.append(("S17c", f"the {len(values)} full-jitter retries judged so far in this run waited "
                             f"{waited:.3f} s in total, {share:.1f}% of their caps: full jitter waits that little "
                             f"with probability {p:.1e}; no backoff?"))
    for n in sorted({n for n, _g, _c in samples}):
        gaps = [g for m, g, _c in samples if m == n]
        cap = _jitter_cap(n)
        if len(gaps) < 3:
            continue
        spread = (max(gaps) - min(gaps) + JITTER_NOISE) / cap
        p = _range_cdf(spread, len(gaps))
        if p < ALPHA:
            failures.append(("S17c", f"retry {n} waited {min(gaps):.3f} to {max(gaps):.3f} s in {len(gaps)} "
                             f"calls, a spread of {max(gaps) - min(gaps):.3f} s: full jitter spreads over "
                             f"[0, {cap:.2f}] s, and spreads that little with probability {p:.1e}; a constant wait?"))
    return failures


# --------------------------------------------------------------------------------------------
# Extra checks of some scenarios: (trial, main-listener requests) -> failures
# --------------------------------------------------------------------------------------------

def _check_give_ups(trial: Trial, main: list[SeenRequest]) -> list[Failure]:
    """S21a, S20c, S21b: when the client gave up on what the server stalled or trickled. The
    give-up is seen when the client closes the connection; a client that keeps it open has
    given up at the latest when its next attempt arrives (less a full-jitter wait) or when the
    call returned."""
    failures = []
    timeout, deadline = trial.fetch["timeout"], trial.fetch.get("deadline")
    for i, r in enumerate(main):
        if r.note == "head":
            rule, what, anchor, low, high = "S21a", "the response head", r.t, timeout, timeout
        elif r.note == "body":
            rule, what, anchor, low, high = "S21a", "a body read", r.last_write, timeout, timeout
        elif r.note == "error_body":
            rule, what, anchor, low, high = "S20c", "the error body", r.head_sent, None, timeout
        elif r.note == "deadline" and deadline is not None:
            # The deadline runs from the call's start: after prepare(), before r.t.
            rule, what, anchor, low, high = "S21b", "the call", r.t, None, deadline
            if r.gone is not None and r.gone - trial.prepared_at < deadline - EARLY_TIMEOUT:
                failures.append((rule, f"attempt {r.attempt}: gave up {r.gone - trial.prepared_at:.3f} s after "
                                 f"the call could have started, before its deadline of {deadline:.2f} s"))
        else:
            continue
        if anchor is None:
            continue
        if r.gone is not None:
            took = r.gone - anchor
            if low is not None and took < low - EARLY_TIMEOUT:
                failures.append((rule, f"attempt {r.attempt}: gave up on {what} after {took:.3f} s, before its "
                                 f"timeout of {low:.2f} s had passed"))
            elif took > high + SLACK:
                failures.append((rule, f"attempt {r.attempt}: gave up on {what} after {took:.3f} s; it must end "
                                 f"at {high:.2f} s ({_WHY[r.note]}; {SLACK:.2f} s of slack allowed)"))
            continue
        if i + 1 < len(main):
            bound, allowed, by = main[i + 1].t, high + _jitter_cap(r.attempt) + SLACK, "the next attempt arrived"
        elif trial.judged_at is not None:
            bound, allowed, by = trial.judged_at, high + SLACK, "the call returned"
        else:
            continue
        if bound - anchor > allowed:
            failures.append((rule, f"attempt {r.attempt}: still on {what} {bound - anchor:.3f} s later, when {by} "
                             f"(no close of the connection was seen); it must end at {high:.2f} s ({_WHY[r.note]})"))
    return failures


_WHY = {
    "head": "S21a: from the end of sending to the end of the final head is ONE wait of `timeout`, "
            "interim responses included",
    "body": "S21a: each read of a 2xx body is bounded by `timeout`",
    "error_body": "S20c: reading an error body is one wait of `timeout` after the headers",
    "deadline": "S21b: the deadline bounds the whole call",
}


def _check_refresh(trial: Trial, main: list[SeenRequest]) -> list[Failure]:
    """S18: the first request carries the session token, every later one exactly the provider's."""
    run = trial._run
    failures = []
    if main and main[0].token != run.token:
        failures.append(("S18", "attempt 1 did not carry the session token of the call"))
    stale = [r.attempt for r in main[1:] if r.token != run.refresh_token]
    if stale:
        failures.append(("S18", f"attempt {', '.join(map(str, stale))} did not carry the token provider's token "
                         "(after a 401 the client asks the provider once and repeats the request with its token)"))
    return failures


def _check_no_wait(trial: Trial, main: list[SeenRequest]) -> list[Failure]:
    """S21b/S17b: a wait that would end after the deadline is not started."""
    if not main or main[0].ended is None or trial.judged_at is None:
        return []
    took = trial.judged_at - main[0].ended
    if took > SLACK:
        return [("S21b", f"answered {took:.3f} s after the 503 with Retry-After: 2 ended, under a deadline of "
                 f"{trial.fetch['deadline']:.2f} s: a wait that would end after the deadline is not started "
                 f"({SLACK:.2f} s of slack allowed)")]
    return []


def _check_connect_timeout(trial: Trial, main: list[SeenRequest]) -> list[Failure]:
    """S17/S21a: three connects that never complete each take the whole timeout."""
    if trial.judged_at is None:
        return []
    took, least = trial.judged_at - trial.prepared_at, 3 * trial.fetch["timeout"]
    if took < least - EARLY_TIMEOUT:
        return [("S17a", "the call ended {:.3f} s after prepare(): 3 attempts whose connects each wait the "
                 "timeout ({:.2f} s) take at least {:.2f} s; not retried, or a connect timeout shorter than "
                 "`timeout` (S21a)".format(took, trial.fetch["timeout"], least))]
    return []


def _check_refused(trial: Trial, main: list[SeenRequest]) -> list[Failure]:
    """S17: refused connects are retried with full jitter; the server cannot count them, but
    three attempts take REFUSED_MIN longer than a call that sends nothing, except with
    probability REFUSED_MIN**2. The adapter's own cost of a call is the quickest of this run's
    passed trials that sent nothing (the S13c/S13d ones, which run before this one)."""
    if trial.judged_at is None:
        return []
    took = trial.judged_at - trial.prepared_at
    overhead = trial._nexus._call_overhead()
    if took - overhead < REFUSED_MIN:
        return [("S17", f"transport_error {took:.4f} s after prepare() (a call that sends nothing took "
                 f"{overhead:.4f} s): 3 attempts with full-jitter waits between them (S17c) take that little "
                 f"longer with probability {REFUSED_MIN ** 2:.1e}; not retried, or retried without waiting")]
    return []


def _check_tls(trial: Trial, main: list[SeenRequest]) -> list[Failure]:
    """S17/S22a/S13d: a certificate that fails verification ends the call, in the handshake."""
    conns = [r for r in trial.requests if r.listener == "port"]
    failures = []
    if any(r.note == "plaintext" for r in conns):
        failures.append(("S13d", "the client sent plain HTTP to an https base URL (no fallback to http)"))
    if any(r.note == "handshake" for r in conns):
        failures.append(("S22a", "the client completed a TLS handshake with a certificate that fails "
                         "verification (self-signed, trusted by nobody)%s"
                         % (": its request, token included, went to an unverified server" if main else "")))
    return failures


def _check_backoff(trial: Trial, main: list[SeenRequest]) -> list[Failure]:
    """S17c over this trial's retries and those of every trial of the run that passed."""
    return _backoff_statistics(trial._run.samples + trial._nexus._pooled_samples(trial._run))


# --------------------------------------------------------------------------------------------
# The scenarios
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Scenario:
    name: str
    rules: tuple[str, ...]             # rules[0] is the rule a wrong outcome is reported under
    summary: str                       # one line: what the server does -> the expected outcome
    serve: Callable[[_Handler, int], None]
    expect: str                        # "ok" or an error category
    records: list | None = None        # the canonical records when expect == "ok"
    drift: list | None = None          # their drift notes (S11), judged with the drift feature
    attempts: tuple[int, int] | None = (1, 1)  # allowed requests (or connections, on a port of
                                       # its own); None: the server cannot count them
    count_rule: str = "S17"            # the rule a wrong number of attempts is reported under
    timeout: float | None = None       # overrides prepare(timeout=...) when set
    deadline: float | None = None      # the fetch op's deadline (feature "deadline")
    refresh: bool = False              # the fetch op carries a refresh_token (feature "token_provider")
    features: tuple[str, ...] = ()     # the adapter features the scenario needs
    token_suffix: str = ""             # appended to the random token
    url: str | None = None             # the base URL's form: {host} {port} {port6} {path} {path0}
    port: str | None = None            # a port of its own: "refused", "blackhole", "reset", "tls"
    check: Callable[[Trial, list[SeenRequest]], list[Failure]] | None = None

    def __post_init__(self) -> None:
        needs = (("deadline",) if self.deadline is not None else ()) + (("token_provider",) if self.refresh else ())
        assert set(needs) <= set(self.features), (self.name, needs, self.features)


def _ok(name: str, rules: tuple[str, ...], summary: str, serve: Callable[[_Handler, int], None],
        **kwargs: Any) -> Scenario:
    """A scenario whose outcome is the OK body's records and drift notes."""
    return Scenario(name, rules, summary, serve, "ok", OK_EXPECTED, OK_DRIFT, **kwargs)


_SCENARIOS: list[Scenario] = [
    _ok("ok", ("S14", "S12", "S13a", "S13b"),
        "200 with the OpenAPI example record and an observed one -> ok, exact canonical records "
        "(drift: the integer routing number padded); 1 request", serve_ok),
    Scenario("empty", ("S14", "S2"), '200 {"micro_deposits": []} -> ok, no records; 1 request',
             serve_empty, "ok", [], []),
    Scenario("no_content_204", ("S14", "S1c"), "204 with an empty body -> malformed_response; 1 request",
             serve_no_content_204, "malformed_response"),
    Scenario("non_json_200", ("S1c", "S14", "S17"),
             "200 with an HTML body -> malformed_response, not retried; 1 request",
             serve_non_json_200, "malformed_response"),
    Scenario("malformed_with_personal_data", ("S1c", "S22b", "S14", "S17"),
             "200 whose JSON stops after the first record's email, names and account number (framing "
             "complete) -> malformed_response, not retried; 1 request; none of that personal data in the "
             "reply (the runner checks)", serve_malformed_with_personal_data, "malformed_response"),
    Scenario("session_expired", ("S14", "S15", "S18"),
             "401 with error code 4011 -> session_expired, no retry without a token provider; 1 request",
             serve_session_expired, "session_expired", count_rule="S18"),
    Scenario("session_expired_no_body", ("S14", "S15", "S18"),
             "401 with a plain-text body (no code) -> unauthorized, no retry; 1 request",
             serve_session_expired_no_body, "unauthorized", count_rule="S18"),
    Scenario("expired_code_on_400", ("S14", "S15", "S17"),
             '400 with top-level {"code": 4011} -> session_expired (4011 with any status); 1 request',
             serve_expired_code_on_400, "session_expired"),
    Scenario("bad_request", ("S14", "S17"), "400 with code 4001 -> http_error, 4xx not retried; 1 request",
             serve_bad_request, "http_error"),
    Scenario("forbidden", ("S14", "S17"), "403 -> forbidden, not retried; 1 request", serve_forbidden, "forbidden"),
    Scenario("not_found", ("S14", "S17"), "404 -> not_found, not retried; 1 request", serve_not_found, "not_found"),
    Scenario("server_error_500", ("S14", "S17"), "500 -> server_error, 500 not retried; 1 request",
             serve_server_error_500, "server_error"),
    # -- S14: the status boundaries and interim responses
    _ok("status_299", ("S14",), "299 with the OK body -> ok (any 2xx is parsed); 1 request",
        _status(299, OK_BYTES)),
    Scenario("status_300_no_location", ("S14", "S19"),
             "300 without Location -> unexpected_redirect (any 3xx); 1 request",
             _status(300, b"multiple choices", content_type="text/plain"), "unexpected_redirect"),
    Scenario("status_304_no_location", ("S14", "S19"),
             "304 (no body, no Location) -> unexpected_redirect; 1 request",
             _status(304, length=False), "unexpected_redirect"),
    Scenario("status_399", ("S14", "S19"), "399 without Location -> unexpected_redirect; 1 request",
             _status(399), "unexpected_redirect"),
    Scenario("status_499", ("S14", "S17"), "499 -> http_error (an unknown 4xx), not retried; 1 request",
             _status(499, _error_body("4990", "Client closed request")), "http_error"),
    Scenario("status_599", ("S14", "S17"),
             "599 -> server_error, not retried (only 502, 503, 504 are); 1 request",
             _status(599, _error_body("5990", "Network connect timeout")), "server_error"),
    Scenario("status_600", ("S14", "S17"), "600 -> http_error (not a 5xx), not retried; 1 request",
             _status(600, _error_body("6000", "Beyond")), "http_error"),
    _ok("interim_100_then_ok", ("S14", "S21a"),
        "100 Continue, then 200 -> ok (an interim response is skipped with its headers); 1 request",
        serve_interim_100_then_ok),
    _ok("interim_102_103_199_then_ok", ("S14", "S21a"),
        "102, 103 with a Link header, an unknown 199, then 200 -> ok (every 1xx but 101 is interim); 1 request",
        serve_interim_102_103_199_then_ok),
    Scenario("switching_protocols_101", ("S14", "S17"),
             "101 Switching Protocols (never asked for) then websocket bytes -> http_error (101 is final), "
             "not retried; 1 request", serve_switching_protocols_101, "http_error"),
    # -- S16/S17: retries
    _ok("rate_limited_then_ok", ("S17b", "S16", "S17"),
        "429 with Retry-After: 1, then 200 -> ok; 2 requests, the retry 1 s to 1 s + SLACK after the 429",
        serve_rate_limited_then_ok, attempts=(2, 2)),
    _ok("rate_limited_http_date_then_ok", ("S16", "S17b", "S17"),
        "429 with Retry-After as an IMF-fixdate 1-2 s ahead, then 200 -> ok; 2 requests, the retry at "
        "that instant (up to SLACK after it)", serve_rate_limited_http_date_then_ok, attempts=(2, 2)),
    Scenario("rate_limited_long_retry_after", ("S17b", "S16", "S14"),
             "429 with Retry-After: 3600 (over the 60 s cap) -> rate_limited, no retry; 1 request",
             serve_rate_limited_long_retry_after, "rate_limited", count_rule="S17b"),
    _ok("unavailable_then_ok", ("S17", "S17c"),
        "503, then 200 -> ok; 2 requests, the retry within 0.5 s + SLACK", serve_unavailable_then_ok,
        attempts=(2, 2)),
    _ok("unavailable_retry_after_then_ok", ("S17b", "S16", "S17"),
        "503 with Retry-After: 001 (leading zeros), then 200 -> ok; 2 requests, the retry 1 s to 1 s + "
        "SLACK after the 503", serve_unavailable_retry_after_then_ok, attempts=(2, 2)),
    _ok("bad_gateway_then_ok", ("S17", "S17c"),
        "502 with an HTML body, then 200 -> ok; 2 requests, the retry within 0.5 s + SLACK",
        serve_bad_gateway_then_ok, attempts=(2, 2)),
    _ok("gateway_timeout_then_ok", ("S17", "S17c"),
        "504, then 200 -> ok; 2 requests, the retry within 0.5 s + SLACK", serve_gateway_timeout_then_ok,
        attempts=(2, 2)),
    Scenario("retries_exhausted", ("S17a", "S17", "S17c", "S14"),
             "503, 503, then 429 without Retry-After -> rate_limited (the last attempt's outcome); 3 "
             "requests, retries within 0.5 s and 1 s (+ SLACK)", serve_retries_exhausted, "rate_limited",
             attempts=(3, 3), count_rule="S17a"),
    _ok("reset_then_ok", ("S17", "S17c"),
        "first connection reset (RST) without a response, then 200 -> ok; 2 requests, the retry within "
        "0.5 s + SLACK", serve_reset_then_ok, attempts=(2, 2)),
    Scenario("connection_reset_on_accept", ("S17", "S17a", "S17c"),
             "its own port: every connection accepted and reset before any request is read -> "
             "transport_error, retried; 3 connections, retries within 0.5 s and 1 s (+ SLACK)",
             serve_ok, "transport_error", attempts=(3, 3), count_rule="S17a", port="reset"),
    Scenario("connect_timeout", ("S21a", "S17", "S17a"),
             f"its own port, accept queue full: connects never complete (timeout {FAST_TIMEOUT:g} s) -> "
             "timeout, retried (uncountable: the call must take at least 3 x timeout)", serve_ok, "timeout",
             attempts=None, timeout=FAST_TIMEOUT, port="blackhole", check=_check_connect_timeout),
    Scenario("tls_untrusted", ("S17", "S22a", "S13d"),
             "its own port, HTTPS with a self-signed certificate trusted by nobody -> transport_error, NOT "
             "retried; at most 1 connection, no completed handshake, no plain HTTP",
             serve_ok, "transport_error", attempts=(0, 1), port="tls", check=_check_tls,
             url="https://{host}:{port}{path}"),
    _ok("head_stall_then_ok", ("S21a", "S17", "S17c"),
        f"request read, nothing sent (timeout {FAST_TIMEOUT:g} s) -> the client gives up at timeout "
        "(+ SLACK), retries, 200 -> ok; 2 requests", serve_head_stall_then_ok, attempts=(2, 2), count_rule="S21a",
        timeout=FAST_TIMEOUT, check=_check_give_ups),
    _ok("head_trickle_then_ok", ("S21a", "S17", "S17c"),
        f"a 200 head sent one byte per {TRICKLE_STEP:g} s (timeout {FAST_TIMEOUT:g} s): ONE wait for the "
        "head, cut at timeout (+ SLACK), retried, 200 -> ok; 2 requests", serve_head_trickle_then_ok,
        attempts=(2, 2), count_rule="S21a", timeout=FAST_TIMEOUT, check=_check_give_ups),
    _ok("interim_flood_then_ok", ("S21a", "S14", "S17"),
        f"102 Processing every 0.1 s (timeout {FAST_TIMEOUT:g} s): interim responses count against the "
        "head wait, cut at timeout (+ SLACK), retried, 200 -> ok; 2 requests", serve_interim_flood_then_ok,
        attempts=(2, 2), count_rule="S21a", timeout=FAST_TIMEOUT, check=_check_give_ups),
    Scenario("slow_body", ("S21a", "S17", "S17a"),
             f"200 headers and 10 bytes, then a stall (timeout {SLOW_BODY_TIMEOUT:g} s) -> timeout, "
             "retried; 3 requests, each given up at timeout (+ SLACK) after the last byte", serve_slow_body,
             "timeout", attempts=(3, 3), count_rule="S17a", timeout=SLOW_BODY_TIMEOUT, check=_check_give_ups),
    Scenario("truncated", ("S20b", "S17", "S17a", "S17c"),
             "200, Content-Length: 1000, 400 bytes (a valid JSON prefix) then close -> transport_error, never "
             "parsed, retried; 3 requests, retries within 0.5 s and 1 s (+ SLACK)", serve_truncated,
             "transport_error", attempts=(3, 3), count_rule="S17a"),
    Scenario("broken_chunked", ("S20b", "S17", "S17a", "S17c"),
             "200 chunked, a valid chunk then a bad chunk-size line -> transport_error, retried; 3 requests, "
             "retries within 0.5 s and 1 s (+ SLACK)", serve_broken_chunked, "transport_error",
             attempts=(3, 3), count_rule="S17a"),
    Scenario("oversized", ("S20a", "S17"),
             "200 with a ~200 KB valid JSON body and Content-Length, cap 65536 -> response_too_large, not "
             "retried; 1 request", serve_oversized, "response_too_large"),
    Scenario("oversized_chunked", ("S20a", "S17"),
             "200 chunked (no Content-Length), ~200 KB valid JSON, cap 65536 -> response_too_large, not "
             "retried; 1 request", serve_oversized_chunked, "response_too_large"),
    # -- S20d: Content-Length on a 2xx
    _ok("content_length_list_same", ("S20d",), 'Content-Length: "N, N" (a list of one value) -> ok; 1 request',
        _framed("{n}, {n}"), count_rule="S20d"),
    _ok("content_length_fields_same", ("S20d",), "two Content-Length fields N and N -> ok; 1 request",
        _framed("{n}|{n}"), count_rule="S20d"),
    _ok("content_length_conflicting", ("S20d", "S17"),
        'Content-Length "N, N+1", then two fields N and N+1 (each with the N-byte OK body, then close) -> '
        "transport_error each, retried, then 200 -> ok; 3 requests", _framed("{n}, {m}", "{n}|{m}"),
        attempts=(3, 3), count_rule="S20d"),
    _ok("content_length_signed", ("S20d", "S17"),
        'Content-Length "+N", then "-N" -> transport_error each, retried, then 200 -> ok; 3 requests',
        _framed("+{n}", "-{n}"), attempts=(3, 3), count_rule="S20d"),
    _ok("content_length_not_decimal", ("S20d", "S17"),
        'Content-Length "N.0", then "0xHEX" -> transport_error each, retried, then 200 -> ok; 3 requests',
        _framed("{n}.0", "0x{x}"), attempts=(3, 3), count_rule="S20d"),
    _ok("content_length_space_or_empty", ("S20d", "S17"),
        'Content-Length "N N", then "" (empty) -> transport_error each, retried, then 200 -> ok; 3 requests',
        _framed("{n} {n}", ""), attempts=(3, 3), count_rule="S20d"),
    _ok("content_length_with_chunked", ("S20d", "S17"),
        "Content-Length together with Transfer-Encoding: chunked -> transport_error, retried, then 200 -> "
        "ok; 2 requests", serve_content_length_with_chunked, attempts=(2, 2), count_rule="S20d"),
    Scenario("content_length_overflow", ("S20d", "S20a", "S17"),
             f"Content-Length: {HUGE_DIGITS} (past any 64-bit integer) -> response_too_large before reading, not "
             "retried; 1 request", serve_content_length_overflow, "response_too_large"),
    Scenario("error_content_length_bad", ("S20d", "S20c", "S14"),
             'a 404 with Content-Length "N, N+1" -> not_found (on an error the status decides); 1 request',
             serve_error_content_length_bad, "not_found"),
    # -- S20c: error bodies
    Scenario("error_body_cut_short", ("S20c", "S14", "S17"),
             "500, Content-Length 1000, 300 bytes then close -> server_error (the status decides), not "
             "retried; 1 request", serve_error_body_cut_short, "server_error"),
    Scenario("error_body_stalled", ("S20c", "S14"),
             f"404, 100 bytes of its body, then a stall (timeout {FAST_TIMEOUT:g} s) -> not_found, the "
             "body given up at timeout (+ SLACK) after the headers; 1 request", serve_error_body_stalled,
             "not_found", timeout=FAST_TIMEOUT, check=_check_give_ups),
    Scenario("error_body_trickle", ("S20c", "S14"),
             f"403 whose body trickles a byte per {TRICKLE_STEP:g} s (timeout {FAST_TIMEOUT:g} s) -> "
             "forbidden, the body is one wait, given up at timeout (+ SLACK); 1 request", serve_error_body_trickle,
             "forbidden", timeout=FAST_TIMEOUT, check=_check_give_ups),
    Scenario("error_body_at_cap", ("S20c", "S15", "S14"),
             "401 with a body of exactly 64 KiB holding code 4011 -> session_expired (read whole); 1 request",
             serve_error_body_at_cap, "session_expired", count_rule="S18"),
    Scenario("error_body_over_cap", ("S20c", "S15", "S14"),
             "401 with a body of 64 KiB + 1 holding code 4011 -> unauthorized (read up to 64 KiB: invalid "
             "JSON, no code); 1 request", serve_error_body_over_cap, "unauthorized", count_rule="S18"),
    # -- S16: Retry-After forms, on a 503
    Scenario("retry_after_second_60", ("S16", "S17b"),
             "503, Retry-After: a date next year with second 60 (accepted as 59; over the cap) -> "
             "server_error, no retry; 1 request", _retry_after_value(_future_date(second="60"), ignored=False),
             "server_error", count_rule="S16"),
    Scenario("retry_after_wrong_day_name", ("S16", "S17b"),
             "503, Retry-After: a date next year with the wrong day name (not checked; over the cap) -> "
             "server_error, no retry; 1 request", _retry_after_value(_future_date(day="wrong"), ignored=False),
             "server_error", count_rule="S16"),
    Scenario("retry_after_huge", ("S16", "S17b"),
             f"503, Retry-After: {HUGE_DIGITS} (past any integer type: over the cap) -> server_error, no retry; "
             "1 request", _retry_after_value(lambda: HUGE_DIGITS, ignored=False),
             "server_error", count_rule="S16"),
    Scenario("retry_after_61", ("S17b", "S16"),
             "503, Retry-After: 61 (just over the 60 s cap) -> server_error, no retry; 1 request",
             _retry_after_value(lambda: "61", ignored=False), "server_error", count_rule="S17b"),
    Scenario("retry_after_two_headers", ("S16", "S17b"),
             "503 with Retry-After: 3600 then Retry-After: 0 (the first counts: over the cap) -> server_error, "
             "no retry; 1 request", serve_retry_after_two_headers, "server_error", count_rule="S16"),
    *[_ok("retry_after_" + name, ("S16", "S17c"),
          f"503, Retry-After: {shown} (ignored), then 200 -> ok; 2 requests, the retry after full jitter (within "
          "0.5 s + SLACK)", _retry_after_value(make, ignored=True), attempts=(2, 2), count_rule="S16")
      for name, shown, make in (
          ("bad_day_name", "a date next year with day name 'fri' (case-sensitive)", _future_date(day="fri")),
          ("feb_30", "Tue, 30 Feb <next year> 12:00:00 GMT (impossible)",
           lambda: f"Tue, 30 Feb {time.gmtime().tm_year + 1} 12:00:00 GMT"),
          ("lowercase_gmt", "a date next year ending in 'gmt'", _future_date(zone="gmt")),
          ("garbage", "soon", lambda: "soon"),
          ("negative", "-1", lambda: "-1"),
          ("fractional", "1.5", lambda: "1.5"),
      )],
    *[Scenario("retry_after_date_" + calendar.month_abbr[m].lower(), ("S16", "S17b"),
               f"503, Retry-After: a date in {calendar.month_abbr[m]} last year (past: wait 0), then 503 with a "
               f"date in {calendar.month_abbr[m]} next year (over the cap) -> server_error; 2 requests, the retry "
               "within SLACK", _retry_after_month(m), "server_error",
               attempts=(2, 2), count_rule="S16")
      for m in range(1, 13)],
    # -- S18: a token provider
    _ok("refresh_then_ok", ("S18",),
        "401 for the session token, 200 for the provider's -> ok; 2 requests, the second carrying exactly "
        "the refresh token", serve_refresh_then_ok, attempts=(2, 2), count_rule="S18", refresh=True,
        features=("token_provider",), check=_check_refresh),
    Scenario("refresh_still_unauthorized", ("S18",),
             "401 for both tokens -> unauthorized; 2 requests (one refresh, then final)",
             serve_refresh_still_unauthorized, "unauthorized", attempts=(2, 2), count_rule="S18", refresh=True,
             features=("token_provider",), check=_check_refresh),
    _ok("refresh_on_4011_400", ("S18", "S15"),
        "400 with code 4011 (session_expired) for the session token, 200 for the provider's -> ok; 2 requests",
        serve_refresh_on_4011_400, attempts=(2, 2), count_rule="S18", refresh=True,
        features=("token_provider",), check=_check_refresh),
    _ok("refresh_does_not_count", ("S18", "S17a"),
        "401, then with the provider's token 503, 503, 200 -> ok; 4 requests (the refresh is not one of "
        "the 2 retries)", serve_refresh_does_not_count, attempts=(4, 4), count_rule="S18", refresh=True,
        features=("token_provider",), check=_check_refresh),
    # -- S21b: a deadline
    Scenario("deadline_head_stall", ("S21b", "S21a"),
             f"request read, nothing sent; timeout 2 s, deadline {DEADLINE:g} s -> timeout within the deadline "
             "(+ SLACK); 1 request", serve_deadline_head_stall, "timeout", count_rule="S21b",
             timeout=2.0, deadline=DEADLINE, features=("deadline",), check=_check_give_ups),
    Scenario("deadline_retry_after", ("S21b", "S17b"),
             f"503 with Retry-After: 2, deadline {DEADLINE:g} s -> server_error at once (no wait that would end after "
             "the deadline); 1 request", serve_deadline_retry_after, "server_error",
             count_rule="S21b", timeout=2.0, deadline=DEADLINE, features=("deadline",), check=_check_no_wait),
    Scenario("deadline_body_trickle", ("S21b", "S21a"),
             f"200 whose body trickles a byte per 0.1 s (each read within timeout 2 s), deadline {DEADLINE:g} s -> "
             "timeout within the deadline (+ SLACK); 1 request", serve_deadline_body_trickle,
             "timeout", count_rule="S21b", timeout=2.0, deadline=DEADLINE, features=("deadline",),
             check=_check_give_ups),
    # -- S19, S22a: redirects and secrets
    Scenario("redirect_cross_origin", ("S19", "S22a", "S14"),
             "302 to the same path on another origin -> unexpected_redirect; 1 request, nothing reaches the "
             "other origin", serve_redirect_cross_origin, "unexpected_redirect"),
    Scenario("redirect_307", ("S19", "S22a", "S14"),
             "307 to the same path on another origin -> unexpected_redirect; 1 request, nothing reaches the "
             "other origin", serve_redirect_307, "unexpected_redirect"),
    Scenario("redirect_echoes_token", ("S22a", "S19", "S14"),
             "302 whose Location holds the token percent-encoded -> unexpected_redirect; 1 request; no form "
             "of the token in the reply (the runner checks)", serve_redirect_echoes_token, "unexpected_redirect",
             token_suffix="+SeCrEt/Tok="),
    Scenario("error_echoes_token", ("S22a", "S14", "S15"),
             "401 whose body and X-Request-Id echo the token raw and percent-encoded (all or some "
             "characters, any hex case) -> unauthorized; 1 request; no form of the token in the reply",
             serve_error_echoes_token, "unauthorized", count_rule="S18", token_suffix="+SeCrEt/Tok="),
    Scenario("token_injection", ("S13c",),
             'token ending in "\\r\\nX-Injected: 1" -> invalid_argument; no request at all',
             serve_token_injection, "invalid_argument", attempts=(0, 0), count_rule="S13c",
             token_suffix="\r\nX-Injected: 1"),
]

# -- S13d: base URLs; the refused forms all lead to this server, were they wrongly accepted.
_BASE_URLS = [
    # (name, form, accepted, what it is)
    ("localhost_upper", "http://LOCALHOST:{port}{path}", True, "a loopback host name in any case"),
    ("scheme_upper", "HTTP://{host}:{port}{path}", True, "the scheme in upper case"),
    ("no_trailing_slash", "http://{host}:{port}{path0}", True, "no trailing '/' (one is added, S13a)"),
    ("ipv4_shorthand", "http://127.1:{port}{path}", False, "an IPv4 shorthand"),
    ("ipv4_three_parts", "http://127.0.1:{port}{path}", False, "an IPv4 shorthand"),
    ("ipv4_hex", "http://0x7f.0.0.1:{port}{path}", False, "a hex IPv4 part"),
    ("ipv4_integer", "http://2130706433:{port}{path}", False, "an IPv4 address as one integer"),
    ("ipv4_octal", "http://0177.0.0.1:{port}{path}", False, "an octal IPv4 part"),
    ("ipv4_leading_zeros", "http://127.000.000.001:{port}{path}", False, "IPv4 parts with leading zeros"),
    ("ipv4_mapped", "http://[::ffff:127.0.0.1]:{port}{path}", False, "an IPv4-mapped IPv6 address"),
    ("zone_id", "http://[::1%25lo]:{port}{path}", False, "an IPv6 zone id"),
    ("trailing_dot", "http://localhost.:{port}{path}", False, "a trailing dot"),
    ("unspecified_address", "http://0.0.0.0:{port}{path}", False, "plain http to 0.0.0.0, not loopback"),
    ("port_zero", "http://{host}:0{path}", False, "port 0"),
    ("port_plus", "http://{host}:+{port}{path}", False, "a signed port"),
    ("port_six_digits", "http://{host}:{port6}{path}", False, "a port of 6 digits (a leading zero)"),
    ("userinfo", "http://user@{host}:{port}{path}", False, "user info"),
    ("empty_userinfo", "http://@{host}:{port}{path}", False, "an empty user info"),
    ("empty_query", "http://{host}:{port}{path}?", False, "an empty query"),
    ("empty_fragment", "http://{host}:{port}{path}#", False, "an empty fragment"),
    ("tab", "http://{host}:{port}{path}\t", False, "a tab (which URL parsers drop silently)"),
    ("space", "http://{host}:{port}{path}a b/", False, "a space"),
    ("non_ascii", "http://{host}:{port}{path}\u00fc/", False, "a non-ASCII character"),
]
_SCENARIOS += [
    (_ok("base_url_" + name, ("S13d", "S13a"), f"base URL with {what}, {form!r} -> accepted: ok; 1 request",
         serve_ok, url=form) if accepted else
     Scenario("base_url_" + name, ("S13d",), f"base URL with {what}, {form!r} -> invalid_argument; no request at all",
              serve_ok, "invalid_argument", attempts=(0, 0), count_rule="S13d", url=form))
    for name, form, accepted, what in _BASE_URLS
]
# After the trials that send nothing: its judge subtracts their cost of a call.
_SCENARIOS.append(Scenario(
    "connection_refused", ("S17", "S14"),
    "its own port, bound but not listening: every connect refused -> transport_error, retried (uncountable: "
    f"the call must take {REFUSED_MIN:g} s more than one that sends nothing)", serve_ok, "transport_error",
    attempts=None, port="refused", check=_check_refused))
# Last: judges full jitter over every retry of the run's passed trials, so it comes after them.
_SCENARIOS.append(Scenario(
    "backoff_full_jitter", ("S17c", "S17", "S17a"),
    "503, 503, 503 -> server_error; 3 requests, retries within 0.5 s and 1 s (+ SLACK); then the gaps of "
    "every full-jitter retry of the run's passed trials must look uniform (never-waits and constant waits "
    "fail, false alarms below %.0e)" % (3 * ALPHA), serve_backoff_full_jitter, "server_error",
    attempts=(3, 3), count_rule="S17a", check=_check_backoff))

_BY_NAME: dict[str, Scenario] = {s.name: s for s in _SCENARIOS}
assert len(_BY_NAME) == len(_SCENARIOS), "duplicate scenario names"

SCENARIOS: dict[str, str] = {
    s.name: "{} [{}]".format(s.summary, ", ".join(s.rules)) for s in _SCENARIOS
}
SCENARIO_FEATURES: dict[str, tuple[str, ...]] = {s.name: s.features for s in _SCENARIOS}

_NOTHING_SENT = {
    "S13c": "an invalid token must be refused before sending anything, but the server saw %d request(s)",
    "S13d": "a base URL that S13d refuses must be refused before sending anything, but the server saw "
            "%d request(s)",
}


# --------------------------------------------------------------------------------------------
# Trial: one prepared scenario run, and its judge
# --------------------------------------------------------------------------------------------

class Trial:
    """One run of one scenario. `fetch` holds the fetch op's fields (minus seq/op)."""

    def __init__(self, nexus: FakeNexus, run: _Run, timeout: float):
        self._nexus = nexus
        self._run = run
        sc = run.scenario
        self.scenario: str = sc.name
        self.rules: list[str] = list(sc.rules)
        self.features: tuple[str, ...] = sc.features
        self.run_id: str = run.run_id
        host, port = nexus._main_address()
        if run.port is not None:
            port = run.port.port
        path = f"/{run.run_id}/{sc.name}/"
        form = sc.url or "http://{host}:{port}{path}"
        self.fetch: dict = {
            "base_url": form.format(host=host, port=port, port6=f"{port:06d}", path=path, path0=path[:-1]),
            "token": run.token,
            "timeout": timeout,
            "max_response_bytes": MAX_RESPONSE_BYTES,
        }
        if sc.deadline is not None:
            self.fetch["deadline"] = sc.deadline
        if run.refresh_token is not None:
            self.fetch["refresh_token"] = run.refresh_token
        self.prepared_at: float = time.monotonic()   # the call starts after this
        self.judged_at: float | None = None          # the call had ended by the first judge()

    @property
    def description(self) -> str:
        return SCENARIOS[self.scenario]

    @property
    def requests(self) -> list[SeenRequest]:
        """A copy of what the server saw for this trial so far (every listener)."""
        with self._nexus._lock:
            return list(self._run.requests)

    def command_line(self) -> str:
        """A ready `python -m nexus_micro list` command for this trial (for `serve`)."""
        parts = ["MD_SESSION_TOKEN=" + _shell_quote(self.fetch["token"]), "python", "-m", "nexus_micro", "list",
                 "--base-url", _shell_quote(self.fetch["base_url"]), "--timeout", "{:g}".format(self.fetch["timeout"]),
                 "--max-response-bytes", str(self.fetch["max_response_bytes"])]
        if "deadline" in self.fetch:
            parts += ["--deadline", "{:g}".format(self.fetch["deadline"])]
        line = " ".join(parts)
        if "refresh_token" in self.fetch:
            line += "   # needs a token provider returning {}".format(_shell_quote(self.fetch["refresh_token"]))
        return line

    def __repr__(self) -> str:
        return f"Trial({self.scenario!r}, run_id={self.run_id!r})"

    # -- judging ---------------------------------------------------------------------------

    def judge(self, reply: dict, features: Any = frozenset()) -> list[Failure]:
        """The verdict on this trial: [] = pass, else (rule, message) pairs. Call it as soon as
        the fetch returned: the first call's time bounds when the call ended."""
        if self.judged_at is None:
            self.judged_at = time.monotonic()
            self._run.elapsed = self.judged_at - self.prepared_at
        self._settle()
        features = frozenset(features or ())
        if not isinstance(reply, dict):
            return self._verdict([("protocol", "the reply is not a JSON object")])
        if reply.get("skipped") is True:
            # The wire first: a skip does not excuse what was already sent (a followed
            # redirect that carried the token, say). Only a clean wire makes a skip.
            wire = self._judge_requests(skipped=True)
            if wire:
                return self._verdict(wire)
            self._run.passed = False
            return [("skipped", str(reply.get("reason") or "skipped by the adapter"))]
        failures: list[Failure] = []
        if reply.get("errored") is True:
            failures.append(("errored", "the implementation crashed: {}".format(_excerpt(reply.get("message")))))
        else:
            failures.extend(self._judge_outcome(reply, features))
        failures.extend(self._judge_requests())
        return self._verdict(failures)

    def _verdict(self, failures: list[Failure]) -> list[Failure]:
        self._run.passed = not failures
        return failures

    def _settle(self, budget: float = 0.1) -> None:
        """Let the server's handlers finish recording this trial (a give-up is seen a moment
        after the client closed); a client that left a connection stalled costs `budget`."""
        end = time.monotonic() + budget
        while time.monotonic() < end:
            with self._nexus._lock:
                busy = any(r.done is None for r in self._run.requests)
            if not busy:
                return
            time.sleep(0.005)

    def _judge_outcome(self, reply: dict, features: frozenset) -> list[Failure]:
        sc = self._run.scenario
        rule = sc.rules[0]
        if reply.get("ok") is True:
            records = reply.get("micro_deposits")
            if not isinstance(records, list):
                return [("protocol", "ok reply without a micro_deposits list")]
            if sc.expect != "ok":
                return [(rule, f"expected error {sc.expect!r}, got ok with {len(records)} record(s)")]
            if not canonical_equal(records, sc.records):
                return [("S12", "records differ from the expected canonical form: "
                         + _first_difference(records, sc.records))]
            if "drift" in features and sc.drift is not None:
                return self._judge_drift(reply.get("drift"), sc.drift)
            return []
        if reply.get("ok") is False:
            error = reply.get("error")
            if sc.expect == "ok":
                return [(rule, f"expected ok, got error {_short(error)}")]
            if error != sc.expect:
                return [(rule, f"expected error {sc.expect!r}, got {_short(error)}")]
            return []
        return [("protocol", "the reply has neither ok, skipped nor errored")]

    @staticmethod
    def _judge_drift(got: Any, want: list) -> list[Failure]:
        """S11: with the drift feature, an ok reply's notes equal the expected ones exactly."""
        if not isinstance(got, list):
            return [("S11", "the adapter lists the drift feature, but the ok reply has no drift list")]
        if len(got) != len(want):
            return [("S11", f"{len(got)} drift note(s), expected {len(want)}: {_short(want, 200)}")]
        for i, (g, w) in enumerate(zip(got, want)):
            if not _exactly_equal(g, w):
                return [("S11", f"drift[{i}] is {_short(g, 200)}, expected {_short(w, 200)}")]
        return []

    def _judge_requests(self, *, skipped: bool = False) -> list[Failure]:
        """What the server saw. `skipped`: the adapter made no claim about the call, so too few
        attempts (none, typically) are not held against it; everything it did send is judged."""
        sc = self._run.scenario
        seen = self.requests
        main = [r for r in seen if r.listener == "main"]
        other = [r for r in seen if r.listener == "other"]
        conns = [r for r in seen if r.listener == "port"]
        failures: list[Failure] = []

        if sc.attempts == (0, 0):
            if seen:
                failures.append((sc.count_rule, _NOTHING_SENT[sc.count_rule] % len(seen)))
            return failures

        failures.extend(self._check_each_request(main))

        counted = conns if sc.port in ("reset", "tls") else main
        unit = "connection(s)" if sc.port else "request(s)"
        if sc.attempts is not None:
            lo, hi = sc.attempts
            if len(counted) > max(hi, MAX_ATTEMPTS):
                failures.append(("S17a", f"{len(counted)} {unit}: more than {max(hi, MAX_ATTEMPTS)} attempts "
                                 "(max_retries 2)"))
            elif len(counted) > hi or (len(counted) < lo and not skipped):
                want = str(lo) if lo == hi else f"{lo} to {hi}"
                failures.append((sc.count_rule, f"{len(counted)} {unit}, expected {want}"))

        failures.extend(self._check_waits(counted))
        if sc.check is not None and not skipped:
            failures.extend(sc.check(self, main))

        if other:
            failures.append(("S19", f"followed a redirect: {len(other)} request(s) reached the other origin"))
            token = self._run.token
            if any(token in v for r in other for _, v in r.headers) or any(
                    token in urllib.parse.unquote(r.target) for r in other):
                failures.append(("S22a", "the session token was sent to another origin"))
        return failures

    def _check_waits(self, attempts: list[SeenRequest]) -> list[Failure]:
        """S17b/S17c: each retry's gap against what the previous response asked for. Keeps the
        full-jitter gaps as this trial's samples, for the run-wide statistics."""
        failures: list[Failure] = []
        samples = []
        n = 0
        for prev, nxt in zip(attempts, attempts[1:]):
            kind = prev.wait
            if kind is None or kind == REFRESH:
                continue                   # no retry was due (the count judges it), or S18's repeat
            n += 1
            gap = _gap(prev, nxt)
            if gap is None:
                continue
            if kind == JITTER:
                cap = _jitter_cap(n)
                samples.append((n, gap, cap))
                if gap > cap + SLACK:
                    failures.append(("S17c", f"retry {n} came {gap:.3f} s after the previous attempt ended; full "
                                     f"jitter waits at most {cap:.2f} s ({SLACK:.2f} s of slack allowed)"))
            elif kind[0] == "after":
                delay = kind[1]
                earliest = nxt.t - prev.end_from if prev.gone is None and prev.end_from is not None else gap
                if earliest < delay - EARLY:
                    failures.append(("S17b", f"retry {n} came {earliest:.3f} s after a response with Retry-After "
                                     f"{delay:g} s: not before that delay"))
                elif gap > delay + SLACK:
                    failures.append(("S17b", f"retry {n} came {gap:.3f} s after a response with Retry-After "
                                     f"{delay:g} s: wait exactly that delay, no jitter added ({SLACK:.2f} s of "
                                     "slack allowed)"))
            else:                          # until(wall): a Retry-After HTTP-date
                target = kind[1]
                due = max(target, _wall(prev, prev.ended))
                if nxt.wall < target - EARLY:
                    failures.append(("S17b", f"retry {n} came {target - nxt.wall:.3f} s before its Retry-After date"))
                elif nxt.wall > due + SLACK:
                    failures.append(("S17b", f"retry {n} came {nxt.wall - due:.3f} s after its Retry-After date "
                                     f"was due ({gap:.3f} s after the response ended); wait exactly until that "
                                     f"date ({SLACK:.2f} s of slack allowed)"))
        self._run.samples = samples
        return failures

    def _check_each_request(self, main: list[SeenRequest]) -> list[Failure]:
        """S13a/S13b on every request; one failure per kind, naming the attempts."""
        tokens = self._run.tokens
        bad: dict[tuple[str, str], list[int]] = {}

        def note(rule: str, what: str, attempt: int) -> None:
            bad.setdefault((rule, what), []).append(attempt)

        for r in main:
            if r.method != "GET":
                note("S13a", f"method {r.method}, expected GET", r.attempt)
            if r.target != self._run.path:
                note("S13a", f"request target {_short(r.target)}, expected {self._run.path}", r.attempt)
            if r.body_declared not in (None, 0):
                note("S13a", "the request has a body", r.attempt)
            values = r.header_values("MD-SESSION-TOKEN")
            if not values:
                note("S13b", "no MD-SESSION-TOKEN header", r.attempt)
            elif len(values) > 1:
                note("S13b", f"{len(values)} MD-SESSION-TOKEN headers", r.attempt)
            elif values[0] not in tokens:
                note("S13b", "MD-SESSION-TOKEN is not the session token byte for byte "
                     f"({len(values[0])} characters, expected {len(tokens[0])})", r.attempt)
            accepts = r.header_values("Accept")
            types = [part.split(";")[0].strip().lower() for v in accepts for part in v.split(",")]
            if MEDIA_TYPE not in types:
                note("S13b", "Accept is {}, expected {}".format(_short(accepts) if accepts else "missing", MEDIA_TYPE),
                     r.attempt)
        return [(rule, "{} (attempt {})".format(what, ", ".join(map(str, attempts))))
                for (rule, what), attempts in bad.items()]


def _excerpt(text: Any, limit: int = 200) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= limit else text[:limit] + "..."


def _shell_quote(text: str) -> str:
    """shlex.quote, or bash's $'...' when the text holds control characters."""
    if all(" " <= ch <= "~" for ch in text):
        return shlex.quote(text)
    return "$'{}'".format("".join(ch if " " <= ch <= "~" and ch not in "\\'" else
                             f"\\x{ord(ch):02x}" if ord(ch) < 256 else f"\\u{ord(ch):04x}" for ch in text))


# --------------------------------------------------------------------------------------------
# The HTTP side
# --------------------------------------------------------------------------------------------

_KNOWN_METHODS = ("POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT")


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _head_bytes(status: int, fields: list[tuple[str, str]], reason: str | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason or _reason(status)}"]
    lines += [f"{name}: {value}" for name, value in fields]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _reset_socket(sock: socket.socket) -> None:
    """Close with an RST (SO_LINGER 0)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False             # FakeNexus joins its own handler threads, with a budget
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple, nexus: FakeNexus, listener: str):
        self.nexus = nexus
        self.listener = listener
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:  # no tracebacks on stderr
        pass


class _Handler(BaseHTTPRequestHandler):
    """Records every request and answers it with its run's scenario. Responses are written as
    raw bytes, head and body in one write, so that scenarios control framing exactly."""

    protocol_version = "HTTP/1.1"
    server_version = "FakeNexus/2"
    sys_version = ""
    timeout = 10.0                     # socket timeout: no read or write waits longer
    server: _Server

    run: _Run
    seen: SeenRequest

    # -- bookkeeping ----------------------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        self._aborted = False
        self._on_connection = 0
        self._head_sent = False
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
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

    def handle_one_request(self) -> None:
        """BaseHTTPRequestHandler's, except that every method reaches _dispatch (recorded; 405
        or 501 there) and a request line too long just closes the connection."""
        try:
            line = self.rfile.readline(65537)
        except OSError:
            self.close_connection = True
            return
        if not line or len(line) > 65536:
            self.close_connection = True
            return
        self.raw_requestline = line
        self._head_sent = False
        if not self.parse_request():   # a malformed request: parse_request answered 400
            return
        self._dispatch()
        if not self._aborted:
            try:
                self.wfile.flush()
            except OSError:
                self.close_connection = True

    # -- every request ends up here --------------------------------------------------------

    def _dispatch(self) -> None:
        nexus = self.server.nexus
        listener = self.server.listener
        self._on_connection += 1
        declared = self._drain_request_body()
        run, seen = nexus._record(listener, self.command, self.path, list(self.headers.items()),
                                  declared, self._on_connection)
        self.seen = seen
        try:
            if self.command not in ("GET", "HEAD"):
                self._not_allowed()
            elif run is None:
                self.respond(404, _error_body("4040", "Unknown run"))
            else:
                self.run = run
                if listener == "other":
                    serve_other_origin(self, seen.attempt)
                elif seen.path != run.path:
                    self.respond(404, _error_body("4040", "Not found"))
                elif seen.token is None or seen.token not in run.tokens:
                    self.respond(401, _error_body("4010", "Invalid session token"))
                else:
                    run.scenario.serve(self, seen.attempt)
        except OSError:                # the client went away (reset, broken pipe, timeout)
            if seen.gone is None:
                seen.gone = time.monotonic()
            self.abort()
        finally:
            if seen.done is None:
                seen.done = time.monotonic()   # the response is written, or the connection is gone

    def _not_allowed(self) -> None:
        """RFC 9110: 405 with Allow for the methods HTTP defines, 501 for the others."""
        if self.command in _KNOWN_METHODS:
            self.respond(405, _error_body("4050", "Method not allowed"), headers=[("Allow", "GET, HEAD")])
        else:
            self.respond(501, _error_body("5010", "Not implemented"))

    def _drain_request_body(self) -> int | None:
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

    def head_bytes(self, status: int, fields: list[tuple[str, str]], *, keep_alive: bool = False,
                   reason: str | None = None) -> bytes:
        """A final response head: Date and Server, `fields`, and `Connection: close` unless
        `keep_alive` (then the client may send its next attempt on this connection)."""
        fields = [("Date", email.utils.formatdate(usegmt=True)), ("Server", self.server_version), *fields]
        if not keep_alive:
            fields.append(("Connection", "close"))
            self.close_connection = True
        return _head_bytes(status, fields, reason)

    def send_head(self, status: int, fields: list[tuple[str, str]], *, keep_alive: bool = False,
                  reason: str | None = None, body: bytes = b"") -> None:
        """The final head (and `body`, in the same write; not for HEAD)."""
        data = self.head_bytes(status, fields, keep_alive=keep_alive, reason=reason)
        self._head_sent = True
        self._send(data + (body if self.command != "HEAD" else b""))
        self.seen.head_sent = time.monotonic()

    def mark_head_sent(self) -> None:
        """For a head written by hand (a trickle): what follows is body."""
        self._head_sent = True
        self.seen.head_sent = time.monotonic()

    def respond(self, status: int, body: bytes = b"", *, headers: list[tuple[str, str]] = (),
                content_type: str | None = MEDIA_TYPE, length: bool = True, keep_alive: bool = False,
                wait: tuple | None = None, reason: str | None = None) -> None:
        """A complete response in one write. `wait`: what the next request must wait for."""
        self.seen.wait = wait
        fields = []
        if content_type and (body or status not in (204, 304)):
            fields.append(("Content-Type", content_type))
        fields.extend(headers)
        if length:
            fields.append(("Content-Length", str(len(body))))
        self.seen.end_from = time.monotonic()
        self.send_head(status, fields, keep_alive=keep_alive, reason=reason, body=body)
        self.seen.done = time.monotonic()

    def interim(self, status: int, fields: list[tuple[str, str]] = ()) -> None:
        """A 1xx head (S14: skipped by the client); never ends the response."""
        self._send(_head_bytes(status, list(fields)))

    def write(self, data: bytes) -> None:
        """Raw bytes; after the head of a HEAD request, nothing (HEAD gets no body)."""
        if self.command == "HEAD" and self._head_sent:
            return
        self._send(data)

    def _send(self, data: bytes) -> None:
        self.wfile.write(data)
        self.seen.last_write = time.monotonic()

    def wait_gone(self, seconds: float) -> bool:
        """Wait up to `seconds` (less when the server closes). True, with `seen.gone` set, when
        the client closed the connection meanwhile: that is when it gave up."""
        end = time.monotonic() + seconds
        sock = self.connection
        peekable = not isinstance(sock, ssl.SSLSocket)
        while not self.server.nexus._closing.is_set():
            left = end - time.monotonic()
            if left <= 0:
                return False
            if not peekable:
                self.server.nexus._closing.wait(min(left, 0.05))
                continue
            try:
                readable, _, _ = select.select([sock], [], [], min(left, 0.05))
                data = sock.recv(1, socket.MSG_PEEK) if readable else None
            except BlockingIOError:
                continue
            except (OSError, ValueError):
                data = b""
            if data == b"":
                self.seen.gone = time.monotonic()
                self.close_connection = True
                return True
            if data:                   # the client sent more (pipelining): sleep the rest out
                self.server.nexus._closing.wait(left)
                return False
        return False

    def trickle(self, data: bytes, step: float, limit: float) -> bool:
        """Write `data` a byte every `step` s; after `limit` s the rest at once. False when the
        client went away first."""
        started = time.monotonic()
        for i in range(len(data)):
            if time.monotonic() - started >= limit:
                self.write(data[i:])
                return True
            self.write(data[i:i + 1])
            if self.wait_gone(step):
                return False
        return True

    def abort(self, wait: tuple | None = None) -> None:
        """Close the connection now (FIN), without finishing the response."""
        if wait is not None:
            self.seen.wait = wait
        self.close_connection = True
        if self._aborted:
            return
        self._aborted = True
        self.seen.end_from = time.monotonic()
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._close_socket()
        self.seen.done = time.monotonic()

    def reset(self, wait: tuple | None = None) -> None:
        """Close the connection with an RST (SO_LINGER 0), without any response."""
        if wait is not None:
            self.seen.wait = wait
        self.close_connection = True
        self._aborted = True
        self.seen.end_from = time.monotonic()
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self._close_socket()
        self.seen.done = time.monotonic()

    def _close_socket(self) -> None:
        for closer in (self.rfile.close, self.connection.close):
            try:
                closer()
            except OSError:
                pass


@functools.lru_cache(maxsize=None)
def _untrusted_context() -> ssl.SSLContext:
    """The server side of tls_untrusted: the kit's self-signed certificate (certs/make.sh)."""
    from nexus_micro_kit import resources

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(resources.kit_file("certs/untrusted-cert.pem"),
                            resources.kit_file("certs/untrusted-key.pem"))
    return context


class _Port:
    """A trial's own port, for faults below HTTP that a shared listener could not attribute:
    "refused" (bound, never listening: the kernel refuses every connect), "blackhole" (listening
    with a full accept queue: connects never complete), "reset" (every connection accepted and
    reset at once) and "tls" (HTTPS with a certificate nobody trusts). Connections to "reset"
    and "tls" are recorded as listener "port" arrivals."""

    def __init__(self, nexus: FakeNexus, run: _Run, kind: str):
        self.nexus, self.run, self.kind = nexus, run, kind
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((nexus.host, 0))
        self.port: int = self.sock.getsockname()[1]
        self.filler: socket.socket | None = None
        self.threads: list[threading.Thread] = []
        if kind == "blackhole":
            # listen(0) queues one connection; the filler takes it, so the kernel drops every
            # later SYN (tcp_abort_on_overflow is off by default): connects time out.
            self.sock.listen(0)
            self.filler = socket.create_connection((nexus.host, self.port), timeout=2.0)
            self._probe_blackhole()
        elif kind in ("reset", "tls"):
            self.sock.listen(16)
            self._start(self._accept_loop)
        elif kind != "refused":
            raise ValueError(f"unknown port kind {kind!r}")

    def _probe_blackhole(self) -> None:
        """A connect must time out here, not be refused or accepted: otherwise the OS handles a
        full accept queue differently (Windows refuses) and connect_timeout would judge wrongly."""
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        probe.settimeout(0.05)
        try:
            probe.connect((self.nexus.host, self.port))
        except (socket.timeout, TimeoutError):
            return
        except OSError as exc:
            raise RuntimeError(f"connect_timeout needs an OS that drops SYNs on a full accept queue (Linux); "
                               f"here a connect failed with {exc!r}") from None
        finally:
            probe.close()
        raise RuntimeError("connect_timeout needs an OS that drops SYNs on a full accept queue (Linux); "
                           "here a connect completed")

    def _start(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True, name=f"FakeNexus-port-{self.port}")
        self.threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self.nexus._closing.is_set():
            try:
                readable, _, _ = select.select([self.sock], [], [], 0.05)
                if not readable:
                    continue
                conn, _ = self.sock.accept()
            except (OSError, ValueError):
                return
            seen = self.nexus._record_connection(self.run)
            if self.kind == "reset":
                seen.wait, seen.note = JITTER, "reset"
                _reset_socket(conn)
                seen.done = time.monotonic()
            else:
                self._start(self._tls_session, conn, seen)

    def _tls_session(self, conn: socket.socket, seen: SeenRequest) -> None:
        try:
            conn.settimeout(5.0)
            first = conn.recv(1, socket.MSG_PEEK)
            if not first:
                seen.note = "closed"
            elif first != b"\x16":     # not a TLS record: plain HTTP on an https URL
                seen.note = "plaintext"
                _Handler(conn, ("127.0.0.1", 0), self.nexus._servers[0])
            else:
                try:
                    tls = _untrusted_context().wrap_socket(conn, server_side=True)
                except (ssl.SSLError, OSError):
                    seen.note = "refused"   # the good end: the client rejected the certificate
                else:
                    seen.note = "handshake"
                    _Handler(tls, ("127.0.0.1", 0), self.nexus._servers[0])
        except OSError:
            pass
        finally:
            seen.done = time.monotonic()
            try:
                conn.close()
            except OSError:
                pass

    def close(self, budget: float) -> None:
        for sock in (self.sock, self.filler):
            if sock is not None:
                try:
                    sock.close()
                except OSError:
                    pass
        end = time.monotonic() + budget
        for thread in self.threads:
            thread.join(max(0.0, end - time.monotonic()))


class FakeNexus:
    """Two loopback listeners (main and "other origin") serving the scenarios, plus the ports of
    trials that need their own. A context manager: `__enter__` starts the listeners, `__exit__`
    stops everything promptly (sleeping handlers wake)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        try:
            loopback = ipaddress.ip_address(host).is_loopback and ipaddress.ip_address(host).version == 4
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError(f"FakeNexus binds an IPv4 loopback address only, not {host!r}")
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
        self._ports: list[_Port] = []

    # -- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> FakeNexus:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
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
                                     name=f"FakeNexus-{listener}", daemon=True)
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
            ports, self._ports = self._ports, []
        for port in ports:
            port.close(budget)
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
        host, port = self._main_address(index)
        return f"http://{host}:{port}/"

    def _main_address(self, index: int = 0) -> tuple[str, int]:
        if not self._servers:
            raise RuntimeError("FakeNexus is not started (use it as a context manager)")
        host, port = self._servers[index].server_address[:2]
        return host, port

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
        """A fresh run of `scenario`: its Trial holds the fetch op's fields and the judge."""
        sc = _BY_NAME.get(scenario)
        if sc is None:
            raise ValueError("unknown scenario {!r} (known: {})".format(scenario, ", ".join(SCENARIOS)))
        run_id = secrets.token_hex(8)
        path = f"/{run_id}/{sc.name}/micro_deposits"
        run = _Run(run_id=run_id, scenario=sc, token=secrets.token_urlsafe(24) + sc.token_suffix,
                   path=path, other_url=self.other_url.rstrip("/") + path,
                   refresh_token=("refresh-" + secrets.token_urlsafe(24)) if sc.refresh else None)
        if sc.port is not None:
            run.port = _Port(self, run, sc.port)
        with self._lock:
            self._runs[run_id] = run
            for token in run.tokens:
                self._by_token[token] = run
            if run.port is not None:
                self._ports.append(run.port)
        return Trial(self, run, sc.timeout if sc.timeout is not None else timeout)

    def _record(self, listener: str, method: str, target: str, headers: list[tuple[str, str]],
                declared: int | None, conn_index: int) -> tuple[_Run | None, SeenRequest]:
        seen = SeenRequest(listener, method, target, headers, declared, time.monotonic(), time.time(), 0,
                           conn_index)
        segments = seen.path.split("/")
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

    def _record_connection(self, run: _Run) -> SeenRequest:
        """A connection to a trial's own port (no request read)."""
        seen = SeenRequest("port", "", "", [], None, time.monotonic(), time.time(), 0)
        with self._lock:
            seen.attempt = 1 + sum(1 for r in run.requests if r.listener == "port")
            run.requests.append(seen)
        return seen

    def _call_overhead(self) -> float:
        """The quickest passed trial that sent nothing: what a call costs the adapter (0 if none)."""
        with self._lock:
            times = [run.elapsed for run in self._runs.values() if run.passed and run.elapsed is not None
                     and run.scenario.attempts == (0, 0)]
        return min(times, default=0.0)

    def _pooled_samples(self, exclude: _Run) -> list:
        """The full-jitter gaps of every other trial whose last judge passed."""
        with self._lock:
            return [s for run in self._runs.values() if run is not exclude and run.passed for s in run.samples]

    def _track(self, conn: socket.socket) -> None:
        with self._lock:
            self._conns.add(conn)
            self._handler_threads.add(threading.current_thread())

    def _untrack(self, conn: socket.socket) -> None:
        with self._lock:
            self._conns.discard(conn)
            self._handler_threads.discard(threading.current_thread())


# --------------------------------------------------------------------------------------------
# python -m nexus_micro_kit serve, and the kit README's scenario table
# --------------------------------------------------------------------------------------------

def serve(host: str = "127.0.0.1", port: int = 0) -> None:
    """Start a FakeNexus, print its URL and one prepared trial per scenario (its base URL, token
    and a ready command for the bundled client), block until Ctrl-C."""
    with FakeNexus(host, port) as nexus:
        print(f"fake Nexus on {nexus.url} (other origin {nexus.other_url})", flush=True)
        print("Each scenario below is ready once: its base URL (for --base-url), then a command that runs "
              "it with the bundled client. Any path ending in /micro_deposits under a base URL is the endpoint.")
        for name in SCENARIOS:
            trial = nexus.prepare(name)
            print("{}  {}\n    {}".format(name, trial.fetch["base_url"].encode("unicode_escape").decode("ascii"),
                                      trial.command_line()))
        print("Ctrl-C to stop.", flush=True)
        try:
            while not nexus._closing.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass


def scenarios_markdown() -> str:
    """The scenario table of nexus_micro_kit/README.md, from the scenario data (tests keep it current)."""
    rows = ["| scenario | the server does -> expected outcome; what is judged | requests | timeout | "
            "features | rules |", "|---|---|---|---|---|---|"]
    for s in _SCENARIOS:
        if s.attempts is None:
            count = "not countable"
        else:
            lo, hi = s.attempts
            count = (str(lo) if lo == hi else f"{lo}-{hi}") + (" connections" if s.port else "")
        timeout = f"{s.timeout:g} s" if s.timeout is not None else "2 s"
        if s.deadline is not None:
            timeout += f", deadline {s.deadline:g} s"
        summary = s.summary.replace("|", "\\|")
        rows.append("| `{}` | {} | {} | {} | {} | {} |".format(s.name, summary, count, timeout,
                                                             ", ".join(s.features) or "", ", ".join(s.rules)))
    return "\n".join(rows) + "\n"
