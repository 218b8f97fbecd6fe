"""What goes wrong on the wire: retries (S17), redirects (S19), size and framing (S20), time (S21), 1xx (S14).

Each test starts its own server, makes real requests and checks both the outcome and what the
server saw (requests, connections, arrival times). Timing bounds are those the rules set, plus
``SLACK`` for a loaded machine.
"""
from __future__ import annotations

import time
import unittest
from typing import Any

from loopback import (
    GOOD,
    GOOD_GUID,
    Server,
    body_of,
    chunked,
    close_delimited,
    head,
    raw,
    reset,
    respond,
    send_then_stall,
    stall,
    trickle,
)
from support import SLACK, TOKEN, T, TransportCase

import nexus_micro as nm

ERROR_JSON = b'{"error": {"code": "5030", "message": "try again"}}'


class Retries(TransportCase):
    """S17: transport errors, timeouts, 429, 502-504 are retried; S17b: Retry-After is waited."""

    def test_503_then_200(self) -> None:
        server = self.serve(respond(503, ERROR_JSON), respond(200, GOOD))
        self.assertEqual([r.guid for r in self.client(server).list_microdeposits()], [GOOD_GUID])
        self.assertEqual(self.tokens_seen(server), [[TOKEN], [TOKEN]])

    def test_429_with_retry_after_1_is_waited(self) -> None:
        server = self.serve(respond(429, ERROR_JSON, [("Retry-After", "1")]), respond(200, GOOD))
        self.assertEqual(len(self.client(server).list_microdeposits()), 1)
        first, second = server.seen()
        assert first.answered is not None
        gap = second.arrived - first.answered
        self.assertWithin(gap, 1.0 - 0.02, 1.0 + SLACK, "S17b: the retry after Retry-After: 1")

    def test_500_is_not_retried(self) -> None:
        server = self.serve(respond(500, ERROR_JSON), respond(200, GOOD))
        self.assertEqual(self.fails(nm.ServerError, self.client(server).list_microdeposits).status, 500)
        self.assertEqual(len(server.seen()), 1)

    def test_reset_then_200(self) -> None:
        server = self.serve(reset(), respond(200, GOOD))
        self.assertEqual(len(self.client(server).list_microdeposits()), 1)
        self.assertEqual(len(server.seen()), 2)

    def test_timeout_is_retried(self) -> None:
        server = self.serve(stall(), respond(200, GOOD))
        self.assertEqual(len(self.client(server, timeout=T).list_microdeposits()), 1)
        self.assertEqual(len(server.seen()), 2)

    def test_truncated_body_then_a_good_one(self) -> None:
        short = head(200, [("Content-Length", str(len(GOOD))), ("Connection", "close")]) + GOOD[:40]
        server = self.serve(raw(short), respond(200, GOOD))
        self.assertEqual([r.guid for r in self.client(server).list_microdeposits()], [GOOD_GUID])
        self.assertEqual(len(server.seen()), 2)


class Redirects(TransportCase):
    """S19: a 3xx is UnexpectedRedirect; nothing reaches the other origin."""

    def test_302_to_another_origin_is_not_followed(self) -> None:
        for tls in (False, True):
            with self.subTest(https=tls):
                other = self.serve(respond(200, GOOD), tls=False)
                location = other.url + "micro_deposits"
                server = self.serve(respond(302, b"moved", [("Location", location)]), tls=tls)
                exc = self.fails(nm.UnexpectedRedirect, self.client(server, max_retries=2).list_microdeposits)
                self.assertEqual((exc.category, exc.status, exc.location), ("unexpected_redirect", 302, location))
                self.assertEqual(len(server.seen()), 1, "never retried")
                self.assertEqual(other.connections, 0, "nothing reaches the other origin")


