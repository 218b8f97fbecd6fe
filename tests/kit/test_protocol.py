"""The runner side of adapter protocol v1: round trips, misbehaving adapters, restarts, schema."""

from __future__ import annotations

import base64
import json
import os
import re
import sys
import time
from pathlib import Path

import pytest

from nexus_micro_kit import protocol
from nexus_micro_kit.protocol import (
    CRASH,
    GARBAGE,
    HANG,
    WRONG_SEQ,
    AdapterStartError,
    InProcessAdapter,
    SubprocessAdapter,
    parse_request,
)

ROOT = Path(__file__).resolve().parents[2]
MISBEHAVE = f"{sys.executable} tests/planted/misbehave.py"


def cue(word: str) -> dict:
    return parse_request(200, [], word.encode(), False)


@pytest.fixture
def adapter():
    a = SubprocessAdapter(MISBEHAVE, cwd=str(ROOT), parse_timeout=1.0)
    a.open()
    yield a
    a.close()


def starts(a: SubprocessAdapter, at_least: int = 1) -> list[tuple[str, str]]:
    """(seq, pid) of each start the adapter logged; stderr is read by a thread, so wait a bit."""
    deadline = time.monotonic() + 3
    while True:
        seen = re.findall(r"start seq=(\d+) pid=(\d+)", a.stderr_tail())
        if len(seen) >= at_least or time.monotonic() > deadline:
            return seen
        time.sleep(0.01)


def test_round_trip_and_seq(adapter):
    assert adapter.implementation == {"name": "misbehave", "language": "python", "version": "1"}
    assert adapter.ops == ["parse"]
    for expected_seq in (1, 2, 3):
        reply = adapter.call(cue("hello"))
        assert reply == {"seq": expected_seq, "ok": True, "micro_deposits": []}
    assert adapter.restarts == 0


@pytest.mark.parametrize("word,kind", [("CRASH", CRASH), ("HANG", HANG), ("GARBAGE", GARBAGE), ("SEQ", WRONG_SEQ)])
def test_misbehaviour_fails_the_case_then_restarts(adapter, word, kind):
    first_pid = starts(adapter)[0][1]
    started = time.monotonic()
    reply = adapter.call(cue(word))
    assert reply["protocol_error"] == kind, reply
    assert time.monotonic() - started < 5
    # the next case runs in a new process, after a new start exchange (seq 0)
    assert adapter.call(cue("fine")) == {"seq": 1, "ok": True, "micro_deposits": []}
    assert adapter.restarts == 1
    seen = starts(adapter, 2)
    assert len(seen) == 2 and seen[1][0] == "0" and seen[1][1] != first_pid


def test_crash_keeps_stderr_tail(adapter):
    reply = adapter.call(cue("CRASH"))
    assert reply["protocol_error"] == CRASH
    assert "about to crash: boom" in adapter.stderr_tail()


def test_hang_is_bounded_by_the_parse_timeout(adapter):
    started = time.monotonic()
    reply = adapter.call(cue("HANG"))
    assert reply["protocol_error"] == HANG and "1 s" in reply["message"]
    assert 0.9 < time.monotonic() - started < 3


@pytest.mark.parametrize("word", ["SCHEMA", "CATEGORY"])
def test_reply_that_fails_the_schema_is_garbage_without_restart(adapter, word):
    reply = adapter.call(cue(word))
    assert reply["protocol_error"] == GARBAGE and "protocol-v1" in reply["message"]
    assert adapter.call(cue("fine"))["ok"] is True
    assert adapter.restarts == 0


def test_stop_on_close_exits_zero():
    a = SubprocessAdapter(MISBEHAVE, cwd=str(ROOT))
    a.open()
    proc = a.proc
    a.close()
    assert proc is not None and proc.returncode == 0


def test_refused_protocol_version_is_a_start_error():
    a = SubprocessAdapter(MISBEHAVE + " --refuse", cwd=str(ROOT))
    with pytest.raises(AdapterStartError, match="unsupported_protocol"):
        a.open()
    a.close()


