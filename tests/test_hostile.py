"""A hostile server against nexus_micro: the token echoed back in every form (S22a), and bodies
kept alive inside exceptions.

Everything runs for real: servers on 127.0.0.1 (tests/_servers.py) for the Client, and the
sans-IO ``parse_response(..., request=build_request(...))`` with the same bytes. Nothing of
nexus_micro is mocked. The last part turns promises of README.md's "Errors" and "Transport
notes" sections that no other test checked into tests.
"""
from __future__ import annotations

import json
import logging
import shutil
import socket
import ssl
import subprocess
import threading
import urllib.parse
from pathlib import Path
from typing import Any, Callable

import pytest
from _servers import (
    SAMPLE_RECORD,
    chunked,
    close_delimited,
    free_port,
    head_then_stall,
    json_reply,
    raw,
    reply,
    reset,
    self_signed_cert,
    serve,  # noqa: F401  (fixture)
    stall,
)

import nexus_micro as nm

ROOT = Path(__file__).resolve().parents[1]

# '+', '/' and '=' are the characters percent-encoding changes; the mixed case shows a
# case-folding redaction for what it is.
TOKEN = "SeCrEt+Tok/en=42"
TEXT_PLAIN = [("Content-Type", "text/plain")]


def _every_char(token: str, hex_format: str) -> str:
    return "".join(hex_format % ord(c) for c in token)


# The forms a server may echo the token in (S22a: "also percent-encoded ..., any hex case, some
# or all characters encoded").
FORMS = {
    "raw": TOKEN,
    "encoded": "SeCrEt%2BTok%2Fen%3D42",
    "encoded-lower-hex": "SeCrEt%2bTok%2fen%3d42",
    "partly-encoded": "SeCrEt%2BTok/en=42",
    "partly-encoded-mixed-case": "SeCrEt+Tok%2fen%3D42",
    "every-character": _every_char(TOKEN, "%%%02X"),
    "every-character-lower-hex": _every_char(TOKEN, "%%%02x"),
}


def shows_token(text: str, token: str = TOKEN) -> bool:
    """Whether ``text`` shows 6 or more consecutive characters of ``token``, as they are or once
    percent-decoded (a redaction that misses an encoded form, or cuts one in half, shows here)."""
    texts = (text, urllib.parse.unquote(text))
    return any(token[i:i + 6] in t for t in texts for i in range(len(token) - 5))


# --------------------------------------------------------------------------- what an exception holds


def reachable(exc: BaseException) -> list[tuple[str, Any]]:
    """(path, leaf) for everything an exception holds: its args, ``__cause__``, ``__context__``
    and ``vars()``, recursively into values that are exceptions, dicts, lists or tuples.

    Tracebacks are out of scope: their frames' locals hold the body by nature (the parser had
    it in hand), and ``__traceback__`` is not in ``vars()``. What is checked is what outlives
    the traceback: an exception that is logged, pickled or kept by a caller.
    """
    found: list[tuple[str, Any]] = []
    seen: set = set()

    def visit(value: Any, path: str) -> None:
        if isinstance(value, (BaseException, dict, list, tuple)):
            if id(value) in seen:
                return
            seen.add(id(value))
        if isinstance(value, BaseException):
            visit(value.args, path + ".args")
            visit(value.__cause__, path + ".__cause__")
            visit(value.__context__, path + ".__context__")
            for name, attr in vars(value).items():
                visit(attr, f"{path}.{name}")
        elif isinstance(value, dict):
            for key, item in value.items():
                visit(key, f"{path}<key>")
                visit(item, f"{path}[{key!r}]")
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                visit(item, f"{path}[{i}]")
        elif value is not None:
            found.append((path, value))

    visit(exc, "exc")
    return found


def _leaf_text(value: Any) -> str | None:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("latin-1")
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, int, float, type)):
        return None
    try:  # another object (a header message, a socket): what it would print
        return f"{value!s} {value!r}"
    except Exception:  # an object that cannot print cannot leak by printing
        return None


# Parts of a body that no message excerpt reaches: an exception that holds one of them holds the
# body (or a large part of it). The filler keeps them past the first 300 characters.
MARKERS = [f"body-part-{i:03d}" for i in range(60)]
PADDING = "." * 300 + " ".join(MARKERS)


