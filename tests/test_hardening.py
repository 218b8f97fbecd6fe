"""Regression tests for what a fresh-eyes review of nexus_micro.py reproduced, each citing its rule."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
import threading
import time

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


@pytest.mark.parametrize(
    "lengths", [["abc"], ["+21"], ["21", "30"], ["9" * 5000]], ids=["letters", "plus", "conflict", "5000-digits"]
)
def test_s20d_bad_content_length_is_transport_error(serve, lengths: list) -> None:
    good = b'{"micro_deposits": []}'
    head = b"HTTP/1.1 200 OK\r\n" + b"".join(b"Content-Length: " + v.encode() + b"\r\n" for v in lengths)
    server = serve(raw(head + b"Connection: close\r\n\r\n" + good))
    with pytest.raises(nm.TransportError, match="S20"):
        nm.list_microdeposits(TOKEN, base_url=server.url, timeout=2, max_retries=0)


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
