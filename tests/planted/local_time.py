"""Planted bug (S9b): reads a timestamp without Z or offset as LOCAL time (as C's mktime or a
naive datetime's .timestamp() do) instead of UTC. Under TZ=UTC it would pass; the kit runs every
implementation under America/St_Johns (UTC-03:30, -02:30 in summer), so it fails everywhere."""

from __future__ import annotations

import time

from tests.planted._base import wrap

TIMESTAMPS = ("created_at", "updated_at", "verified_at")


def _as_local(canonical: str) -> str:
    """'YYYY-MM-DDTHH:MM:SS.ffffffZ' read as local wall time, back in canonical UTC form."""
    fields = (int(canonical[0:4]), int(canonical[5:7]), int(canonical[8:10]), int(canonical[11:13]),
              int(canonical[14:16]), int(canonical[17:19]), 0, 0, -1)
    try:
        utc = time.gmtime(time.mktime(fields))
    except (OverflowError, ValueError):
        return canonical  # outside what the C library handles: left alone
    if not 1 <= utc.tm_year <= 9999:
        return canonical
    return time.strftime("%Y-%m-%dT%H:%M:%S", utc).rjust(19, "0") + canonical[19:]


def _after(reply: dict) -> dict:
    # The drift notes say which values had no offset (assumed_utc); a skipped item (S3) has a
    # note too, so item index - skipped items before it = record index.
    notes = reply.get("drift", [])
    for note in notes:
        if note["action"] == "assumed_utc":
            skipped = sum(1 for n in notes if n["rule"] == "S3" and n["index"] < note["index"])
            record = reply["micro_deposits"][note["index"] - skipped]
            if isinstance(record.get(note["field"]), str):
                record[note["field"]] = _as_local(record[note["field"]])
    return reply


handle = wrap(after=_after, name="planted-local-time")