def leaks(exc: BaseException, token: str | None = TOKEN) -> list[str]:
    """What of the body (its MARKERS) or of ``token`` an exception holds, by path; [] when nothing."""
    problems = []
    for text, where in [(str(exc), "str(exc)"), (repr(exc), "repr(exc)")] + [
        (_leaf_text(value), path) for path, value in reachable(exc)
    ]:
        if text is None:
            continue
        if token is not None and shows_token(text, token):
            problems.append(f"{where} shows the token: {text[:120]!r}")
        parts = [m for m in MARKERS if m in text]
        if parts:
            problems.append(f"{where} holds the body ({len(parts)} of {len(MARKERS)} marked parts)")
    return problems


def fetch(server, token: str = TOKEN, **kw: Any) -> BaseException:
    """The exception one Client call against ``server`` raises (the test fails if none)."""
    strict = kw.pop("strict", False)
    kw.setdefault("timeout", 2.0)
    kw.setdefault("max_retries", 0)
    with pytest.raises(nm.NexusError) as info:
        nm.Client(token, base_url=server.url, **kw).list_microdeposits(strict=strict)
    return info.value


def sans_io(status: int, headers: list, body: bytes, **kw: Any) -> BaseException:
    """The exception ``parse_response`` raises for one response, given the request it answers."""
    request = nm.build_request(TOKEN, base_url="https://int-data.moneydesktop.com/")
    with pytest.raises(nm.NexusError) as info:
        nm.parse_response(status, headers, body, request=request, **kw)
    return info.value


# --------------------------------------------------------------------------- S22a: echoes, sans-IO


def test_s22a_parse_response_with_request_redacts_an_echoed_token() -> None:
    """The issue's case: a 401 echoing the token in its body and its request id."""
    request = nm.build_request(TOKEN, base_url="https://int-data.moneydesktop.com/")
    body = json.dumps({"error": {"code": "4010", "message": f"bad token {TOKEN}"}}).encode()
    with pytest.raises(nm.Unauthorized) as info:
        nm.parse_response(401, [("X-Request-Id", TOKEN)], body, request=request)
    exc = info.value
    for text in (str(exc), repr(exc), exc.message or "", exc.request_id or ""):
        assert TOKEN not in text
    assert exc.message is not None and exc.message.startswith("bad token")
    assert exc.status == 401 and exc.code == "4010"


def test_s22a_parse_response_with_request_redacts_a_location_and_an_excerpt() -> None:
    request = nm.build_request(TOKEN, base_url="https://int-data.moneydesktop.com/")
    with pytest.raises(nm.UnexpectedRedirect) as info:
        nm.parse_response(302, [("Location", f"https://evil.invalid/?t={TOKEN}")], b"", request=request)
    assert TOKEN not in str(info.value) and TOKEN not in (info.value.location or "")
    assert "evil.invalid" in (info.value.location or "")
    with pytest.raises(nm.MalformedResponse) as info2:
        nm.parse_response(200, TEXT_PLAIN, f"Denied: token {TOKEN}".encode(), request=request)
    assert TOKEN not in str(info2.value) and "Denied" in str(info2.value)


def test_parse_response_without_request_still_works() -> None:
    """Without ``request=`` nothing is known to redact; the mapping itself is unchanged."""
    with pytest.raises(nm.Forbidden) as info:
        nm.parse_response(403, [("X-Request-Id", "req-1")], b'{"error": {"code": "4030", "message": "no"}}')
    assert info.value.request_id == "req-1" and info.value.message == "no"
    assert len(nm.parse_response(200, [], b'{"micro_deposits": []}')) == 0


def _echo_cases(form: str) -> dict:
    """Where a hostile server echoes ``form``: (status, headers, body, expected class)."""
    return {
        "location": (302, [("Location", f"https://evil.invalid/cb?session={form}")], b"", nm.UnexpectedRedirect),
        "error-message": (401, [], json.dumps({"error": {"code": "4010", "message": f"bad token {form}"}}).encode(),
                          nm.Unauthorized),
        "error-code": (400, [], json.dumps({"code": form, "message": "refused"}).encode(), nm.HTTPError),
        "error-string": (500, [], json.dumps({"error": f"session {form} unknown"}).encode(), nm.ServerError),
        "request-id": (403, [("X-Request-Id", f"req-{form}")], b"{}", nm.Forbidden),
        "2xx-excerpt": (200, TEXT_PLAIN, f"Denied: MD-SESSION-TOKEN={form}".encode(), nm.MalformedResponse),
        "error-excerpt": (502, TEXT_PLAIN, f"upstream refused {form}".encode(), nm.ServerError),
    }