def test_missing_command_is_a_start_error():
    with pytest.raises(AdapterStartError):
        SubprocessAdapter("/nonexistent/adapter").open()


# ---- in-process


def test_in_process_round_trip_and_crash_becomes_errored():
    def handle(message):
        if message["op"] == "start":
            return {"seq": message["seq"], "ok": True, "ops": ["parse"],
                    "implementation": {"name": "x", "language": "python", "version": "1"}}
        if message["op"] == "parse" and base64.b64decode(message["body_b64"]) == b"BOOM":
            raise KeyError("boom")
        return {"seq": message["seq"], "ok": True, "micro_deposits": [{"status": 10**30}]}

    a = InProcessAdapter(handle)
    a.open()
    assert a.call(cue("x")) == {"seq": 1, "ok": True, "micro_deposits": [{"status": 10**30}]}
    crashed = a.call(cue("BOOM"))
    assert crashed["errored"] is True and "KeyError" in crashed["message"] and "Traceback" in crashed["traceback"]
    a.close()


def test_in_process_hang_wrong_seq_and_unencodable():
    def handle(message):
        op, body = message["op"], base64.b64decode(message.get("body_b64", ""))
        if op == "start":
            return {"seq": message["seq"], "ok": True, "ops": ["parse"],
                    "implementation": {"name": "x", "language": "python", "version": "1"}}
        if body == b"HANG":
            time.sleep(5)
        if body == b"SEQ":
            return {"seq": 99, "ok": True, "micro_deposits": []}
        if body == b"NAN":
            return {"seq": message["seq"], "ok": True, "micro_deposits": [{"status": float("nan")}]}
        return {"seq": message["seq"], "ok": True, "micro_deposits": []}

    a = InProcessAdapter(handle, parse_timeout=0.5)
    a.open()
    assert a.call(cue("HANG"))["protocol_error"] == HANG
    assert a.call(cue("SEQ"))["protocol_error"] == WRONG_SEQ
    assert a.call(cue("NAN"))["protocol_error"] == GARBAGE
    assert a.call(cue("ok"))["ok"] is True
    a.close()


def test_in_process_loads_module_and_file_targets():
    for target in ("tests.planted.oracle_ref:handle", "tests/planted/oracle_ref.py:handle"):
        a = InProcessAdapter(target)
        a.open()
        assert a.implementation["name"] == "oracle-ref"
        reply = a.call(parse_request(200, [], b'{"micro_deposits": [{"micro_deposit": {"status": 3}}]}', False))
        assert reply["ok"] is True and reply["micro_deposits"][0]["status"] == 3
        a.close()
    with pytest.raises(AdapterStartError):
        InProcessAdapter("no_such_module_xyz:handle").open()


def test_python_adapter_runs_as_subprocess_too():
    a = SubprocessAdapter(f"{sys.executable} -m tests.planted.oracle_ref", cwd=str(ROOT))
    a.open()
    body = b'{"micro_deposits": [{"micro_deposit": {"routing_number": 91000019}}]}'
    reply = a.call(parse_request(200, [], body, True))
    assert reply == {"seq": 1, "ok": False, "error": "schema_drift"}
    a.close()


# ---- the schema


def test_schema_is_valid_draft_2020_12_with_a_def_per_message():
    import jsonschema

    schema = protocol.load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    for name in ("start_request", "parse_request", "fetch_request", "stop_request", "start_reply",
                 "start_refused", "records_reply", "error_reply", "skipped_reply", "errored_reply", "stop_reply"):
        assert name in schema["$defs"]


