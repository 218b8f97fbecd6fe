"""``python -m nexus_micro list`` end to end, in a subprocess, against servers on 127.0.0.1.

Exit codes (the CLI's epilog): 0 ok, 2 usage, 3 unauthorized or session expired, 4 other HTTP
error (and redirects), 5 transport error or timeout, 6 malformed response, response too large or
drift in --strict, 130 on Ctrl-C, 141 when stdout is closed early.
Every run checks that neither stdout nor stderr holds the session token (also percent-encoded),
and that nothing but the canonical --json/--jsonl output holds the full account number (S22).
Output is captured as bytes and decoded without newline translation, so a raw CR shows as one.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import unicodedata
import urllib.parse
from pathlib import Path

import pytest
from _servers import (  # noqa: F401  (serve: fixture)
    SAMPLE_RECORD,
    by_token,
    free_port,
    head_then_stall,
    json_reply,
    reply,
    reset,
    serve,
    stall,
)

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "CLI-SeSsIoN-5b8e0d2f-SECRET-c4a1"
ACCOUNT = "333312345678"
MASKED = "****5678"
NAMES = ("Zephyr Household Checking", "zelda.quixote@example.com", "Zelda", "Quixote")

RECORD_1 = SAMPLE_RECORD
RECORD_2 = {
    "account_number": "9876",
    "guid": "MIC-2",
    "status": 3,
    "status_name": "VERIFIED",
    "verified_at": "2021-10-23T00:00:00Z",
    "nickname": "ünïcode",
}
GOOD = json.dumps({"micro_deposits": [{"micro_deposit": RECORD_1}, {"micro_deposit": RECORD_2}], "pagination": {}})
NULLS = dict.fromkeys(RECORD_1, None)
CANONICAL = {
    "micro_deposits": [
        dict(RECORD_1, created_at="2021-09-01T18:29:06.000000Z", updated_at="2021-10-22T16:14:38.000000Z", extra={}),
        dict(NULLS, account_number="9876", guid="MIC-2", status=3, status_name="VERIFIED",
             verified_at="2021-10-23T00:00:00.000000Z", extra={"nickname": "ünïcode"}),
    ]
}
# routing_number as an integer loses its leading zero: padded, a drift note (S7)
DRIFTED = json.dumps({"micro_deposits": [{"micro_deposit": dict(RECORD_1, routing_number=91000019)}]})


class Run:
    def __init__(self, code: int, out: bytes, err: bytes) -> None:
        self.code = code
        self.raw_out = out
        self.raw_err = err
        # No newline translation: a CR the CLI let through must show as one (S22c).
        self.out = out.decode("utf-8", "replace")
        self.err = err.decode("utf-8", "replace")

    def __repr__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out!r}\n--- stderr\n{self.err!r}"


def cli_env(token: str | None = TOKEN, **env_extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "MD_SESSION_TOKEN" and not k.lower().endswith("_proxy")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONIOENCODING"] = "utf-8"
    env.pop("PYTHONWARNINGS", None)
    if token is not None:
        env["MD_SESSION_TOKEN"] = token
    env.update(env_extra)
    return env


def shows_token(text: str) -> bool:
    """The token, or 8 consecutive characters of it, as it is or percent-decoded (S22a)."""
    texts = (text, urllib.parse.unquote(text))
    return any(TOKEN[i:i + 8] in t for t in texts for i in range(len(TOKEN) - 7))


def check_secrets(run: Run, machine_output: bool = False) -> Run:
    # S22: never the token, in any run; the full account number only in canonical data output
    assert not shows_token(run.err), run
    assert TOKEN not in run.out, run
    if not machine_output:
        assert not shows_token(run.out), run
    assert ACCOUNT not in run.err, run
    if not machine_output:
        assert ACCOUNT not in run.out, run
    for name in NAMES:
        assert name not in run.err, run
    return run


def cli(*args: str, token: str | None = TOKEN, machine_output: bool = False, timeout: float = 20,
        **env_extra: str) -> Run:
    proc = subprocess.run(
        [sys.executable, "-m", "nexus_micro", *args],
        cwd=ROOT, env=cli_env(token, **env_extra), capture_output=True, timeout=timeout, check=False,
    )
    return check_secrets(Run(proc.returncode, proc.stdout, proc.stderr), machine_output)


def listing(server, *args: str, **kw) -> Run:
    return cli("list", "--base-url", server.url, "--timeout", "1", *args, **kw)


def checks_token(ok_responder):
    """The server answers ok only when it sees exactly TOKEN; otherwise 401."""
    return by_token(TOKEN, ok_responder, json_reply(401, {"error": {"code": "4010", "message": "bad token"}}))


# ============================================================================ exit 0

def test_table(serve):
    server = serve(checks_token(reply(200, GOOD)))
    run = listing(server)
    assert run.code == 0, run
    lines = run.out.splitlines()
    assert lines[0].split() == ["GUID", "STATUS", "TYPE", "ACCOUNT", "ROUTING", "INSTITUTION", "CREATED", "VERIFIED"]
    assert len(lines) == 3
    assert RECORD_1["guid"] in lines[1] and "DEPOSITED" in lines[1] and "CHECKING" in lines[1]
    assert MASKED in lines[1] and "091000019" in lines[1] and "MX Bank" in lines[1]
    assert "2021-09-01 18:29" in lines[1]
    assert "MIC-2" in lines[2] and "VERIFIED" in lines[2] and "2021-10-23 00:00" in lines[2]
    assert "****" in lines[2] and "9876" not in lines[2]  # 4 characters or fewer: nothing shown (S22b)
    for name in NAMES:
        assert name not in run.out
    assert run.err == ""
    assert server.requests[0].token == TOKEN


def test_table_with_no_records(serve):
    server = serve(reply(200, '{"micro_deposits": []}'))
    run = listing(server)
    assert run.code == 0, run
    assert "(no microdeposits)" in run.out


def test_json_is_the_canonical_form(serve):
    server = serve(checks_token(reply(200, GOOD)))
    run = listing(server, "--json", machine_output=True)
    assert run.code == 0, run
    assert json.loads(run.out) == CANONICAL
    assert list(json.loads(run.out)["micro_deposits"][0]) == [*RECORD_1, "extra"]  # spec order
    assert "ünïcode" in run.out  # not \u-escaped
    assert run.err == ""


def test_jsonl_is_one_canonical_record_per_line(serve):
    server = serve(checks_token(reply(200, GOOD)))
    run = listing(server, "--jsonl", machine_output=True)
    assert run.code == 0, run
    lines = run.out.splitlines()
    assert len(lines) == 2
    assert [json.loads(line) for line in lines] == CANONICAL["micro_deposits"]
    assert run.out.endswith("\n")


def test_jsonl_with_no_records_prints_nothing(serve):
    server = serve(reply(200, "{}"))
    run = listing(server, "--jsonl")
    assert run.code == 0, run
    assert run.out == ""


def test_token_from_token_file(serve, tmp_path):
    path = tmp_path / "session"
    path.write_text(TOKEN + "\n", encoding="utf-8")
    server = serve(checks_token(reply(200, GOOD)))
    run = listing(server, "--token-file", str(path), token=None)
    assert run.code == 0, run
    assert server.requests[0].header_all("md-session-token") == [TOKEN]


def test_token_file_wins_over_the_environment(serve, tmp_path):
    path = tmp_path / "session"
    path.write_text(TOKEN, encoding="utf-8")
    server = serve(checks_token(reply(200, GOOD)))
    run = listing(server, "--token-file", str(path), token="stale-env-token")
    assert run.code == 0, run
    assert server.requests[0].token == TOKEN


def test_token_from_environment_is_sent_exactly(serve):
    server = serve(checks_token(reply(200, GOOD)))
    run = listing(server, "--json", machine_output=True)
    assert run.code == 0, run
    (seen,) = server.requests
    assert seen.method == "GET" and seen.path == "/micro_deposits"
    assert seen.header_all("MD-Session-Token") == [TOKEN]
    assert seen.header("user-agent").startswith("nexus-micro/")


def test_verbose_prints_drift_notes_to_stderr(serve):
    server = serve(reply(200, DRIFTED))
    run = listing(server, "--verbose")
    assert run.code == 0, run
    notes = [line for line in run.err.splitlines() if line.startswith("drift:")]
    assert len(notes) == 1, run
    assert "routing_number" in notes[0] and "item 0" in notes[0] and "S7" in notes[0]
    assert "91000019" not in run.err  # the type, never the value (S22b)
    assert "091000019" in run.out  # padded in the table


def test_without_verbose_drift_is_silent(serve):
    server = serve(reply(200, DRIFTED))
    run = listing(server)
    assert run.code == 0, run
    assert run.err == ""


def test_loopback_base_url_ignores_proxy_variables(serve):
    # A proxy cannot reach the caller's loopback server: the client must not use one for it.
    dead = f"http://127.0.0.1:{free_port()}"
    server = serve(checks_token(reply(200, GOOD)))
    run = listing(server, http_proxy=dead, HTTP_PROXY=dead, https_proxy=dead, all_proxy=dead)
    assert run.code == 0, run
    assert server.count == 1


NON_ASCII = json.dumps({"micro_deposits": [{"micro_deposit": {"guid": "MIC-1", "institution_name": "Banque Société ✓"}}]})


@pytest.mark.parametrize("encoding", ["ascii", "cp1252"])
def test_table_on_a_terminal_that_cannot_encode_a_name(serve, encoding):
    # e.g. a Windows console: the CLI must still exit with a documented code, not a traceback.
    server = serve(reply(200, NON_ASCII))
    run = listing(server, PYTHONIOENCODING=encoding)
    assert "Traceback" not in run.err, run
    assert run.code == 0, run
    assert "MIC-1" in run.out


@pytest.mark.parametrize("encoding", ["ascii", "cp1252"])
def test_json_on_a_stdout_that_cannot_encode_a_name(serve, encoding):
    server = serve(reply(200, NON_ASCII))
    run = listing(server, "--json", PYTHONIOENCODING=encoding)
    assert "Traceback" not in run.err, run
    assert run.code == 0, run
    assert json.loads(run.out)["micro_deposits"][0]["institution_name"] == "Banque Société ✓"


# ============================================================================ exit 2

def test_no_token_is_usage_error(serve):
    server = serve(reply(200, GOOD))
    run = listing(server, token=None)
    assert run.code == 2, run
    assert "MD_SESSION_TOKEN" in run.err
    assert server.count == 0


def test_blank_token_is_usage_error(serve):
    server = serve(reply(200, GOOD))
    run = listing(server, token="   ")
    assert run.code == 2, run
    assert server.count == 0


def test_missing_token_file_is_usage_error(serve, tmp_path):
    server = serve(reply(200, GOOD))
    run = listing(server, "--token-file", str(tmp_path / "nope"))
    assert run.code == 2, run
    assert "token-file" in run.err
    assert len(run.err.splitlines()) == 1 and run.err.startswith("error: "), run  # one error, said once
    assert server.count == 0


@pytest.mark.parametrize(
    "content",
    [b"\xff\xfeC\x00L\x00I\x00-\x00t\x00o\x00k\x00", b"caf\xe9-token-42", b"\x80\x81\x82"],
    ids=["utf-16-with-bom", "latin-1", "stray-continuation-bytes"],
)
def test_token_file_that_is_not_utf8_is_one_usage_error_line(serve, tmp_path, content):
    path = tmp_path / "session"
    path.write_bytes(content)
    server = serve(reply(200, GOOD))
    run = listing(server, "--token-file", str(path), token=None)
    assert run.code == 2, run
    lines = run.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run
    assert "Traceback" not in run.err and "UnicodeDecodeError" not in run.err
    assert "token" in lines[0].lower()
    assert run.out == ""
    assert server.count == 0


def test_token_file_that_is_a_directory_is_one_usage_error_line(serve, tmp_path):
    server = serve(reply(200, GOOD))
    run = listing(server, "--token-file", str(tmp_path))
    assert run.code == 2, run
    assert len(run.err.splitlines()) == 1 and run.err.startswith("error: "), run
    assert server.count == 0


def test_token_with_a_space_is_usage_error_and_not_echoed(serve, tmp_path):
    bad = "CLI-bad token-with-space-9f8e7d"
    path = tmp_path / "session"
    path.write_text(bad, encoding="utf-8")
    server = serve(reply(200, GOOD))
    run = listing(server, "--token-file", str(path), token=None)
    assert run.code == 2, run
    assert bad not in run.err and "with-space" not in run.err
    assert "S13c" in run.err
    assert server.count == 0


@pytest.mark.parametrize("url", ["http://example.com/", "https://user:pw@example.com/", "https://example.com/?q=1", "ftp://x/", "not a url"])
def test_bad_base_url_is_usage_error(url):
    run = cli("list", "--base-url", url, "--timeout", "1")
    assert run.code == 2, run
    assert "S13d" in run.err
    assert run.out == ""


def test_bad_timeout_is_usage_error(serve):
    server = serve(reply(200, GOOD))
    run = listing(server, "--timeout", "0")
    assert run.code == 2, run
    assert server.count == 0


@pytest.mark.parametrize("args", [[], ["frobnicate"], ["list", "--no-such-flag"], ["list", "--json", "--jsonl"],
                                  ["list", "--production", "--base-url", "https://x.example/"]])
def test_usage_errors(args):
    run = cli(*args)
    assert run.code == 2, run
    assert "usage" in run.err.lower()
    assert run.out == ""


# ============================================================================ exit 3

@pytest.mark.parametrize(
    "status, body, word",
    [
        (401, {"error": {"code": "4010", "message": "invalid session"}}, "Unauthorized"),
        (401, {"error": {"code": "4011", "message": "Session expired"}}, "SessionExpired"),
        (401, {"code": 4011}, "SessionExpired"),
        (400, {"error": {"code": "4011"}}, "SessionExpired"),
    ],
)
def test_unauthorized_and_session_expired_exit_3(serve, status, body, word):
    server = serve(json_reply(status, body))
    run = listing(server)
    assert run.code == 3, run
    assert word in run.err and "POST /sessions" in run.err
    assert run.out == ""
    assert server.count == 1


def test_401_echoing_the_token_exits_3_without_it(serve):
    server = serve(json_reply(401, {"error": {"code": "4010", "message": f"token {TOKEN} unknown"}},
                              [("X-Request-Id", TOKEN)]))
    run = listing(server)  # cli() asserts the token is absent
    assert run.code == 3, run
    assert "<redacted>" in run.err


# ============================================================================ exit 4

@pytest.mark.parametrize(
    "responder, word",
    [
        (json_reply(403, {"error": {"code": "4030", "message": "nope"}}), "Forbidden"),
        (json_reply(404, {}), "NotFound"),
        (json_reply(400, {"error": {"code": "4001"}}), "HTTPError"),
        (json_reply(500, {"error": {"code": "5000", "message": f"oops {TOKEN}"}}), "ServerError"),
        (reply(302, "", [("Location", "https://elsewhere.invalid/micro_deposits")]), "UnexpectedRedirect"),
        (reply(429, "", [("Retry-After", "3600")]), "RateLimited"),
    ],
    ids=["403", "404", "400", "500", "302", "429"],
)
def test_other_http_errors_exit_4(serve, responder, word):
    server = serve(responder)
    run = listing(server)
    assert run.code == 4, run
    assert word in run.err
    assert run.out == ""
    assert server.count == 1


def test_redirect_to_a_second_server_exits_4_and_never_reaches_it(serve):
    other = serve(reply(200, GOOD))
    server = serve(reply(307, "", [("Location", f"{other.url}micro_deposits")]))
    run = listing(server)
    assert run.code == 4, run
    assert f"{other.url}micro_deposits" in run.err
    assert other.count == 0


# ============================================================================ exit 5

def test_connection_refused_exits_5():
    run = cli("list", "--base-url", f"http://127.0.0.1:{free_port()}/", "--timeout", "0.5")
    assert run.code == 5, run
    assert "TransportError" in run.err
    assert run.out == ""


def test_timeout_exits_5(serve):
    server = serve(stall(30))
    run = cli("list", "--base-url", server.url, "--timeout", "0.3")
    assert run.code == 5, run
    assert "Timeout" in run.err
    assert server.count == 3  # the default 2 retries


# ============================================================================ exit 6

@pytest.mark.parametrize("body", ["<html>maintenance</html>", "", '{"micro_deposits": "none"}', "[]", "{"])
def test_malformed_body_exits_6(serve, body):
    server = serve(reply(200, body))
    run = listing(server)
    assert run.code == 6, run
    assert "MalformedResponse" in run.err
    assert run.out == ""


def test_drift_with_strict_exits_6(serve):
    server = serve(reply(200, DRIFTED))
    run = listing(server, "--strict")
    assert run.code == 6, run
    assert "SchemaDrift" in run.err and "routing_number" in run.err and "item 0" in run.err
    assert run.out == ""


def test_strict_without_drift_exits_0(serve):
    server = serve(reply(200, GOOD))
    run = listing(server, "--strict", "--json", machine_output=True)
    assert run.code == 0, run
    assert json.loads(run.out) == CANONICAL


# ============================================================================ help, version

def test_help():
    run = cli("--help")
    assert run.code == 0, run
    assert "list" in run.out and "exit codes" in run.out
    assert "MD_SESSION_TOKEN" in run.out


def test_list_help():
    run = cli("list", "--help")
    assert run.code == 0, run
    for flag in ("--token-file", "--base-url", "--integration", "--production", "--timeout", "--deadline",
                 "--max-retries", "--max-response-bytes", "--strict", "--json", "--jsonl", "--verbose", "--debug"):
        assert flag in run.out, flag
    assert "exit codes" in run.out


def test_version():
    import nexus_micro

    run = cli("--version")
    assert run.code == 0, run
    assert run.out.strip() == f"nexus-micro {nexus_micro.__version__}"


# ============================================================================ retries on stderr (S17)

RETRY_LINE = re.compile(r"nexus_micro: retrying in ([0-9]+(?:\.[0-9]+)?) s\b(.*)")


def names_retry_after_1(line: str) -> bool:
    """Whether ``line`` names the Retry-After header and its value 1 (in either order, nearby)."""
    m = re.search(r"(?i)retry[- ]?after", line)
    window = line[max(0, m.start() - 40):m.end() + 40] if m else ""
    return bool(re.search(r"(?<![0-9.])1(?:\.0+)?(?![0-9.])", window))


def retry_lines(run: Run) -> list:
    """(seconds, rest of the line) for each ``nexus_micro: retrying in <seconds> s ...`` line."""
    found = []
    for line in run.err.splitlines():
        if line.startswith("nexus_micro: retrying"):
            m = RETRY_LINE.fullmatch(line)
            assert m, f"malformed retry line {line!r}"
            found.append((float(m.group(1)), m.group(2)))
    return found


def test_one_stderr_line_per_retry_and_the_final_error_names_retry_after(serve):
    server = serve(reply(503, '{"error": {"code": "5030", "message": "busy"}}', [("Retry-After", "1")]))
    run = listing(server)
    assert run.code == 4, run
    assert server.count == 3  # 2 retries by default
    retries = retry_lines(run)
    assert len(retries) == 2, run
    for seconds, rest in retries:
        assert seconds == 1.0  # S17b: exactly the Retry-After, no jitter
        assert "503" in rest, rest
    lines = run.err.splitlines()
    assert len(lines) == 3 and lines[-1].startswith("error: "), run  # the retries, then one error
    assert "503" in lines[-1] and names_retry_after_1(lines[-1]), lines[-1]


def test_a_429_retry_then_success_prints_one_retry_line(serve):
    server = serve(reply(429, "", [("Retry-After", "1")]), reply(200, GOOD))
    run = listing(server)
    assert run.code == 0, run
    retries = retry_lines(run)
    assert len(retries) == 1 and retries[0][0] == 1.0 and "429" in retries[0][1], run
    assert run.err.splitlines() == [line for line in run.err.splitlines() if line.startswith("nexus_micro: retrying")]
    assert len(run.out.splitlines()) == 3  # the table as usual


def test_a_transport_error_retry_names_what_happened_and_a_jittered_wait(serve):
    server = serve(reset(), reset(), reply(200, GOOD))
    run = listing(server)
    assert run.code == 0, run
    retries = retry_lines(run)
    assert len(retries) == 2, run
    for n, (seconds, rest) in enumerate(retries, 1):
        assert 0 <= seconds <= min(8, 0.5 * 2 ** (n - 1)) + 0.05  # S17c full jitter (printed rounded)
        assert rest.strip(), "the line must name what happened"
    assert server.count == 3


def test_no_retry_line_without_a_retry(serve):
    server = serve(json_reply(403, {"error": {"code": "4030", "message": "no"}}))
    run = listing(server)
    assert run.code == 4 and retry_lines(run) == [], run


# ============================================================================ --deadline, --max-retries, ...

def test_max_retries_flag(serve):
    server = serve(reply(503, "", [("Retry-After", "0")]))
    run = listing(server, "--max-retries", "0")
    assert run.code == 4 and "ServerError" in run.err, run
    assert server.count == 1 and retry_lines(run) == []
    server3 = serve(reply(503, "", [("Retry-After", "0")]))
    run3 = listing(server3, "--max-retries", "3")
    assert run3.code == 4, run3
    assert server3.count == 4 and len(retry_lines(run3)) == 3


def test_deadline_flag_bounds_the_call(serve):
    # Without the deadline: 3 attempts of 5 s each. With it, the one attempt is cut and the
    # deadline leaves no time for a retry (S21b).
    server = serve(stall(30))
    run = cli("list", "--base-url", server.url, "--timeout", "5", "--deadline", "0.8")
    assert run.code == 5 and "Timeout" in run.err, run
    assert server.count == 1


def test_max_response_bytes_flag_and_exit_6_for_response_too_large(serve):
    server = serve(reply(200, GOOD))
    run = listing(server, "--max-response-bytes", "100")
    assert run.code == 6, run
    assert "ResponseTooLarge" in run.err and run.out == ""
    assert server.count == 1  # S17: not retried
    ok_server = serve(reply(200, GOOD))
    run_ok = listing(ok_server, "--max-response-bytes", str(len(GOOD.encode())), "--json", machine_output=True)
    assert run_ok.code == 0 and json.loads(run_ok.out) == CANONICAL, run_ok


def test_default_cap_is_10_mib_and_exit_6(serve):
    server = serve(head_then_stall(200, [("Content-Length", str(10 * 1024 * 1024 + 1))], seconds=5))
    run = listing(server)
    assert run.code == 6 and "ResponseTooLarge" in run.err, run
    assert server.count == 1


@pytest.mark.parametrize(
    "flag, value",
    [("--max-retries", "-1"), ("--max-retries", "two"), ("--max-response-bytes", "0"), ("--deadline", "0"),
     ("--deadline", "nan"), ("--timeout", "inf")],
)
def test_bad_option_values_are_usage_errors_and_nothing_is_sent(serve, flag, value):
    server = serve(reply(200, GOOD))
    run = listing(server, flag, value)
    assert run.code == 2, run
    assert "Traceback" not in run.err and run.out == ""
    assert server.count == 0


def exit_code_meaning(text: str, code: int) -> str:
    """What the first "exit codes" list in ``text`` says exit ``code`` means ("" if it is not there)."""
    text = " ".join(text.split())
    start = text.lower().find("exit codes")
    assert start >= 0, "no exit codes listed"
    window = text[start:start + 800]
    m = re.search(rf"(?<![\w.]){code}\s+(.*?)(?=[,;.]?\s+\d{{1,3}}\s|\.\s|$)", window)
    return m.group(1) if m else ""


def test_readme_lists_exit_code_6_for_response_too_large():
    meaning = exit_code_meaning((ROOT / "README.md").read_text("utf-8"), 6)
    assert "too large" in meaning.lower(), meaning


def test_help_lists_exit_code_6_for_response_too_large():
    run = cli("list", "--help")
    assert run.code == 0
    meaning = exit_code_meaning(run.out, 6)
    assert "too large" in meaning.lower(), run.out


# ============================================================================ --debug

def test_debug_prints_nexus_micro_debug_lines_never_the_token_nor_http_client_output(serve):
    echo = "%43" + TOKEN[1:]  # the token echoed with its first character percent-encoded (S22a)
    server = serve(reply(503, "", [("Retry-After", "0"), ("X-Request-Id", echo)]),
                   reply(200, GOOD, [("X-Request-Id", f"req-{echo}")]))
    run = listing(server, "--debug")  # cli() checks the token, as sent or percent-decoded
    assert run.code == 0, run
    lines = run.err.splitlines()
    url = server.url + "micro_deposits"
    calls = [line for line in lines if url in line]
    assert len(calls) >= 2, run  # one DEBUG line per attempt: method, URL, status
    assert any("503" in line for line in calls) and any("200" in line for line in calls), run
    assert not [line for line in lines if line.startswith(("send:", "reply:", "header:"))], run
    assert "md-session-token:" not in run.err.lower()  # http.client's dump of the request headers


def test_without_debug_there_are_no_debug_lines(serve):
    server = serve(reply(200, GOOD))
    run = listing(server)
    assert run.code == 0 and run.err == "", run


# ============================================================================ stdout closed early, Ctrl-C

def _many_records_body(n: int = 3000) -> str:
    return json.dumps({"micro_deposits": [{"micro_deposit": dict(RECORD_1, guid=f"MIC-{i:05d}")} for i in range(n)]})


@pytest.mark.parametrize("output", [["--jsonl"], ["--json"], []], ids=["jsonl", "json", "table"])
def test_stdout_closed_early_by_head_exits_141_silently(serve, output):
    """``... | head -1`` through a real pipe: the output (1-2 MB) cannot fit the pipe, so the CLI
    writes into a pipe whose reader has gone."""
    server = serve(reply(200, _many_records_body()))
    command = [sys.executable, "-m", "nexus_micro", "list", "--base-url", server.url, "--timeout", "5", *output]
    producer = subprocess.Popen(command, cwd=ROOT, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    head = subprocess.Popen(["head", "-1"], stdin=producer.stdout, stdout=subprocess.PIPE)
    producer.stdout.close()  # head holds the only read end now
    first, _ = head.communicate(timeout=30)
    err = producer.stderr.read()
    code = producer.wait(timeout=30)
    # 141 is what a shell shows either way: an exit status of 141, or death by SIGPIPE.
    assert code in (141, -signal.SIGPIPE), (code, err)
    assert err == b"", err
    if output == ["--jsonl"]:
        assert json.loads(first)["guid"] == "MIC-00000"
    elif output == ["--json"]:
        assert first.strip() == b"{"
    else:
        assert first.split()[:2] == [b"GUID", b"STATUS"]


def _popen_cli(*args: str) -> subprocess.Popen:
    """The CLI in a subprocess that takes SIGINT as a terminal's Ctrl-C does."""
    # A child inherits an ignored SIGINT (a test run started in the background by a shell without
    # job control) and Python then leaves it ignored: give the child a default disposition.
    previous = signal.getsignal(signal.SIGINT)
    if previous == signal.SIG_IGN and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return subprocess.Popen([sys.executable, "-m", "nexus_micro", *args], cwd=ROOT, env=cli_env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    finally:
        if previous == signal.SIG_IGN and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("waiting_on", ["a-stalled-response", "a-retry-wait"])
def test_ctrl_c_is_error_interrupted_exit_130_without_traceback(serve, waiting_on):
    if waiting_on == "a-stalled-response":
        server = serve(stall(30))
    else:
        server = serve(reply(503, "", [("Retry-After", "30")]))
    proc = _popen_cli("list", "--base-url", server.url, "--timeout", "20")
    try:
        ends = time.monotonic() + 15
        while server.count == 0 and time.monotonic() < ends and proc.poll() is None:
            time.sleep(0.02)
        assert server.count == 1, "the CLI never reached the server"
        time.sleep(0.3)  # into the wait: the read of the response, or the sleep before the retry
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    run = check_secrets(Run(proc.returncode, out, err))
    assert run.code == 130, run
    assert "Traceback" not in run.err and "KeyboardInterrupt" not in run.err, run
    lines = run.err.splitlines()
    assert lines and lines[-1] == "error: interrupted", run
    assert all(line.startswith("nexus_micro: retrying") for line in lines[:-1]), run
    assert run.out == ""


# ============================================================================ S22c: terminal escapes

# Everything S22c says must not reach a terminal raw (LF is the table's own line end).
UNSAFE = set(map(chr, range(0x20))) - {"\n"} | {"\x7f"} | set(map(chr, range(0x80, 0xA0))) | \
    {"\u061c", "\u200e", "\u200f"} | set(map(chr, range(0x202A, 0x202F))) | set(map(chr, range(0x2066, 0x206A)))
HOSTILE = {
    "guid": "MIC-1\x1b[31mRED\x1b[0m\x1b]0;pwned-title\x07",
    "status_name": "DEPOSITED\rVERIFIED",  # a CR would let the terminal overwrite the status
    "account_type_name": "CHECKING\x9b2J\x7f",
    "account_number": "33331234\x1b[2J",  # its last 4 characters, the ones shown, are an escape
    "routing_number": "\x1b[5m0910\x00\x08",
    "institution_name": "Bank\nMIC-FORGED  VERIFIED\u202eknaB\u2066x\u2069\x85\x0b\x0c\x1c\u200f\u061c",
}
HOSTILE_BODY = json.dumps({"micro_deposits": [{"micro_deposit": dict(RECORD_1, **HOSTILE)},
                                              {"micro_deposit": RECORD_2}]})


def raw_unsafe(text: str) -> list:
    return sorted({f"U+{ord(c):04X}" for c in text if c in UNSAFE})


def test_s22c_table_escapes_control_characters_and_cannot_be_forged(serve):
    server = serve(reply(200, HOSTILE_BODY))
    run = listing(server)
    assert run.code == 0, run
    assert raw_unsafe(run.out) == [], run
    lines = run.out.split("\n")
    assert lines[-1] == "" and len(lines) == 1 + 2 + 1, run  # header, one line per record, final LF
    header, first, second = lines[:3]
    assert first.startswith("MIC-1") and second.startswith("MIC-2"), run
    assert not any(line.lstrip().startswith("MIC-FORGED") for line in lines), run
    status_at = header.index("STATUS")
    assert first[status_at:].startswith("DEPOSITED") and second[status_at:].startswith("VERIFIED"), run
    assert "RED" in first and "pwned-title" in first  # escaped, not dropped


def test_s22c_json_and_jsonl_stay_exact(serve):
    server = serve(reply(200, HOSTILE_BODY))
    run = listing(server, "--json", machine_output=True)
    assert run.code == 0, run
    record = json.loads(run.out)["micro_deposits"][0]
    for field, value in HOSTILE.items():
        assert record[field] == value, field
    server2 = serve(reply(200, HOSTILE_BODY))
    run2 = listing(server2, "--jsonl", machine_output=True)
    assert run2.code == 0, run2
    lines = run2.out.split("\n")
    assert len(lines) == 3 and lines[-1] == "", run2  # one record a line: no raw LF or CR inside
    first = json.loads(lines[0])
    assert {f: first[f] for f in HOSTILE} == HOSTILE


@pytest.mark.parametrize(
    "responder",
    [
        json_reply(403, {"error": {"code": "\x1b[31m4030\x07", "message": "denied\r\nerror: VERIFIED \x1b]0;t\x07"
                                   "\u202eevil\x9b2J\x7f\x00"}}, [("X-Request-Id", "\x1b[2Jreq-\x9b1")]),
        # header values go out as latin-1 (as http.client reads them): controls up to U+00FF only
        reply(302, "", [("Location", "https://elsewhere.invalid/\x1b]0;pwned\x07\x1b[2J\x9b1m\x7f")]),
        reply(500, "oops\x1b[31m\r\nerror: fine\u2066\x85", content_type="text/plain"),
        json_reply(404, {"error": "not here\n\x1b[1Aerror: VERIFIED"}),
    ],
    ids=["code-message-request-id", "location", "plain-text-excerpt", "error-string"],
)
def test_s22c_error_text_from_the_server_is_escaped(serve, responder):
    server = serve(responder)
    run = listing(server)  # none of these statuses is retried (S17)
    assert run.code == 4, run
    assert raw_unsafe(run.err) == [], run
    lines = run.err.split("\n")
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1] == "", run  # one line


