"""Protocol v1 adapter for the bundled Python client `nexus_micro`.

In-process: `python -m nexus_micro_kit run --python conformance.adapters.nexus_micro:handle`.
Subprocess: `python -m nexus_micro_kit run --impl "python -m nexus_micro_kit.adapters.nexus_micro"`.
This is the only module of the kit that imports nexus_micro: the client is an implementation
under test, not the referee.
"""

from __future__ import annotations

import base64
import sys
import traceback

import nexus_micro

OPS = ["parse", "fetch"]


def _records(result) -> list[dict]:
    return [record.to_dict() for record in result]


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
        return {"seq": seq, "ok": False, "error": exc.category, "message": str(exc)[:500]}
    except Exception as exc:  # ValueError, RecursionError, ... escaping parse is a crash (S1)
        return _crashed(seq, exc)
    return {"seq": seq, "ok": True, "micro_deposits": _records(result)}


def fetch(message: dict) -> dict:
    """`fetch`: one nexus_micro.list_microdeposits call, default retry policy (S13-S22)."""
    seq = message["seq"]
    try:
        result = nexus_micro.list_microdeposits(
            message["token"], base_url=message["base_url"], timeout=message["timeout"],
            max_response_bytes=message["max_response_bytes"])
    except nexus_micro.NexusError as exc:
        return {"seq": seq, "ok": False, "error": exc.category, "message": str(exc)[:500]}
    except ValueError as exc:  # S13c, S13d: bad token or base URL, nothing sent
        return {"seq": seq, "ok": False, "error": "invalid_argument", "message": str(exc)[:500]}
    except Exception as exc:
        return _crashed(seq, exc)
    return {"seq": seq, "ok": True, "micro_deposits": _records(result)}


def handle(message: dict) -> dict:
    """One protocol v1 request -> its reply (start, parse, fetch, stop)."""
    seq = message.get("seq")
    op = message.get("op")
    if op == "start":
        if message.get("protocol") != 1:
            return {"seq": seq, "ok": False, "error": "unsupported_protocol"}
        return {"seq": seq, "ok": True, "ops": OPS,
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
