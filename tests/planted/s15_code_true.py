"""Planted bug (S15): filters the nested error code before the fallback, so a present but
unusable error.code (true, 4011.0, []) lets the top-level code through:
{"error": {"code": true}, "code": 4011} is read as code 4011 (session_expired) instead of none."""

import json

from nexus_micro_kit.adapters import nexus_micro as bundled
from tests.planted._base import body_of, with_body


def _usable(code: object) -> bool:
    return isinstance(code, str) or (isinstance(code, int) and not isinstance(code, bool))


def handle(message: dict) -> dict:
    if message.get("op") == "parse" and not 200 <= message["status"] <= 399:
        try:
            document = json.loads(body_of(message))
        except Exception:
            document = None
        error = document.get("error") if isinstance(document, dict) else None
        if isinstance(error, dict) and error.get("code") is not None and not _usable(error["code"]):
            del error["code"]  # "missing", so the top-level code is taken (the bug)
            message = with_body(message, json.dumps(document).encode("utf-8"))
    reply = bundled.handle(message)
    if message.get("op") == "start" and reply.get("ok"):
        reply["implementation"] = {"name": "planted-s15-code-true", "language": "python", "version": "0"}
    return reply