PLACES = list(_echo_cases(TOKEN))


@pytest.mark.parametrize("place", PLACES)
@pytest.mark.parametrize("form", list(FORMS))
def test_s22a_sans_io_redacts_every_form_of_the_token_everywhere(form: str, place: str) -> None:
    status, headers, body, cls = _echo_cases(FORMS[form])[place]
    exc = sans_io(status, headers, body)
    assert isinstance(exc, cls), repr(exc)
    assert leaks(exc) == []


@pytest.mark.parametrize("place", PLACES)
@pytest.mark.parametrize("form", list(FORMS))
def test_s22a_client_redacts_every_form_of_the_token_everywhere(serve, form: str, place: str) -> None:
    status, headers, body, cls = _echo_cases(FORMS[form])[place]
    content_type = None if any(k == "Content-Type" for k, _ in headers) else "application/vnd.mx.nexus.v1+json"
    server = serve(reply(status, body, headers, content_type=content_type))
    exc = fetch(server)
    assert isinstance(exc, cls), repr(exc)
    assert leaks(exc) == []
    assert server.count == 1 and server.requests[0].token == TOKEN


def test_s22a_redirect_location_keeps_what_is_not_the_token(serve) -> None:
    """Redaction removes the token, not the rest of the Location (the caller needs the host)."""
    server = serve(reply(307, b"", [("Location", f"https://other.invalid/v1/?t={FORMS['encoded']}")]))
    exc = fetch(server)
    assert isinstance(exc, nm.UnexpectedRedirect) and exc.status == 307
    assert exc.location is not None and exc.location.startswith("https://other.invalid/v1/")
    assert not shows_token(exc.location)


# --------------------------------------------------------------------------- bodies kept in exceptions


def _json_with_padding(doc: dict) -> bytes:
    return json.dumps(dict(doc, padding=PADDING)).encode()


NON_JSON = f"<html><body>maintenance for {TOKEN} {PADDING}</body></html>".encode()
# 2xx bodies that S1/S2 reject, each holding the token and the marked padding.
BAD_2XX = {
    "not-json": NON_JSON,
    "invalid-utf8": b"\xff\xfe" + NON_JSON,  # UnicodeDecodeError.object would be the whole body
    "nan": _json_with_padding({"micro_deposits": [], "echo": TOKEN})[:-1] + b', "x": NaN}',
    "too-deep": _json_with_padding({"echo": TOKEN})[:-1] + b', "x": ' + b"[" * 70 + b"]" * 70 + b"}",
    "lone-surrogate": _json_with_padding({"echo": TOKEN})[:-1] + b', "x": "\\ud800"}',
    "4301-digits": _json_with_padding({"echo": TOKEN})[:-1] + b', "x": ' + b"7" * 4301 + b"}",
    "top-level-array": json.dumps([TOKEN, PADDING]).encode(),
    "micro_deposits-not-array": json.dumps({"micro_deposits": f"{TOKEN} {PADDING}"}).encode(),
    "trailing-data": _json_with_padding({"micro_deposits": []}) + f" and {TOKEN}".encode(),
}


@pytest.mark.parametrize("kind", list(BAD_2XX))
def test_malformed_2xx_body_is_not_kept_in_the_exception_sans_io(kind: str) -> None:
    exc = sans_io(200, [], BAD_2XX[kind])
    assert isinstance(exc, nm.MalformedResponse), repr(exc)
    assert leaks(exc) == []
    with pytest.raises(nm.MalformedResponse) as info:
        nm.parse_microdeposits(BAD_2XX[kind])
    assert leaks(info.value, token=None) == []  # no token was given; the body must still be gone


