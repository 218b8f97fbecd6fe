"""Real local HTTP servers for tests/test_http.py and tests/test_cli.py (127.0.0.1 only).

A ``Server`` is a stdlib ``ThreadingHTTPServer`` on an ephemeral port, served from a daemon
thread. It answers attempt n with the n-th "responder" of its script (the last one repeats),
records every request it saw (``Seen``: method, path, headers, body, arrival times) and is shut
down by the ``serve`` fixture. Responders write raw bytes, so tests control framing exactly:
Content-Length lies, chunked bodies, close-delimited bodies, stalls, resets (SO_LINGER 0).
"""
from __future__ import annotations

import email.utils
import http.server
import json
import socket
import struct
import threading
import time
from typing import Any, Callable, List, Optional, Sequence, Tuple

import pytest

Responder = Callable[["_Handler", "Seen"], None]

_REASONS = {
    200: "OK", 201: "Created", 203: "Non-Authoritative Information", 204: "No Content",
    301: "Moved Permanently", 302: "Found", 304: "Not Modified", 307: "Temporary Redirect",
    308: "Permanent Redirect", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
    404: "Not Found", 409: "Conflict", 418: "I'm a teapot", 422: "Unprocessable Entity",
    429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout",
}


class Seen:
    """One request as the server received it."""

    def __init__(self, method: str, path: str, headers: List[Tuple[str, str]], body: bytes, version: str) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self.version = version
        self.arrived = time.monotonic()
        self.arrived_wall = time.time()
        self.answered: Optional[float] = None  # monotonic time the responder finished
        self.note: Any = None  # a responder may leave something here (e.g. the instant it asked for)

    def header(self, name: str) -> Optional[str]:
        """First value of a header, name compared case-insensitively."""
        values = self.header_all(name)
        return values[0] if values else None

    def header_all(self, name: str) -> List[str]:
        wanted = name.lower()
        return [v for k, v in self.headers if k.lower() == wanted]

    @property
    def token(self) -> Optional[str]:
        return self.header("MD-SESSION-TOKEN")


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "local-test"

    def _any(self) -> None:
        owner: Server = self.server.owner  # type: ignore[attr-defined]
        length = self.headers.get("Content-Length")
        body = self.rfile.read(int(length)) if length and length.isdigit() else b""
        seen = Seen(self.command, self.path, list(self.headers.items()), body, self.request_version)
        responder = owner._next(seen)
        self.close_connection = True
        try:
            responder(self, seen)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, OSError):
            pass  # the client went away (it stopped reading on purpose, e.g. a size cap)
        finally:
            seen.answered = time.monotonic()

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _any

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    tls: Any = None  # an ssl.SSLContext (server side) to speak HTTPS
    connections = 0  # TCP connections accepted, counted before any TLS handshake

    def get_request(self) -> Tuple[socket.socket, Any]:
        sock, addr = self.socket.accept()
        self.connections += 1
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_side=True)  # a failed handshake raises OSError
        return sock, addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # resets and aborted reads are expected here


class Server:
    def __init__(self, script: Sequence[Responder], tls: Any = None) -> None:
        if not script:
            raise ValueError("a server needs at least one responder")
        self.script = list(script)
        self.requests: List[Seen] = []
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self  # type: ignore[attr-defined]
        self._httpd.tls = tls
        self.scheme = "https" if tls is not None else "http"
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/"

    @property
    def connections(self) -> int:
        return self._httpd.connections

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def _next(self, seen: Seen) -> Responder:
        with self._lock:
            index = len(self.requests)
            self.requests.append(seen)
        return self.script[min(index, len(self.script) - 1)]

    def close(self) -> None:
        self.stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(2)


@pytest.fixture
def serve():
    """``serve(r1, r2, ...)`` starts a Server answering attempt n with r_n (the last repeats)."""
    servers: List[Server] = []

    def start(*script: Responder, tls: Any = None) -> Server:
        server = Server(script, tls)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def self_signed_cert(directory: Any) -> Tuple[str, str]:
    """(certfile, keyfile) of a fresh self-signed certificate for IP 127.0.0.1 (needs openssl)."""
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = str(directory / "cert.pem"), str(directory / "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=30,
    )
    return cert, key


def free_port() -> int:
    """A loopback port that nothing listens on (bound, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----------------------------------------------------------------------------- responders

def _head(status: int, headers: Sequence[Tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
    lines += [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _has(headers: Sequence[Tuple[str, str]], name: str) -> bool:
    return any(k.lower() == name.lower() for k, _ in headers)


def reply(status: int, body: bytes | str = b"", headers: Sequence[Tuple[str, str]] = (), *,
          content_type: Optional[str] = "application/vnd.mx.nexus.v1+json") -> Responder:
    """A complete response with a correct Content-Length, then close."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    hdrs = list(headers)
    if content_type and not _has(hdrs, "Content-Type") and status not in (204, 304):
        hdrs.append(("Content-Type", content_type))
    if not _has(hdrs, "Content-Length") and status not in (204, 304):
        hdrs.append(("Content-Length", str(len(data))))
    hdrs.append(("Connection", "close"))

    def respond(h: _Handler, seen: Seen) -> None:
        h.wfile.write(_head(status, hdrs) + data)
        h.wfile.flush()

    return respond


