"""Tests of the kit's fake Nexus server (nexus_micro_kit/server.py).

Stand-in clients are plain http.client / urllib code written here: the kit never imports
nexus_micro. `good_fetch` follows SEMANTICS.md S13-S22 closely enough to pass every scenario;
the failure tests misbehave on purpose and check that judge() names the right rule.
"""
from __future__ import annotations

import email.utils
import http.client
import json
import random
import re
import socket
import threading
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from nexus_micro_kit import server as srv
from nexus_micro_kit.server import SCENARIOS, FakeNexus, canonical_equal

ACCEPT = "application/vnd.mx.nexus.v1+json"


# --------------------------------------------------------------------------------------------
# A stand-in correct client (http.client only)
# --------------------------------------------------------------------------------------------

def _err(category: str) -> dict:
    return {"ok": False, "error": category}


def _status_category(status: int, body: bytes) -> str:
    code = None
    try:
        doc = json.loads(body.decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError):
        doc = None
    if isinstance(doc, dict):
        e = doc.get("error")
        if isinstance(e, dict):
            code = e.get("code")
        if code is None:
            code = doc.get("code")
    if type(code) is int:
        code = str(code)
    if code == "4011":
        return "session_expired"
    return {401: "unauthorized", 403: "forbidden", 404: "not_found", 429: "rate_limited"}.get(
        status, "server_error" if 500 <= status <= 599 else "http_error")


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    value = value.strip(" \t")
    if re.fullmatch(r"[0-9]+", value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - time.time())


_TS = re.compile(r"(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?"
                 r"(?:([Zz])|([+-])(\d\d):(\d\d))?")


def _timestamp(value):
    """Enough of S9 for the scenario bodies (not a full implementation)."""
    import datetime as dt
    m = _TS.fullmatch(value) if isinstance(value, str) else None
    if not m:
        return None
    y, mo, d, h, mi, s, frac, z, sign, oh, om = m.groups()
    t = dt.datetime(int(y), int(mo), int(d), int(h), int(mi), int(s),
                    int((frac or "0")[:6].ljust(6, "0")))
    if sign:
        delta = dt.timedelta(hours=int(oh), minutes=int(om))
        t = t - delta if sign == "+" else t + delta
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (t.year, t.month, t.day, t.hour, t.minute,
                                                   t.second, t.microsecond)


FIELDS = ["account_name", "account_number", "account_type", "account_type_name", "created_at",
          "email", "error_code", "error_message", "first_name", "guid", "institution_name",
          "last_name", "routing_number", "status", "status_name", "updated_at", "verified_at"]


def _canonical(body: bytes) -> list:
    """Enough of S1-S12 for the scenario bodies."""
    doc = json.loads(body.decode("utf-8"))
    if not isinstance(doc, dict):
        raise ValueError("not an object")
    records = []
    for item in doc.get("micro_deposits") or []:
        md = item.get("micro_deposit") if isinstance(item, dict) else None
        if not isinstance(md, dict):
            continue
        rec = {k: md.get(k) for k in FIELDS}
        for k in ("created_at", "updated_at", "verified_at"):
            rec[k] = _timestamp(md.get(k))
        rn = md.get("routing_number")
        if type(rn) is int:
            rn = str(rn)
        if isinstance(rn, str) and re.fullmatch(r"[0-9]{1,8}", rn):
            rn = rn.rjust(9, "0")
        rec["routing_number"] = rn
        rec["extra"] = {k: v for k, v in md.items() if k not in FIELDS}
        records.append(rec)
    return records