@pytest.mark.parametrize("kind", list(BAD_2XX))
def test_malformed_2xx_body_is_not_kept_in_the_exception_over_http(serve, kind: str) -> None:
    server = serve(reply(200, BAD_2XX[kind], content_type="text/html"))
    exc = fetch(server)
    assert isinstance(exc, nm.MalformedResponse), repr(exc)
    assert leaks(exc) == []


def _error_body(code: str) -> bytes:
    return _json_with_padding({"error": {"code": code, "message": f"token {TOKEN} refused"}})


BIG = b'{"micro_deposits": [], "echo": "%s", "padding": "%s"}' % (TOKEN.encode(), PADDING.encode() * 40)

# Every other error kind a server (or a caller) can provoke: (responder, expected class, client options).
PROVOKED: dict = {
    "401": (reply(401, _error_body("4010")), nm.Unauthorized, {}),
    "4011": (reply(401, _error_body("4011")), nm.SessionExpired, {}),
    "403": (reply(403, _error_body("4030"), [("X-Request-Id", TOKEN)]), nm.Forbidden, {}),
    "404": (reply(404, _error_body("4040")), nm.NotFound, {}),
    "400": (reply(400, _error_body("4001")), nm.HTTPError, {}),
    "429": (reply(429, _error_body("4290"), [("Retry-After", "3600")]), nm.RateLimited, {}),
    "500-text": (reply(500, NON_JSON, content_type="text/plain"), nm.ServerError, {}),
    "503-retried": (reply(503, _error_body("5030"), [("Retry-After", "0")]), nm.ServerError, {"max_retries": 1}),
    "302": (reply(302, NON_JSON, [("Location", f"https://evil.invalid/?t={TOKEN}")], content_type="text/html"),
            nm.UnexpectedRedirect, {}),
    "strict-drift": (reply(200, json.dumps({"micro_deposits": [{"micro_deposit": {
        "guid": 7, "account_name": TOKEN, "institution_name": PADDING}}]})), nm.SchemaDrift, {"strict": True}),
    "cut-short": (raw(b"HTTP/1.1 200 OK\r\nContent-Length: 90000\r\nConnection: close\r\n\r\n" + BIG[:20000]),
                  nm.TransportError, {}),
    "broken-chunked": (chunked(200, [BIG[:9000], BIG[9000:15000]], terminate=False), nm.TransportError, {}),
    "bad-content-length": (raw(b"HTTP/1.1 200 OK\r\nContent-Length: 1e3\r\nConnection: close\r\n\r\n" + BIG),
                           nm.TransportError, {}),
    "too-large-by-length": (reply(200, BIG), nm.ResponseTooLarge, {"max_response_bytes": 1000}),
    "too-large-chunked": (chunked(200, [BIG[i:i + 4000] for i in range(0, len(BIG), 4000)]), nm.ResponseTooLarge,
                          {"max_response_bytes": 5000}),
    "too-large-close-delimited": (close_delimited(200, BIG), nm.ResponseTooLarge, {"max_response_bytes": 5000}),
    "stall": (stall(5), nm.Timeout, {"timeout": 0.3}),
    "stall-mid-body": (head_then_stall(200, [("Content-Length", str(len(BIG)))], BIG[:30000], seconds=5),
                       nm.Timeout, {"timeout": 0.3}),
    "reset": (reset(), nm.TransportError, {}),
}


@pytest.mark.parametrize("kind", list(PROVOKED))
def test_no_exception_holds_the_body_or_the_token(serve, kind: str) -> None:
    responder, cls, options = PROVOKED[kind]
    server = serve(responder)
    exc = fetch(server, **options)
    assert isinstance(exc, cls), repr(exc)
    assert leaks(exc) == []


@pytest.mark.parametrize("kind", ["401", "403", "429", "500-text", "302"])
def test_no_exception_holds_the_body_or_the_token_sans_io(kind: str) -> None:
    status, headers, body = {
        "401": (401, [], _error_body("4010")),
        "403": (403, [("X-Request-Id", TOKEN)], _error_body("4030")),
        "429": (429, [("Retry-After", "5")], _error_body("4290")),
        "500-text": (500, TEXT_PLAIN, NON_JSON),
        "302": (302, [("Location", f"https://evil.invalid/?t={TOKEN}")], NON_JSON),
    }[kind]
    assert leaks(sans_io(status, headers, body)) == []


