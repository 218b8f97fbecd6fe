"""Portability self-check: run by each CPython found (tests/test_portability.py) with `python -I`.

Prints one JSON line per case: the canonical output or the error category. Only the standard
library and nexus_micro.py (found in the current directory) may be used here.
"""

import json
import os
import sys

sys.path.insert(0, os.getcwd())  # -I leaves the current directory off sys.path
import nexus_micro as nm  # noqa: E402

SEED = {
    "account_name": "My Test Account", "account_number": "333312345", "account_type": 1,
    "account_type_name": "CHECKING", "created_at": "2021-09-01T18:29:06.000Z", "email": "example@example.com",
    "error_code": None, "error_message": None, "first_name": "Josh",
    "guid": "MIC-09ba578e-8448-4f7f-89e1-b62ff2517edb", "institution_name": "MX Bank", "last_name": "James",
    "routing_number": 91000019, "status": 1, "status_name": "REQUESTED",
    "updated_at": "2021-09-01T18:29:07.000Z", "verified_at": "2021-09-01T18:29:07.000Z",
}  # fmt: skip


def wrap(record):
    return json.dumps({"micro_deposits": [{"micro_deposit": record}]}).encode()


CASES = [
    ("seed", wrap(SEED), False),
    ("seed-strict", wrap(SEED), True),
    ("offset", wrap({"created_at": "2021-10-22T21:44:38.000+05:30"}), False),
    ("nanos", wrap({"created_at": "2021-10-22T21:44:38.123456789Z"}), False),
    ("no-offset", wrap({"updated_at": "2021-10-22T21:44:38"}), False),
    ("week-date", wrap({"created_at": "2021-W35-3T18:29:06Z"}), False),
    ("short-time", wrap({"created_at": "2021-09-01T18Z"}), False),
    ("year-999", wrap({"created_at": "0999-01-02T03:04:05Z"}), False),
    ("arabic-digits", wrap({"routing_number": "\u0660\u0669\u0661", "status": "\u0661"}), False),
    ("bool-status", wrap({"status": True, "account_type": 2.0}), False),
    ("big-int", b'{"micro_deposits": [{"micro_deposit": {"account_number": 12345678901234567890}}]}', False),
    ("nan", b'{"micro_deposits": [], "x": NaN}', False),
    ("huge", b'{"micro_deposits": [], "x": 1e400}', False),
    ("digits-4301", b'{"x": ' + b"1" * 4301 + b"}", False),
    ("surrogate", b'{"x": "\\ud800"}', False),
    ("deep", b"{\"x\": " + b"[" * 5000 + b"]" * 5000 + b"}", False),
    ("bom", b"\xef\xbb\xbf" + wrap({"guid": "g"}), False),
    ("utf16", '{"micro_deposits": []}'.encode("utf-16"), False),
    ("skip", b'{"micro_deposits": [1, {"micro_deposit": null}]}', False),
]

# S9 by the fast path (datetime.fromisoformat on 3.11+) and by the portable one must agree on
# every string, and every interpreter must give the same results: mutate valid timestamps at
# each position (replace, delete, insert) with the characters that matter to S9.
BASES = [
    "2021-09-01T18:29:06.000Z", "2021-10-22T21:44:38.000+05:30", "2021-02-28T23:59:59Z",
    "2024-02-29T00:00:00-00:00", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",
    "2021-09-01t18:29:06.123456z", "2021-04-30T12:00:00.5+23:59", "2100-02-28T00:00:00.123456-12:00",
]  # fmt: skip
CHARS = "0123456789-:Tt .Zz+,W\u0661"
strings = set(BASES)
for base in BASES:
    for i in range(len(base) + 1):
        strings.add(base[:i] + base[i + 1 :])
        for c in CHARS:
            strings.add(base[:i] + c + base[i + 1 :])
            strings.add(base[:i] + c + base[i:])
disagree, outputs = [], []
for text in sorted(strings):
    slow = nm._parse_timestamp(text)[0]
    canonical = nm._canonical_timestamp(text)
    if nm._to_datetime(text) != slow or canonical != (slow, None if slow is None else nm._format_timestamp(slow)):
        disagree.append(text)
    body = json.dumps({"micro_deposits": [{"micro_deposit": {"created_at": text}}]}).encode()
    if nm.parse_microdeposits(body)[0].to_dict()["created_at"] != canonical[1]:
        disagree.append("to_dict: " + text)
    outputs.append(canonical[1])
print(json.dumps({"case": "timestamp-differential", "result": {"strings": len(strings), "disagree": disagree[:20]}}))
print(json.dumps({"case": "timestamp-canonical", "result": outputs}))

for name, body, strict in CASES:
    try:
        out = nm.parse_microdeposits(body, strict=strict).to_dict()
    except nm.NexusError as exc:
        out = {"error": exc.category}
    print(json.dumps({"case": name, "result": out}, sort_keys=True))
print(json.dumps({"case": "version", "result": "%d.%d" % sys.version_info[:2]}))