def good_fetch(fetch: dict, *, token: str | None = None, accept: str | None = ACCEPT,
               retry_statuses=(429, 502, 503, 504), honour_retry_after: bool = True,
               ignore_length: bool = False, extra_wait: float = 0.0,
               retry_transport: bool = True) -> dict:
    """One call with S17's default policy (max_retries 2). Knobs make it misbehave:
    `extra_wait` is added to every wait before a retry, `retry_transport=False` gives up at
    the first timeout or transport error."""
    token = fetch["token"] if token is None else token
    if not token or any(not 0x21 <= ord(c) <= 0x7E for c in token):
        return _err("invalid_argument")
    url = urllib.parse.urlsplit(fetch["base_url"] + "micro_deposits")
    cap = fetch["max_response_bytes"]
    outcome = _err("transport_error")
    for attempt in range(3):
        if attempt:
            time.sleep(wait + extra_wait)
        wait = random.uniform(0, 0.5 * 2 ** attempt)           # S17c full jitter
        headers = {"MD-SESSION-TOKEN": token, "Content-Type": ACCEPT, "User-Agent": "stand-in/1"}
        if accept is not None:
            headers["Accept"] = accept
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=fetch["timeout"])
        resp = None
        try:
            conn.request("GET", url.path, headers=headers)
            resp = conn.getresponse()
            if 200 <= resp.status <= 299:
                length = resp.getheader("Content-Length")
                if length is not None and int(length) > cap:
                    return _err("response_too_large")
                body = resp.read(cap + 1)
                if len(body) > cap:
                    return _err("response_too_large")
                if length is not None and len(body) < int(length) and not ignore_length:
                    raise http.client.IncompleteRead(body)
                try:
                    return {"ok": True, "micro_deposits": _canonical(body)}
                except (ValueError, UnicodeDecodeError, AttributeError):
                    return _err("malformed_response")
            if 300 <= resp.status <= 399:
                return _err("unexpected_redirect")
            category = _status_category(resp.status, resp.read(65536))
            outcome = _err(category)
            if resp.status not in retry_statuses:
                return outcome
            delay = _retry_after(resp.getheader("Retry-After"))
            if delay is not None and honour_retry_after:
                if delay > 60:
                    return outcome
                wait = delay
        except TimeoutError:
            outcome = _err("timeout")
            if not retry_transport:
                return outcome
        except (OSError, http.client.HTTPException):
            outcome = _err("transport_error")
            if not retry_transport:
                return outcome
        finally:
            if resp is not None:
                resp.close()
            conn.close()
    return outcome


