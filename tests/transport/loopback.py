"""Loopback servers for the transport suite: standard library only, 127.0.0.1 only, CPython 3.8-3.13.

``Server`` is a raw-socket HTTP/1.1 server. Every accepted TCP connection gets its own thread,
which reads request heads and answers request n (counted over the whole server) with the n-th
responder of the script (the last one repeats). A responder writes raw bytes and says whether
the connection stays open for another request, so a test controls framing, keep-alive, stalls,
trickles and resets exactly. The server counts accepts (before any TLS handshake) and notices
when the client closes a connection, which is how tests see pooling from outside.

``Proxy`` is a CONNECT-only forward proxy that tunnels to 127.0.0.1 only and records every
request head it received and every byte it relayed from the client.
"""
from __future__ import annotations

import hashlib
import json
import os
import select
import socket
import ssl
import struct
import threading
import time
from typing import Callable, Sequence, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
CERTS = os.path.join(HERE, "certs")
CA = os.path.join(CERTS, "ca.pem")  # signed the leaf
OTHER_CA = os.path.join(CERTS, "other-ca.pem")  # did not: trusting it must fail verification
LEAF = os.path.join(CERTS, "leaf.pem")  # SAN IP:127.0.0.1, DNS:localhost, DNS:nexus-micro.test
LEAF_KEY = os.path.join(CERTS, "leaf.key")
TEST_HOST = "nexus-micro.test"  # not loopback by name; the proxy and the child resolver map it to 127.0.0.1

Headers = Sequence[Tuple[str, str]]

REASONS = {
    100: "Continue", 101: "Switching Protocols", 102: "Processing", 103: "Early Hints", 200: "OK",
    301: "Moved Permanently", 302: "Found", 307: "Temporary Redirect", 404: "Not Found", 429: "Too Many Requests",
    500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
}  # fmt: skip


class Seen:
    """One request head as the server received it, and on which connection."""

    def __init__(self, method: str, target: str, version: str, headers: list[tuple[str, str]], conn: int) -> None:
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.conn = conn  # index of the TCP connection it came on (0 = first accepted)
        self.arrived = time.monotonic()
        self.answered: float | None = None  # monotonic time the responder returned

    def header_all(self, name: str) -> list[str]:
        """Every value of a header, name compared case-insensitively (urllib sends ``Md-session-token``)."""
        wanted = name.lower()
        return [value for key, value in self.headers if key.lower() == wanted]

    @property
    def tokens(self) -> list[str]:
        """Every MD-SESSION-TOKEN value the request carried (exactly one is right, S13b)."""
        return self.header_all("MD-SESSION-TOKEN")


class Conn:
    """One accepted connection, as its server thread sees it."""

    def __init__(self, server: Server, sock: socket.socket, index: int) -> None:
        self.server = server
        self.sock = sock
        self.index = index
        self.buffer = b""
        self.peer_closed = threading.Event()  # the client closed it while the server waited for a request
        self.ended = threading.Event()  # the server thread is done with it

    def read_request(self) -> Seen | None:
        """The next request head, or None when the client closed the connection (or the server stops)."""
        while b"\r\n\r\n" not in self.buffer:
            try:
                data = self.sock.recv(65536)
            except (OSError, ssl.SSLError):
                data = b""  # a reset, or a TLS close without close_notify: closed all the same
            if not data:
                return None
            self.buffer += data
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = ([*lines[0].split(" ", 2), "", ""])[:3]
        headers = [(k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:])]
        return Seen(method, target, version, headers, self.index)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def wait(self, seconds: float) -> None:
        """Idle for ``seconds`` while watching the socket: return early when the client closes it
        (``peer_closed``) or the server stops; bytes that arrive meanwhile are kept for
        ``read_request`` (a client reusing a connection it should have dropped shows up there)."""
        ends = time.monotonic() + seconds
        while not self.server.stopping.is_set() and not self.peer_closed.is_set():
            left = ends - time.monotonic()
            if left <= 0:
                return
            pending = isinstance(self.sock, ssl.SSLSocket) and self.sock.pending()
            if not pending:
                try:
                    readable, _, _ = select.select([self.sock], [], [], min(left, 0.05))
                except (OSError, ValueError):
                    return  # closed under us (a reset responder, the server stopping)
                if not readable:
                    continue
            try:
                self.sock.settimeout(0.05)  # a TLS record may be only partly there
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except (OSError, ssl.SSLError):
                data = b""
            finally:
                try:
                    self.sock.settimeout(None)
                except OSError:
                    pass
            if not data:
                self.peer_closed.set()
                return
            self.buffer += data

    def close(self) -> None:
        if isinstance(self.sock, ssl.SSLSocket):
            try:
                self.sock.settimeout(0.0)
                self.sock.unwrap()  # sends close_notify; does not wait for the client's (non-blocking)
            except (OSError, ssl.SSLError, ValueError):
                pass
        try:
            self.sock.close()
        except OSError:
            pass

    def abort(self) -> None:
        """Wake the thread blocked on this socket (shutdown of the fd, not SSLSocket.shutdown)."""
        try:
            socket.socket.shutdown(self.sock, socket.SHUT_RDWR)
        except (OSError, ValueError):
            pass