class Time(TransportCase):
    """S21a: every wait is bounded by timeout (the head is ONE wait); S21b: deadline bounds the call."""

    def assert_times_out(self, server: Server, low: float, high: float, what: str, **options: Any) -> nm.Timeout:
        client = self.client(server, **options)
        started = time.monotonic()
        exc = self.fails(nm.Timeout, client.list_microdeposits)
        self.assertWithin(time.monotonic() - started, low, high, what)
        self.assertEqual(exc.category, "timeout")
        return exc

    def test_header_stall(self) -> None:
        server = self.serve(stall())
        self.assert_times_out(server, 0.9 * T, T + SLACK, "S21a: no head", timeout=T, max_retries=0)

    def test_body_stall(self) -> None:
        server = self.serve(send_then_stall(head(200, [("Content-Length", str(len(GOOD)))]) + GOOD[:30]))
        self.assert_times_out(server, 0.9 * T, T + SLACK, "S21a: a body read", timeout=T, max_retries=0)

    def test_head_trickled_a_byte_at_a_time_ends_at_timeout(self) -> None:
        # S21a: the response head is ONE wait; a byte every 20 ms must not restart it (the
        # whole head would take 3 s here).
        slow_head = head(200, [("Content-Length", str(len(GOOD))), ("X-Pad", "p" * 100)])
        server = self.serve(trickle(slow_head + GOOD, every=0.02))
        self.assert_times_out(server, 0.9 * T, T + SLACK, "S21a: a trickled head", timeout=T, max_retries=0)

    def test_interim_1xx_responses_count_against_the_head_wait(self) -> None:
        # S14/S21a: interim responses are skipped, but the head wait runs across them.
        many = head(103, [("Link", "</style.css>; rel=preload")]) * 60  # 5 s of them
        server = self.serve(trickle(many, every=0.002))
        self.assert_times_out(server, 0.9 * T, T + SLACK, "S21a: endless 103s", timeout=T, max_retries=0)

    def test_deadline_across_retries(self) -> None:
        # S21b: attempts and the waits between them all fit in the deadline.
        server = self.serve(stall())
        deadline = 1.0
        self.assert_times_out(server, 2 * T * 0.9, deadline + SLACK, "S21b: deadline over retries",
                              timeout=T, deadline=deadline, max_retries=10)  # fmt: skip
        self.assertGreaterEqual(len(server.seen()), 2, "a retry fits before the deadline (S17c: wait <= 0.5 s)")

    def test_deadline_bounds_a_trickling_body(self) -> None:
        # S21a: each body read waits at most timeout; only the deadline bounds a body that keeps
        # coming (a byte every 30 ms would take 3 s here).
        server = self.serve(trickle(b" " * 100, every=0.03, first=head(200, [("Content-Length", "100000")])))
        self.assert_times_out(server, 0.9 * 1.0, 1.0 + SLACK, "S21b: a trickling 2xx body",
                              timeout=T, deadline=1.0, max_retries=0)  # fmt: skip

    def test_deadline_bounds_the_head_after_a_slow_tls_handshake(self) -> None:
        # S21b: every wait is bounded by what is left of the deadline, not by the timeout taken
        # when the attempt began: a handshake that took 1 s leaves 0.5 s for the head.
        server = Server([stall()], tls=True, handshake_delay=1.0)
        self.addCleanup(server.close)
        self.assert_times_out(server, 1.4, 1.5 + SLACK, "S21b: handshake, then the head", timeout=5.0,
                              deadline=1.5, max_retries=0)  # fmt: skip

    def test_a_resend_on_a_new_connection_stays_within_the_deadline(self) -> None:
        # S21b: the stale-connection resend (a request the server drops without answering, on a
        # reused connection) gets only what is left of the deadline.
        server = self.serve(respond(200, GOOD), stall(1.0), stall())  # request 2: 1 s of silence, then closed
        client = self.client(server, timeout=5.0, deadline=1.5, max_retries=0)
        client.list_microdeposits()
        started = time.monotonic()
        self.fails(nm.Timeout, client.list_microdeposits)
        self.assertWithin(time.monotonic() - started, 1.4, 1.5 + SLACK, "S21b: the resend within the deadline")
        self.assertEqual(len(server.seen()), 3, "the dropped request was sent once more, on a new connection")

    def test_retry_after_past_the_deadline_is_not_waited_for(self) -> None:
        # S17b/S21b: a Retry-After longer than what is left of the deadline: no retry, that response's outcome.
        server = self.serve(respond(503, ERROR_JSON, [("Retry-After", "5")]), respond(200, GOOD))
        client = self.client(server, deadline=2.0)
        started = time.monotonic()
        self.assertEqual(self.fails(nm.ServerError, client.list_microdeposits).status, 503)
        self.assertWithin(time.monotonic() - started, 0.0, SLACK, "S17b: not waited for")
        self.assertEqual(len(server.seen()), 1)