def test_every_json_example_of_the_readme_validates():
    readme = (ROOT / "nexus_micro_kit" / "README.md").read_text(encoding="utf-8")
    validator = protocol._validator("start_request").__class__(protocol.load_schema())
    checked = 0
    for block in re.findall(r"```json\n(.*?)```", readme, re.S):
        for line in block.strip().splitlines():
            message = json.loads(line.replace("[ ... canonical records (S12) ... ]", "[]"))  # the one placeholder
            assert not list(validator.iter_errors(message)), line
            checked += 1
    assert checked >= 9


@pytest.mark.parametrize("op,reply,ok", [
    ("parse", {"seq": 1, "ok": True, "micro_deposits": []}, True),
    ("parse", {"seq": 1, "ok": False, "error": "timeout", "message": "m"}, True),
    ("parse", {"seq": 1, "skipped": True, "reason": "r"}, True),
    ("parse", {"seq": 1, "errored": True, "message": "m", "traceback": "t"}, True),
    ("parse", {"seq": 1, "ok": True}, False),
    ("parse", {"seq": 1, "ok": False, "error": "oops"}, False),
    ("parse", {"seq": 1, "errored": True}, False),
    ("parse", {"seq": "1", "ok": True, "micro_deposits": []}, False),
    ("parse", {"seq": 1, "ok": True, "micro_deposits": [1]}, False),
    ("start", {"seq": 0, "ok": True, "ops": ["parse"], "implementation": {"name": "n", "language": "l"}}, False),
    ("start", {"seq": 0, "ok": False, "error": "unsupported_protocol"}, True),
    ("stop", {"seq": 4, "ok": True}, True),
])
def test_validate_reply(op, reply, ok):
    assert (protocol.validate_reply(op, reply) is None) == ok


# ---- revision 2: features, the case's own stderr, the time zone, kill


def test_start_offers_revision_2_features_and_unknown_ones_are_ignored():
    request = protocol.start_request()
    assert request == {"op": "start", "protocol": 1, "revision": 2, "features": ["drift", "deadline", "token_provider"]}
    assert protocol.validate_message("start_request", {"seq": 0, **request}) is None
    a = InProcessAdapter("tests.planted.oracle_ref:with_drift")
    a.open()
    assert a.features == frozenset({"drift"})  # "not_a_feature" in the reply is ignored
    a.close()
    b = InProcessAdapter("tests.planted.oracle_ref:handle")  # revision 1: no features member
    b.open()
    assert b.features == frozenset()
    b.close()


@pytest.mark.parametrize("message,ok", [
    ({"seq": 0, "ok": True, "ops": [], "implementation": {"name": "n", "language": "l", "version": "1"},
      "features": ["drift", "x"]}, True),
    ({"seq": 0, "ok": True, "ops": [], "implementation": {"name": "n", "language": "l", "version": "1"},
      "features": "drift"}, False),
])
def test_start_reply_features_must_be_a_list_of_names(message, ok):
    assert (protocol.validate_reply("start", message) is None) == ok


@pytest.mark.parametrize("definition,message,ok", [
    ("parse_reply", {"seq": 1, "ok": True, "micro_deposits": [], "drift": []}, True),
    ("parse_reply", {"seq": 1, "ok": False, "error": "schema_drift",
                     "drift": [{"index": 0, "field": None, "type": "null", "action": "skipped", "rule": "S3"}]}, True),
    ("parse_reply", {"seq": 1, "ok": True, "micro_deposits": [], "drift": {}}, False),
    ("parse_reply", {"seq": 1, "ok": True, "micro_deposits": [], "drift": [1]}, False),
    # a note with the wrong content is judged by the runner under S11, not as a protocol failure
    ("parse_reply", {"seq": 1, "ok": True, "micro_deposits": [], "drift": [{"index": "0"}]}, True),
    ("fetch_request", {"seq": 3, "op": "fetch", "base_url": "http://127.0.0.1:1/", "token": "t", "timeout": 1,
                       "max_response_bytes": 10, "deadline": 1.5, "refresh_token": "r"}, True),
    ("fetch_request", {"seq": 3, "op": "fetch", "base_url": "http://127.0.0.1:1/", "token": "t", "timeout": 1,
                       "max_response_bytes": 10, "deadline": 0}, False),
    ("fetch_request", {"seq": 3, "op": "fetch", "base_url": "http://127.0.0.1:1/", "token": "t", "timeout": 1,
                       "max_response_bytes": 10}, True),  # revision 1
])
def test_revision_2_members_are_optional_and_typed(definition, message, ok):
    assert (protocol.validate_message(definition, message) is None) == ok


