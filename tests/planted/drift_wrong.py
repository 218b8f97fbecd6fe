"""Planted bug (S11): when S9b and S9c both apply (no offset and 7 to 9 fraction digits), the
one note says truncated/S9c instead of assumed_utc/S9b, in lenient and strict mode alike."""

import re

from nexus_micro_kit.adapters import nexus_micro as bundled
from tests.planted._base import body_of

_NAIVE_LONG_FRACTION = re.compile(rb'T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{7,9}"')


def handle(message: dict) -> dict:
    reply = bundled.handle(message)
    if message.get("op") == "start" and reply.get("ok"):
        reply["implementation"] = {"name": "planted-drift-wrong", "language": "python", "version": "0"}
    drift = reply.get("drift") if message.get("op") == "parse" else None
    if isinstance(drift, list) and _NAIVE_LONG_FRACTION.search(body_of(message)):
        for note in drift:
            if note["action"] == "assumed_utc":
                note["action"], note["rule"] = "truncated", "S9c"
    return reply
