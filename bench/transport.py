"""Transport benchmark for nexus_micro.Client against urllib3, httpx, requests and urllib. Prints numbers only.

    bash bench/transport.sh              # everything, in bench/.venv-transport (urllib3, httpx, requests)
    python bench/transport.py --help     # options; without the venv only the stdlib clients run

What it does: a loopback HTTPS server (its own process, so that its CPU is not the client's) answers
GET /micro_deposits with a realistic 10-record body, HTTP/1.1 keep-alive, one write per response,
TCP_NODELAY, and counts the TCP connections it accepts. A test CA and a leaf for 127.0.0.1/localhost
are made with the openssl CLI at start. For a latency setting above 0 ms a delaying TCP proxy (its own
process too) sits in front of it. Every call sends a different session token (S13b); the server
counts distinct tokens. Rounds are interleaved (each client once per round, rotating order) and
medians are reported, because these machines are shared and drift 10-15 %.

nexus_micro parses the body into typed records (S1-S12); the other clients only json.loads it.
The default-context nexus_micro client trusts the test CA through SSL_CERT_FILE, set in this process
before the first call (the documented way); the file is the system CA bundle plus the test CA, so that
building a default SSLContext costs what it costs users (about 144 certificates to load).
"""

from __future__ import annotations

import argparse
import gc
import http.server
import json
import os
import queue
import secrets
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, NamedTuple

ROOT = Path(__file__).resolve().parent.parent

MEDIA_TYPE = "application/vnd.mx.nexus.v1+json"
RECORDS = 10  # records per response body

# --------------------------------------------------------------------------- certificates