Responder = Callable[[Conn, Seen], bool]  # True: keep the connection open for another request


class Server:
    """An HTTP/1.1 server on 127.0.0.1:<ephemeral> answering request n with ``script[n]``."""

    def __init__(self, script: Sequence[Responder], *, tls: bool = False, handshake_delay: float = 0.0) -> None:
        if not script:
            raise ValueError("a server needs at least one responder")
        self.script = list(script)
        self.requests: list[Seen] = []
        self.conns: list[Conn] = []
        self.handshake_failures = 0  # TLS handshakes the client refused (or broke off)
        self.handshake_delay = handshake_delay  # seconds before the server starts each TLS handshake
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._tls: ssl.SSLContext | None = None
        if tls:
            self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._tls.load_cert_chain(LEAF, LEAF_KEY)
        self.scheme = "https" if tls else "http"
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self._listener.settimeout(0.05)  # the accept loop polls the stop flag
        self.port: int = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/"

    @property
    def connections(self) -> int:
        """TCP connections accepted so far, counted before any TLS handshake."""
        with self._lock:
            return len(self.conns)

    def seen(self) -> list[Seen]:
        with self._lock:
            return list(self.requests)

    def wait_closed(self, index: int, seconds: float = 2.0) -> bool:
        """Whether the client closed connection ``index`` within ``seconds``."""
        with self._lock:
            conn = self.conns[index]
        return conn.peer_closed.wait(seconds)

    def closed_by_client(self, at_least: int, seconds: float = 2.0) -> int:
        """How many connections the client has closed, waiting up to ``seconds`` for ``at_least``."""
        ends = time.monotonic() + seconds
        while True:
            with self._lock:
                closed = sum(conn.peer_closed.is_set() for conn in self.conns)
            if closed >= at_least or time.monotonic() >= ends:
                return closed
            time.sleep(0.01)

    def _accept_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no Nagle stalls on small writes
            with self._lock:
                conn = Conn(self, sock, len(self.conns))
                self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: Conn) -> None:
        try:
            if self._tls is not None:
                try:
                    if self.handshake_delay:
                        time.sleep(self.handshake_delay)
                    conn.sock.settimeout(5.0)
                    conn.sock = self._tls.wrap_socket(conn.sock, server_side=True)
                    conn.sock.settimeout(None)
                except (OSError, ssl.SSLError):
                    with self._lock:
                        self.handshake_failures += 1
                    return
            while True:
                seen = conn.read_request()
                if seen is None:
                    if not self.stopping.is_set():
                        conn.peer_closed.set()
                    return
                with self._lock:
                    index = len(self.requests)
                    self.requests.append(seen)
                responder = self.script[min(index, len(self.script) - 1)]
                try:
                    keep = responder(conn, seen)
                except (OSError, ssl.SSLError):
                    keep = False  # the client went away mid-answer (a size cap, a timeout): expected
                finally:
                    seen.answered = time.monotonic()
                if not keep:
                    return
        finally:
            conn.close()
            conn.ended.set()

    def close(self) -> None:
        self.stopping.set()
        self._listener.close()
        self._thread.join(2)
        with self._lock:
            conns = list(self.conns)
        for conn in conns:
            conn.abort()
        for conn in conns:
            conn.ended.wait(2)


