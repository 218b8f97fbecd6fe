"""What a hostile review of nexus_micro.py reproduced, each now a test (the transport's own cases
are in tests/transport/, which runs on every CPython)."""

from __future__ import annotations

import html
import json
import logging
import pickle
import sys
import urllib.parse

import pytest

import nexus_micro as nm

TOKEN = "Tok3n&Secret<x>"


def test_schema_drift_holds_no_value_from_the_body() -> None:
    """S22: the note a strict parse raises names the type, and keeps no value (a token, PII)."""
    body = json.dumps({"micro_deposits": [{"micro_deposit": {"guid": ["echo", TOKEN]}}, "Bearer " + TOKEN]})
    with pytest.raises(nm.SchemaDrift) as caught:
        nm.parse_microdeposits(body.encode(), strict=True)
    assert caught.value.drift.got is None and caught.value.drift.got_type == "array"
    assert TOKEN.encode() not in pickle.dumps(caught.value)
    body2 = json.dumps({"micro_deposits": ["Bearer " + TOKEN]})
    with pytest.raises(nm.SchemaDrift) as skipped:
        nm.parse_microdeposits(body2.encode(), strict=True)
    assert skipped.value.drift.got is None and skipped.value.drift.action == "skipped"


@pytest.mark.parametrize(
    "echo",
    [
        html.escape(TOKEN),  # named references: &amp; &lt; &gt;
        "".join(f"&#{ord(c)}" for c in TOKEN),  # decimal, no ';' (HTML5 decodes it)
        "".join(f"&#x0000{ord(c):x};" for c in TOKEN),  # hex, leading zeros
        "".join(f"%2525{ord(c):02X}" for c in TOKEN),  # percent-encoded three times
        TOKEN.replace("<", "\\<"),  # a backslash escape
    ],
    ids=["named", "no-semicolon", "zeros", "triple-percent", "backslash"],
)
def test_s22a_more_encodings_of_an_echoed_token_are_redacted(echo: str) -> None:
    request = nm.build_request(TOKEN)
    body = json.dumps({"error": {"code": "4010", "message": f"bad token {echo}"}}).encode()
    with pytest.raises(nm.Unauthorized) as caught:
        nm.parse_response(401, [("X-Request-Id", echo)], body, request=request)
    for text in (str(caught.value), caught.value.message or "", caught.value.request_id or ""):
        decoded = html.unescape(urllib.parse.unquote(urllib.parse.unquote(urllib.parse.unquote(text))))
        assert TOKEN not in decoded.replace("\\", ""), text


@pytest.mark.parametrize("url", ["https://a..example/", "https://.example/", "https://" + "a" * 64 + ".example/"])
def test_s13d_host_names_idna_refuses_are_invalid_arguments(url: str) -> None:
    with pytest.raises(nm.InvalidArgument):
        nm.Client("tok", base_url=url)


def test_skipped_items_notes_do_not_change_when_raw_is_edited() -> None:
    result = nm.parse_microdeposits(b'{"micro_deposits": [null, 5, {"micro_deposit": {}}]}')
    result.raw["micro_deposits"].clear()  # raw is the caller's to play with
    assert [(d.index, d.got_type) for d in result.drift] == [(0, "null"), (1, "integer")]


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_a_list_pickles_with_every_protocol_after_its_drift_was_read(protocol: int) -> None:
    result = nm.parse_microdeposits(b'{"micro_deposits": [1, {"micro_deposit": {"status": "1"}}]}')
    assert len(result.drift) == 2
    again = pickle.loads(pickle.dumps(result, protocol))
    assert again == result and list(again.drift) == list(result.drift) and again.raw == result.raw


def test_main_leaves_the_library_logger_as_it_was(monkeypatch: pytest.MonkeyPatch) -> None:
    log = logging.getLogger("nexus_micro")
    before = (list(log.handlers), log.level, log.propagate)
    monkeypatch.setenv("MD_SESSION_TOKEN", "tok")
    for _ in range(3):
        assert nm.main(["list", "--base-url", "http://127.0.0.1:1/", "--max-retries", "0"]) == 5
    assert (list(log.handlers), log.level, log.propagate) == before


def _at_depth(depth: int, call):
    if depth > 0:
        return _at_depth(depth - 1, call)
    try:
        return ("ok", call())
    except RecursionError as exc:  # ours if it came out of the module's inner frames
        tb, inner = exc.__traceback__, None
        while tb is not None:  # no calls here: the stack is full
            if tb.tb_frame.f_code.co_filename == nm.__file__:
                inner = tb.tb_frame.f_code.co_name
            tb = tb.tb_next
        # Raised in the public function's own frame (entering it, or calling once more to raise
        # its error) is the caller's stack: nothing inside the module can catch that.
        return ("bare RecursionError" if inner not in (None, "parse_microdeposits") else "the caller's own", None)
    except nm.NexusError as exc:
        return (type(exc).__name__, exc)


def test_s1_no_bare_recursion_error_at_any_stack_depth() -> None:
    """From every headroom the caller can leave, a parse succeeds or raises a NexusError."""
    body = b'{"micro_deposits": [{"micro_deposit": {"guid": "g", "x": [[[[[[[[[[1]]]]]]]]]]}}]}'
    limit = sys.getrecursionlimit()
    here = len(__import__("inspect").stack())
    outcomes = {}
    for headroom in range(1, 90):
        try:
            outcomes[headroom] = _at_depth(limit - here - headroom, lambda: nm.parse_microdeposits(body))[0]
        except RecursionError:  # the harness itself ran out, before reaching nexus_micro
            outcomes[headroom] = "the caller's own"
    assert "bare RecursionError" not in outcomes.values(), outcomes
    assert all(outcome == "ok" for headroom, outcome in outcomes.items() if headroom >= 30), outcomes
