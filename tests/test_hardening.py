"""Regression tests for what a fresh-eyes review of nexus_micro.py reproduced, each citing its rule."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
import sys
import threading
import time
from typing import Any

import pytest
from _servers import head_then_stall, json_reply, raw, reply, serve  # noqa: F401  (serve is a fixture)

import nexus_micro as nm

TOKEN = "tok-Hardening-5a1c9e0d7b3f"
DEEP = "[" * 70 + "]" * 70  # an array 70 deep: over S1f's 64


def body(records: list, **top: object) -> str:
    return json.dumps({"micro_deposits": [{"micro_deposit": r} for r in records], **top})


def full_record(**changes: object) -> dict:
    record = {name: None for name in nm._FIELDS}
    record.update(changes)
    return record


# --------------------------------------------------------------------------- S1e, S1f everywhere


@pytest.mark.parametrize(
    "text",
    [
        '{"micro_deposits": [{"x": %s}]}' % DEEP,  # an item with one member that is not micro_deposit
        '{"micro_deposits": [], "x": "\\ud800", "x": 1}',  # a duplicate key hides a lone surrogate
        '{"micro_deposits": %s, "micro_deposits": []}' % DEEP,  # ... or an over-deep value
        '{"micro_deposits": [{"micro_deposit": {"guid": %s, "guid": "g"}}]}' % DEEP,
        '{"micro_deposits": [{"micro_deposit": {"x": "\\udc00", "x": 1}}]}',
    ],
)
def test_s1_depth_and_surrogates_count_every_value_in_the_text(text: str) -> None:
    for strict in (False, True):
        with pytest.raises(nm.MalformedResponse, match="S1[ef]"):
            nm.parse_microdeposits(text, strict=strict)


def test_s1_applies_in_strict_mode_before_any_drift() -> None:
    """A skipped item (drift) must not hide a later depth error in strict mode."""
    with pytest.raises(nm.MalformedResponse, match="S1f"):
        nm.parse_microdeposits('{"micro_deposits": [1, %s]}' % DEEP, strict=True)


def test_s1_brackets_inside_strings_are_not_containers() -> None:
    """The exact pass runs when brackets appear in strings, and accepts them."""
    text = body([full_record(account_name="{[" * 200, error_message="]]]")])
    assert nm.parse_microdeposits(text, strict=True)[0].account_name == "{[" * 200


def test_s15_error_body_duplicate_hiding_depth_has_no_code() -> None:
    error_body = ('{"x": %s, "x": 1, "code": "4011"}' % DEEP).encode()
    with pytest.raises(nm.Unauthorized) as info:
        nm.parse_response(401, {}, error_body)
    assert type(info.value) is nm.Unauthorized and info.value.code is None


def test_s15_text_error_body_with_lone_surrogate_has_no_code() -> None:
    """S1b applies to str error bodies too, before any encoding."""
    with pytest.raises(nm.Unauthorized) as info:
        nm.parse_response(401, {}, '{"code": "4011", "x": "\ud800"}')
    assert type(info.value) is nm.Unauthorized


# --------------------------------------------------------------------------- S11 strict order on the fast path


def test_s11_strict_first_note_is_first_in_spec_order_on_the_fast_path() -> None:
    text = body([full_record(routing_number="91000019", created_at="2021-09-01T18:29:06")])
    with pytest.raises(nm.SchemaDrift, match="created_at") as info:
        nm.parse_microdeposits(text, strict=True)
    assert info.value.drift.rule == "S9b"
    lenient = nm.parse_microdeposits(text)
    assert [(d.field, d.rule) for d in lenient.drift] == [("created_at", "S9b"), ("routing_number", "S7")]


# --------------------------------------------------------------------------- S16 Retry-After


@pytest.mark.parametrize(
    "value",
    [
        "Sun, 06 Nov 99999999999999999999 08:49:37 GMT",  # used to raise OverflowError
        "Sun, 06 Nov 1994 08:49:37 +0500",  # not an IMF-fixdate
        "06 Nov 94 08:49 EST",
        "Sun, 30 Feb 2031 08:49:37 GMT",  # no such day
        "soon",
        "-1",
        "1.5",
    ],
)
def test_s16_unusable_retry_after_is_ignored(value: str) -> None:
    with pytest.raises(nm.RateLimited) as info:
        nm.parse_response(429, {"Retry-After": value}, b"")
    assert info.value.retry_after is None


def test_s16_imf_fixdate_and_seconds() -> None:
    future = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    with pytest.raises(nm.RateLimited) as info:
        nm.parse_response(429, [("retry-after", future)], b"")
    assert 25 <= (info.value.retry_after or 0) <= 31
    with pytest.raises(nm.RateLimited) as info:
        nm.parse_response(429, [("Retry-After", " 0007 ")], b"")
    assert info.value.retry_after == 7


# --------------------------------------------------------------------------- S20c, S20d over HTTP


def test_s20c_cut_short_error_body_still_maps_by_status_and_is_not_retried(serve) -> None:
    server = serve(raw(b'HTTP/1.1 401 Unauthorized\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{"code":4011'))
    with pytest.raises(nm.Unauthorized):
        nm.list_microdeposits(TOKEN, base_url=server.url, timeout=2)
    assert server.count == 1
    server404 = serve(raw(b"HTTP/1.1 404 Not Found\r\nContent-Length: 100\r\nConnection: close\r\n\r\nnope"))
    with pytest.raises(nm.NotFound):
        nm.list_microdeposits(TOKEN, base_url=server404.url, timeout=2)
    assert server404.count == 1


def test_s20c_stalled_error_body_still_maps_by_status(serve) -> None:
    server = serve(head_then_stall(403, [("Content-Length", "100")], b'{"code": 4030', seconds=5))
    started = time.monotonic()
    with pytest.raises(nm.Forbidden):
        nm.list_microdeposits(TOKEN, base_url=server.url, timeout=0.4)
    assert time.monotonic() - started < 3


@pytest.mark.parametrize("lengths", [["abc"], ["+21"], ["21", "30"]], ids=["letters", "plus", "conflict"])
def test_s20d_bad_content_length_is_transport_error(serve, lengths: list) -> None:
    good = b'{"micro_deposits": []}'
    head = b"HTTP/1.1 200 OK\r\n" + b"".join(b"Content-Length: " + v.encode() + b"\r\n" for v in lengths)
    server = serve(raw(head + b"Connection: close\r\n\r\n" + good))
    with pytest.raises(nm.TransportError, match="S20"):
        nm.list_microdeposits(TOKEN, base_url=server.url, timeout=2, max_retries=0)


def test_s20d_a_content_length_of_5000_digits_is_too_large_before_reading(serve) -> None:
    """S20d: "Any number of digits is a number": too large for any integer type, so S20a applies."""
    head = b"HTTP/1.1 200 OK\r\nContent-Length: " + b"9" * 5000 + b"\r\nConnection: close\r\n\r\n"
    server = serve(raw(head + b'{"micro_deposits": []}'))
    with pytest.raises(nm.ResponseTooLarge, match="S20a"):
        nm.list_microdeposits(TOKEN, base_url=server.url, timeout=2, max_retries=2)
    assert server.count == 1  # S17: never retried


# --------------------------------------------------------------------------- S22a excerpts


def test_s22a_token_echoed_in_a_malformed_2xx_body_is_redacted(serve) -> None:
    server = serve(reply(200, f"Debug: received MD-SESSION-TOKEN={TOKEN}", content_type="text/plain"))
    with pytest.raises(nm.MalformedResponse) as info:
        nm.list_microdeposits(TOKEN, base_url=server.url, timeout=2)
    assert TOKEN not in str(info.value) and "<redacted>" in str(info.value)


def test_s22a_no_part_of_a_long_token_survives_the_excerpt() -> None:
    token = "A" * 10 + "x" * 400
    text = "e" * 70 + token
    shown = nm._excerpt(text, (token,))
    assert "AAAA" not in shown and "xxxx" not in shown


def test_s22b_json_behind_a_prefix_is_not_excerpted() -> None:
    with pytest.raises(nm.MalformedResponse) as info:
        nm.parse_microdeposits(")]}',\n" + body([{"email": "jane.doe@example.com"}]))
    assert "jane" not in str(info.value)


# --------------------------------------------------------------------------- memory, pickling, copies


def test_shape_cache_does_not_keep_hostile_keys() -> None:
    before = len(nm._CLEAN_SHAPES)
    for i in range(20):
        record = {f"k{i}-{j}-" + "x" * 1000: j for j in range(17)}
        nm.parse_microdeposits(body([record]))
    assert len(nm._CLEAN_SHAPES) == before


def test_parsed_records_and_results_pickle_copy_and_asdict() -> None:
    result = nm.parse_microdeposits(body([full_record(guid="g", created_at="2021-09-01T18:29:06Z"), {"x": [1]}]))
    for record in result:
        again = pickle.loads(pickle.dumps(record))
        assert again == record and again.to_dict() == record.to_dict()
        assert copy.deepcopy(record) == record
        assert dataclasses.asdict(record)["guid"] == record.guid
    assert pickle.loads(pickle.dumps(result)) == result


def test_errors_pickle_with_their_attributes() -> None:
    errors = [
        nm.SessionExpired("m", status=401, code="4011", message="expired", request_id="r1"),
        nm.UnexpectedRedirect("m", status=302, location="https://x/"),
        nm.SchemaDrift("m", nm.Drift(0, "guid", "integer", "coerced", "S6")),
        nm.TransportError("m"),
    ]
    for error in errors:
        again = pickle.loads(pickle.dumps(error))
        assert type(again) is type(error) and str(again) == str(error) and vars(again) == vars(error)


# --------------------------------------------------------------------------- arguments and threads


@pytest.mark.parametrize("url", ["https://exa\u00a0mple.com/", "https://h/\x85/", "http://127.0.0.1:1/caf\u00e9/"])
def test_s13d_non_ascii_base_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="S13d"):
        nm.build_request("t", base_url=url)


@pytest.mark.parametrize("kw", [{"timeout": float("inf")}, {"deadline": float("inf")}, {"timeout": float("nan")}])
def test_timeouts_must_be_finite(kw: dict) -> None:
    with pytest.raises(ValueError, match="finite"):
        nm.Client("t", base_url="http://127.0.0.1:1/", **kw)


def test_s18_a_slow_token_provider_does_not_block_other_calls(serve) -> None:
    """The provider runs outside the lock every call takes; a deadline bounds the wait for it."""
    server = serve(json_reply(200, {"micro_deposits": []}))
    started = threading.Event()

    def slow_provider() -> str:
        started.set()
        time.sleep(1.5)
        return TOKEN

    client = nm.Client(TOKEN, base_url=server.url, timeout=2, token_provider=slow_provider)
    refresher = threading.Thread(target=client._refresh, args=(TOKEN, None))
    refresher.start()
    assert started.wait(2)
    t0 = time.monotonic()
    assert list(client.list_microdeposits()) == []  # not blocked by the running refresh
    assert time.monotonic() - t0 < 1.0
    t0 = time.monotonic()
    with pytest.raises(nm.Timeout, match="refresh"):
        client._refresh("another-failed-token", time.monotonic() + 0.3)
    assert time.monotonic() - t0 < 1.0
    refresher.join()


def test_constructor_checks_timestamps() -> None:
    """Parser-built records convert lazily; a caller's bad string must not read back as None."""
    record = nm.Microdeposit(created_at="2021-10-22T21:44:38.5+05:30")
    assert record.to_dict()["created_at"] == "2021-10-22T16:14:38.500000Z"
    with pytest.raises(ValueError, match="S9"):
        nm.Microdeposit(created_at="garbage")
    with pytest.raises(TypeError):
        nm.Microdeposit(updated_at=1630520946)  # type: ignore[arg-type]


