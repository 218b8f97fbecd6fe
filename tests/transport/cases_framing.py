"""Bodies, keep-alive, the connection pool, per-call tokens, threads and close(), over real sockets.

``HTTPFraming`` runs twice: over HTTP, and as ``HTTPSFraming`` over HTTPS (the test CA's context).
Pooling is seen from the server's side: it counts TCP accepts and notices when the client
closes a connection.
"""
from __future__ import annotations

import os
import threading
import time
import unittest

from loopback import (
    GOOD,
    GOOD_GUID,
    Server,
    body_of,
    chunked,
    close_delimited,
    echo,
    guid_for,
    hang_up,
    head,
    raw,
    reset,
    respond,
    send_then_stall,
    then_idle_close,
)
from support import OTHER_TOKEN, SLACK, TOKEN, TransportCase

import nexus_micro as nm


class HTTPFraming(TransportCase):
    """Over HTTP; HTTPSFraming runs the same tests over HTTPS."""

    tls = False

    def test_200_with_content_length(self) -> None:
        # The CPython 3.13 regression: read1() closes the connection once Content-Length bytes
        # are in, and touching the socket afterwards raised EBADF on nearly every call.
        server = self.serve(respond(200, GOOD))
        records = self.client(server).list_microdeposits()
        self.assertEqual([r.guid for r in records], [GOOD_GUID])
        self.assertEqual(self.tokens_seen(server), [[TOKEN]])

    def test_200_with_content_length_and_connection_close(self) -> None:
        server = self.serve(respond(200, GOOD, keep_alive=False))
        self.assertEqual([r.guid for r in self.client(server).list_microdeposits()], [GOOD_GUID])

    def test_200_chunked(self) -> None:
        server = self.serve(chunked(200, [GOOD[:7], GOOD[7:100], GOOD[100:]]))
        self.assertEqual([r.guid for r in self.client(server).list_microdeposits()], [GOOD_GUID])

    def test_200_close_delimited(self) -> None:
        server = self.serve(close_delimited(200, GOOD))
        self.assertEqual([r.guid for r in self.client(server).list_microdeposits()], [GOOD_GUID])

    def test_keep_alive_one_connection_for_calls_with_different_per_call_tokens(self) -> None:
        # A Client without a token of its own: each call passes one, and each request carries
        # that token and only it, on one reused TCP connection.
        server = self.serve(echo())
        client = self.client(server, session_token=None)
        tokens = [f"call-{i}-{TOKEN}" for i in range(5)]
        for token in tokens:
            records = client.list_microdeposits(session_token=token)
            self.assertEqual([r.guid for r in records], [guid_for(token)])
        self.assertEqual(self.tokens_seen(server), [[t] for t in tokens])
        self.assertEqual(server.connections, 1, "sequential calls must reuse one keep-alive connection")

    def test_keep_alive_with_chunked_bodies(self) -> None:
        server = self.serve(chunked(200, [GOOD[:50], GOOD[50:]]))
        client = self.client(server)
        for _ in range(3):
            self.assertEqual([r.guid for r in client.list_microdeposits()], [GOOD_GUID])
        self.assertEqual(server.connections, 1)

    def test_per_call_token_overrides_the_clients_own_for_that_call_only(self) -> None:
        server = self.serve(echo())
        client = self.client(server)
        self.assertEqual(client.list_microdeposits(session_token=OTHER_TOKEN)[0].guid, guid_for(OTHER_TOKEN))
        self.assertEqual(client.list_microdeposits()[0].guid, guid_for(TOKEN))
        self.assertEqual(self.tokens_seen(server), [[OTHER_TOKEN], [TOKEN]])

    def test_close_delimited_bodies_are_never_reused(self) -> None:
        server = self.serve(close_delimited(200, GOOD))
        client = self.client(server)
        for _ in range(3):
            self.assertEqual(len(client.list_microdeposits()), 1)
        self.assertEqual(server.connections, 3)

    def test_server_closing_an_idle_keep_alive_connection_costs_no_retry(self) -> None:
        # The server announces keep-alive, then closes the connection while it idles in the
        # pool. The next call fails on it before any response byte, is sent once more on a new
        # connection at once, and that resend is not a retry: it works with max_retries=0.
        server = self.serve(then_idle_close(respond(200, GOOD), after=0.05))
        client = self.client(server, max_retries=0)
        for call in range(3):
            if call:
                time.sleep(0.3)  # the server has closed the idle connection by now
            self.assertEqual([r.guid for r in client.list_microdeposits()], [GOOD_GUID])
        self.assertEqual(server.connections, 3)
        self.assertEqual([seen.conn for seen in server.seen()], [0, 1, 2])

    def test_request_failing_on_a_reused_connection_is_resent_at_once(self) -> None:
        # The race an idle check cannot see: the kept connection looks fine, the server closes
        # it as the request arrives (no byte of an answer). Sent once more on a new connection,
        # not counted as a retry (max_retries=0), with no backoff.
        for closing in (hang_up(), reset()):
            with self.subTest(closing=closing.__qualname__.split(".")[0]):
                server = self.serve(respond(200, GOOD), closing, respond(200, GOOD))
                client = self.client(server, max_retries=0)
                client.list_microdeposits()
                started = time.monotonic()
                self.assertEqual(len(client.list_microdeposits()), 1)
                elapsed = time.monotonic() - started
                self.assertEqual([seen.conn for seen in server.seen()], [0, 0, 1])
                self.assertLess(elapsed, SLACK, "the resend is at once, not after a retry's backoff")

    def test_a_reused_connection_is_resent_once_only(self) -> None:
        # Every request after the first is met by a close without an answer: the reused
        # connection's failure is resent once (not a retry), then each of max_retries retries
        # gets one new connection. Never more.
        for retries in (0, 1):
            with self.subTest(max_retries=retries):
                server = self.serve(respond(200, GOOD), hang_up())
                client = self.client(server, max_retries=retries)
                client.list_microdeposits()
                exc = self.fails(nm.TransportError, client.list_microdeposits)
                self.assertNotIsInstance(exc, nm.Timeout)
                self.assertEqual(exc.category, "transport_error")
                # conn 0: the first call and the failing reuse; then the resend, then one per retry
                self.assertEqual([seen.conn for seen in server.seen()], [0, 0, *range(1, retries + 2)])

    def test_fresh_connections_closed_without_an_answer_are_retried_not_resent(self) -> None:
        server = self.serve(hang_up())
        exc = self.fails(nm.TransportError, self.client(server, max_retries=1).list_microdeposits)
        self.assertEqual(exc.category, "transport_error")
        self.assertEqual(server.connections, 2, "1 attempt + 1 retry; a fresh connection is not resent")