class SizeAndFraming(TransportCase):
    """S20a: the size cap; S20b: truncation and broken chunking; S20d: Content-Length."""

    def test_content_length_longer_than_the_body_is_transport_error_not_parsed(self) -> None:
        short = head(200, [("Content-Length", str(len(GOOD) + 50)), ("Connection", "close")]) + GOOD
        server = self.serve(raw(short))
        exc = self.fails(nm.TransportError, self.client(server, max_retries=0).list_microdeposits)
        self.assertIs(type(exc), nm.TransportError, "S20b: not parsed, not a timeout")
        self.assertEqual(exc.category, "transport_error")

    def test_chunked_body_without_its_last_chunk(self) -> None:
        server = self.serve(chunked(200, [GOOD[:100], GOOD[100:]], terminate=False, keep_alive=False))
        exc = self.fails(nm.TransportError, self.client(server, max_retries=0).list_microdeposits)
        self.assertIs(type(exc), nm.TransportError)

    def test_chunk_size_line_that_is_not_hex(self) -> None:
        bad = head(200, [("Transfer-Encoding", "chunked"), ("Connection", "close")]) + b"zz\r\n" + GOOD
        server = self.serve(raw(bad))
        exc = self.fails(nm.TransportError, self.client(server, max_retries=0).list_microdeposits)
        self.assertIs(type(exc), nm.TransportError)

    def test_chunk_longer_than_announced(self) -> None:
        framing = [("Transfer-Encoding", "chunked"), ("Connection", "close")]
        bad = head(200, framing) + b"5\r\n" + GOOD + b"\r\n0\r\n\r\n"
        server = self.serve(raw(bad))
        self.fails(nm.TransportError, self.client(server, max_retries=0).list_microdeposits)

    def test_over_the_cap(self) -> None:
        # S20a: with Content-Length (refused before reading), chunked, and close-delimited; never retried.
        big = body_of(*["MIC-x"] * 20)
        for name, responder in (("content-length", respond(200, big)),
                                ("chunked", chunked(200, [big[i : i + 700] for i in range(0, len(big), 700)])),
                                ("close-delimited", close_delimited(200, big))):  # fmt: skip
            with self.subTest(framing=name):
                server = self.serve(responder)
                client = self.client(server, max_response_bytes=len(GOOD), max_retries=2)
                exc = self.fails(nm.ResponseTooLarge, client.list_microdeposits)
                self.assertEqual(exc.category, "response_too_large")
                self.assertEqual(len(server.seen()), 1, "S17: not retried")

    def test_exactly_at_the_cap(self) -> None:
        for name, responder in (("content-length", respond(200, GOOD)), ("chunked", chunked(200, [GOOD])),
                                ("close-delimited", close_delimited(200, GOOD))):  # fmt: skip
            with self.subTest(framing=name):
                server = self.serve(responder)
                records = self.client(server, max_response_bytes=len(GOOD)).list_microdeposits()
                self.assertEqual([r.guid for r in records], [GOOD_GUID])

    def test_content_length_lists_and_repeats(self) -> None:
        # S20d: "n, n" and two fields n and n are n; different values are a transport error.
        n = str(len(GOOD))
        for headers in ([("Content-Length", f"{n}, {n}")], [("Content-Length", n), ("Content-Length", n)],
                        [("Content-Length", f"{n},{n} ,\t{n}")]):  # fmt: skip
            with self.subTest(headers=headers):
                server = self.serve(respond(200, GOOD, headers))
                self.assertEqual([r.guid for r in self.client(server).list_microdeposits()], [GOOD_GUID])
        m = str(len(GOOD) + 1)
        for headers in ([("Content-Length", f"{n}, {m}")], [("Content-Length", n), ("Content-Length", m)]):
            with self.subTest(headers=headers):
                server = self.serve(respond(200, GOOD, [*headers, ("Connection", "close")]))
                exc = self.fails(nm.TransportError, self.client(server, max_retries=0).list_microdeposits)
                self.assertIs(type(exc), nm.TransportError)

    def test_malformed_content_length(self) -> None:
        n = len(GOOD)
        for value in (f"+{n}", f"{n}.0", hex(n), f"{n} {n}", "", f"-{n}"):
            with self.subTest(value=value):
                server = self.serve(respond(200, GOOD, [("Content-Length", value), ("Connection", "close")]))
                exc = self.fails(nm.TransportError, self.client(server, max_retries=0).list_microdeposits)
                self.assertIs(type(exc), nm.TransportError, "S20d")

    def test_content_length_with_chunked(self) -> None:
        server = self.serve(chunked(200, [GOOD], [("Content-Length", str(len(GOOD)))], keep_alive=False))
        exc = self.fails(nm.TransportError, self.client(server, max_retries=0).list_microdeposits)
        self.assertIs(type(exc), nm.TransportError, "S20d: Content-Length with chunked framing")