def test_connection_refused_holds_no_token() -> None:
    client = nm.Client(TOKEN, base_url=f"http://127.0.0.1:{free_port()}/", timeout=1.0, max_retries=0)
    with pytest.raises(nm.TransportError) as info:
        client.list_microdeposits()
    assert leaks(info.value) == []


@pytest.mark.parametrize("bad", ["Zq9 Xw7+Vb3/Kp5", "Zq9Xw7\r\nX-Evil: Kp5", "Zq9ö7Vb3Kp5"])
def test_invalid_token_is_not_held_by_its_error(serve, bad: str) -> None:
    """S13c: refused before anything is sent, and the refused token is not echoed (S22a)."""
    server = serve(json_reply(200, {"micro_deposits": []}))
    with pytest.raises(ValueError) as info:
        nm.Client(bad, base_url=server.url).list_microdeposits()
    assert leaks(info.value, token=bad) == []
    assert server.count == 0


# --------------------------------------------------------------------------- README: "Errors"

CATEGORIES = {
    "MalformedResponse": "malformed_response",
    "SchemaDrift": "schema_drift",
    "HTTPError": "http_error",
    "Unauthorized": "unauthorized",
    "SessionExpired": "session_expired",
    "Forbidden": "forbidden",
    "NotFound": "not_found",
    "RateLimited": "rate_limited",
    "ServerError": "server_error",
    "UnexpectedRedirect": "unexpected_redirect",
    "ResponseTooLarge": "response_too_large",
    "TransportError": "transport_error",
    "Timeout": "timeout",
    "InvalidArgument": "invalid_argument",
}


def test_readme_every_error_has_the_kits_category() -> None:
    """README: "All errors are subclasses of NexusError; each has a .category (the kit's string)"."""
    for name, category in CATEGORIES.items():
        cls = getattr(nm, name, None)
        assert cls is not None, f"nexus_micro.{name} is missing"
        assert issubclass(cls, nm.NexusError) and cls.category == category, name
        assert name in nm.__all__
    exported = [getattr(nm, n) for n in nm.__all__]
    errors = {c.__name__ for c in exported if isinstance(c, type) and issubclass(c, BaseException)}
    assert errors == set(CATEGORIES) | {"NexusError"}  # no error class without a kit category


def test_invalid_argument_is_a_value_error_and_a_nexus_error() -> None:
    invalid = getattr(nm, "InvalidArgument", None)
    assert invalid is not None, "nexus_micro.InvalidArgument is missing"
    assert issubclass(invalid, ValueError) and issubclass(invalid, nm.NexusError)


# README: "Bad arguments (an empty token, a token with CR/LF or spaces, a non-https base URL) raise
# ValueError before anything is sent"; the API makes that InvalidArgument (category invalid_argument).
BAD_ARGUMENTS: list[tuple[str, Callable[[str], Any]]] = [
    ("empty-token", lambda url: nm.Client("", base_url=url)),
    ("token-with-space", lambda url: nm.Client("a b", base_url=url)),
    ("token-with-crlf", lambda url: nm.Client("a\r\nb", base_url=url)),
    ("per-call-token", lambda url: nm.Client(TOKEN, base_url=url).list_microdeposits(session_token="a b")),
    ("one-shot-token", lambda url: nm.list_microdeposits("a\nb", base_url=url)),
    ("http-base-url", lambda url: nm.Client(TOKEN, base_url="http://example.com/")),
    ("base-url-query", lambda url: nm.Client(TOKEN, base_url=url + "?x=1")),
    ("timeout-zero", lambda url: nm.Client(TOKEN, base_url=url, timeout=0)),
    ("deadline-negative", lambda url: nm.Client(TOKEN, base_url=url, deadline=-1)),
    ("max-retries-negative", lambda url: nm.Client(TOKEN, base_url=url, max_retries=-1)),
    ("max-response-bytes-zero", lambda url: nm.Client(TOKEN, base_url=url, max_response_bytes=0)),
    ("build-request-token", lambda url: nm.build_request("", base_url=url)),
]


