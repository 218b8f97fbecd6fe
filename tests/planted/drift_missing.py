"""Planted bug (S11): loses the last drift note of a response (records stay right). Seen only
by a run that judges drift lists: the adapter lists the `drift` feature."""

from tests.planted._base import wrap


def _after(reply: dict) -> dict:
    if reply.get("drift"):
        reply["drift"].pop()
    return reply


handle = wrap(after=_after, name="planted-drift-missing")