def test_s8_lowered_int_digit_limit_nulls_instead_of_raising() -> None:
    import sys

    if not hasattr(sys, "set_int_max_str_digits"):
        pytest.skip("no int digit limit on this interpreter")
    old = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(1000)
    try:
        result = nm.parse_microdeposits(body([{"status": "7" * 2000}]))
    finally:
        sys.set_int_max_str_digits(old)
    assert result[0].status is None and result.drift[0].field == "status"


# --------------------------------------------------------------------------- S11 at scale: millions of skipped items

SKIPPED_ITEMS = 1_000_000  # parsing and walking the notes is what is tested; benchmarks measure the cost


@pytest.fixture(scope="module")
def all_skipped() -> bytes:
    """``{"micro_deposits": [1, 1, ...]}``: every item skipped by S3 (2 MB of body)."""
    return b'{"micro_deposits": [' + b",".join([b"1"] * SKIPPED_ITEMS) + b"]}"


def test_s11_a_million_skipped_items_each_have_their_note_in_order(all_skipped: bytes) -> None:
    result = nm.parse_microdeposits(all_skipped)
    assert len(result) == 0
    drift = result.drift
    assert len(drift) == SKIPPED_ITEMS
    canonical = {"field": None, "type": "integer", "action": "skipped", "rule": "S3"}
    for index in (0, 1, SKIPPED_ITEMS // 2, SKIPPED_ITEMS - 1):
        assert drift[index] == nm.Drift(index, None, "integer", "skipped", "S3")
        assert drift[index].to_dict() == dict(canonical, index=index)  # SEMANTICS S11, canonical form
    assert drift[-1].index == SKIPPED_ITEMS - 1
    count = 0
    for expected, note in enumerate(drift):  # every note reachable, none dropped, in order (S11)
        if note.index != expected or note.field is not None or note.got_type != "integer" or \
                note.action != "skipped" or note.rule != "S3":
            pytest.fail(f"note {expected} is {note!r}")
        count += 1
    assert count == SKIPPED_ITEMS


def test_s11_strict_a_million_skipped_items_raise_at_item_0(all_skipped: bytes) -> None:
    with pytest.raises(nm.SchemaDrift, match="item 0") as info:
        nm.parse_microdeposits(all_skipped, strict=True)
    note = info.value.drift
    assert (note.index, note.field, note.got_type, note.action, note.rule) == (0, None, "integer", "skipped", "S3")
    assert note.to_dict() == {"index": 0, "field": None, "type": "integer", "action": "skipped", "rule": "S3"}


def _mixed_expected(n: int, every: int) -> list:
    """The canonical notes of the body _mixed_body(n, every) makes, in S11 order."""
    kinds = ("null", "null", "integer", "string")  # null item; object without micro_deposit; its value's type
    notes = []
    for i in range(n):
        if i % every == 0:  # a record: created_at (spec position 5) before routing_number (13)
            notes.append(
                {"index": i, "field": "created_at", "type": "string", "action": "assumed_utc", "rule": "S9b"}
            )
            notes.append({"index": i, "field": "routing_number", "type": "integer", "action": "padded", "rule": "S7"})
        else:
            notes.append({"index": i, "field": None, "type": kinds[i % 4], "action": "skipped", "rule": "S3"})
    return notes


def _mixed_body(n: int, every: int) -> str:
    record = {"micro_deposit": {"guid": "g", "created_at": "2021-09-01T18:29:06", "routing_number": 91000019}}
    fillers = (None, {"other": 1}, {"micro_deposit": 5}, {"micro_deposit": "x"})
    items = [record if i % every == 0 else fillers[i % 4] for i in range(n)]
    return json.dumps({"micro_deposits": items})


def test_s11_skipped_items_and_record_notes_interleave_in_order() -> None:
    """Records with two notes each among 200,000 skipped items: one list, item then field order."""
    n, every = 200_000, 10_000
    result = nm.parse_microdeposits(_mixed_body(n, every))
    expected = _mixed_expected(n, every)
    assert len(result) == n // every
    assert len(result.drift) == len(expected)
    for k in (0, 1, 2, 3, len(expected) // 2, len(expected) - 1):
        assert result.drift[k].to_dict() == expected[k], k
    assert [note.to_dict() for note in result.drift] == expected
    with pytest.raises(nm.SchemaDrift) as info:
        nm.parse_microdeposits(_mixed_body(n, every), strict=True)
    assert info.value.drift.to_dict() == expected[0]


def test_s11_drift_sequences_compare_by_their_notes() -> None:
    """A lazily kept ``.drift`` still compares like the tuple it used to be (len, index, iter, ==)."""
    text = _mixed_body(20_000, 1_000)
    drift = nm.parse_microdeposits(text).drift
    assert drift == nm.parse_microdeposits(text).drift
    assert drift == tuple(drift)
    assert drift != nm.parse_microdeposits(_mixed_body(20_001, 1_000)).drift  # one more skipped item
    assert drift != nm.parse_microdeposits(_mixed_body(20_000, 999)).drift  # the same count, other notes
    assert nm.parse_microdeposits(body([full_record(guid="g")])).drift == ()


def test_s11_drift_to_dict_is_the_canonical_note() -> None:
    result = nm.parse_microdeposits(body([full_record(routing_number=91000019)]))
    (note,) = result.drift
    canonical = {"index": 0, "field": "routing_number", "type": "integer", "action": "padded", "rule": "S7"}
    assert note.to_dict() == canonical
    assert list(note.to_dict()) == ["index", "field", "type", "action", "rule"]
    assert "91000019" not in json.dumps(note.to_dict())  # never the value (S22b)


# --------------------------------------------------------------------------- deep caller stacks (S1f)


def _stack_depth() -> int:
    """Frames on the stack, the caller's included."""
    frame = sys._getframe(1)
    depth = 0
    while frame is not None:
        depth += 1
        frame = frame.f_back
    return depth


def _from_depth(depth: int, fn: Any) -> tuple:
    """Call ``fn()`` with ``depth`` frames on the stack; (depth reached, "ok" or "raised", value).

    The outcome is judged by the caller, at a shallow depth: pytest's own machinery must not
    run out of stack on the way.
    """

    def down(left: int) -> tuple:
        if left > 0:
            return down(left - 1)
        reached = _stack_depth()
        try:
            return reached, "ok", fn()
        except BaseException as exc:  # judged by the caller
            return reached, "raised", exc

    return down(depth - _stack_depth() - 1)


def _nested(levels: int) -> Any:
    """A JSON value of exactly ``levels`` nested containers, objects and arrays in turn."""
    value: Any = "leaf"
    for i in range(levels):
        value = {"k": value} if i % 2 else [value]
    return value


def _body_with_extra(levels: int) -> str:
    """A response whose one record's extra field ``x`` nests ``levels`` deep (body depth 4 + levels)."""
    return json.dumps({"micro_deposits": [{"micro_deposit": {"guid": "g", "x": _nested(levels)}}]})


def _parsed_or_names_the_recursion_limit(outcome: str, value: Any) -> bool:
    """True when the body parsed; else the failure must be a NexusError naming Python's recursion
    limit, never a bare RecursionError, never S1f's "nests deeper than 64" (the body does not)."""
    if outcome == "ok":
        return True
    assert isinstance(value, nm.NexusError), f"{type(value).__name__}: {value}"
    assert "nests deeper than" not in str(value), str(value)
    assert "recursion limit" in str(value).lower(), str(value)
    return False


@pytest.mark.parametrize("levels", [6, 60], ids=["body-depth-10", "body-depth-64"])
def test_s1f_a_valid_body_parsed_980_frames_deep(levels: int) -> None:
    text = _body_with_extra(levels)
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    try:
        reached, outcome, value = _from_depth(980, lambda: nm.parse_microdeposits(text))
    finally:
        sys.setrecursionlimit(old)
    assert reached == 980
    if _parsed_or_names_the_recursion_limit(outcome, value):
        assert value[0].extra["x"] == _nested(levels)
        assert value.drift == nm.parse_microdeposits(text).drift


def test_s1f_a_valid_10_level_body_parses_at_980_frames_on_the_default_limit() -> None:
    """The issue's exact case: a 10-level body, 980 frames deep, limit 1000 (CPython's default)."""
    text = _body_with_extra(6)
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    try:
        _, outcome, value = _from_depth(980, lambda: nm.parse_microdeposits(text))
    finally:
        sys.setrecursionlimit(old)
    assert _parsed_or_names_the_recursion_limit(outcome, value)


def test_s1f_an_over_deep_body_is_still_malformed_from_a_deep_stack() -> None:
    text = f'{{"micro_deposits": [], "x": {DEEP}}}'
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    try:
        _, outcome, value = _from_depth(980, lambda: nm.parse_microdeposits(text))
    finally:
        sys.setrecursionlimit(old)
    assert outcome == "raised" and isinstance(value, nm.MalformedResponse), repr(value)


def _to_dict_ok(outcome: str, value: Any, expected: Any) -> None:
    """to_dict() gave the canonical form, or (at worst) a NexusError naming the recursion limit."""
    if outcome == "ok":
        assert value == expected
        return
    assert isinstance(value, nm.NexusError), f"{type(value).__name__}: {value}"
    assert "recursion limit" in str(value).lower()


def test_s12_to_dict_of_a_60_level_extra_from_a_deep_stack() -> None:
    result = nm.parse_microdeposits(_body_with_extra(60))  # body depth 64: the most S1f allows
    expected = dict(dict.fromkeys(nm._FIELDS), guid="g", extra={"x": _nested(60)})
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    try:
        record = _from_depth(980, result[0].to_dict)
        whole = _from_depth(980, result.to_dict)
    finally:
        sys.setrecursionlimit(old)
    _to_dict_ok(record[1], record[2], expected)
    _to_dict_ok(whole[1], whole[2], {"micro_deposits": [expected]})


def test_tiny_recursion_limit_parse_and_to_dict_never_raise_a_bare_recursion_error() -> None:
    result = nm.parse_microdeposits(_body_with_extra(60))
    expected = dict(dict.fromkeys(nm._FIELDS), guid="g", extra={"x": _nested(60)})
    text10 = _body_with_extra(6)
    text60 = _body_with_extra(60)  # built here: json.dumps itself recurses, under the tiny limit too
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(_stack_depth() + 40)  # 40 frames left for whatever nexus_micro needs
    try:
        parsed = _from_depth(0, lambda: nm.parse_microdeposits(text10))
        as_dict = _from_depth(0, result[0].to_dict)
        deep_parse = _from_depth(0, lambda: nm.parse_microdeposits(text60))
    finally:
        sys.setrecursionlimit(old)
    if _parsed_or_names_the_recursion_limit(parsed[1], parsed[2]):
        assert parsed[2][0].extra["x"] == _nested(6)
    _to_dict_ok(as_dict[1], as_dict[2], expected)
    if _parsed_or_names_the_recursion_limit(deep_parse[1], deep_parse[2]):
        assert deep_parse[2][0].extra["x"] == _nested(60)


# --------------------------------------------------------------------------- repr of a half-built Client


def _half_built_by_a_failed_init(**kwargs: Any) -> Any:
    """The Client instance a failed ``__init__`` leaves behind, taken from its traceback's frame
    (as a debugger, ``traceback`` with locals or a logging handler sees it)."""
    with pytest.raises(ValueError) as info:
        nm.Client(**kwargs)
    tb = info.value.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_name == "__init__" and isinstance(tb.tb_frame.f_locals.get("self"), nm.Client):
            return tb.tb_frame.f_locals["self"]
        tb = tb.tb_next
    pytest.fail("no Client.__init__ frame in the traceback")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"session_token": TOKEN, "base_url": "http://127.0.0.1:1/", "timeout": 0},
        {"session_token": TOKEN, "base_url": "http://127.0.0.1:1/", "max_retries": -1},
        {"session_token": TOKEN, "base_url": "ftp://example.com/"},
        {"session_token": "bad token", "base_url": "http://127.0.0.1:1/"},
    ],
    ids=["bad-timeout", "bad-max-retries", "bad-base-url", "bad-token"],
)
def test_repr_of_a_client_left_by_a_failed_init_does_not_raise(kwargs: dict) -> None:
    client = _half_built_by_a_failed_init(**kwargs)
    for text in (repr(client), str(client)):
        assert isinstance(text, str) and TOKEN not in text and "bad token" not in text


def test_repr_of_a_client_whose_init_never_ran_does_not_raise() -> None:
    bare = nm.Client.__new__(nm.Client)
    assert isinstance(repr(bare), str) and isinstance(str(bare), str)