def raw_get(trial, *, headers=None, method="GET", path=None, timeout=2.0):
    """One plain request; returns (status, headers, body) or the exception."""
    url = urllib.parse.urlsplit(trial.fetch["base_url"] + "micro_deposits")
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    if headers is None:
        headers = {"MD-SESSION-TOKEN": trial.fetch["token"], "Accept": ACCEPT}
    resp = None
    try:
        conn.request(method, path or url.path, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.getheaders(), resp.read()
    except (OSError, http.client.HTTPException) as exc:
        return exc
    finally:
        if resp is not None:
            resp.close()
        conn.close()


def rules_of(failures):
    return {rule for rule, _ in failures}


# --------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def nexus():
    before = set(threading.enumerate())
    with FakeNexus() as nx:
        yield nx
    time.sleep(0.05)
    leftover = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert not leftover, leftover


# --------------------------------------------------------------------------------------------
# The whole set against the good stand-in
# --------------------------------------------------------------------------------------------

def test_scenarios_dict_is_well_formed(nexus):
    assert list(SCENARIOS)[0] == "ok"
    for name, description in SCENARIOS.items():
        assert re.search(r"\[S\d+", description), name
        trial = nexus.prepare(name)
        assert trial.scenario == name and trial.rules
        assert set(trial.fetch) == {"base_url", "token", "timeout", "max_response_bytes"}
        assert trial.fetch["base_url"].startswith(nexus.url) and trial.fetch["base_url"].endswith(
            "/%s/" % name)
    with pytest.raises(ValueError):
        nexus.prepare("no_such_scenario")


def test_every_scenario_passes_a_correct_client_in_parallel(nexus):
    trials = [nexus.prepare(name) for name in SCENARIOS]
    start = time.monotonic()
    with ThreadPoolExecutor(len(trials)) as pool:
        replies = list(pool.map(lambda t: good_fetch(t.fetch), trials))
    elapsed = time.monotonic() - start
    verdicts = {t.scenario: t.judge(r) for t, r in zip(trials, replies)}
    assert {k: v for k, v in verdicts.items() if v} == {}
    assert elapsed < 8, elapsed


def test_tokens_and_run_ids_are_fresh(nexus):
    a, b = nexus.prepare("ok"), nexus.prepare("ok")
    assert a.fetch["token"] != b.fetch["token"] and a.run_id != b.run_id
    assert all(0x21 <= ord(c) <= 0x7E for c in a.fetch["token"])
    good_fetch(a.fetch)
    assert len(a.requests) == 1 and b.requests == []


# --------------------------------------------------------------------------------------------
# What each scenario serves
# --------------------------------------------------------------------------------------------

def test_ok_serves_the_openapi_example_and_canonical_form_matches(nexus):
    trial = nexus.prepare("ok")
    status, headers, body = raw_get(trial)
    assert status == 200
    doc = json.loads(body)
    first = doc["micro_deposits"][0]["micro_deposit"]
    assert first["routing_number"] == 91000019 and first["guid"].startswith("MIC-09ba578e")
    assert canonical_equal(_canonical(body), srv.OK_EXPECTED)
    assert trial.judge({"ok": True, "micro_deposits": srv.OK_EXPECTED}) == []


@pytest.mark.parametrize("name,status,code", [
    ("session_expired", 401, "4011"), ("bad_request", 400, "4001"), ("forbidden", 403, None),
    ("not_found", 404, None), ("server_error_500", 500, None), ("session_expired_no_body", 401, None),
])
def test_error_statuses(nexus, name, status, code):
    trial = nexus.prepare(name)
    got_status, _, body = raw_get(trial)
    assert got_status == status
    if code:
        assert json.loads(body)["error"]["code"] == code
    if name == "session_expired_no_body":
        assert body == b"Unauthorized\n"


def test_rate_limited_sends_retry_after_then_ok(nexus):
    trial = nexus.prepare("rate_limited_then_ok")
    status, headers, _ = raw_get(trial)
    assert status == 429 and dict(headers)["Retry-After"] == "1"
    assert raw_get(trial)[0] == 200

    trial = nexus.prepare("rate_limited_http_date_then_ok")
    status, headers, _ = raw_get(trial)
    when = email.utils.parsedate_to_datetime(dict(headers)["Retry-After"]).timestamp()
    assert status == 429 and 1.9 <= when - time.time() <= 3.1


def test_reset_then_ok(nexus):
    trial = nexus.prepare("reset_then_ok")
    first = raw_get(trial)
    assert isinstance(first, (ConnectionResetError, http.client.RemoteDisconnected)), first
    assert raw_get(trial)[0] == 200


def test_truncated_declares_more_than_it_sends(nexus):
    trial = nexus.prepare("truncated")
    url = urllib.parse.urlsplit(trial.fetch["base_url"] + "micro_deposits")
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=2)
    conn.request("GET", url.path, headers={"MD-SESSION-TOKEN": trial.fetch["token"], "Accept": ACCEPT})
    resp = conn.getresponse()
    assert resp.getheader("Content-Length") == "1000"
    part = resp.read(1000)                  # read(n) does not raise on a short body
    resp.close()
    conn.close()
    assert len(part) == 400
    json.loads(part)                        # the prefix is valid JSON on purpose


def test_oversized_bodies(nexus):
    trial = nexus.prepare("oversized")
    status, headers, body = raw_get(trial)
    assert int(dict(headers)["Content-Length"]) == len(body) > 3 * 65536
    json.loads(body)
    trial = nexus.prepare("oversized_chunked")
    status, headers, body = raw_get(trial)
    names = {k.lower() for k, _ in headers}
    assert "content-length" not in names and dict(headers)["Transfer-Encoding"] == "chunked"
    assert len(body) > 3 * 65536
    json.loads(body)


