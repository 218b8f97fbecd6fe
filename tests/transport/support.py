"""What every case module of the transport suite shares: tokens, the base TestCase, a child runner."""
from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import traceback
import unittest
from typing import Any, Callable, Sequence, TypeVar

from loopback import CA, HERE, Proxy, Responder, Server

import nexus_micro as nm

TOKEN = "SeSsIoN-7r4n5p0r7-TOKEN-c0ffee"  # distinctive: a leak is easy to spot
OTHER_TOKEN = "OtHeR-5e55i0n-TOKEN-b1ab1a"

# Timing judgements (S21a, S21b, S17b, S20c): waits end at their bound, plus this much for a
# loaded machine (six interpreters run this suite side by side on two cores). A regression of
# the kind these tests catch overshoots by seconds (a trickle, a stall), never by fractions.
SLACK = 0.75
T = 0.4  # the `timeout` of the timing tests

E = TypeVar("E", bound=BaseException)


class TransportCase(unittest.TestCase):
    """Starts servers and clients that are stopped and closed when the test ends."""

    tls = False  # subclasses set True to run the same tests over HTTPS

    def serve(self, *script: Responder, tls: bool | None = None) -> Server:
        server = Server(script, tls=self.tls if tls is None else tls)
        self.addCleanup(server.close)
        return server

    def proxy(self) -> Proxy:
        proxy = Proxy()
        self.addCleanup(proxy.close)
        return proxy

    def client(self, server: Server, *, session_token: str | None = TOKEN, **options: Any) -> nm.Client:
        """A Client for ``server``: timeout 2 s unless given; the test CA's context for HTTPS."""
        options.setdefault("timeout", 2.0)
        options.setdefault("base_url", server.url)
        if server.scheme == "https":
            options.setdefault("ssl_context", ssl.create_default_context(cafile=CA))
        client = nm.Client(session_token, **options)
        self.addCleanup(client.close)
        return client

    def fails(self, exc_type: type[E], call: Callable[[], Any]) -> E:
        """Run ``call``; it must raise ``exc_type``, and nothing it shows may hold the token (S22a)."""
        with self.assertRaises(exc_type) as caught:
            call()
        exc = caught.exception
        shown = str(exc) + repr(exc) + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.assertNotIn(TOKEN, shown, "S22a: the token leaked into the error")
        return exc

    def assertWithin(self, elapsed: float, low: float, high: float, what: str) -> None:
        self.assertGreaterEqual(elapsed, low, f"{what}: ended after {elapsed:.2f} s, before {low:.2f} s")
        self.assertLessEqual(elapsed, high, f"{what}: ended after {elapsed:.2f} s, past {high:.2f} s")

    def tokens_seen(self, server: Server) -> list[list[str]]:
        return [seen.tokens for seen in server.seen()]


def run_child(calls: Sequence[dict[str, Any]], env: dict[str, str], timeout: float = 60.0) -> dict[str, Any]:
    """Run ``child.py`` in a fresh ``python -I`` with exactly ``env`` (plus PATH) and return its report.

    This is how users run the client: the default TLS context and the proxies come from the
    environment of the process, read by nexus_micro itself.
    """
    module_dir = os.path.dirname(os.path.abspath(nm.__file__))
    child_env = {"PATH": os.environ.get("PATH", "")}
    if "LD_LIBRARY_PATH" in os.environ:  # some interpreter builds need it to find libssl/libpython
        child_env["LD_LIBRARY_PATH"] = os.environ["LD_LIBRARY_PATH"]
    child_env.update(env)
    args = json.dumps({"module_dir": module_dir, "calls": list(calls)})
    proc = subprocess.run(
        [sys.executable, "-I", os.path.join(HERE, "child.py"), args],
        env=child_env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    if proc.returncode != 0 or not proc.stdout.strip():
        raise AssertionError(f"child.py failed (exit {proc.returncode}): {proc.stderr[-3000:]}")
    report: dict[str, Any] = json.loads(proc.stdout.splitlines()[-1])
    report["stderr"] = proc.stderr
    return report
