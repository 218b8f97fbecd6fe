"""``python -m nexus_micro list`` end to end, in a subprocess, against servers on 127.0.0.1.

Exit codes (the CLI's epilog): 0 ok, 2 usage, 3 unauthorized or session expired, 4 other HTTP
error (and redirects), 5 transport error or timeout, 6 malformed response or drift in --strict.
Every run checks that neither stdout nor stderr holds the session token, and that nothing but
the canonical --json/--jsonl output holds the full account number (S22).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from _servers import SAMPLE_RECORD, by_token, free_port, json_reply, reply, serve, stall  # noqa: F401  (serve: fixture)

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
    def __init__(self, proc: subprocess.CompletedProcess) -> None:
        self.code = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    def __repr__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


def cli(*args: str, token: str | None = TOKEN, machine_output: bool = False, timeout: float = 20, **env_extra: str) -> Run:
    env = {k: v for k, v in os.environ.items() if k != "MD_SESSION_TOKEN" and not k.lower().endswith("_proxy")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONIOENCODING"] = "utf-8"
    env.pop("PYTHONWARNINGS", None)
    if token is not None:
        env["MD_SESSION_TOKEN"] = token
    env.update(env_extra)
    proc = subprocess.run(
        [sys.executable, "-m", "nexus_micro", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=timeout,
    )
    run = Run(proc)
    # S22: never the token, in any run; the full account number only in canonical data output
    assert TOKEN not in run.out and TOKEN not in run.err, run
    assert ACCOUNT not in run.err, run
    if not machine_output:
        assert ACCOUNT not in run.out, run
    for name in NAMES:
        assert name not in run.err, run
    return run


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
    for flag in ("--token-file", "--base-url", "--production", "--timeout", "--strict", "--json", "--jsonl", "--verbose"):
        assert flag in run.out
    assert "exit codes" in run.out


def test_version():
    import nexus_micro

    run = cli("--version")
    assert run.code == 0, run
    assert run.out.strip() == f"nexus-micro {nexus_micro.__version__}"