def test_broken_chunked_is_a_framing_error(nexus):
    result = raw_get(nexus.prepare("broken_chunked"))
    assert isinstance(result, http.client.IncompleteRead), result


def test_slow_body_stalls_past_the_timeout(nexus):
    trial = nexus.prepare("slow_body")
    assert trial.fetch["timeout"] == 0.5
    start = time.monotonic()
    result = raw_get(trial, timeout=0.5)
    assert isinstance(result, TimeoutError) and time.monotonic() - start < 1.5


def test_redirect_points_to_the_other_origin(nexus):
    for name, status in (("redirect_cross_origin", 302), ("redirect_307", 307)):
        trial = nexus.prepare(name)
        got, headers, _ = raw_get(trial)
        location = dict(headers)["Location"]
        assert got == status and location.startswith(nexus.other_url)
        assert location.endswith("/%s/%s/micro_deposits" % (trial.run_id, name))
        assert nexus.other_url != nexus.url


def test_non_json_and_204(nexus):
    status, headers, body = raw_get(nexus.prepare("non_json_200"))
    assert status == 200 and body.startswith(b"<!DOCTYPE html>")
    status, headers, body = raw_get(nexus.prepare("no_content_204"))
    assert status == 204 and body == b""


# --------------------------------------------------------------------------------------------
# judge() fails wrong behaviour, naming the rule
# --------------------------------------------------------------------------------------------

def test_wrong_category_fails(nexus):
    trial = nexus.prepare("session_expired")
    good_fetch(trial.fetch)
    assert trial.judge({"ok": False, "error": "session_expired"}) == []
    failures = trial.judge({"ok": False, "error": "unauthorized"})
    assert rules_of(failures) == {"S14"} and "session_expired" in failures[0][1]


def test_wrong_records_fail_with_s12(nexus):
    trial = nexus.prepare("ok")
    good_fetch(trial.fetch)
    wrong = json.loads(json.dumps(srv.OK_EXPECTED))
    wrong[1]["extra"]["is_manual"] = 1                   # true is not 1
    failures = trial.judge({"ok": True, "micro_deposits": wrong})
    assert rules_of(failures) == {"S12"} and "is_manual" in failures[0][1]
    reordered = [dict(reversed(list(r.items()))) for r in srv.OK_EXPECTED]
    reordered[0]["account_type"] = 1.0                    # numbers by value
    assert trial.judge({"ok": True, "micro_deposits": reordered}) == []


def test_wrong_token_fails_s13b(nexus):
    trial = nexus.prepare("ok")
    reply = good_fetch(trial.fetch, token=trial.fetch["token"] + "x")
    failures = trial.judge(reply)
    assert "S13b" in rules_of(failures)
    assert all(trial.fetch["token"] not in message for _, message in failures)


def test_lowercase_header_names_are_fine(nexus):
    trial = nexus.prepare("empty")
    raw_get(trial, headers={"md-session-token": trial.fetch["token"], "accept": ACCEPT})
    assert trial.judge({"ok": True, "micro_deposits": []}) == []


def test_missing_accept_fails_s13b(nexus):
    trial = nexus.prepare("empty")
    reply = good_fetch(trial.fetch, accept=None)
    assert reply == {"ok": True, "micro_deposits": []}
    failures = trial.judge(reply)
    assert rules_of(failures) == {"S13b"} and "Accept" in failures[0][1]


def test_wrong_method_path_and_body_fail_s13a(nexus):
    trial = nexus.prepare("empty")
    url = urllib.parse.urlsplit(trial.fetch["base_url"])
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=2)
    conn.request("POST", url.path + "micro_deposits/", body=b"{}",
                 headers={"MD-SESSION-TOKEN": trial.fetch["token"], "Accept": ACCEPT})
    conn.getresponse().read()
    conn.close()
    failures = trial.judge({"ok": True, "micro_deposits": []})
    messages = " | ".join(m for r, m in failures if r == "S13a")
    assert "method POST" in messages and "path" in messages and "body" in messages