def json_reply(status: int, doc: Any, headers: Sequence[Tuple[str, str]] = ()) -> Responder:
    return reply(status, json.dumps(doc), headers)


def raw(data: bytes) -> Responder:
    """Exactly these bytes, then close."""

    def respond(h: _Handler, seen: Seen) -> None:
        h.wfile.write(data)
        h.wfile.flush()

    return respond


def reset() -> Responder:
    """Read the request, then reset the connection (SO_LINGER 0 + close): the client gets RST."""

    def respond(h: _Handler, seen: Seen) -> None:
        h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        h.connection.close()

    return respond


def stall(seconds: float = 10.0) -> Responder:
    """Read the request and answer nothing for ``seconds`` (or until the server stops)."""

    def respond(h: _Handler, seen: Seen) -> None:
        h.server.owner.stop.wait(seconds)  # type: ignore[attr-defined]

    return respond


def head_then_stall(status: int, headers: Sequence[Tuple[str, str]], first: bytes = b"",
                    seconds: float = 10.0) -> Responder:
    """Status line and headers (and ``first`` body bytes), then silence."""

    def respond(h: _Handler, seen: Seen) -> None:
        h.wfile.write(_head(status, headers) + first)
        h.wfile.flush()
        h.server.owner.stop.wait(seconds)  # type: ignore[attr-defined]

    return respond


def trickle(status: int, length: int, *, every: float, for_seconds: float, then_stall: float = 10.0) -> Responder:
    """Headers with Content-Length ``length``, then one space every ``every`` s for ``for_seconds``, then silence."""

    def respond(h: _Handler, seen: Seen) -> None:
        stop = h.server.owner.stop  # type: ignore[attr-defined]
        h.wfile.write(_head(status, [("Content-Length", str(length)), ("Connection", "close")]))
        h.wfile.flush()
        ends = time.monotonic() + for_seconds
        while time.monotonic() < ends and not stop.is_set():
            h.wfile.write(b" ")
            h.wfile.flush()
            stop.wait(every)
        stop.wait(then_stall)

    return respond


def chunked(status: int, chunks: Sequence[bytes], headers: Sequence[Tuple[str, str]] = (), *,
            terminate: bool = True) -> Responder:
    """A chunked body; ``terminate=False`` closes without the final 0-size chunk (broken framing)."""

    def respond(h: _Handler, seen: Seen) -> None:
        hdrs = list(headers) + [("Transfer-Encoding", "chunked"), ("Connection", "close")]
        h.wfile.write(_head(status, hdrs))
        for chunk in chunks:
            h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        if terminate:
            h.wfile.write(b"0\r\n\r\n")
        h.wfile.flush()

    return respond


def close_delimited(status: int, body: bytes, headers: Sequence[Tuple[str, str]] = ()) -> Responder:
    """No Content-Length, no chunking: the body ends when the connection closes."""

    def respond(h: _Handler, seen: Seen) -> None:
        h.wfile.write(_head(status, list(headers) + [("Connection", "close")]) + body)
        h.wfile.flush()

    return respond


def by_token(good: str, ok: Responder, bad: Responder) -> Responder:
    """``ok`` when the request carries exactly token ``good``, else ``bad``."""

    def respond(h: _Handler, seen: Seen) -> None:
        (ok if seen.token == good else bad)(h, seen)

    return respond


def retry_after_date(seconds_ahead: int, status: int = 429) -> Responder:
    """``status`` with an IMF-fixdate Retry-After at a whole second 1..``seconds_ahead`` s ahead;
    the instant asked for (epoch seconds) is left in ``seen.note``."""

    def respond(h: _Handler, seen: Seen) -> None:
        when = int(time.time()) + seconds_ahead
        seen.note = when
        date = email.utils.formatdate(when, usegmt=True)
        reply(status, b'{"error": {"code": "4290", "message": "slow down"}}', [("Retry-After", date)])(h, seen)

    return respond


# A realistic record shared by the HTTP and CLI tests: distinctive PII, so any leak is easy to spot.
ACCOUNT = "333312345678"
SAMPLE_RECORD = {
    "account_name": "Zephyr Household Checking",
    "account_number": ACCOUNT,
    "account_type": 1,
    "account_type_name": "CHECKING",
    "created_at": "2021-09-01T18:29:06.000Z",
    "email": "zelda.quixote@example.com",
    "error_code": None,
    "error_message": None,
    "first_name": "Zelda",
    "guid": "MIC-09ba578e-8448-4f7f-89e1-b62ff2517edb",
    "institution_name": "MX Bank",
    "last_name": "Quixote",
    "routing_number": "091000019",
    "status": 2,
    "status_name": "DEPOSITED",
    "updated_at": "2021-10-22T21:44:38.000+05:30",
    "verified_at": None,
}
