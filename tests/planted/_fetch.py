"""A small reference client for the kit's `fetch` op, on raw sockets: correct by default
(SEMANTICS.md S13-S22, the default policy of S17), with one knob per planted wire bug (`KNOBS`).

Bodies are interpreted by the kit's own oracle (`nexus_micro_kit.oracle.expect_parse`), so this
client shares no code with nexus_micro: tests/kit/test_server.py uses it as the correct stand-in
for every scenario, and the planted modules turn one knob each. It always sends
`Connection: close` (one request per connection) and speaks HTTP/1.1 by hand, because
http.client cannot plant most of these bugs (or avoid them: it skips no 1xx but 100, takes
`+5` as a Content-Length, and has no single wait for the head).
"""

from __future__ import annotations

import calendar
import functools
import ipaddress
import random
import re
import socket
import ssl
import time
import urllib.parse
from typing import Callable, Iterable

from nexus_micro_kit import oracle

MEDIA_TYPE = "application/vnd.mx.nexus.v1+json"
MAX_RETRIES = 2                    # S17a: the default policy
RETRY_AFTER_CAP = 60.0             # S17b
ERROR_BODY_CAP = 65536             # S20c
RETRY_STATUSES = (502, 503, 504)   # S17: the server errors that are retried

# knob -> the bug it plants (the rule it breaks)
KNOBS = {
    # existing planted modules
    "follow_redirects": "follows a 3xx Location, sending the token along (S19, S22a)",
    "parse_truncated": "parses a body cut short before its Content-Length (S20b)",
    "retry_400": "retries a 400 (S17)",
    "no_size_cap": "reads a 2xx body past max_response_bytes (S20a)",
    "no_4011": "reports code 4011 as a plain 401/http_error (S14)",
    "ignore_retry_after": "retries after full jitter whatever Retry-After says (S17b)",
    # the wire bugs of tests/planted/wire_*.py
    "jitter_on_retry_after": "adds full jitter on top of a Retry-After delay (S17b)",
    "constant_backoff": "waits a constant 1 s instead of full jitter (S17c)",
    "no_backoff": "retries at once instead of after full jitter (S17c)",
    "loose_ipv4": "accepts any IPv4 form inet_aton takes (127.1, 0x7f.0.0.1, ...) as loopback (S13d)",
    "redirect_codes": "takes only 301/302/303/307/308 as redirects, other 3xx as http_error (S14)",
    "retry_tls": "retries a certificate that fails verification (S17)",
    "no_tls_verify": "does not verify TLS certificates (S22a)",
    "no_interim_skip": "takes a 1xx response as the final one (S14)",
    "interim_101": "skips a 101 as if it were interim (S14)",
    "per_read_head_timeout": "bounds each read of the head by timeout instead of the whole head (S21a)",
    "timeout_halved": "gives up every network wait at half the timeout (S21a)",
    "strict_cl_list": "refuses a Content-Length list such as '5, 5' (S20d)",
    "lenient_cl": "reads Content-Length as http.client does: int() of the first field, else to EOF (S20d)",
    "cl_overflow": "fails on a Content-Length past a 64-bit integer instead of response_too_large (S20d)",
    "error_body_per_read": "bounds each read of an error body, not the whole body, by timeout (S20c)",
    "error_body_uncapped": "reads error bodies whole, past 64 KiB (S20c)",
    "ignore_deadline": "ignores the deadline (S21b)",
    "ignore_refresh": "never asks the token provider (S18)",
    "month_off_by_one": "a month table off by one: Jan is 0 (S16)",
    "local_time_date": "reads an HTTP-date as local time (S16)",
    "lenient_http_date": "parses Retry-After dates with email.utils (lower-case gmt, any day name; no second 60) (S16)",
    "float_retry_after": "accepts Retry-After seconds with a sign or a fraction (S16)",
    "int64_retry_after": "ignores a Retry-After past a 64-bit integer (S16)",
    "no_retry_connect": "does not retry a transport error before any response byte (refused, reset) (S17)",
    "narrow_2xx": "takes only 200-206 as success, other 2xx as http_error (S14)",
    "leak_encoded_token": "redacts the token from messages only as sent, not percent-encoded (S22a)",
    "excerpt_2xx": "quotes a 2xx body that fails to parse in its message, personal data included (S22b)",
    # misbehaviours for tests/kit/test_server.py
    "wrong_token": "sends the token with an 'x' appended (S13b)",
    "no_accept": "sends no Accept header (S13b)",
    "retry_401": "retries a 401 like a 503 (S18)",
    "late_retries": "adds 2 s to every wait before a retry (S17b, S17c)",
    "no_retry_transport": "never retries a timeout or transport error (S17)",
}

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_IMF_FIXDATE = re.compile(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), ([0-9]{2}) (" + "|".join(_MONTHS) + r") ([0-9]{4}) "
                          r"([0-9]{2}):([0-9]{2}):([0-9]{2}) GMT")