def test_request_without_base_path_is_attributed_by_token(nexus):
    trial = nexus.prepare("empty")
    raw_get(trial, path="/micro_deposits")
    failures = trial.judge({"ok": False, "error": "not_found"})
    assert "S13a" in rules_of(failures)


def test_retried_400_fails(nexus):
    trial = nexus.prepare("bad_request")
    reply = good_fetch(trial.fetch, retry_statuses=(400, 429, 502, 503, 504))
    assert reply == {"ok": False, "error": "http_error"}
    failures = trial.judge(reply)
    assert rules_of(failures) == {"S17"} and "3 request(s), expected 1" in failures[0][1]


def test_retried_401_fails_s18(nexus):
    trial = nexus.prepare("session_expired")
    reply = good_fetch(trial.fetch, retry_statuses=(401,))
    assert rules_of(trial.judge(reply)) == {"S18"}


def test_more_than_three_attempts_fail_s17a(nexus):
    trial = nexus.prepare("truncated")
    for _ in range(4):
        raw_get(trial)
    assert "S17a" in rules_of(trial.judge({"ok": False, "error": "transport_error"}))


def test_too_early_retry_after_fails_s17b(nexus):
    trial = nexus.prepare("rate_limited_then_ok")
    raw_get(trial)
    raw_get(trial)                                        # at once, ignoring Retry-After: 1
    failures = trial.judge({"ok": True, "micro_deposits": srv.OK_EXPECTED})
    assert rules_of(failures) == {"S17b"}


def test_too_early_retry_after_date_fails_s17b(nexus):
    trial = nexus.prepare("rate_limited_http_date_then_ok")
    reply = good_fetch(trial.fetch, honour_retry_after=False)
    assert reply["ok"] is True
    assert rules_of(trial.judge(reply)) == {"S17b"}


def test_late_retries_fail_s17c_and_s17b(nexus):
    """A client that adds 2 s to every retry wait: over the full-jitter cap (S17c) and over
    the exact Retry-After delay (S17b), each by more than SLACK."""
    expected = {"unavailable_then_ok": "S17c", "reset_then_ok": "S17c",
                "retries_exhausted": "S17c", "truncated": "S17c",
                "rate_limited_then_ok": "S17b", "rate_limited_http_date_then_ok": "S17b"}
    trials = [nexus.prepare(name) for name in expected]
    with ThreadPoolExecutor(len(trials)) as pool:
        replies = list(pool.map(lambda t: good_fetch(t.fetch, extra_wait=2.0), trials))
    for trial, reply in zip(trials, replies):
        failures = trial.judge(reply)
        assert rules_of(failures) == {expected[trial.scenario]}, (trial.scenario, failures)
        assert re.search(r"\b[23]\.\d{3} s after", failures[0][1]), failures   # the gap
    by_name = {t.scenario: t.judge(r) for t, r in zip(trials, replies)}
    assert len(by_name["retries_exhausted"]) == 2        # both gaps named
    assert "retry 1 came" in by_name["retries_exhausted"][0][1]


def test_retry_gaps_within_the_bounds_pass(nexus):
    """The bounds are upper bounds on the wait plus SLACK: waiting just under them passes."""
    trial = nexus.prepare("unavailable_then_ok")
    assert raw_get(trial)[0] == 503
    time.sleep(0.5 + srv.SLACK - 0.2)
    assert raw_get(trial)[0] == 200
    assert trial.judge({"ok": True, "micro_deposits": srv.OK_EXPECTED}) == []


def test_unretried_timeout_and_transport_errors_fail_s17a(nexus):
    names = ["slow_body", "truncated", "broken_chunked"]
    trials = [nexus.prepare(name) for name in names]
    with ThreadPoolExecutor(len(trials)) as pool:
        replies = list(pool.map(lambda t: good_fetch(t.fetch, retry_transport=False), trials))
    assert [r["error"] for r in replies] == ["timeout", "transport_error", "transport_error"]
    for trial, reply in zip(trials, replies):
        failures = trial.judge(reply)
        assert failures == [("S17a", "1 request(s), expected 3")], (trial.scenario, failures)


