"""Protocol v1 (revision 2) adapter for the bundled Python client `nexus_micro`.

In-process: `python -m nexus_micro_kit run --python nexus_micro_kit.adapters.nexus_micro:handle`.
Subprocess: `python -m nexus_micro_kit run --impl "python -m nexus_micro_kit.adapters.nexus_micro"`.
This is the only module of the kit that imports nexus_micro: the client is an implementation
under test, not the referee. It supports every optional feature: drift notes (S11), a deadline
(S21b) and a token provider (S18).
"""

from __future__ import annotations

import base64
import sys
import traceback
from typing import Any, Iterable

import nexus_micro

OPS = ["parse", "fetch"]
FEATURES = ["drift", "deadline", "token_provider"]


def _records(result: Iterable[Any]) -> list[dict]:
    return [record.to_dict() for record in result]


def _note(drift: Any) -> dict:
    """The canonical note of S11: Drift.to_dict(), or built from its attributes on a client
    that predates it."""
    to_dict = getattr(drift, "to_dict", None)
    if to_dict is not None:
        return to_dict()
    return {"index": drift.index, "field": drift.field, "type": drift.got_type, "action": drift.action,
            "rule": drift.rule}


def _ok(seq: int, result: Any) -> dict:
    return {"seq": seq, "ok": True, "micro_deposits": _records(result), "drift": [_note(d) for d in result.drift]}


def _error(seq: int, exc: Exception, category: str) -> dict:
    reply = {"seq": seq, "ok": False, "error": category, "message": str(exc)[:500]}
    if isinstance(exc, nexus_micro.SchemaDrift):
        reply["drift"] = [_note(exc.drift)]  # the one note strict mode raised
    return reply


def _crashed(seq: int, exc: BaseException) -> dict:
    """An exception that is not a documented error: the implementation crashed."""
    return {"seq": seq, "errored": True, "message": f"{type(exc).__name__}: {exc}"[:500],
            "traceback": traceback.format_exc()[-4000:]}


def parse(message: dict) -> dict:
    """`parse`: nexus_micro.parse_response on the exact body bytes (S1-S12, S14, S15)."""
    seq = message["seq"]
    body = base64.b64decode(message["body_b64"], validate=True)
    headers = [(name, value) for name, value in message["headers"]]
    try:
        result = nexus_micro.parse_response(message["status"], headers, body, strict=message["strict"])
    except nexus_micro.NexusError as exc:
        return _error(seq, exc, exc.category)
    except Exception as exc:  # ValueError, RecursionError, ... escaping parse is a crash (S1)
        return _crashed(seq, exc)
    return _ok(seq, result)


def fetch(message: dict) -> dict:
    """`fetch`: one nexus_micro.list_microdeposits call, default retry policy (S13-S22), with the
    request's deadline (S21b) and a token provider returning its refresh_token (S18)."""
    seq = message["seq"]
    options: dict[str, Any] = {"base_url": message["base_url"], "timeout": message["timeout"],
                               "max_response_bytes": message["max_response_bytes"]}
    if "deadline" in message:
        options["deadline"] = message["deadline"]
    if "refresh_token" in message:
        refresh = message["refresh_token"]
        options["token_provider"] = lambda: refresh
    try:
        result = nexus_micro.list_microdeposits(message["token"], **options)
    except nexus_micro.NexusError as exc:
        return _error(seq, exc, exc.category)
    except ValueError as exc:  # S13c, S13d on a client without InvalidArgument: nothing sent
        return _error(seq, exc, "invalid_argument")
    except Exception as exc:
        return _crashed(seq, exc)
    return _ok(seq, result)


def handle(message: dict) -> dict:
    """One protocol request -> its reply (start, parse, fetch, stop)."""
    seq = message.get("seq")
    op = message.get("op")
    if op == "start":
        if message.get("protocol") != 1:
            return {"seq": seq, "ok": False, "error": "unsupported_protocol"}
        return {"seq": seq, "ok": True, "ops": OPS, "features": FEATURES,
                "implementation": {"name": "nexus-micro", "language": "python",
                                   "version": str(nexus_micro.__version__)}}
    if op == "parse":
        return parse(message)
    if op == "fetch":
        return fetch(message)
    if op == "stop":
        return {"seq": seq, "ok": True}
    return {"seq": seq, "skipped": True, "reason": f"unknown op {op!r}"}


if __name__ == "__main__":
    from nexus_micro_kit.adapters import run_stdio

    sys.exit(run_stdio(handle))
