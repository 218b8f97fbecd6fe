"""TLS verification and proxies as users meet them: from the process environment.

The default-context and proxy tests run the client in a child process (``child.py``, a fresh
``python -I``) whose environment holds only what the test sets: ``SSL_CERT_FILE`` with the test
CA (what README promises), ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` pointing at a CONNECT
proxy the test runs. The HTTPS origin is named ``nexus-micro.test`` there (the leaf's SAN):
not a loopback name, so a loopback bypass in the client cannot hide the proxy; the proxy, and
the child's pinned resolver, map it to 127.0.0.1.
"""
from __future__ import annotations

import ssl
import unittest
from typing import Any

from loopback import CA, GOOD, GOOD_GUID, OTHER_CA, TEST_HOST, respond
from support import TOKEN, TransportCase, run_child

import nexus_micro as nm


def call(base_url: str, *, client: str = "", set_env: dict[str, str] | None = None, **options: Any) -> dict[str, Any]:
    """One call for child.py: through the Client named ``client``, or the one-shot function."""
    options.setdefault("timeout", 2.0)
    return {"base_url": base_url, "token": TOKEN, "client": client or None, "options": options,
            "set_env": set_env or {}}  # fmt: skip


OK = {"guids": [GOOD_GUID]}


class TLSVerification(TransportCase):
    """S17: a certificate that fails verification is final (never retried)."""

    tls = True

    def test_explicit_ssl_context_with_the_test_ca(self) -> None:
        server = self.serve(respond(200, GOOD))
        context = ssl.create_default_context(cafile=CA)
        self.assertEqual([r.guid for r in self.client(server, ssl_context=context).list_microdeposits()], [GOOD_GUID])

    def test_explicit_ssl_context_with_the_wrong_ca_is_final(self) -> None:
        server = self.serve(respond(200, GOOD))
        context = ssl.create_default_context(cafile=OTHER_CA)
        exc = self.fails(nm.TransportError, self.client(server, ssl_context=context, max_retries=2).list_microdeposits)
        self.assertIs(type(exc), nm.TransportError)
        self.assertEqual(exc.category, "transport_error")
        self.assertIn("certificate", str(exc))
        self.assertEqual(server.connections, 1, "S17: a failed verification is not retried")
        self.assertEqual(server.seen(), [], "nothing was sent")

    def test_default_context_from_ssl_cert_file(self) -> None:
        # No ssl_context: the default context, which reads SSL_CERT_FILE of the process.
        server = self.serve(respond(200, GOOD))
        report = run_child([call(server.url), call(server.url, client="a")], {"SSL_CERT_FILE": CA})
        self.assertEqual(report["results"], [OK, OK], report["stderr"])
        self.assertEqual(self.tokens_seen(server), [[TOKEN], [TOKEN]])

    def test_default_context_with_the_wrong_ca_is_final(self) -> None:
        server = self.serve(respond(200, GOOD))
        report = run_child([call(server.url, max_retries=2)], {"SSL_CERT_FILE": OTHER_CA})
        (result,) = report["results"]
        self.assertEqual((result.get("error"), result.get("type")), ("transport_error", "TransportError"), result)
        self.assertNotIn(TOKEN, result["message"])
        self.assertEqual(server.connections, 1, "S17: a failed verification is not retried")
        self.assertEqual(server.seen(), [])

    def test_one_default_context_per_process(self) -> None:
        # Building a default context loads the system CA bundle (~17 ms of CPU): once per
        # process and SSL_CERT_FILE value, shared by every Client and the one-shot function.
        server = self.serve(respond(200, GOOD))
        calls = [call(server.url, client="a"), call(server.url, client="a"), call(server.url, client="b"),
                 call(server.url), call(server.url)]  # fmt: skip
        report = run_child(calls, {"SSL_CERT_FILE": CA})
        self.assertEqual(report["results"], [OK] * 5, report["stderr"])
        self.assertEqual(report["default_cert_loads"], 1, "one default TLS context for the whole process")

    def test_default_context_follows_ssl_cert_file_changes(self) -> None:
        # "Per value of SSL_CERT_FILE": a process that changes it gets a context for the new value.
        server = self.serve(respond(200, GOOD))
        calls = [call(server.url, max_retries=0), call(server.url, set_env={"SSL_CERT_FILE": CA})]
        report = run_child(calls, {"SSL_CERT_FILE": OTHER_CA})
        first, second = report["results"]
        self.assertEqual(first.get("error"), "transport_error", first)
        self.assertEqual(second, OK, report["stderr"])