_OPENSSL_CONFIG = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[leaf_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
"""


class Certs(NamedTuple):
    ca: str  # the test CA alone
    bundle: str  # the system CA bundle plus the test CA: what SSL_CERT_FILE points at
    system_cas: int  # certificates taken from the system bundle
    leaf: str
    key: str


def make_certs(directory: str) -> Certs:
    """A test CA and a leaf for 127.0.0.1/localhost, strict enough for 3.13's VERIFY_X509_STRICT.

    The CA has basicConstraints critical CA:TRUE and keyUsage, the leaf a SAN and an
    authorityKeyIdentifier (3.13's default context rejects certificates without them).
    """
    if shutil.which("openssl") is None:
        raise SystemExit("transport.py needs the openssl CLI to make its test certificates")
    d = Path(directory)
    config = d / "openssl.cnf"
    config.write_text(_OPENSSL_CONFIG)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    steps = [
        ["req", "-x509", "-config", config, "-extensions", "ca_ext", *ec, "-keyout", d / "ca.key",
         "-out", d / "ca.pem", "-days", "2", "-subj", "/CN=nexus-micro transport bench CA"],
        ["req", "-new", "-config", config, *ec, "-keyout", d / "leaf.key", "-out", d / "leaf.csr",
         "-subj", "/CN=localhost"],
        ["x509", "-req", "-in", d / "leaf.csr", "-CA", d / "ca.pem", "-CAkey", d / "ca.key",
         "-set_serial", "0x" + secrets.token_hex(8), "-days", "2", "-extfile", config,
         "-extensions", "leaf_ext", "-out", d / "leaf.pem"],
    ]  # fmt: skip
    for step in steps:
        subprocess.run(["openssl", *map(str, step)], check=True, capture_output=True)
    # Read the system bundle before SSL_CERT_FILE is changed (get_default_verify_paths honours it).
    system = ssl.get_default_verify_paths().cafile
    system_pem = Path(system).read_text() if system else ""
    ca_pem = (d / "ca.pem").read_text()
    (d / "bundle.pem").write_text(system_pem.rstrip("\n") + "\n" + ca_pem if system_pem else ca_pem)
    return Certs(str(d / "ca.pem"), str(d / "bundle.pem"), system_pem.count("BEGIN CERTIFICATE"),
                 str(d / "leaf.pem"), str(d / "leaf.key"))  # fmt: skip


# --------------------------------------------------------------------------- the server process


class _Stats:
    """What a helper process counts; read and zeroed over its stdin (see helper_loop)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.accepts = 0
        self.requests = 0
        self.bad = 0
        self.tokens: set = set()

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {"accepts": self.accepts, "requests": self.requests, "bad": self.bad,
                    "tokens": len(self.tokens), "cpu": time.process_time()}  # fmt: skip


def _response(status: str, body: bytes) -> bytes:
    """A whole response (head and body), sent in one write: no Nagle/delayed-ACK stall."""
    head = f"HTTP/1.1 {status}\r\nContent-Type: {MEDIA_TYPE}\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


def ok_response() -> bytes:
    """The 200 answer: bench/bench.py's realistic records (17 fields each)."""
    sys.path.insert(0, str(ROOT))
    from bench.bench import make_body

    return _response("200 OK", make_body(RECORDS))


_BAD = _response("400 Bad Request", b'{"error": {"code": "4000", "message": "bench: bad request"}}')


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive unless the client sends Connection: close
    disable_nagle_algorithm = True  # TCP_NODELAY on every accepted socket

    def setup(self) -> None:
        self.request.do_handshake()  # here, in the connection's thread, not in the accept loop
        super().setup()

    def do_GET(self) -> None:
        token = self.headers.get("MD-SESSION-TOKEN")  # names compare case-insensitively (S13b)
        ok = self.path == "/micro_deposits" and bool(token) and MEDIA_TYPE in (self.headers.get("Accept") or "")
        stats: _Stats = self.server.stats  # type: ignore[attr-defined]
        with stats.lock:
            stats.requests += 1
            if ok:
                stats.tokens.add(token)
            else:
                stats.bad += 1
        self.wfile.write(self.server.ok if ok else _BAD)  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _TLSServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # 16 threads connecting at once must not overflow the backlog (SYN retries)

    def __init__(self, tls: ssl.SSLContext, stats: _Stats) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.tls = tls
        self.stats = stats
        self.ok = ok_response()

    def get_request(self) -> tuple[Any, Any]:
        sock, addr = self.socket.accept()
        with self.stats.lock:
            self.stats.accepts += 1  # TCP connections, counted before any TLS
        return self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if not isinstance(exc, (ConnectionError, ssl.SSLEOFError, socket.timeout)):
            print(f"bench server: {type(exc).__name__}: {exc}", file=sys.stderr)


def serve(cert: str, key: str) -> None:
    """The server process: HTTPS on 127.0.0.1, port on stdout, then commands on stdin."""
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    stats = _Stats()
    server = _TLSServer(tls, stats)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    helper_loop(server.server_address[1], stats)


def helper_loop(port: int, stats: _Stats) -> None:
    """Print the port, then answer 'reset' and 'stats' lines with one JSON line each; exit at EOF."""
    print(f"port {port}", flush=True)
    for line in sys.stdin:
        if line.strip() == "reset":
            with stats.lock:
                stats.reset()
        print(json.dumps(stats.snapshot()), flush=True)


# --------------------------------------------------------------------------- the delaying proxy


def _delay_line(src: socket.socket, dst: socket.socket, delay: float, first: float, done: Callable[[], None]) -> None:
    """Forward src to dst, each chunk ``delay`` seconds after it arrived (a latency, not a rate limit).

    A reader stamps chunks and a writer sends each when due, so two chunks that arrive close
    together are both late by ``delay``, not by twice it. The first chunk waits ``first`` more.
    """
    line: queue.SimpleQueue = queue.SimpleQueue()

    def reader() -> None:
        extra = first
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            line.put((time.monotonic() + delay + extra, data))
            extra = 0.0
            if not data:
                return

    def writer() -> None:
        while True:
            due, data = line.get()
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            try:
                if not data:
                    dst.shutdown(socket.SHUT_WR)
                    break
                dst.sendall(data)
            except OSError:
                break
        done()

    threading.Thread(target=reader, daemon=True).start()
    threading.Thread(target=writer, daemon=True).start()


def proxy(upstream: int, delay_ms: float) -> None:
    """The proxy process: ~delay_ms one way in each direction in front of 127.0.0.1:upstream."""
    stats = _Stats()
    listener = socket.create_server(("127.0.0.1", 0), backlog=128)

    def connection(client: socket.socket) -> None:
        server = socket.create_connection(("127.0.0.1", upstream))
        for s in (client, server):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        left = [2]
        lock = threading.Lock()

        def done() -> None:  # both directions ended: close both sockets
            with lock:
                left[0] -= 1
                if left[0]:
                    return
            client.close()
            server.close()

        # The proxy's local accept() answers the client's SYN at once: the client's first bytes
        # wait one more round trip, the TCP handshake's, as on a real path.
        one_way = delay_ms / 1000
        _delay_line(client, server, one_way, 2 * one_way, done)
        _delay_line(server, client, one_way, 0.0, done)

    def accept_loop() -> None:
        while True:
            client, _ = listener.accept()
            with stats.lock:
                stats.accepts += 1
            connection(client)

    threading.Thread(target=accept_loop, daemon=True).start()
    helper_loop(listener.getsockname()[1], stats)


class Helper:
    """A server or proxy process of this script, driven by one-line commands on its stdin."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
        )  # fmt: skip
        assert self.proc.stdout is not None and self.proc.stdin is not None
        first = self.proc.stdout.readline().split()
        if len(first) != 2 or first[0] != "port":
            raise SystemExit(f"a bench helper {args[:1]} did not start (its stderr is above)")
        self.port = int(first[1])

    def command(self, line: str) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# --------------------------------------------------------------------------- the clients

Call = Callable[[str], int]  # one GET /micro_deposits with this session token -> number of records


class Target(NamedTuple):
    url: str  # the base URL, ending in '/'
    ctx: ssl.SSLContext  # one context trusting the bundle, built once: "a context passed in"
    bundle: str
    threads: int


def _headers(token: str) -> dict[str, str]:
    """What nexus_micro sends (S13b), its User-Agent aside."""
    return {"MD-SESSION-TOKEN": token, "Accept": MEDIA_TYPE, "Content-Type": MEDIA_TYPE}


def _count(status: int, body: bytes) -> int:
    """The number of records, parsed with json.loads only (no typed records, unlike nexus_micro)."""
    if status != 200:
        raise RuntimeError(f"HTTP {status}: {body[:200]!r}")
    return len(json.loads(body)["micro_deposits"])


def _nexus_api() -> dict[str, bool]:
    """Which parts of the new Client API this nexus_micro has (an older copy given with --nexus-micro lacks them)."""
    import inspect

    import nexus_micro

    init = inspect.signature(nexus_micro.Client).parameters
    call = inspect.signature(nexus_micro.Client.list_microdeposits).parameters
    return {"per_call_token": "session_token" in call, "pool_size": "pool_size" in init}


def nexus_client(default_ctx: bool) -> Callable[[Target], tuple[Call, Callable[[], None]]]:
    """nexus_micro.Client with ssl_context=None (the default path) or with the shared context."""

    def make(t: Target) -> tuple[Call, Callable[[], None]]:
        import nexus_micro

        ctx = None if default_ctx else t.ctx
        api = _nexus_api()
        if not api["per_call_token"]:
            # Before the rewrite: no per-call token, so one Client per call (labelled so).
            return (lambda tok: len(nexus_micro.Client(tok, base_url=t.url, ssl_context=ctx).list_microdeposits()),
                    lambda: None)  # fmt: skip
        options: dict[str, Any] = {"pool_size": t.threads} if api["pool_size"] else {}
        client = nexus_micro.Client(base_url=t.url, ssl_context=ctx, **options)
        close = getattr(client, "close", None) or (lambda: None)
        return (lambda tok: len(client.list_microdeposits(session_token=tok))), close

    return make


def urlopen_client(t: Target) -> tuple[Call, Callable[[], None]]:
    """urllib.request.urlopen per call with the shared context: a new opener and connection each time."""
    import urllib.request

    url = t.url + "micro_deposits"

    def call(tok: str) -> int:
        with urllib.request.urlopen(urllib.request.Request(url, headers=_headers(tok)), context=t.ctx, timeout=10) as r:
            return _count(r.status, r.read())

    return call, lambda: None


def urllib3_client(t: Target) -> tuple[Call, Callable[[], None]]:
    """One urllib3.PoolManager; maxsize=threads (its default, 1, would discard most threaded connections)."""
    import urllib3

    pool = urllib3.PoolManager(maxsize=t.threads, ssl_context=t.ctx, timeout=10.0)
    url = t.url + "micro_deposits"

    def call(tok: str) -> int:
        r = pool.request("GET", url, headers=_headers(tok))
        return _count(r.status, r.data)

    return call, pool.clear


def httpx_client(t: Target) -> tuple[Call, Callable[[], None]]:
    """One httpx.Client with the shared context (its default pool keeps 20 idle connections)."""
    import httpx

    client = httpx.Client(verify=t.ctx, timeout=10.0)
    url = t.url + "micro_deposits"

    def call(tok: str) -> int:
        r = client.get(url, headers=_headers(tok))
        return _count(r.status_code, r.content)

    return call, client.close


def requests_client(t: Target) -> tuple[Call, Callable[[], None]]:
    """One requests.Session, pool_maxsize=threads (default 10), verify=the bundle file on every call.

    verify is passed per call because REQUESTS_CA_BUNDLE in the environment overrides
    Session.verify (a known requests behaviour).
    """
    import requests
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    session.mount("https://", HTTPAdapter(pool_maxsize=t.threads))
    url = t.url + "micro_deposits"

    def call(tok: str) -> int:
        r = session.get(url, headers=_headers(tok), verify=t.bundle, timeout=10)
        return _count(r.status_code, r.content)

    return call, session.close


class Contender(NamedTuple):
    label: str
    make: Callable[[Target], tuple[Call, Callable[[], None]]]
    module: str  # what must be importable


CLIENTS: dict[str, Contender] = {
    "nexus_micro": Contender("nexus_micro, default ssl_context", nexus_client(True), "nexus_micro"),
    "nexus_micro_ctx": Contender("nexus_micro, ssl_context passed", nexus_client(False), "nexus_micro"),
    "urlopen": Contender("urllib.request.urlopen per call", urlopen_client, "urllib.request"),
    "urllib3": Contender("urllib3.PoolManager", urllib3_client, "urllib3"),
    "httpx": Contender("httpx.Client", httpx_client, "httpx"),
    "requests": Contender("requests.Session", requests_client, "requests"),
}
NEXUS = ("nexus_micro", "nexus_micro_ctx")


# --------------------------------------------------------------------------- measuring


def run_calls(call: Call, tokens: list[str], threads: int, stop_at: float) -> int:
    """One call per token, in this thread (threads == 1) or spread over ``threads`` threads.

    A thread takes no new token after ``stop_at`` (perf_counter), once it has made one call, so
    that one very slow client cannot stretch the whole run. Returns the number of calls made.
    """
    if threads == 1:
        done = 0
        for tok in tokens:
            if done and time.perf_counter() >= stop_at:
                break
            if call(tok) != RECORDS:
                raise RuntimeError(f"expected {RECORDS} records")
            done += 1
        return done
    errors: list[BaseException] = []
    counts: list[int] = []

    def work(part: list[str]) -> None:
        try:
            counts.append(run_calls(call, part, 1, stop_at))
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(tokens[i::threads],)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if errors:
        raise errors[0]
    return sum(counts)


def measure(
    name: str, target: Target, threads: int, calls: int, helpers: list[Helper], seconds: float
) -> dict[str, Any]:
    """One timed run of up to ``calls`` calls (``seconds`` at most), each with a different token.

    CPU is this process's (the servers run in their own); connections, requests and distinct
    tokens are what the server saw during the run.
    """
    call, close = CLIENTS[name].make(target)
    tokens = [f"bench-{secrets.token_hex(6)}-{i}" for i in range(calls)]
    gc.collect()
    before = [h.command("reset") for h in helpers]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    try:
        done = run_calls(call, tokens, threads, wall0 + seconds)
    finally:
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        after = [h.command("stats") for h in helpers]
        close()
    server = after[0]
    return {
        "client": name, "calls": done, "wall_s": wall, "cpu_s": cpu,
        "calls_per_s": done / wall, "cpu_ms_per_call": cpu / done * 1e3,
        "connections": server["accepts"], "requests": server["requests"], "bad_requests": server["bad"],
        "distinct_tokens": server["tokens"], "server_cpu_s": server["cpu"] - before[0]["cpu"],
        "proxy_cpu_s": after[1]["cpu"] - before[1]["cpu"] if len(helpers) > 1 else None,
    }  # fmt: skip


def _median_ratio(runs: list[dict[str, Any]], base: list[dict[str, Any]], key: str) -> float | None:
    """Median over rounds of this client's value over the baseline's in the same round."""
    by_round = {r["round"]: r[key] for r in base}
    ratios = [r[key] / by_round[r["round"]] for r in runs if by_round.get(r["round"])]
    return statistics.median(ratios) if ratios else None


def _best_other(runs: dict[str, list[dict[str, Any]]], key: str) -> list[dict[str, Any]]:
    """Per round, the best non-nexus_micro client's run (highest ``key``): the 'best client' target."""
    best: dict[int, dict[str, Any]] = {}
    for name, rs in runs.items():
        if name in NEXUS:
            continue
        for r in rs:
            if r["round"] not in best or r[key] > best[r["round"]][key]:
                best[r["round"]] = r
    return list(best.values())


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "-" if value is None else format(value, spec) + suffix


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else "ok" if ok else "MISS"


def _range(values: list[int]) -> str:
    low, high = min(values), max(values)
    return str(low) if low == high else f"{low}-{high}"


def report(title: str, runs: dict[str, list[dict[str, Any]]], failures: dict[str, str], baseline: str,
           latency_ms: float, threads: int, labels: dict[str, str]) -> list[str]:  # fmt: skip
    """Print the table of one setting and mode, what the server saw, and nexus_micro's targets."""
    lines = [title]
    base = runs.get(baseline)
    b = "x " + (baseline if base else "(none)")
    width = max([len("client"), *(len(labels[n]) for n in [*runs, *failures])])
    lines.append(f"  {'client':<{width}} {'calls':>5} {'calls/s':>8} {b:>11} {'CPU ms/call':>11} {b:>11} "
                 f"{'conns':>6} {'srv CPU ms/call':>15} {'srv CPU %':>9}")  # fmt: skip
    for name, rs in runs.items():
        lines.append(
            f"  {labels[name]:<{width}} {_range([r['calls'] for r in rs]):>5} "
            f"{statistics.median(r['calls_per_s'] for r in rs):8.0f} "
            f"{_fmt(_median_ratio(rs, base, 'calls_per_s') if base else None, '.2f', 'x'):>11} "
            f"{statistics.median(r['cpu_ms_per_call'] for r in rs):11.3f} "
            f"{_fmt(_median_ratio(rs, base, 'cpu_ms_per_call') if base else None, '.2f', 'x'):>11} "
            f"{_range([r['connections'] for r in rs]):>6} "
            f"{statistics.median(r['server_cpu_s'] / r['calls'] * 1e3 for r in rs):15.3f} "
            f"{statistics.median(100 * r['server_cpu_s'] / r['wall_s'] for r in rs):9.0f}"
        )
    for name, error in failures.items():
        lines.append(f"  {labels[name]:<{width}} FAILED: {error}")
    for name, rs in runs.items():  # every call should be one request with its own token (S13b)
        odd = [r for r in rs if r["requests"] != r["calls"] or r["distinct_tokens"] != r["calls"] or r["bad_requests"]]
        for r in odd[:1]:
            lines.append(f"  note: {labels[name]}: the server saw {r['requests']} requests, {r['distinct_tokens']} "
                         f"distinct tokens and {r['bad_requests']} bad requests for {r['calls']} calls "
                         f"({len(odd)} of {len(rs)} runs)")  # fmt: skip
    nexus = [n for n in NEXUS if n in runs]
    if nexus:
        lines.append(f"  targets for {' | '.join(labels[n] for n in nexus)}:")
        best = _best_other(runs, "calls_per_s")

        def row(what: str, cells: list[str]) -> None:
            lines.append(f"    {what:<48} " + "   ".join(f"{c:<12}" for c in cells).rstrip())

        def check(value: float | None, ok: Callable[[float], bool], spec: str = ".2f", suffix: str = "x") -> str:
            return f"{_fmt(value, spec, suffix)} {_verdict(None if value is None else ok(value))}"

        if latency_ms == 0:
            row(f"calls/s >= {baseline}'s",
                [check(_median_ratio(runs[n], base, "calls_per_s") if base else None, lambda v: v >= 1.0)
                 for n in nexus])  # fmt: skip
        else:
            row("calls/s within 10 % of the best other client",
                [check(_median_ratio(runs[n], best, "calls_per_s") if best else None, lambda v: v >= 0.9)
                 for n in nexus])  # fmt: skip
        row(f"CPU per call <= {baseline}'s",
            [check(_median_ratio(runs[n], base, "cpu_ms_per_call") if base else None, lambda v: v <= 1.0)
             for n in nexus])  # fmt: skip
        row(f"connections {'== 1' if threads == 1 else f'<= {threads}'}",
            [check(max(r["connections"] for r in runs[n]), lambda v: v <= threads, "d", "") for n in nexus])
        if len(nexus) == 2:
            row("default ssl_context CPU <= 1.2x a context passed",
                [check(_median_ratio(runs["nexus_micro"], runs["nexus_micro_ctx"], "cpu_ms_per_call"),
                       lambda v: v <= 1.2)])  # fmt: skip
    for line in lines:
        print(line, flush=True)
    return lines


def first_call(target: Target, runs: int, names: list[str], nexus_dir: str) -> list[dict[str, Any]]:
    """Import + first call in a fresh process (wall from outside, CPU = the child's user+sys)."""
    import resource

    url = target.url
    get = f"{url}micro_deposits"
    hdrs = repr(_headers("bench-first-call"))
    # --nexus-micro: the child imports that copy (cwd is ROOT, so '' would find the checkout's first).
    where = "" if nexus_dir == str(ROOT) else f"import sys; sys.path.insert(0, {nexus_dir!r}); "
    cases = {
        "python -c pass": "pass",
        "stdlib baseline: import json, dataclasses, datetime, enum, logging":
            "import json, dataclasses, datetime, enum, logging",
        "import nexus_micro": f"{where}import nexus_micro",
        "import nexus_micro + first call, default ssl_context":
            f"{where}import nexus_micro; "
            f"assert len(nexus_micro.list_microdeposits('bench-first-call', base_url={url!r})) == 10",
        "import urllib.request + first urlopen, default context":
            f"import json, urllib.request; json.loads(urllib.request.urlopen(urllib.request.Request({get!r}, "
            f"headers={hdrs})).read())",
    }  # fmt: skip
    if "urllib3" in names:
        cases["import urllib3 + first PoolManager call, default context"] = (
            f"import json, urllib3; json.loads(urllib3.PoolManager().request('GET', {get!r}, headers={hdrs}).data)"
        )
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in cases}
    # .pyc files are written (once, untimed) and used, as for any installed copy: without this a
    # PYTHONDONTWRITEBYTECODE=1 environment would time compiling nexus_micro.py on every run.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for code in cases.values():
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, env=env)
    for _ in range(runs):
        for name, code in cases.items():
            u0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, env=env)
            wall = time.perf_counter() - t0
            u1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            times[name].append((wall, u1.ru_utime - u0.ru_utime + u1.ru_stime - u0.ru_stime))
    base = times["stdlib baseline: import json, dataclasses, datetime, enum, logging"]
    print(f"first call in a fresh process, {runs} interleaved runs each, medians and median ratios to the stdlib "
          "baseline (wall from outside; CPU = the child's user+sys, interpreter start included):")  # fmt: skip
    rows = []
    for name, ts in times.items():
        wall = statistics.median(t[0] for t in ts) * 1e3
        cpu = statistics.median(t[1] for t in ts) * 1e3
        wall_x = statistics.median(t[0] / b[0] for t, b in zip(ts, base))
        cpu_x = statistics.median(t[1] / b[1] for t, b in zip(ts, base) if b[1] > 0)
        print(f"  {name:<66} wall {wall:6.1f} ms {wall_x:5.2f}x   CPU {cpu:6.1f} ms {cpu_x:5.2f}x")
        rows.append({"case": name, "wall_ms": wall, "cpu_ms": cpu, "wall_x_baseline": wall_x, "cpu_x_baseline": cpu_x})
    return rows


