"""A small urllib client for the planted fetch bugs: correct by default (S13-S21), with one
knob per planted bug. Response bodies are interpreted by the bundled adapter's `parse` op."""

from __future__ import annotations

import base64
import email.utils
import http.client
import random
import socket
import time
import urllib.error
import urllib.request
from typing import Callable

from nexus_micro_kit.adapters import nexus_micro as bundled

MEDIA_TYPE = "application/vnd.mx.nexus.v1+json"
RETRYABLE = {"transport_error", "timeout", "rate_limited"}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # S19: never follow
        return None


class Outcome(Exception):
    """An error category reached before any body was parsed."""

    def __init__(self, category: str):
        super().__init__(category)
        self.category = category


def _retry_after(headers: list[tuple[str, str]]) -> float | None:
    """S16: seconds, or an HTTP-date; None when absent or unreadable."""
    for name, raw in headers:
        if name.lower() == "retry-after":
            value = raw.strip(" \t")
            if value.isascii() and value.isdigit():
                return float(value)
            try:
                return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
            except (TypeError, ValueError):
                return None
    return None


def _attempt(message: dict, bugs: set[str]) -> tuple[int, list, bytes]:
    """One request: (status, headers, body) or raises Outcome."""
    cap = message["max_response_bytes"]
    request = urllib.request.Request(message["base_url"] + "micro_deposits", method="GET")
    request.add_header("Accept", MEDIA_TYPE)
    request.add_header("User-Agent", "planted-fetch/0")
    if "follow_redirects" in bugs:  # copied to the redirect target by urllib
        request.add_header("MD-SESSION-TOKEN", message["token"])
        opener = urllib.request.build_opener()
    else:
        request.add_unredirected_header("MD-SESSION-TOKEN", message["token"])
        opener = urllib.request.build_opener(_NoRedirect)
    try:
        try:
            response = opener.open(request, timeout=message["timeout"])
        except urllib.error.HTTPError as error:
            response = error
        status, headers = response.status, list(response.headers.items())
        if not 200 <= status <= 299:
            return status, headers, response.read(65536)  # S20c
        declared = response.headers.get("Content-Length")
        if "no_size_cap" not in bugs:
            if declared is not None and int(declared) > cap:
                raise Outcome("response_too_large")
            body = response.read(cap + 1)
            if len(body) > cap:
                raise Outcome("response_too_large")
        else:
            body = b"".join(iter(lambda: response.read(65536), b""))
        if declared is not None and len(body) < int(declared) and "parse_truncated" not in bugs:
            raise Outcome("transport_error")  # S20b
        return status, headers, body
    except http.client.IncompleteRead as error:
        if "parse_truncated" in bugs:
            return 200, [], error.partial
        raise Outcome("transport_error") from error
    except (socket.timeout, TimeoutError) as error:
        raise Outcome("timeout") from error
    except urllib.error.URLError as error:
        reason = error.reason
        raise Outcome("timeout" if isinstance(reason, (socket.timeout, TimeoutError)) else "transport_error") from error
    except (http.client.HTTPException, OSError) as error:
        raise Outcome("transport_error") from error


def _interpret(seq: int, status: int, headers: list, body: bytes) -> dict:
    return bundled.parse({"seq": seq, "op": "parse", "status": status, "headers": headers,
                          "body_b64": base64.b64encode(body).decode("ascii"), "strict": False})


def fetch(message: dict, bugs: set[str] = frozenset()) -> dict:
    """The fetch op with the default policy: 2 retries, Retry-After, full jitter (S17)."""
    seq, token = message["seq"], message["token"]
    if not token or not all("\x21" <= ch <= "\x7e" for ch in token):
        return {"seq": seq, "ok": False, "error": "invalid_argument"}  # S13c
    reply: dict = {}
    for attempt in range(3):
        headers: list = []
        try:
            status, headers, body = _attempt(message, bugs)
            reply = _interpret(seq, status, headers, body)
        except Outcome as outcome:
            status, reply = 0, {"seq": seq, "ok": False, "error": outcome.category}
        if reply.get("error") == "session_expired" and "no_4011" in bugs:
            reply["error"] = "unauthorized" if status == 401 else "http_error"
        error = reply.get("error")
        retryable = error in RETRYABLE or (error == "server_error" and status in (502, 503, 504))
        if "retry_400" in bugs and status == 400:
            retryable = True
        if reply.get("ok") or not retryable or attempt == 2:
            return reply
        delay = None if "ignore_retry_after" in bugs else _retry_after(headers)
        if delay is not None and delay > 60:
            return reply  # S17b: over the cap, no retry
        time.sleep(delay if delay is not None else random.uniform(0, min(8, 0.5 * 2 ** attempt)))
    return reply


def handler(*bugs: str) -> Callable[[dict], dict]:
    """A handle() whose fetch op has the given bugs; parse/start/stop are the bundled ones."""

    def handle(message: dict) -> dict:
        if message.get("op") == "fetch":
            return fetch(message, set(bugs))
        reply = bundled.handle(message)
        if message.get("op") == "start" and reply.get("ok"):
            reply["implementation"] = {"name": "planted-fetch:" + ",".join(bugs), "language": "python",
                                       "version": "0"}
        return reply

    return handle
