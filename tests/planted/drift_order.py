"""Planted bug (S11): reports a response's drift notes in reverse order (newest first) instead
of by item index, then spec field order. Records stay right."""

from tests.planted._base import wrap


def _after(reply: dict) -> dict:
    if reply.get("drift"):
        reply["drift"].reverse()
    return reply


handle = wrap(after=_after, name="planted-drift-order")