def _available(names: list[str]) -> list[str]:
    import importlib

    ok = []
    for name in names:
        try:
            importlib.import_module(CLIENTS[name].module)
        except ImportError:
            print(f"note: {name} is not installed here, skipped (bash bench/transport.sh has it)")
            continue
        ok.append(name)
    return ok


def _versions(names: list[str]) -> str:
    import importlib

    import nexus_micro

    parts = [f"Python {sys.version.split()[0]}", f"{ssl.OPENSSL_VERSION}", f"nexus_micro {nexus_micro.__version__}"]
    for name in ("urllib3", "httpx", "requests"):
        if name in names:
            parts.append(f"{name} {importlib.import_module(name).__version__}")
    return ", ".join(parts)


def run_table(latency: float, mode: str, names: list[str], target: Target, helpers: list[Helper],
              args: argparse.Namespace, labels: dict[str, str]) -> dict[str, Any]:  # fmt: skip
    """Warm up each client, run the interleaved rounds of one setting and mode, print its table."""
    threads = 1 if mode == "sequential" else args.threads
    calls = args.latency_calls if latency > 0 and threads == 1 else args.calls
    rounds = args.latency_rounds if latency > 0 else args.rounds
    runs: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    failures: dict[str, str] = {}
    for n in names:  # untimed: imports, connection set-up code paths, nexus_micro's shared default context
        try:
            measure(n, target, 1, 3, helpers, args.run_seconds)
        except Exception as exc:
            failures[n] = f"{type(exc).__name__}: {exc}"[:300]
    live = [n for n in names if n not in failures]
    for rnd in range(rounds):
        for n in live[rnd % len(live):] + live[: rnd % len(live)] if live else []:  # rotating order
            if n in failures:
                continue
            try:
                run = measure(n, target, threads, calls, helpers, args.run_seconds)
            except Exception as exc:
                failures[n] = f"{type(exc).__name__}: {exc}"[:300]
                continue
            run.update(round=rnd, mode=mode, latency_ms=latency, threads=threads)
            runs[n].append(run)
    runs = {n: rs for n, rs in runs.items() if rs and n not in failures}
    title = (f"{latency:g} ms one-way, {mode} ({threads} thread{'s' if threads > 1 else ''}), "
             f"{calls} calls per run, {rounds} rounds, medians:")  # fmt: skip
    report(title, runs, failures, args.baseline, latency, threads, labels)
    print()
    return {
        "latency_ms": latency, "mode": mode, "threads": threads, "calls": calls, "rounds": rounds,
        "runs": [r for rs in runs.values() for r in rs],
        "failures": [{"client": n, "error": e} for n, e in failures.items()],
    }  # fmt: skip


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds at 0 ms (default 5)")
    parser.add_argument("--calls", type=int, default=300, help="calls per run, each with its own token (default 300)")
    parser.add_argument("--threads", type=int, default=16, help="threads in the threaded mode (default 16)")
    parser.add_argument("--latency-ms", default="0,10",
                        help="one-way latency settings, comma-separated; above 0 a delaying proxy is in front "
                        "(default 0,10)")
    parser.add_argument("--latency-calls", type=int, default=50,
                        help="sequential calls per run when latency > 0: each costs >= one round trip (default 50)")
    parser.add_argument("--latency-rounds", type=int, default=3, help="rounds when latency > 0 (default 3)")
    parser.add_argument("--run-seconds", type=float, default=4.0,
                        help="a run takes no new call after this many seconds: calls/s and CPU/call stay "
                        "comparable, the calls column shows how many were made (default 4)")
    parser.add_argument("--modes", default="sequential,threads", help="sequential, threads or both (default both)")
    parser.add_argument("--clients", default=",".join(CLIENTS), help=f"comma-separated, from: {', '.join(CLIENTS)}")
    parser.add_argument("--baseline", default="urllib3", help="the client ratios are to (default urllib3)")
    parser.add_argument("--first-call-runs", type=int, default=10, help="fresh processes per first-call case; 0 skips")
    parser.add_argument("--nexus-micro", metavar="FILE",
                        help="benchmark this copy of nexus_micro.py (e.g. from git show) instead of the checkout's")
    parser.add_argument("--json", metavar="PATH", help="also write every run's numbers to PATH as JSON")
    parser.add_argument("--serve", nargs=2, metavar=("CERT", "KEY"), help=argparse.SUPPRESS)  # helper process
    parser.add_argument("--proxy", nargs=2, type=float, metavar=("PORT", "MS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.clients = [c.strip() for c in args.clients.split(",") if c.strip()]
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    args.latency_ms = [float(x) for x in args.latency_ms.split(",")]
    unknown = [c for c in args.clients if c not in CLIENTS]
    if unknown or not args.modes or not set(args.modes) <= {"sequential", "threads"}:
        parser.error(f"unknown client(s) {unknown} or mode(s) {args.modes}")
    if args.nexus_micro and Path(args.nexus_micro).name != "nexus_micro.py":
        parser.error("--nexus-micro must name a file called nexus_micro.py")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve:
        serve(*args.serve)
        return 0
    if args.proxy:
        proxy(int(args.proxy[0]), args.proxy[1])
        return 0
    # nexus_micro is imported only from here on (lazily everywhere): --nexus-micro picks the copy.
    nexus_dir = str(Path(args.nexus_micro).resolve().parent) if args.nexus_micro else str(ROOT)
    sys.path.insert(0, nexus_dir)
    import nexus_micro

    names = _available(args.clients)
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
        os.environ.pop(var, None)  # loopback only; a proxy from the environment would measure the proxy
    tmp = tempfile.mkdtemp(prefix="nexus-bench-")
    certs = make_certs(tmp)
    os.environ["SSL_CERT_FILE"] = certs.bundle  # before the first call: the default-context path as users run it
    ctx = ssl.create_default_context(cafile=certs.bundle)

    api = _nexus_api()
    labels = {n: CLIENTS[n].label for n in names}
    for n in NEXUS:
        if n in labels and not api["per_call_token"]:
            labels[n] += " [one Client per call]"
    print(f"{_versions(names)}\nnexus_micro from {nexus_micro.__file__}")
    print("nexus_micro API: per-call session_token "
          f"{'yes' if api['per_call_token'] else 'NO (the old API: one Client(token) per call instead)'}, "
          f"pool_size {'yes' if api['pool_size'] else 'no'}")  # fmt: skip
    print(f"SSL_CERT_FILE = {certs.system_cas} system CAs + the test CA; "
          f"SSL_CERT_DIR = {os.environ.get('SSL_CERT_DIR', '(unset)')}")  # fmt: skip
    print(f"body: {RECORDS} records, {len(ok_response())} bytes with the head; nexus_micro parses into typed records, "
          "the others only json.loads")  # fmt: skip
    print(f"server: ThreadingHTTPServer HTTP/1.1 keep-alive, TLS 1.3, ECDSA P-256, {os.cpu_count()} CPUs here; "
          "'srv CPU %' near 100 would mean the server (one GIL) limits the figures")  # fmt: skip
    print()

    started = time.perf_counter()
    results: dict[str, Any] = {"versions": _versions(names), "api": api, "tables": [], "first_call": []}
    server = Helper("--serve", certs.leaf, certs.key)
    try:
        for latency in args.latency_ms:
            helpers = [server]
            if latency > 0:
                helpers.append(Helper("--proxy", str(server.port), str(latency)))
            try:
                target = Target(f"https://127.0.0.1:{helpers[-1].port}/", ctx, certs.bundle, args.threads)
                for mode in args.modes:
                    results["tables"].append(run_table(latency, mode, names, target, helpers, args, labels))
            finally:
                for h in helpers[1:]:
                    h.close()
        if args.first_call_runs > 0:
            direct = Target(f"https://127.0.0.1:{server.port}/", ctx, certs.bundle, args.threads)
            results["first_call"] = first_call(direct, args.first_call_runs, names, nexus_dir)
    finally:
        server.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 1 if any(t["failures"] for t in results["tables"]) else 0


if __name__ == "__main__":
    sys.exit(main())