# ----------------------------------------------------------------------------- bodies

def guid_for(token: str) -> str:
    """A guid derived from a token (not containing it), so a response proves which request it answers."""
    return "MIC-" + hashlib.sha256(token.encode("ascii")).hexdigest()[:24]


def record(guid: str = "MIC-09ba578e-8448-4f7f-89e1-b62ff2517edb") -> dict:
    return {
        "account_name": "Zephyr Household Checking", "account_number": "333312345678", "account_type": 1,
        "account_type_name": "CHECKING", "created_at": "2021-09-01T18:29:06.000Z",
        "email": "zelda.quixote@example.com", "error_code": None, "error_message": None, "first_name": "Zelda",
        "guid": guid, "institution_name": "MX Bank", "last_name": "Quixote", "routing_number": "091000019",
        "status": 2, "status_name": "DEPOSITED", "updated_at": "2021-10-22T21:44:38.000+05:30",
        "verified_at": None,
    }  # fmt: skip


def body_of(*guids: str) -> bytes:
    """A 200 body with one record per guid."""
    return json.dumps({"micro_deposits": [{"micro_deposit": record(g)} for g in guids]}).encode("utf-8")


GOOD_GUID = record()["guid"]
GOOD = body_of(GOOD_GUID)


# ----------------------------------------------------------------------------- responders

def head(status: int, headers: Headers = ()) -> bytes:
    """A status line and header block, exactly as given (nothing added)."""
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}"] + [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _has(headers: Headers, name: str) -> bool:
    return any(k.lower() == name.lower() for k, _ in headers)


def respond(status: int = 200, body: bytes = GOOD, headers: Headers = (), *, keep_alive: bool = True) -> Responder:
    """A whole response with a correct Content-Length (unless ``headers`` gives one); keep-alive
    unless ``keep_alive=False`` or ``headers`` has ``Connection: close``."""
    hdrs = [("Content-Type", "application/vnd.mx.nexus.v1+json"), *list(headers)]
    if not _has(hdrs, "Content-Length"):
        hdrs.append(("Content-Length", str(len(body))))
    if ("Connection", "close") in hdrs:
        keep_alive = False
    elif not keep_alive:
        hdrs.append(("Connection", "close"))

    def responder(conn: Conn, seen: Seen) -> bool:
        conn.send(head(status, hdrs) + body)  # one write: no delayed-ACK stall between head and body
        return keep_alive

    return responder


def chunked(status: int, chunks: Sequence[bytes], headers: Headers = (), *, terminate: bool = True,
            keep_alive: bool = True) -> Responder:  # fmt: skip
    """A chunked body; ``terminate=False`` closes without the last 0-size chunk (broken framing, S20b)."""
    hdrs = list(headers) + [("Transfer-Encoding", "chunked")] + ([] if keep_alive else [("Connection", "close")])
    data = head(status, hdrs) + b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks)
    if terminate:
        data += b"0\r\n\r\n"

    def responder(conn: Conn, seen: Seen) -> bool:
        conn.send(data)
        return keep_alive and terminate

    return responder


def close_delimited(status: int = 200, body: bytes = GOOD, headers: Headers = ()) -> Responder:
    """No Content-Length, no chunking: the body ends when the server closes the connection."""
    data = head(status, [*headers, ("Connection", "close")]) + body

    def responder(conn: Conn, seen: Seen) -> bool:
        conn.send(data)
        return False

    return responder


def raw(data: bytes, *, keep_alive: bool = False) -> Responder:
    """Exactly these bytes; then close, or keep the connection open (to see whether the client reuses it)."""

    def responder(conn: Conn, seen: Seen) -> bool:
        conn.send(data)
        return keep_alive

    return responder


def hang_up() -> Responder:
    """Read the request and close the connection without sending a byte."""
    return lambda conn, seen: False


def reset(data: bytes = b"") -> Responder:
    """Send ``data``, then reset the connection (SO_LINGER 0, then close: the client gets an RST)."""

    def responder(conn: Conn, seen: Seen) -> bool:
        if data:
            conn.send(data)
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.sock.close()  # no TLS close_notify first: an abrupt end
        return False

    return responder