@pytest.mark.parametrize("make", [m for _, m in BAD_ARGUMENTS], ids=[i for i, _ in BAD_ARGUMENTS])
def test_readme_bad_arguments_raise_invalid_argument_before_anything_is_sent(serve, make) -> None:
    server = serve(json_reply(200, {"micro_deposits": []}))
    with pytest.raises(ValueError) as info:
        client = make(server.url)
        if isinstance(client, nm.Client):  # refused lazily is still refused before sending
            client.list_microdeposits()
    exc = info.value
    assert type(exc).__name__ == "InvalidArgument", repr(exc)
    assert isinstance(exc, nm.NexusError) and exc.category == "invalid_argument"
    assert server.count == 0 and server.connections == 0


def _log_text(caplog) -> str:
    return "\n".join(f"{r.name} {r.levelname} {r.getMessage()}" for r in caplog.records)


@pytest.mark.parametrize("form", list(FORMS))
def test_readme_no_log_line_holds_the_token_during_a_failing_call(serve, caplog, form: str) -> None:
    """README: "No message, repr or log line ever holds the session token", with a server that
    echoes it (in some form) in its request id, Location and bodies, on every attempt."""
    echo = FORMS[form]
    server = serve(
        reply(503, json.dumps({"error": {"code": "5030", "message": f"busy {echo}"}}),
              [("Retry-After", "0"), ("X-Request-Id", f"req-{echo}")]),
        reply(200, f"proxy says {echo}", [("X-Request-Id", echo)], content_type="text/plain"),
    )
    caplog.set_level(logging.DEBUG, logger="nexus_micro")
    client = nm.Client(TOKEN, base_url=server.url, timeout=2.0, max_retries=1)
    with pytest.raises(nm.MalformedResponse) as info:
        client.list_microdeposits()
    assert server.count == 2
    assert [r for r in caplog.records if r.name == "nexus_micro"], "nothing was logged at DEBUG"
    text = _log_text(caplog)
    assert not shows_token(text), text
    assert leaks(info.value) == []
    assert not shows_token(repr(client))


def test_readme_redirect_echo_is_not_logged(serve, caplog) -> None:
    server = serve(reply(302, b"", [("Location", f"https://evil.invalid/?t={FORMS['encoded']}"),
                                    ("X-Request-Id", FORMS["every-character"])]))
    caplog.set_level(logging.DEBUG, logger="nexus_micro")
    exc = fetch(server)
    assert isinstance(exc, nm.UnexpectedRedirect)
    assert caplog.records and not shows_token(_log_text(caplog))


PERSONAL = {
    "account_number": 333312345678,  # an integer: coerced to "333312345678" (S6)
    "email": 4155550100,
    "first_name": ["Zelda"],
    "last_name": {"family": "Quixote"},
    "account_name": 987654321,
}


def test_readme_personal_data_is_never_in_drift_messages_or_logs(caplog) -> None:
    """README: account numbers show only their last 4 characters; names and email are never shown.
    Drift on exactly those fields: the strict error and the debug log name types, never values."""
    text = json.dumps({"micro_deposits": [{"micro_deposit": dict(SAMPLE_RECORD, **PERSONAL)}]})
    with pytest.raises(nm.SchemaDrift) as info:
        nm.parse_microdeposits(text, strict=True)
    caplog.set_level(logging.DEBUG, logger="nexus_micro")
    records = nm.parse_microdeposits(text)
    shown = [str(info.value), repr(info.value), _log_text(caplog), repr(records), repr(records[0])]
    shown += [str(note) for note in records.drift] + [repr(note) for note in records.drift]
    for value in ("333312345678", "4155550100", "Zelda", "Quixote", "987654321"):
        assert not any(value in s for s in shown), value
    assert {note.field for note in records.drift} >= set(PERSONAL)


# --------------------------------------------------------------------------- README: "Transport notes"