def test_long_retry_after_waited_fails(nexus):
    trial = nexus.prepare("rate_limited_long_retry_after")
    raw_get(trial)
    raw_get(trial)
    assert rules_of(trial.judge({"ok": False, "error": "rate_limited"})) == {"S17b"}


def test_followed_redirect_with_token_fails_s19_and_s22a(nexus):
    trial = nexus.prepare("redirect_cross_origin")
    # urllib's default opener follows the 302 and copies MD-SESSION-TOKEN (the trap of S19)
    req = urllib.request.Request(trial.fetch["base_url"] + "micro_deposits",
                                 headers={"MD-SESSION-TOKEN": trial.fetch["token"], "Accept": ACCEPT})
    with urllib.request.urlopen(req, timeout=2) as resp:
        reply = {"ok": True, "micro_deposits": _canonical(resp.read())}
    assert reply == {"ok": True, "micro_deposits": []}
    failures = trial.judge(reply)
    assert {"S19", "S22a"} <= rules_of(failures)
    assert [r.listener for r in trial.requests] == ["main", "other"]


def test_followed_redirect_then_skipped_fails_s19(nexus):
    """The wire is judged before the skip: a token already sent elsewhere is not a skip."""
    trial = nexus.prepare("redirect_cross_origin")
    req = urllib.request.Request(trial.fetch["base_url"] + "micro_deposits",
                                 headers={"MD-SESSION-TOKEN": trial.fetch["token"], "Accept": ACCEPT})
    with urllib.request.urlopen(req, timeout=2) as resp:
        resp.read()
    failures = trial.judge({"skipped": True, "reason": "redirects not supported"})
    assert {"S19", "S22a"} <= rules_of(failures) and "skipped" not in rules_of(failures)


def test_skipped_after_a_clean_or_a_bad_wire(nexus):
    trial = nexus.prepare("redirect_307")                 # one request, 307 not followed
    raw_get(trial)
    assert trial.judge({"skipped": True, "reason": "r"}) == [("skipped", "r")]
    trial = nexus.prepare("unavailable_then_ok")          # too few attempts: not held against a skip
    raw_get(trial)
    assert trial.judge({"skipped": True}) == [("skipped", "skipped by the adapter")]
    trial = nexus.prepare("bad_request")                  # a retried 400 is on the wire
    good_fetch(trial.fetch, retry_statuses=(400,))
    failures = trial.judge({"skipped": True, "reason": "r"})
    assert rules_of(failures) == {"S17"} and "3 request(s), expected 1" in failures[0][1]
    trial = nexus.prepare("empty")                        # a wrong header is on the wire
    good_fetch(trial.fetch, accept=None)
    assert rules_of(trial.judge({"skipped": True})) == {"S13b"}


def test_followed_redirect_without_token_fails_s19_only(nexus):
    trial = nexus.prepare("redirect_307")
    raw_get(trial)
    other = urllib.parse.urlsplit(nexus.other_url)
    conn = http.client.HTTPConnection(other.hostname, other.port, timeout=2)
    conn.request("GET", "/%s/redirect_307/micro_deposits" % trial.run_id, headers={"Accept": ACCEPT})
    conn.getresponse().read()
    conn.close()
    failures = trial.judge({"ok": False, "error": "unexpected_redirect"})
    assert rules_of(failures) == {"S19"}


def test_parsed_truncated_body_fails_s20b(nexus):
    trial = nexus.prepare("truncated")
    reply = good_fetch(trial.fetch, ignore_length=True)
    assert reply["ok"] is True                             # the naive client parsed 400 bytes
    failures = trial.judge(reply)
    assert rules_of(failures) == {"S20b", "S17a"}          # and it never retried


