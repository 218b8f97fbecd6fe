"""Planted bug (S1f): the depth limit counts containers instead of nesting: a body with more
than 64 arrays and objects in all is malformed_response, even when none is nested deeper than 64
(300 items without a microdeposit beside a value of depth 64, say)."""

from nexus_micro_kit.adapters import nexus_micro as bundled
from tests.planted._base import body_of


def _containers(body: bytes) -> int:
    """Arrays and objects in the body, outside strings."""
    count, in_string, escaped = 0, False, False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            count += 1
    return count


def handle(message: dict) -> dict:
    if message.get("op") == "parse" and 200 <= message["status"] <= 299 and _containers(body_of(message)) > 64:
        return {"seq": message["seq"], "ok": False, "error": "malformed_response", "message": "too deep (S1f)"}
    reply = bundled.handle(message)
    if message.get("op") == "start" and reply.get("ok"):
        reply["implementation"] = {"name": "planted-depth-containers", "language": "python", "version": "0"}
    return reply
