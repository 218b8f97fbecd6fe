"""Planted bug (S5b): compares field names case-insensitively: a micro_deposit that sends only
"Guid" (or "STATUS") gets guid (status) filled from it, instead of guid null and "Guid" an extra
field."""

import json

from nexus_micro_kit.oracle import FIELDS
from tests.planted._base import body_of, with_body, wrap


def _before(message: dict) -> dict:
    try:
        document = json.loads(body_of(message))
    except Exception:  # not JSON (or too deep): nothing to rename, the bundled parser decides
        return message
    items = document.get("micro_deposits") if isinstance(document, dict) else None
    renamed = False
    for item in items if isinstance(items, list) else []:
        record = item.get("micro_deposit") if isinstance(item, dict) else None
        if not isinstance(record, dict):
            continue
        for name in list(record):
            lower = name.lower()
            if name not in FIELDS and lower in FIELDS and lower not in record:
                record[lower] = record.pop(name)
                renamed = True
    return with_body(message, json.dumps(document).encode("utf-8")) if renamed else message


handle = wrap(before=_before, name="planted-case-insensitive")