_DOTTED_QUAD = re.compile(r"(0|[1-9][0-9]{0,2})(\.(0|[1-9][0-9]{0,2})){3}")


class Outcome(Exception):
    """An error category reached before a body was interpreted. `final`: not retried; `early`:
    no byte of a response had arrived."""

    def __init__(self, category: str, *, final: bool = False, early: bool = False):
        super().__init__(category)
        self.category = category
        self.final = final
        self.early = early


# --------------------------------------------------------------------------------------------
# S13: the request
# --------------------------------------------------------------------------------------------

def _refuse() -> Outcome:
    return Outcome("invalid_argument", final=True, early=True)


def split_base_url(url: str, bugs: Iterable[str] = ()) -> tuple[str, str, int, str]:
    """S13d: (scheme, host, port, path ending in '/') or raises Outcome("invalid_argument")."""
    if not url or not all("!" <= ch <= "~" for ch in url) or "?" in url or "#" in url:
        raise _refuse()
    match = re.fullmatch(r"([A-Za-z][A-Za-z0-9+.-]*)://([^/]*)(/.*)?", url, re.S)
    if match is None:
        raise _refuse()
    scheme, authority, path = match.group(1).lower(), match.group(2), match.group(3) or "/"
    if scheme not in ("http", "https") or "@" in authority or not authority:
        raise _refuse()
    if authority.startswith("["):
        end = authority.find("]")
        host, rest = authority[1:end], authority[end + 1:]
        try:
            ipaddress.IPv6Address(host)           # no zone id: '%' is not in an address
        except ValueError:
            raise _refuse() from None
    else:
        host, colon, port_text = authority.partition(":")
        rest = colon + port_text
    if not host:
        raise _refuse()
    if rest == "":
        port = 443 if scheme == "https" else 80
    elif re.fullmatch(r":[0-9]{1,5}", rest) and 1 <= int(rest[1:]) <= 65535:
        port = int(rest[1:])
    else:
        raise _refuse()
    if scheme == "http" and not _is_loopback(host, "loose_ipv4" in bugs):
        raise _refuse()
    return scheme, host, port, path if path.endswith("/") else path + "/"


def _is_loopback(host: str, loose: bool) -> bool:
    """S13d: localhost (any case), a strict dotted quad in 127.0.0.0/8, or ::1."""
    if ":" in host:
        return ipaddress.IPv6Address(host) == ipaddress.IPv6Address("::1")
    if host.lower() == "localhost":
        return True
    if _DOTTED_QUAD.fullmatch(host):
        parts = [int(p) for p in host.split(".")]
        return all(p <= 255 for p in parts) and parts[0] == 127
    if loose:                                     # the bug: C's inet_aton, shorthands included
        try:
            return socket.inet_aton(host)[0] == 127
        except OSError:
            return False
    return False