class HTTPSFraming(HTTPFraming):
    tls = True


class PoolTests(TransportCase):
    """A connection is reused only after a response read to its end; close() releases them."""

    def assert_second_call_on_a_new_connection(self, server: Server, client: nm.Client) -> None:
        self.assertEqual([r.guid for r in client.list_microdeposits()], [GOOD_GUID])
        self.assertEqual(server.connections, 2, "the first connection must not be reused")
        self.assertEqual([seen.conn for seen in server.seen()], [0, 1])
        self.assertTrue(server.wait_closed(0), "the client must close the connection it did not reuse")

    def test_not_reused_after_an_error_body_not_read_to_its_end(self) -> None:
        # S20c: 64 KiB of an error body are read, the rest is not: that connection is closed.
        big = b'{"error": {"code": "5000", "message": "' + b"x" * 100_000 + b'"}}'
        server = self.serve(respond(500, big), respond(200, GOOD))
        client = self.client(server, max_retries=0)
        self.assertEqual(self.fails(nm.ServerError, client.list_microdeposits).status, 500)
        self.assert_second_call_on_a_new_connection(server, client)

    def test_not_reused_after_a_timeout(self) -> None:
        partial = head(200, [("Content-Length", str(len(GOOD)))]) + GOOD[:20]
        server = self.serve(send_then_stall(partial), respond(200, GOOD))
        client = self.client(server, timeout=0.3, max_retries=0)
        self.fails(nm.Timeout, client.list_microdeposits)
        self.assert_second_call_on_a_new_connection(server, client)

    def test_not_reused_after_content_length_over_the_cap(self) -> None:
        server = self.serve(respond(200, body_of(*["MIC-x"] * 10)), respond(200, GOOD))
        client = self.client(server, max_retries=0, max_response_bytes=len(GOOD))
        self.fails(nm.ResponseTooLarge, client.list_microdeposits)
        self.assert_second_call_on_a_new_connection(server, client)

    def test_not_reused_after_a_chunked_body_over_the_cap(self) -> None:
        big = body_of(*["MIC-x"] * 10)
        server = self.serve(chunked(200, [big[i : i + 500] for i in range(0, len(big), 500)]), respond(200, GOOD))
        client = self.client(server, max_retries=0, max_response_bytes=len(GOOD))
        self.fails(nm.ResponseTooLarge, client.list_microdeposits)
        self.assert_second_call_on_a_new_connection(server, client)

    def test_not_reused_after_broken_chunked_framing(self) -> None:
        # The server keeps the connection open after the bad chunk-size line (S20b).
        bad = head(200, [("Transfer-Encoding", "chunked")]) + b"zz\r\n" + GOOD + b"\r\n0\r\n\r\n"
        server = self.serve(raw(bad, keep_alive=True), respond(200, GOOD))
        client = self.client(server, max_retries=0)
        self.fails(nm.TransportError, client.list_microdeposits)
        self.assert_second_call_on_a_new_connection(server, client)

    def test_not_reused_after_101(self) -> None:
        # S14: a 101 nobody asked for is final (http_error) and its connection is closed.
        server = self.serve(raw(head(101, [("Upgrade", "h2c"), ("Connection", "Upgrade")]), keep_alive=True),
                            respond(200, GOOD))  # fmt: skip
        client = self.client(server, max_retries=0)
        self.assertEqual(self.fails(nm.HTTPError, client.list_microdeposits).status, 101)
        self.assert_second_call_on_a_new_connection(server, client)

    def test_a_204_claiming_a_body_is_malformed_and_not_reused(self) -> None:
        # S14 and framing: a 204 has no body, whatever Content-Length says; the bytes it sent
        # anyway must not be read as the next response.
        server = self.serve(raw(head(204, [("Content-Length", "2")]) + b"{}", keep_alive=True), respond(200, GOOD))
        client = self.client(server, max_retries=0)
        started = time.monotonic()
        self.fails(nm.MalformedResponse, client.list_microdeposits)
        self.assertLess(time.monotonic() - started, 1.0, "a 204 is not waited on for a body")
        self.assert_second_call_on_a_new_connection(server, client)

    def test_pooled_connections_work_with_file_descriptors_past_1023(self) -> None:
        # select() cannot watch a descriptor past FD_SETSIZE (1024): a busy process has such fds.
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < 1200:
            self.skipTest(f"RLIMIT_NOFILE is {soft}")
        fillers = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
        self.addCleanup(lambda: [os.close(fd) for fd in fillers])
        server = self.serve(respond(200, GOOD))
        client = self.client(server)
        for _ in range(3):
            self.assertEqual(len(client.list_microdeposits()), 1)
        self.assertEqual(server.connections, 1, "the pooled connection was reused")

    def test_16_threads_share_one_client(self) -> None:
        server = self.serve(echo(delay=0.01))
        client = self.client(server, session_token=None)
        start = threading.Barrier(16)
        got: dict[str, list[str]] = {}
        errors: list[BaseException] = []

        def work(n: int) -> None:
            try:
                start.wait(5)
                for i in range(4):
                    token = f"thread-{n}-call-{i}-{TOKEN}"
                    got[token] = [r.guid for r in client.list_microdeposits(session_token=token)]
            except BaseException as exc:  # reported below, with the others
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        self.assertEqual(errors, [])
        self.assertEqual(len(got), 64)
        for token, guids in got.items():
            self.assertEqual(guids, [guid_for(token)], "every call gets the answer to its own request")
        self.assertEqual(sorted(t for seen in server.seen() for t in seen.tokens), sorted(got))
        self.assertTrue(all(len(seen.tokens) == 1 for seen in server.seen()), "one token per request")
        self.assertLessEqual(server.connections, 16, "at most pool_size (16) connections")

    def test_pool_size_bounds_the_idle_connections_kept(self) -> None:
        # 6 concurrent calls need 6 connections; with pool_size=2, at most 2 stay open afterwards.
        server = self.serve(echo(delay=0.3))
        client = self.client(server, pool_size=2)
        start = threading.Barrier(6)

        def work() -> None:
            start.wait(5)
            client.list_microdeposits()

        threads = [threading.Thread(target=work) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        self.assertEqual(server.connections, 6)
        self.assertGreaterEqual(server.closed_by_client(4), 4, "connections beyond pool_size must be closed")
        client.list_microdeposits()
        self.assertEqual(server.connections, 6, "a kept connection is reused")

    def test_close_releases_the_connections(self) -> None:
        server = self.serve(respond(200, GOOD))
        client = self.client(server)
        client.list_microdeposits()
        client.list_microdeposits()
        self.assertEqual(server.connections, 1)
        self.assertFalse(server.wait_closed(0, 0.2), "an idle pooled connection stays open until close()")
        client.close()
        self.assertTrue(server.wait_closed(0), "close() must close the idle connection")

    def test_with_block_releases_the_connections(self) -> None:
        server = self.serve(respond(200, GOOD))
        with nm.Client(TOKEN, base_url=server.url, timeout=2.0) as client:
            self.assertIsInstance(client, nm.Client)
            self.assertEqual([r.guid for r in client.list_microdeposits()], [GOOD_GUID])
        self.assertTrue(server.wait_closed(0), "leaving the with block must close the idle connection")

    def test_client_with_neither_token_nor_provider_needs_a_per_call_token(self) -> None:
        server = self.serve(respond(200, GOOD))
        client = self.client(server, session_token=None)
        self.assertEqual(len(client.list_microdeposits(session_token=TOKEN)), 1)
        self.assertEqual(self.tokens_seen(server), [[TOKEN]])


if __name__ == "__main__":
    unittest.main()