def test_readme_default_max_response_bytes_is_10_mib(serve) -> None:
    """README: ResponseTooLarge for a "body over max_response_bytes (10 MiB)": 10485761 bytes by
    Content-Length are refused before reading; a body of exactly 10485760 bytes is parsed."""
    over = serve(head_then_stall(200, [("Content-Length", str(10 * 1024 * 1024 + 1))], seconds=5))
    with pytest.raises(nm.ResponseTooLarge):
        nm.Client(TOKEN, base_url=over.url, timeout=2.0, max_retries=2).list_microdeposits()
    assert over.count == 1  # never retried (S17)
    exact = b'{"micro_deposits": []}'.ljust(10 * 1024 * 1024)
    at_cap = serve(reply(200, exact))
    assert len(nm.Client(TOKEN, base_url=at_cap.url, timeout=5.0).list_microdeposits()) == 0


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    return self_signed_cert(tmp_path_factory.mktemp("tls"))


def _tls_server_context(cert: str, key: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


def test_readme_ssl_cert_file_is_honoured_and_requests_ca_bundle_is_not(serve, tls_files, monkeypatch) -> None:
    """README TLS: "urllib's defaults honour SSL_CERT_FILE and SSL_CERT_DIR (not REQUESTS_CA_BUNDLE)".
    The shared default context is per value of those variables, so a change between calls counts."""
    server = serve(json_reply(200, {"micro_deposits": []}), tls=_tls_server_context(*tls_files))
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", tls_files[0])
    assert len(nm.Client(TOKEN, base_url=server.url, timeout=2.0).list_microdeposits()) == 0
    monkeypatch.delenv("SSL_CERT_FILE")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls_files[0])
    with pytest.raises(nm.TransportError, match=r"(?i)certificate"):
        nm.Client(TOKEN, base_url=server.url, timeout=2.0, max_retries=2).list_microdeposits()
    assert server.count == 1  # the unverified connection carried no request, and was not retried


def _cert_for_name(directory: Path, host: str) -> tuple[str, str]:
    """A self-signed certificate for DNS name ``host`` (needs openssl)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = str(directory / "name.pem"), str(directory / "name-key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", key, "-out", cert, "-days", "2", "-subj", f"/CN={host}", "-addext", f"subjectAltName=DNS:{host}"],
        check=True, capture_output=True, timeout=30,
    )
    return cert, key


class ConnectProxy:
    """An HTTP CONNECT proxy on 127.0.0.1 that tunnels every request to one local port, whatever
    host it names, and records the request head and every byte it tunnels."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.heads: list[bytes] = []
        self.tunnelled = bytearray()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._tunnel, args=(client,), daemon=True).start()

    def _tunnel(self, client: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            data = client.recv(4096)
            if not data:
                client.close()
                return
            head += data
        head, _, rest = head.partition(b"\r\n\r\n")
        with self._lock:
            self.heads.append(head)
        upstream = socket.create_connection(("127.0.0.1", self.target_port))
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        if rest:
            upstream.sendall(rest)
        for src, dst in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                with self._lock:
                    self.tunnelled += data
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self._listener.close()


def test_readme_https_proxy_is_a_connect_tunnel_and_the_token_stays_inside_tls(serve, tmp_path, monkeypatch):
    """README Proxies: "HTTPS_PROXY ... work as in urllib (a CONNECT tunnel: the token stays inside
    TLS)". The proxy is local and sends the tunnel to a local TLS server for api.example.invalid,
    so nothing resolves or leaves 127.0.0.1."""
    host = "api.example.invalid"
    cert, key = _cert_for_name(tmp_path, host)
    server = serve(json_reply(200, {"micro_deposits": [{"micro_deposit": SAMPLE_RECORD}]}),
                   tls=_tls_server_context(cert, key))
    proxy = ConnectProxy(server.port)
    try:
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{proxy.port}")
        ctx = ssl.create_default_context(cafile=cert)
        records = nm.Client(TOKEN, base_url=f"https://{host}/", ssl_context=ctx, timeout=3.0).list_microdeposits()
    finally:
        proxy.close()
    assert [r.guid for r in records] == [SAMPLE_RECORD["guid"]]
    assert len(proxy.heads) == 1 and proxy.heads[0].split(b"\r\n")[0].startswith(b"CONNECT api.example.invalid:443 ")
    assert TOKEN.encode() not in proxy.heads[0] and TOKEN.encode() not in bytes(proxy.tunnelled)
    assert b"micro_deposits" not in bytes(proxy.tunnelled)  # the request itself was encrypted
    (seen,) = server.requests
    assert seen.token == TOKEN and seen.header("Host") == host