def _request_bytes(host: str, port: int, scheme: str, path: str, token: str, bugs: set[str]) -> bytes:
    default = 443 if scheme == "https" else 80
    shown = f"[{host}]" if ":" in host else host
    lines = [f"GET {path}micro_deposits HTTP/1.1",
             "Host: " + (shown if port == default else f"{shown}:{port}"),
             "MD-SESSION-TOKEN: " + (token + "x" if "wrong_token" in bugs else token),
             "Content-Type: " + MEDIA_TYPE, "User-Agent: planted-fetch/1", "Connection: close"]
    if "no_accept" not in bugs:
        lines.insert(3, "Accept: " + MEDIA_TYPE)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


# --------------------------------------------------------------------------------------------
# S14, S20, S21: one attempt
# --------------------------------------------------------------------------------------------

class _Reader:
    """Buffered reads from a socket, each bounded by a deadline on the monotonic clock."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buf = b""
        self.received = False              # any byte of a response yet

    def fill(self, until: float, deadline_hit: bool) -> bool:
        """One recv; False at EOF. Raises Outcome("timeout") when `until` passes (final when
        `until` was the call's deadline: S21b)."""
        left = until - time.monotonic()
        if left <= 0:
            raise Outcome("timeout", final=deadline_hit)
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except (socket.timeout, TimeoutError):
            raise Outcome("timeout", final=deadline_hit) from None
        except OSError:
            raise Outcome("transport_error") from None
        if not data:
            return False
        self.buf += data
        self.received = True
        return True

    def take(self, n: int) -> bytes:
        data, self.buf = self.buf[:n], self.buf[n:]
        return data


class _Clock:
    """The waits of one attempt (S21): each ends at `timeout` from its start (halved by a knob),
    and at the call's deadline."""

    def __init__(self, timeout: float, ends: float | None, bugs: set[str]):
        self.timeout = timeout / 2 if "timeout_halved" in bugs else timeout
        self.ends = ends

    def until(self) -> tuple[float, bool]:
        """(when a wait starting now ends, whether that is the deadline)."""
        limit = time.monotonic() + self.timeout
        if self.ends is not None and self.ends <= limit:
            return self.ends, True
        return limit, False


def _context(bugs: set[str]) -> ssl.SSLContext:
    if "no_tls_verify" in bugs:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return _default_context()


@functools.lru_cache(maxsize=None)
def _default_context() -> ssl.SSLContext:
    """The system's trust store, built once (S22a: certificates and host names verified)."""
    return ssl.create_default_context()


def _connect(scheme: str, host: str, port: int, clock: _Clock, bugs: set[str]) -> socket.socket:
    """TCP, then TLS for https, each bounded by the clock (S21a 1)."""
    until, hit = clock.until()
    try:
        sock = socket.create_connection((host, port), timeout=max(0.001, until - time.monotonic()))
    except (socket.timeout, TimeoutError):
        raise Outcome("timeout", final=hit, early=True) from None
    except OSError:
        raise Outcome("transport_error", early=True) from None
    if scheme != "https":
        return sock
    until, hit = clock.until()
    sock.settimeout(max(0.001, until - time.monotonic()))
    try:
        return _context(bugs).wrap_socket(sock, server_hostname=host)
    except ssl.SSLCertVerificationError:
        sock.close()   # S17: a certificate that fails verification is not retried
        raise Outcome("transport_error", final="retry_tls" not in bugs, early=True) from None
    except (socket.timeout, TimeoutError):
        sock.close()
        raise Outcome("timeout", final=hit, early=True) from None
    except OSError:
        sock.close()
        raise Outcome("transport_error", early=True) from None


def _parse_head(raw: bytes) -> tuple[int, list[tuple[str, str]]]:
    lines = raw.decode("latin-1").split("\r\n")
    match = re.fullmatch(r"HTTP/1\.[01] ([0-9]{3})(?: .*)?", lines[0])
    if match is None:
        raise Outcome("transport_error")
    headers = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise Outcome("transport_error")
        headers.append((name, value.strip(" \t")))
    return int(match.group(1)), headers


def _read_head(reader: _Reader, clock: _Clock, bugs: set[str]) -> tuple[int, list[tuple[str, str]]]:
    """S21a 3: ONE wait from the end of sending to the end of the final head, interim 1xx
    responses (S14) included."""
    until, hit = clock.until()
    while True:
        while b"\r\n\r\n" not in reader.buf:
            if "per_read_head_timeout" in bugs:
                until, hit = clock.until()
            if not reader.fill(until, hit):
                raise Outcome("transport_error")   # closed before a (whole) head
        head, _, reader.buf = reader.buf.partition(b"\r\n\r\n")
        status, headers = _parse_head(head)
        interim = 100 <= status <= 199 and (status != 101 or "interim_101" in bugs)
        if not interim or "no_interim_skip" in bugs:
            return status, headers


def _values(headers: list[tuple[str, str]], name: str) -> list[str]:
    return [v for k, v in headers if k.lower() == name]


def _content_length(headers: list[tuple[str, str]], bugs: set[str]) -> int | None:
    """S20d on a 2xx: every field, split on commas, the same run of ASCII digits. None: no field."""
    fields = _values(headers, "content-length")
    if not fields:
        return None
    if "lenient_cl" in bugs:                   # http.client: int() of the first, else read to EOF
        try:
            value = int(fields[0])
        except ValueError:
            return None
        return value if value >= 0 else None
    if "strict_cl_list" in bugs and (len(fields) > 1 or "," in fields[0]):
        raise Outcome("transport_error")
    parts = [p.strip(" \t") for f in fields for p in f.split(",")]
    if not all(re.fullmatch("[0-9]+", p) for p in parts) or len({p.lstrip("0") for p in parts}) != 1:
        raise Outcome("transport_error")
    if "cl_overflow" in bugs and len(parts[0].lstrip("0")) > 18:
        raise Outcome("transport_error")       # as an int64 parse would fail
    return int(parts[0])


def _read_2xx(reader: _Reader, headers: list[tuple[str, str]], cap: int, clock: _Clock,
              bugs: set[str]) -> bytes:
    """S20a, S20b, S20d, S21a 4: each read bounded by the clock."""
    chunked = any("chunked" in v.lower() for v in _values(headers, "transfer-encoding"))
    length = _content_length(headers, bugs)
    if chunked and length is not None and "lenient_cl" not in bugs:
        raise Outcome("transport_error")       # S20d: Content-Length with chunked
    limit = None if "no_size_cap" in bugs else cap
    if not chunked and length is not None and limit is not None and length > limit:
        raise Outcome("response_too_large", final=True)

    def more() -> bool:
        until, hit = clock.until()
        return reader.fill(until, hit)

    def check_size(size: int) -> None:
        if limit is not None and size > limit:
            raise Outcome("response_too_large", final=True)

    if chunked:
        body = b""
        while True:
            while b"\r\n" not in reader.buf:
                if not more():
                    raise Outcome("transport_error")
            line, _, reader.buf = reader.buf.partition(b"\r\n")
            size_text = line.split(b";", 1)[0].strip()
            if not re.fullmatch(rb"[0-9A-Fa-f]+", size_text):
                raise Outcome("transport_error")   # S20b: broken chunked framing
            size = int(size_text, 16)
            check_size(len(body) + size)
            while len(reader.buf) < size + 2:
                if not more():
                    raise Outcome("transport_error")
            chunk = reader.take(size + 2)
            if chunk[-2:] != b"\r\n":
                raise Outcome("transport_error")
            body += chunk[:-2]
            if size == 0:
                return body
    if length is not None:
        while len(reader.buf) < length:
            if not more():
                if "parse_truncated" in bugs:
                    return reader.buf
                raise Outcome("transport_error")   # S20b: cut short
        return reader.take(length)
    while more():                               # neither: the body ends when the connection does
        check_size(len(reader.buf))
    check_size(len(reader.buf))
    return reader.buf


def _read_error_body(reader: _Reader, headers: list[tuple[str, str]], clock: _Clock, bugs: set[str]) -> bytes:
    """S20c: up to 64 KiB in ONE wait of `timeout` (or to the deadline); whatever arrived by
    then, however the body ended (cut short, reset, stalled)."""
    cap = None if "error_body_uncapped" in bugs else ERROR_BODY_CAP
    lengths = [p.strip(" \t") for f in _values(headers, "content-length") for p in f.split(",")]
    want = int(lengths[0]) if len(set(lengths)) == 1 and re.fullmatch("[0-9]+", lengths[0]) else None
    until, hit = clock.until()
    try:
        while (want is None or len(reader.buf) < want) and (cap is None or len(reader.buf) < cap):
            if "error_body_per_read" in bugs:
                until, hit = clock.until()
            if not reader.fill(until, hit):
                break
    except Outcome:
        pass                                     # stalled or reset: what arrived is the body
    body = reader.buf if want is None else reader.buf[:want]
    if any("chunked" in v.lower() for v in _values(headers, "transfer-encoding")):
        body = _dechunk_leniently(body)
    return body if cap is None else body[:cap]


def _dechunk_leniently(data: bytes) -> bytes:
    out = b""
    while True:
        line, sep, data = data.partition(b"\r\n")
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            return out
        if not sep or size == 0:
            return out
        out += data[:size]
        data = data[size + 2:]


def _attempt(url: tuple[str, str, int, str], token: str, message: dict, ends: float | None,
             bugs: set[str]) -> tuple[int, list[tuple[str, str]], bytes]:
    """One request: (status, headers, body) or raises Outcome."""
    scheme, host, port, path = url
    clock = _Clock(message["timeout"], ends, bugs)
    sock = _connect(scheme, host, port, clock, bugs)
    try:
        until, hit = clock.until()
        sock.settimeout(max(0.001, until - time.monotonic()))
        try:
            sock.sendall(_request_bytes(host, port, scheme, path, token, bugs))
        except (socket.timeout, TimeoutError):
            raise Outcome("timeout", final=hit) from None
        except OSError:
            raise Outcome("transport_error", early=True) from None
        reader = _Reader(sock)
        try:
            status, headers = _read_head(reader, clock, bugs)
        except Outcome as outcome:
            outcome.early = not reader.received
            raise
        if status == 101 or status < 200 or status in (204, 304):
            return status, headers, b""          # no body (a 101 closes the connection)
        if 200 <= status <= 299:
            return status, headers, _read_2xx(reader, headers, message["max_response_bytes"], clock, bugs)
        return status, headers, _read_error_body(reader, headers, clock, bugs)
    finally:
        sock.close()


# --------------------------------------------------------------------------------------------
# S14-S16: interpreting a response
# --------------------------------------------------------------------------------------------

def retry_after(headers: list[tuple[str, str]], bugs: Iterable[str] = ()) -> float | None:
    """S16: seconds to wait, from the first Retry-After; None when absent or ignored."""
    bugs = set(bugs)
    values = _values(headers, "retry-after")
    if not values:
        return None
    value = values[0].strip(" \t")
    if re.fullmatch("[0-9]+", value):
        if "int64_retry_after" in bugs and int(value) > 2 ** 63 - 1:
            return None
        return float(int(value)) if len(value.lstrip("0")) <= 15 else float("inf")
    if "float_retry_after" in bugs:
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
    if "lenient_http_date" in bugs:
        import email.utils

        try:
            return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None
    match = _IMF_FIXDATE.fullmatch(value)
    if match is None:
        return None
    _day, day, month_name, year, hour, minute, second = match.groups()
    month = _MONTHS.index(month_name) + (0 if "month_off_by_one" in bugs else 1)
    day, year, hour, minute, second = int(day), int(year), int(hour), int(minute), int(second)
    if not (1 <= month <= 12 and year >= 1 and hour <= 23 and minute <= 59 and second <= 60):
        return None
    if not 1 <= day <= calendar.monthrange(year, month)[1]:
        return None                              # Feb 30, day 00: impossible
    second = min(second, 59)                     # a leap second is read as 59
    fields = (year, month, day, hour, minute, second)
    when = time.mktime((*fields, 0, 0, -1)) if "local_time_date" in bugs else calendar.timegm(fields)
    return max(0.0, when - time.time())


def redact(text: str, token: str, bugs: Iterable[str] = ()) -> str:
    """S22a: the token out of a message, as sent and in every percent-encoded form."""
    text = text.replace(token, "<token>")
    if "leak_encoded_token" in set(bugs):
        return text
    # Any character may be encoded, in any hex case: match one char or its %XX form each.
    parts = []
    for ch in token:
        forms = [re.escape(ch)] + ["%" + "".join(f"[{c.lower()}{c.upper()}]" for c in f"{b:02X}")
                                   for b in ch.encode("utf-8")[:1]]
        parts.append("(?:" + "|".join(forms) + ")")
    return re.sub("".join(parts), "<token>", text)


def _interpret(status: int, headers: list[tuple[str, str]], body: bytes, token: str, bugs: set[str]) -> dict:
    """The reply for a response: the oracle's outcome (S14, S15, S1-S12), with a message that
    shows server text the way clients do (redacted: S22a)."""
    if "narrow_2xx" in bugs and 207 <= status <= 299:
        return {"ok": False, "error": "http_error", "message": f"HTTP {status}"}
    if "redirect_codes" in bugs and 300 <= status <= 399 and status not in (301, 302, 303, 307, 308):
        return {"ok": False, "error": "http_error", "message": f"HTTP {status}"}
    outcome = oracle.expect_parse(status, headers, body, False)
    if outcome["ok"]:
        return {"ok": True, "micro_deposits": outcome["micro_deposits"], "drift": outcome["drift"]}
    text = f"HTTP {status}"
    if 200 <= status <= 299 and "excerpt_2xx" in bugs:
        text += f": {outcome['error']}: {body[:200].decode('utf-8', 'replace')!r}"
    if 300 <= status <= 399:
        text += f" (Location: {(_values(headers, 'location') or ['none'])[0]})"
    elif not 200 <= status <= 299:
        code, said = oracle.error_code_and_message(body)
        text += f" code {code}: {said}; body {body[:200].decode('utf-8', 'replace')!r}"
        request_ids = _values(headers, "x-request-id")
        if request_ids:
            text += f" [request id {request_ids[0]}]"
    return {"ok": False, "error": outcome["error"], "message": redact(text, token, bugs)}


def _follow(location: str, token: str, message: dict, bugs: set[str]) -> tuple[int, list, bytes]:
    """The planted bug of S19: request the Location with the same headers, token included."""
    parts = urllib.parse.urlsplit(location)
    path = parts.path.rsplit("micro_deposits", 1)[0] or "/"
    url = (parts.scheme, parts.hostname or "", parts.port or 80, path)
    return _attempt(url, token, message, None, bugs)


# --------------------------------------------------------------------------------------------
# S17, S18, S21b: the call
# --------------------------------------------------------------------------------------------

_RANDOM = random.Random()


def _backoff(retry: int, bugs: set[str]) -> float:
    """S17c: full jitter before retry n."""
    if "no_backoff" in bugs:
        return 0.0
    if "constant_backoff" in bugs:
        return 1.0
    return _RANDOM.uniform(0.0, min(8.0, 0.5 * 2 ** (retry - 1)))


def fetch(message: dict, bugs: Iterable[str] = ()) -> dict:
    """The fetch op with the default policy (S17: 2 retries, Retry-After, full jitter), the
    deadline (S21b) and the token provider (S18) when the message carries them."""
    bugs = set(bugs)
    unknown = bugs - set(KNOBS)
    if unknown:
        raise ValueError(f"unknown knobs {sorted(unknown)}")
    seq, token = message.get("seq"), message["token"]
    started = time.monotonic()
    deadline = None if "ignore_deadline" in bugs else message.get("deadline")
    ends = None if deadline is None else started + deadline
    refresh = None if "ignore_refresh" in bugs else message.get("refresh_token")
    if not token or not all("!" <= ch <= "~" for ch in token):
        return {"seq": seq, "ok": False, "error": "invalid_argument", "message": "bad token (S13c)"}
    try:
        url = split_base_url(message["base_url"], bugs)
    except Outcome:
        return {"seq": seq, "ok": False, "error": "invalid_argument", "message": "bad base URL (S13d)"}
    retries = 0
    while True:
        status, headers, final, early = None, [], False, False
        try:
            status, headers, body = _attempt(url, token, message, ends, bugs)
            if "follow_redirects" in bugs and 300 <= status <= 399 and _values(headers, "location"):
                status, headers, body = _follow(_values(headers, "location")[0], token, message, bugs)
            reply = _interpret(status, headers, body, token, bugs)
        except Outcome as outcome:
            reply = {"ok": False, "error": outcome.category, "message": outcome.category}
            final, early = outcome.final, outcome.early
        reply["seq"] = seq
        error = reply.get("error")
        if error == "session_expired" and "no_4011" in bugs:
            reply["error"] = error = "unauthorized" if status == 401 else "http_error"
        if refresh is not None and (status == 401 or error == "session_expired"):
            token, refresh = refresh, None       # S18: once, not one of the retries
            continue
        retryable = error in ("transport_error", "timeout", "rate_limited") or (
            error == "server_error" and status in RETRY_STATUSES)
        if (status == 400 and "retry_400" in bugs) or (status == 401 and "retry_401" in bugs):
            retryable = True
        if error in ("transport_error", "timeout") and "no_retry_transport" in bugs:
            retryable = False
        if error == "transport_error" and early and "no_retry_connect" in bugs:
            retryable = False
        if reply.get("ok") or final or not retryable or retries >= MAX_RETRIES:
            return reply
        retries += 1
        delay = None if "ignore_retry_after" in bugs else retry_after(headers, bugs)
        if delay is not None:
            if delay > RETRY_AFTER_CAP:
                return reply                     # S17b: over the cap, no retry
            if "jitter_on_retry_after" in bugs:
                delay += _backoff(retries, bugs)
        else:
            delay = _backoff(retries, bugs)
        if "late_retries" in bugs:
            delay += 2.0
        if ends is not None and time.monotonic() + delay >= ends:
            return reply                         # S21b: no wait that would end after the deadline
        time.sleep(delay)


def handler(*bugs: str) -> Callable[[dict], dict]:
    """A handle() whose fetch op has the given bugs; parse/stop are the bundled adapter's."""
    from nexus_micro_kit.adapters import nexus_micro as bundled

    unknown = set(bugs) - set(KNOBS)
    if unknown:
        raise ValueError(f"unknown knobs {sorted(unknown)}")

    def handle(message: dict) -> dict:
        if message.get("op") == "fetch":
            return fetch(message, bugs)
        reply = bundled.handle(message)
        if message.get("op") == "start" and reply.get("ok"):
            reply["implementation"] = {"name": "planted-fetch:" + ",".join(bugs), "language": "python",
                                       "version": "0"}
            reply["features"] = ["drift", "deadline", "token_provider"]
        return reply

    handle.bugs = frozenset(bugs)  # type: ignore[attr-defined]
    return handle