class Proxies(TransportCase):
    """HTTPS_PROXY tunnels (the token stays inside TLS); NO_PROXY and loopback http bypass it."""

    def https_origin(self) -> Any:
        server = self.serve(respond(200, GOOD), tls=True)
        return server, f"https://{TEST_HOST}:{server.port}/"

    def test_https_proxy_tunnels_and_sees_only_connect(self) -> None:
        server, url = self.https_origin()
        proxy = self.proxy()
        report = run_child([call(url)], {"SSL_CERT_FILE": CA, "HTTPS_PROXY": proxy.url})
        self.assertEqual(report["results"], [OK], report["stderr"])
        self.assertEqual(len(proxy.heads), 1, proxy.heads)
        request_line = proxy.heads[0].split("\r\n")[0]
        self.assertRegex(request_line, f"^CONNECT {TEST_HOST}:{server.port} HTTP/1\\.[01]$")  # http.client says 1.0
        self.assertNotIn(TOKEN, proxy.heads[0], "the proxy must not see the token")
        self.assertNotIn("session-token", proxy.heads[0].lower())
        self.assertNotIn(TOKEN.encode(), bytes(proxy.upstream), "the token goes inside TLS only")
        self.assertGreater(len(proxy.upstream), 0, "the request went through the tunnel")
        self.assertEqual(self.tokens_seen(server), [[TOKEN]])

    def test_calls_of_one_client_share_one_tunnel(self) -> None:
        server, url = self.https_origin()
        proxy = self.proxy()
        report = run_child([call(url, client="a")] * 3, {"SSL_CERT_FILE": CA, "HTTPS_PROXY": proxy.url})
        self.assertEqual(report["results"], [OK] * 3, report["stderr"])
        self.assertEqual([h.split(" ")[0] for h in proxy.heads], ["CONNECT"], "one kept-alive tunnel")
        self.assertEqual(server.connections, 1)

    def test_no_proxy_bypasses_the_proxy(self) -> None:
        server, url = self.https_origin()
        proxy = self.proxy()
        env = {"SSL_CERT_FILE": CA, "HTTPS_PROXY": proxy.url, "NO_PROXY": TEST_HOST}
        report = run_child([call(url)], env)
        self.assertEqual(report["results"], [OK], report["stderr"])
        self.assertEqual(proxy.connections, 0, "NO_PROXY names the host: straight to it")
        self.assertEqual(self.tokens_seen(server), [[TOKEN]])

    def test_loopback_http_never_uses_a_proxy_from_the_environment(self) -> None:
        server = self.serve(respond(200, GOOD), tls=False)
        proxy = self.proxy()
        env = {"HTTP_PROXY": proxy.url, "http_proxy": proxy.url, "HTTPS_PROXY": proxy.url, "ALL_PROXY": proxy.url}
        urls: list[str] = [server.url, f"http://localhost:{server.port}/"]
        report = run_child([call(u) for u in urls], env)
        self.assertEqual(report["results"], [OK, OK], report["stderr"])
        self.assertEqual(proxy.connections, 0, "a proxy cannot reach the client's loopback (S13d)")
        self.assertEqual(len(server.seen()), 2)


if __name__ == "__main__":
    unittest.main()