def test_ignored_cap_fails_s20a(nexus):
    trial = nexus.prepare("oversized_chunked")
    status, _, body = raw_get(trial)
    failures = trial.judge({"ok": True, "micro_deposits": _canonical(body)})
    assert rules_of(failures) == {"S20a"}


def test_token_injection_sent_anyway_fails_s13c(nexus):
    trial = nexus.prepare("token_injection")
    assert "\r\nX-Injected: 1" in trial.fetch["token"]
    assert good_fetch(trial.fetch) == {"ok": False, "error": "invalid_argument"}
    assert trial.judge({"ok": False, "error": "invalid_argument"}) == []
    # a client that strips CR/LF and sends
    raw_get(trial, headers={"MD-SESSION-TOKEN": trial.fetch["token"].replace("\r\n", ""),
                            "Accept": ACCEPT})
    failures = trial.judge({"ok": False, "error": "invalid_argument"})
    assert rules_of(failures) == {"S13c"}


def test_skipped_errored_and_protocol_replies(nexus):
    trial = nexus.prepare("ok")
    assert trial.judge({"skipped": True, "reason": "no fetch op"}) == [("skipped", "no fetch op")]
    good_fetch(trial.fetch)
    assert rules_of(trial.judge({"errored": True, "message": "TypeError: boom"})) == {"errored"}
    assert rules_of(trial.judge({"something": "else"})) == {"protocol"}
    assert rules_of(trial.judge({"ok": True})) == {"protocol"}


def test_canonical_equal():
    assert canonical_equal({"a": 1, "b": [1.0, None]}, {"b": [1, None], "a": 1e0})
    assert canonical_equal(10 ** 20, 1e20) and not canonical_equal(10 ** 17 + 1, 1e17)
    assert not canonical_equal(True, 1) and not canonical_equal(0, False)
    assert not canonical_equal([1, 2], [2, 1]) and not canonical_equal({"a": None}, {})
    assert not canonical_equal("1", 1)


# --------------------------------------------------------------------------------------------
# Lifecycle
# --------------------------------------------------------------------------------------------

def test_close_is_prompt_with_stalled_handlers_and_leaves_nothing():
    before = set(threading.enumerate())
    nx = FakeNexus()
    with nx:
        url = urllib.parse.urlsplit(nx.url)
        trials = [nx.prepare("slow_body") for _ in range(3)]
        socks = []
        for t in trials:                 # clients that never time out
            s = socket.create_connection((url.hostname, url.port))
            s.sendall(("GET %smicro_deposits HTTP/1.1\r\nHost: x\r\nMD-SESSION-TOKEN: %s\r\n\r\n"
                       % (urllib.parse.urlsplit(t.fetch["base_url"]).path, t.fetch["token"])).encode())
            socks.append(s)
        idle = socket.create_connection((url.hostname, url.port))   # sends nothing at all
        deadline = time.monotonic() + 2
        while sum(len(t.requests) for t in trials) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        start = time.monotonic()
    assert time.monotonic() - start < 1.0
    for s in socks + [idle]:
        s.close()
    time.sleep(0.05)
    assert [t for t in threading.enumerate() if t not in before and t.is_alive()] == []
    with pytest.raises(OSError):
        socket.create_connection((url.hostname, url.port), timeout=0.5)


def test_loopback_only():
    with pytest.raises(ValueError):
        FakeNexus(host="0.0.0.0")


def test_serve_prints_urls_and_stops(capsys, monkeypatch):
    real_init = FakeNexus.__enter__

    def enter(self):
        real_init(self)
        threading.Timer(0.2, self._closing.set).start()   # stands in for Ctrl-C
        return self

    monkeypatch.setattr(FakeNexus, "__enter__", enter)
    srv.serve()
    out = capsys.readouterr().out
    assert "fake Nexus on http://127.0.0.1:" in out
    assert all(name in out for name in SCENARIOS)