class ErrorBodies(TransportCase):
    """S20c: an error body cut short, reset or trickling: the status decides, within one timeout."""

    def test_cut_short(self) -> None:
        cut = head(503, [("Content-Length", "1000"), ("Connection", "close")]) + ERROR_JSON[:20]
        server = self.serve(raw(cut))
        self.assertEqual(self.fails(nm.ServerError, self.client(server, max_retries=0).list_microdeposits).status, 503)

    def test_reset_after_the_head(self) -> None:
        server = self.serve(reset(head(404, [("Content-Length", "1000")]) + b'{"error": '))
        exc = self.fails(nm.NotFound, self.client(server, max_retries=0).list_microdeposits)
        self.assertEqual(exc.status, 404)

    def test_trickling_error_body_ends_within_one_timeout(self) -> None:
        # One wait for the whole error body, not one per read: a byte every 30 ms would go on for 3 s.
        server = self.serve(trickle(b" " * 100, every=0.03, first=head(404, [("Content-Length", "100")])))
        client = self.client(server, timeout=T, max_retries=0)
        started = time.monotonic()
        self.assertEqual(self.fails(nm.NotFound, client.list_microdeposits).status, 404)
        self.assertWithin(time.monotonic() - started, 0.0, T + SLACK, "S20c: one wait for the error body")

    def test_bad_content_length_on_an_error_does_not_hide_the_status(self) -> None:
        server = self.serve(respond(503, ERROR_JSON, [("Content-Length", "5, 6"), ("Connection", "close")]))
        self.assertEqual(self.fails(nm.ServerError, self.client(server, max_retries=0).list_microdeposits).status, 503)

    def test_broken_chunking_on_an_error_does_not_hide_the_status(self) -> None:
        server = self.serve(chunked(404, [ERROR_JSON], terminate=False, keep_alive=False))
        self.assertEqual(self.fails(nm.NotFound, self.client(server, max_retries=0).list_microdeposits).status, 404)


class Interim(TransportCase):
    """S14: 1xx other than 101 before the final response are skipped; 101 is final (http_error)."""

    def test_interim_responses_then_200(self) -> None:
        for statuses in ((103,), (100,), (100, 102, 103, 199)):
            with self.subTest(statuses=statuses):
                interim = b"".join(head(s, [("Link", "</a.css>; rel=preload")] if s == 103 else []) for s in statuses)
                final = head(200, [("Content-Length", str(len(GOOD)))]) + GOOD
                server = self.serve(raw(interim + final, keep_alive=True))
                client = self.client(server)
                self.assertEqual([r.guid for r in client.list_microdeposits()], [GOOD_GUID])
                self.assertEqual([r.guid for r in client.list_microdeposits()], [GOOD_GUID])
                self.assertEqual(server.connections, 1, "the connection survives the interim responses")

    def test_101_is_http_error(self) -> None:
        server = self.serve(raw(head(101, [("Upgrade", "h2c"), ("Connection", "Upgrade")])))
        exc = self.fails(nm.HTTPError, self.client(server, max_retries=2).list_microdeposits)
        self.assertEqual((type(exc), exc.category, exc.status), (nm.HTTPError, "http_error", 101))
        self.assertEqual(len(server.seen()), 1, "not retried")


if __name__ == "__main__":
    unittest.main()
