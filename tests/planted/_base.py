"""Helpers for planted adapters: wrap the bundled nexus_micro adapter, decode/rewrite bodies."""

from __future__ import annotations

import base64
import json
from typing import Any, Callable

from nexus_micro_kit.adapters import nexus_micro as bundled


def body_of(message: dict) -> bytes:
    return base64.b64decode(message["body_b64"])


def with_body(message: dict, body: bytes) -> dict:
    return {**message, "body_b64": base64.b64encode(body).decode("ascii")}


def items_of(message: dict) -> list[Any]:
    """The micro_deposits array of a parse request's body, or [] when it is not readable."""
    try:
        document = json.loads(body_of(message))
    except Exception:  # not JSON, too deep (RecursionError), ...: the bundled parser decides
        return []
    items = document.get("micro_deposits") if isinstance(document, dict) else None
    return items if isinstance(items, list) else []


def wrap(before: Callable[[dict], dict] | None = None,
         after: Callable[[dict], dict] | None = None, name: str = "planted") -> Callable[[dict], dict]:
    """A handle() that rewrites parse requests (`before`) and/or replies (`after`)."""

    def handle(message: dict) -> dict:
        if message.get("op") == "parse" and before is not None:
            message = before(message)
        reply = bundled.handle(message)
        if message.get("op") == "start" and reply.get("ok"):
            reply["implementation"] = {"name": name, "language": "python", "version": "0"}
        if message.get("op") == "parse" and reply.get("ok") and after is not None:
            reply = after(reply)
        return reply

    return handle


def map_records(function: Callable[[dict], None]) -> Callable[[dict], dict]:
    """An `after` that changes every record in place."""

    def after(reply: dict) -> dict:
        for record in reply["micro_deposits"]:
            function(record)
        return reply

    return after