def test_drift_note_definition_matches_semantics_s11():
    note = protocol.load_schema()["$defs"]["drift_note"]
    assert note["required"] == ["index", "field", "type", "action", "rule"] and note["additionalProperties"] is False
    assert set(note["properties"]["action"]["enum"]) == {"coerced", "padded", "nulled", "assumed_utc", "truncated",
                                                         "skipped"}


def test_case_stderr_is_what_the_adapter_wrote_during_that_call(adapter):
    adapter.call(cue("STDERR"))
    first = adapter.case_stderr()
    assert first == "stderr of seq 1"  # without a newline: read as it arrives, not by lines
    adapter.call(cue("fine"))
    assert adapter.case_stderr() == ""
    adapter.call(cue("STDERR"))
    assert adapter.case_stderr() == "stderr of seq 3"
    assert "start seq=0" in adapter.stderr_tail() and "stderr of seq 1" in adapter.stderr_tail()


def test_in_process_case_stderr_is_captured_from_sys_stderr():
    def handle(message):
        if message["op"] == "start":
            return {"seq": message["seq"], "ok": True, "ops": ["parse"],
                    "implementation": {"name": "x", "language": "python", "version": "1"}}
        print(f"writing during seq {message['seq']}", file=sys.stderr)
        return {"seq": message["seq"], "ok": True, "micro_deposits": []}

    original = sys.stderr
    a = InProcessAdapter(handle)
    a.open()
    a.call(cue("x"))
    assert a.case_stderr() == "writing during seq 1\n"
    a.call(cue("x"))
    assert a.case_stderr() == "writing during seq 2\n"
    a.close()
    assert sys.stderr is original


def test_subprocess_adapter_runs_under_its_time_zone():
    a = SubprocessAdapter(MISBEHAVE, cwd=str(ROOT))
    a.time_zone = "Asia/Kathmandu"
    a.open()
    assert a.call(cue("TZ"))["message"] == "Asia/Kathmandu"
    a.close()


def test_in_process_adapter_runs_under_its_time_zone_and_restores_it(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    seen = {}

    def handle(message):
        if message["op"] == "start":
            return {"seq": message["seq"], "ok": True, "ops": ["parse"],
                    "implementation": {"name": "x", "language": "python", "version": "1"}}
        seen["offset"] = time.localtime(1625140800).tm_gmtoff  # 2021-07-01: summer in St. John's
        return {"seq": message["seq"], "ok": True, "micro_deposits": []}

    a = InProcessAdapter(handle)
    a.time_zone = "NST3:30NDT,M3.2.0,M11.1.0"  # a POSIX rule: needs no tz database
    a.open()
    a.call(cue("x"))
    a.close()
    assert seen["offset"] == -(2 * 3600 + 30 * 60)
    assert time.localtime(1625140800).tm_gmtoff == 0 and os.environ["TZ"] == "UTC"


def _group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group, from /proc (a container's init may leave
    killed grandchildren as zombies for a while, and kill(-pgid, 0) counts those)."""
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry))
    return members


def test_kill_ends_the_whole_process_group():
    a = SubprocessAdapter(f"sh -c '{sys.executable} tests/planted/misbehave.py; sleep 60'", cwd=str(ROOT))
    a.open()
    pid = a.proc.pid
    assert len(_group_members(pid)) >= 2  # sh and the adapter it started
    a.kill()
    deadline = time.monotonic() + 5
    while _group_members(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _group_members(pid) == []