def stall(seconds: float = 30.0) -> Responder:
    """Read the request and answer nothing for ``seconds`` (or until the server stops)."""
    return send_then_stall(b"", seconds)


def send_then_stall(data: bytes, seconds: float = 30.0) -> Responder:
    """Send ``data`` (a head, part of a body), then silence with the connection open."""

    def responder(conn: Conn, seen: Seen) -> bool:
        if data:
            conn.send(data)
        conn.wait(seconds)
        return False

    return responder


def trickle(data: bytes, every: float, *, first: bytes = b"", then_stall: float = 0.0) -> Responder:
    """``first`` at once, then ``data`` one byte every ``every`` s; then (after ``then_stall`` s) close.

    It stops early when the client closes the connection."""

    def responder(conn: Conn, seen: Seen) -> bool:
        if first:
            conn.send(first)
        for i in range(len(data)):
            if conn.server.stopping.is_set() or conn.peer_closed.is_set():
                return False
            conn.send(data[i : i + 1])
            conn.wait(every)
        conn.wait(then_stall)
        return False

    return responder


def then_idle_close(responder: Responder, after: float) -> Responder:
    """``responder`` (announcing keep-alive), then close the connection after ``after`` s of idling,
    as servers do with idle keep-alive connections, without notice."""

    def wrapped(conn: Conn, seen: Seen) -> bool:
        responder(conn, seen)
        conn.wait(after)
        return False

    return wrapped


def echo(delay: float = 0.0) -> Responder:
    """200 keep-alive whose one record's guid is ``guid_for`` the request's token (after ``delay`` s)."""

    def responder(conn: Conn, seen: Seen) -> bool:
        if delay:
            conn.wait(delay)
        token = seen.tokens[0] if len(seen.tokens) == 1 else "no-single-token"
        return respond(200, body_of(guid_for(token)))(conn, seen)

    return responder


# ----------------------------------------------------------------------------- CONNECT proxy

class Proxy:
    """A forward proxy on 127.0.0.1 that only tunnels (CONNECT) to 127.0.0.1, under any of ``hosts``.

    It records each request head it received (``heads``) and every byte it relayed from the
    client towards the origin (``upstream``); anything but CONNECT gets a 502.
    """

    def __init__(self, hosts: Sequence[str] = ("127.0.0.1", "localhost", TEST_HOST)) -> None:
        self.hosts = {h.lower() for h in hosts}
        self.heads: list[str] = []
        self.upstream = bytearray()
        self.connections = 0
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def _accept_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            sock.settimeout(None)
            with self._lock:
                self.connections += 1
                self._socks.append(sock)
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        try:
            buffer = b""
            while b"\r\n\r\n" not in buffer:
                data = client.recv(65536)
                if not data:
                    return
                buffer += data
            head_bytes, rest = buffer.split(b"\r\n\r\n", 1)
            text = head_bytes.decode("latin-1")
            with self._lock:
                self.heads.append(text)
            method, target = ([*text.split(" ", 2), "", ""])[:2]
            host, _, port = target.rpartition(":")
            if method != "CONNECT" or host.lower() not in self.hosts or not port.isdigit():
                client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            upstream = socket.create_connection(("127.0.0.1", int(port)), timeout=5)
            upstream.settimeout(None)
            with self._lock:
                self._socks.append(upstream)
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            if rest:
                self._relay_bytes(rest)
                upstream.sendall(rest)
            self._pump(client, upstream)
        except OSError:
            pass
        finally:
            for sock in (client, upstream):
                if sock is not None:
                    sock.close()

    def _relay_bytes(self, data: bytes) -> None:
        with self._lock:
            self.upstream += data

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        """Relay both ways until either side closes (or the proxy stops)."""
        while not self.stopping.is_set():
            readable, _, _ = select.select([client, upstream], [], [], 0.05)
            for sock in readable:
                data = sock.recv(65536)
                if not data:
                    return
                if sock is client:
                    self._relay_bytes(data)
                    upstream.sendall(data)
                else:
                    client.sendall(data)

    def close(self) -> None:
        self.stopping.set()
        self._listener.close()
        self._thread.join(2)
        with self._lock:
            socks = list(self._socks)
        for sock in socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