# ============================================================================ display width

def display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


CJK_NAMES = ["MX Bank", "三菱UFJ銀行", "みずほ銀行", "ＦＵＬＬ幅", "신한은행"]


def test_table_aligns_by_display_width(serve):
    records = [dict(RECORD_1, guid=f"MIC-{i}", institution_name=name, verified_at="2021-10-23T00:00:00Z")
               for i, name in enumerate(CJK_NAMES)]
    server = serve(reply(200, json.dumps({"micro_deposits": [{"micro_deposit": r} for r in records]})))
    run = listing(server)
    assert run.code == 0, run
    header, *rows = run.out.splitlines()
    assert len(rows) == len(CJK_NAMES)
    created_col = display_width(header[:header.index("CREATED")])
    verified_col = display_width(header[:header.index("VERIFIED")])
    for row, name in zip(rows, CJK_NAMES):
        assert name in row, row
        created_at = row.index("2021-09-01 18:29")
        verified_at = row.index("2021-10-23 00:00")
        assert display_width(row[:created_at]) == created_col, run
        assert display_width(row[:verified_at]) == verified_col, run


# ============================================================================ S22a: the token in a record

def test_s22a_a_record_echoing_the_token_does_not_show_it_in_the_table(serve):
    """S22a: the token never appears in command-line output; a hostile server may put it in a
    field the table shows. (The canonical --json/--jsonl output is exact data, S22c.)"""
    echoed = dict(RECORD_1, institution_name=f"echo {TOKEN}", guid=urllib.parse.quote(TOKEN, safe=""))
    server = serve(reply(200, json.dumps({"micro_deposits": [{"micro_deposit": echoed}]})))
    run = listing(server)  # cli() checks stdout for the token, as sent or percent-decoded
    assert run.code == 0, run
    assert len(run.out.splitlines()) == 2
