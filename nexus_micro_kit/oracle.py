"""The kit's oracle: the expected outcome of ``GET /micro_deposits`` for any response.

This module is a second, independent reading of ``spec/SEMANTICS.md`` (rules S1-S12, S14, S15).
It never imports the implementation under test. It is written plainly, for correctness; speed
does not matter. It has its own JSON parser (so that S1's exact rules, depth included, are
checked without relying on ``json.loads`` or on the recursion limit).

Public:

- ``expect_parse(status, headers, body, strict) -> dict``
- ``canonical_equal(expected, actual) -> bool``
- ``first_difference(expected, actual) -> str | None``
- ``FIELD_RULES``: field name (and ``"extra"``) -> rule ids that govern it (S5 table).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
from decimal import Decimal
from fractions import Fraction

__all__ = [
    "FIELDS",
    "FIELD_RULES",
    "MAX_DEPTH",
    "MAX_INT_DIGITS",
    "Malformed",
    "canonical_equal",
    "error_code",
    "expect_parse",
    "first_difference",
    "parse_json",
]

# --------------------------------------------------------------------------------------------
# S5: the 17 fields in spec order, and the rules that govern each one.

FIELDS = (
    "account_name",
    "account_number",
    "account_type",
    "account_type_name",
    "created_at",
    "email",
    "error_code",
    "error_message",
    "first_name",
    "guid",
    "institution_name",
    "last_name",
    "routing_number",
    "status",
    "status_name",
    "updated_at",
    "verified_at",
)

_KIND = {
    "account_type": "integer",
    "status": "integer",
    "created_at": "timestamp",
    "updated_at": "timestamp",
    "verified_at": "timestamp",
    "routing_number": "routing",
}  # every other field is "string"

FIELD_RULES: dict[str, list[str]] = {
    "account_name": ["S6"],
    "account_number": ["S6"],
    "account_type": ["S8", "S10"],
    "account_type_name": ["S6", "S10"],
    "created_at": ["S9"],
    "email": ["S6"],
    "error_code": ["S6"],
    "error_message": ["S6"],
    "first_name": ["S6"],
    "guid": ["S6"],
    "institution_name": ["S6"],
    "last_name": ["S6"],
    "routing_number": ["S7"],
    "status": ["S8", "S10"],
    "status_name": ["S6", "S10"],
    "updated_at": ["S9"],
    "verified_at": ["S9"],
    "extra": ["S5b"],
}

# S10
STATUS_NAMES = {
    0: "INITIATED",
    1: "REQUESTED",
    2: "DEPOSITED",
    3: "VERIFIED",
    4: "ERRORED",
    5: "DENIED",
    6: "PREVENTED",
    7: "CONFLICTED",
    8: "REJECTED",
    9: "PREINITIATED",
}
ACCOUNT_TYPE_NAMES = {1: "CHECKING", 2: "SAVINGS"}

MAX_DEPTH = 64  # S1f
MAX_INT_DIGITS = 4300  # S1d

_ASCII_DIGITS = frozenset("0123456789")


def _is_ascii_digits(s: str) -> bool:
    return len(s) > 0 and all(c in _ASCII_DIGITS for c in s)


# --------------------------------------------------------------------------------------------
# S1: bytes -> one JSON value, by hand.


class Malformed(Exception):
    """An S1 (or S2/S1h) violation. ``rule`` is the rule id that decided it."""

    def __init__(self, rule: str, message: str):
        super().__init__(f"{rule}: {message}")
        self.rule = rule
        self.message = message


_WS = " \t\n\r"
_PLAIN_RUN = re.compile(r'[^"\\\x00-\x1f]+')
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")
_SIMPLE_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class _Parser:
    def __init__(self, text: str):
        self.s = text
        self.n = len(text)
        self.i = 0
        self.duplicates = False

    def fail(self, rule: str, what: str):
        raise Malformed(rule, f"{what} at character {self.i}")

    def skip_ws(self):
        s, n, i = self.s, self.n, self.i
        while i < n and s[i] in _WS:
            i += 1
        self.i = i

    def document(self):
        self.skip_ws()
        if self.i >= self.n:
            self.fail("S1c", "empty body (no JSON value)")
        value = self.value(1)
        self.skip_ws()
        if self.i != self.n:
            self.fail("S1c", "trailing data after the JSON value")
        return value

    def value(self, depth: int):
        if self.i >= self.n:
            self.fail("S1c", "unexpected end of input")
        c = self.s[self.i]
        if c == "{" or c == "[":
            if depth > MAX_DEPTH:
                self.fail("S1f", f"array or object at depth {depth} > {MAX_DEPTH}")
            return self.obj(depth) if c == "{" else self.arr(depth)
        if c == '"':
            return self.string()
        if c == "-" or c in _ASCII_DIGITS:
            return self.number()
        for literal, v in (("true", True), ("false", False), ("null", None)):
            if self.s.startswith(literal, self.i):
                self.i += len(literal)
                return v
        for literal in ("NaN", "Infinity", "-Infinity"):
            if self.s.startswith(literal, self.i):
                self.fail("S1c", f"{literal} is not JSON")
        self.fail("S1c", f"unexpected character {c!r}")

    def obj(self, depth: int):
        self.i += 1  # '{'
        out: dict = {}
        self.skip_ws()
        if self.i < self.n and self.s[self.i] == "}":
            self.i += 1
            return out
        while True:
            self.skip_ws()
            if self.i >= self.n or self.s[self.i] != '"':
                self.fail("S1c", "expected a member name")
            key = self.string()
            self.skip_ws()
            if self.i >= self.n or self.s[self.i] != ":":
                self.fail("S1c", "expected ':'")
            self.i += 1
            self.skip_ws()
            v = self.value(depth + 1)
            if key in out:
                self.duplicates = True  # S1g: last value wins, first position kept
            out[key] = v
            self.skip_ws()
            if self.i >= self.n:
                self.fail("S1c", "unterminated object")
            c = self.s[self.i]
            self.i += 1
            if c == "}":
                return out
            if c != ",":
                self.i -= 1
                self.fail("S1c", "expected ',' or '}'")

    def arr(self, depth: int):
        self.i += 1  # '['
        out: list = []
        self.skip_ws()
        if self.i < self.n and self.s[self.i] == "]":
            self.i += 1
            return out
        while True:
            self.skip_ws()
            out.append(self.value(depth + 1))
            self.skip_ws()
            if self.i >= self.n:
                self.fail("S1c", "unterminated array")
            c = self.s[self.i]
            self.i += 1
            if c == "]":
                return out
            if c != ",":
                self.i -= 1
                self.fail("S1c", "expected ',' or ']'")

    def _hex4(self) -> int:
        # self.i points just after "\u"
        m = _HEX4.match(self.s, self.i)
        if not m:
            self.fail("S1c", "bad \\u escape")
        self.i = m.end()
        return int(m.group(0), 16)

    def string(self) -> str:
        s = self.s
        self.i += 1  # opening quote
        parts = []
        while True:
            m = _PLAIN_RUN.match(s, self.i)
            if m:
                parts.append(m.group(0))
                self.i = m.end()
            if self.i >= self.n:
                self.fail("S1c", "unterminated string")
            c = s[self.i]
            if c == '"':
                self.i += 1
                return "".join(parts)
            if c != "\\":
                self.fail("S1c", "unescaped control character in string")
            # an escape
            if self.i + 1 >= self.n:
                self.fail("S1c", "unterminated escape")
            e = s[self.i + 1]
            if e in _SIMPLE_ESCAPES:
                parts.append(_SIMPLE_ESCAPES[e])
                self.i += 2
                continue
            if e != "u":
                self.fail("S1c", f"bad escape \\{e}")
            self.i += 2
            cp = self._hex4()
            if 0xDC00 <= cp <= 0xDFFF:
                self.fail("S1e", "low surrogate escape without a high one before it")
            if 0xD800 <= cp <= 0xDBFF:
                if not s.startswith("\\u", self.i):
                    self.fail("S1e", "high surrogate escape not followed by a low one")
                self.i += 2
                low = self._hex4()
                if not (0xDC00 <= low <= 0xDFFF):
                    self.fail("S1e", "high surrogate escape not followed by a low one")
                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00)
            parts.append(chr(cp))

    def number(self):
        m = _NUMBER.match(self.s, self.i)
        if not m:
            self.fail("S1c", "bad number")
        tok = m.group(0)
        self.i = m.end()
        if m.group(1) is not None or m.group(2) is not None:
            v = float(tok)  # correctly rounded, to nearest
            if math.isinf(v):
                self.fail("S1d", "number overflows a double")
            return v
        digits = tok[1:] if tok.startswith("-") else tok
        if len(digits) > MAX_INT_DIGITS:
            self.fail("S1d", f"integer with {len(digits)} digits > {MAX_INT_DIGITS}")
        return _int_from_digits(tok)


def _int_from_digits(tok: str) -> int:
    """int(tok) for up to 4300 digits, independent of sys.set_int_max_str_digits."""
    neg = tok.startswith("-")
    digits = tok[1:] if neg else tok
    v = 0
    # chunks of 18 digits keep this exact and reasonably fast
    for k in range(0, len(digits), 18):
        chunk = digits[k : k + 18]
        v = v * (10 ** len(chunk)) + int(chunk)
    return -v if neg else v


def parse_json(body: bytes) -> tuple[object, dict]:
    """S1a-S1g: body bytes -> (value, facts). Raises ``Malformed``.

    ``facts`` has ``bom`` (a BOM was removed) and ``duplicates`` (some object had a repeated
    member name).
    """
    if not isinstance(body, (bytes, bytearray)):
        raise TypeError("body must be bytes")
    body = bytes(body)
    bom = body.startswith(b"\xef\xbb\xbf")
    if bom:
        body = body[3:]
    try:
        text = body.decode("utf-8", errors="strict")  # RFC 3629 strict in CPython
    except UnicodeDecodeError as exc:
        raise Malformed("S1a", f"invalid UTF-8 at byte {exc.start}") from None
    p = _Parser(text)
    value = p.document()
    return value, {"bom": bom, "duplicates": p.duplicates}


def decimal_str(n: int) -> str:
    """S6: decimal representation of an integer, independent of the int/str digit limit."""
    if n == 0:
        return "0"
    neg = n < 0
    n = -n if neg else n
    chunks = []
    while n:
        n, r = divmod(n, 10**18)
        chunks.append(r)
    out = str(chunks[-1]) + "".join(f"{c:018d}" for c in reversed(chunks[:-1]))
    return "-" + out if neg else out


def _json_type(v) -> str:
    if v is None:
        return "null"
    if v is True or v is False:
        return "boolean"
    if type(v) is int:
        return "integer"
    if type(v) is float:
        return "number"
    if type(v) is str:
        return "string"
    if type(v) is list:
        return "array"
    if type(v) is dict:
        return "object"
    raise TypeError(f"not a parsed JSON value: {type(v).__name__}")


# --------------------------------------------------------------------------------------------
# S6-S9: one field -> (value, note or None). A note is (action, rule).


def _string_field(v):
    t = _json_type(v)
    if t == "string":
        return v, None
    if t == "integer":
        return decimal_str(v), ("coerced", "S6")
    return None, ("nulled", "S6")


def _routing_field(v):
    t = _json_type(v)
    if t == "string":
        if _is_ascii_digits(v) and len(v) < 9:
            return v.rjust(9, "0"), ("padded", "S7")
        return v, None
    if t == "integer":
        s = decimal_str(v)
        if 0 <= v < 100000000:
            return s.rjust(9, "0"), ("padded", "S7")
        return s, ("coerced", "S7")
    return None, ("nulled", "S7")


def _integer_field(v):
    t = _json_type(v)
    if t == "integer":
        return v, None
    if t == "number":
        if v == math.floor(v):
            return int(Fraction(v)), ("coerced", "S8")  # exact: 1e20 -> 100000000000000000000
        return None, ("nulled", "S8")
    if t == "string":
        if _is_ascii_digits(v) and len(v) <= MAX_INT_DIGITS:
            return _int_from_digits(v), ("coerced", "S8")
        return None, ("nulled", "S8")
    return None, ("nulled", "S8")  # boolean, array, object


_TS = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]{1,9}))?"
    r"(Z|z|[+-][0-9]{2}:[0-9]{2})?"
)


def _days_in_month(y: int, m: int) -> int:
    if m == 2:
        leap = (y % 4 == 0 and y % 100 != 0) or y % 400 == 0
        return 29 if leap else 28
    return 30 if m in (4, 6, 9, 11) else 31


_MIN_ORD = _dt.date(1, 1, 1).toordinal()
_MAX_ORD = _dt.date(9999, 12, 31).toordinal()


def _timestamp_field(v):
    """S9. Returns (value, note) where note is (action, rule, extra_rules)."""
    if _json_type(v) != "string":
        return None, ("nulled", "S9e")
    m = _TS.fullmatch(v)  # fullmatch: no leading/trailing characters, no trailing newline
    if not m:
        return None, ("nulled", "S9e")
    y, mo, d, hh, mi, ss = (int(g) for g in m.groups()[:6])  # ASCII digits only (regex [0-9])
    frac, zone = m.group(7), m.group(8)
    if not (1 <= y <= 9999 and 1 <= mo <= 12 and 1 <= d <= _days_in_month(y, mo)):
        return None, ("nulled", "S9e")
    if not (hh <= 23 and mi <= 59 and ss <= 59):
        return None, ("nulled", "S9e")
    offset_minutes = 0
    if zone is not None and zone not in ("Z", "z"):
        oh, om = int(zone[1:3]), int(zone[4:6])
        if not (oh <= 23 and om <= 59):
            return None, ("nulled", "S9e")
        offset_minutes = (oh * 60 + om) * (1 if zone[0] == "+" else -1)
    # minutes since day 0, then subtract the offset (S9a)
    ordinal = _dt.date(y, mo, d).toordinal()
    total = ordinal * 1440 + hh * 60 + mi - offset_minutes
    ordinal, minute_of_day = divmod(total, 1440)
    rules = []
    if zone is None:
        rules.append("S9b")
    if frac is not None and len(frac) > 6:
        rules.append("S9c")
    if not (_MIN_ORD <= ordinal <= _MAX_ORD):
        return None, ("nulled", "S9d")
    date = _dt.date.fromordinal(ordinal)
    micro = (frac or "")[:6].ljust(6, "0")
    out = "%04d-%02d-%02dT%02d:%02d:%02d.%sZ" % (
        date.year,
        date.month,
        date.day,
        minute_of_day // 60,
        minute_of_day % 60,
        ss,
        micro,
    )
    if not rules:
        return out, None
    # S9b and S9c together: one note for the field (SEMANTICS.md S9). Reading chosen here:
    # the note carries the first of them (S9b, "assumed_utc"); both ids are listed in rules.
    action = "assumed_utc" if rules[0] == "S9b" else "truncated"
    return out, (action, rules[0], rules[1:])


# --------------------------------------------------------------------------------------------
# S2-S12: a parsed document -> records + drift notes


def _add(rules: list, *ids):
    for r in ids:
        if r not in rules:
            rules.append(r)


def _records(doc: dict, rules: list):
    """Returns (records, notes). Raises Malformed for S2."""
    notes = []
    if "micro_deposits" not in doc or doc["micro_deposits"] is None:
        _add(rules, "S2")
        return [], notes
    items = doc["micro_deposits"]
    if type(items) is not list:
        raise Malformed("S2", f"micro_deposits is {_json_type(items)}, not an array")
    if any(k != "micro_deposits" for k in doc):
        _add(rules, "S2")
    records = []
    for index, item in enumerate(items):
        md = item.get("micro_deposit") if type(item) is dict else None
        if type(md) is not dict:
            # S3: skip, one note with field null. The note's type: the type of the item when it
            # is not an object, else the type of its micro_deposit member (null when missing).
            t = _json_type(md) if type(item) is dict else _json_type(item)
            notes.append({"index": index, "field": None, "type": t, "action": "skipped", "rule": "S3"})
            _add(rules, "S3")
            continue
        if any(k != "micro_deposit" for k in item):
            _add(rules, "S3")
        rec = {}
        for field in FIELDS:
            v = md.get(field)
            if v is None:  # S5a: missing or null -> null, not drift
                rec[field] = None
                _add(rules, "S5a")
                continue
            kind = _KIND.get(field, "string")
            extra_rules = []
            if kind == "string":
                value, note = _string_field(v)
            elif kind == "routing":
                value, note = _routing_field(v)
            elif kind == "integer":
                value, note = _integer_field(v)
            else:
                value, note = _timestamp_field(v)
                if value is not None and _TS.fullmatch(v).group(8) not in (None, "Z", "z"):
                    _add(rules, "S9a")  # converted from an offset to UTC, not drift
                if note is not None and len(note) == 3:
                    extra_rules = note[2]
            rec[field] = value
            if note is not None:
                action, rule = note[0], note[1]
                notes.append({"index": index, "field": field, "type": _json_type(v), "action": action, "rule": rule})
                _add(rules, rule, *extra_rules)
        rec["extra"] = {k: v for k, v in md.items() if k not in FIELDS}
        if rec["extra"]:
            _add(rules, "S5b")
        # S10: unknown enum values are kept (informational rule id only)
        if (type(rec["status"]) is int and rec["status"] not in STATUS_NAMES) or (
            type(rec["account_type"]) is int and rec["account_type"] not in ACCOUNT_TYPE_NAMES
        ) or (rec["status_name"] is not None and rec["status_name"] not in STATUS_NAMES.values()) or (
            rec["account_type_name"] is not None and rec["account_type_name"] not in ACCOUNT_TYPE_NAMES.values()
        ):
            _add(rules, "S10")
        # S5d: disagreeing fields are reported as they came (informational rule id only)
        if (
            (type(rec["status"]) is int and rec["status"] in STATUS_NAMES and rec["status_name"] is not None
             and STATUS_NAMES[rec["status"]] != rec["status_name"])
            or (type(rec["account_type"]) is int and rec["account_type"] in ACCOUNT_TYPE_NAMES
                and rec["account_type_name"] is not None
                and ACCOUNT_TYPE_NAMES[rec["account_type"]] != rec["account_type_name"])
            or (rec["verified_at"] is not None and rec["status_name"] != "VERIFIED")
        ):
            _add(rules, "S5d")
        records.append(rec)
    # S11: notes are in order of item index, then spec field order (a skipped item's note has
    # no field and comes first for its index; there is only one note for such an item anyway).
    return records, notes


def _parse_2xx(body: bytes, strict: bool) -> dict:
    rules: list = []
    try:
        doc, facts = parse_json(body)
        if facts["bom"]:
            _add(rules, "S1a")
        if facts["duplicates"]:
            _add(rules, "S1g")
        if type(doc) is not dict:
            raise Malformed("S1h", f"top-level value is {_json_type(doc)}, not an object")
        records, notes = _records(doc, rules)
    except Malformed as exc:
        return {"ok": False, "error": "malformed_response", "rules": [exc.rule], "message": exc.message}
    if notes:
        _add(rules, "S11")
        if strict:
            first = notes[0]
            return {
                "ok": False,
                "error": "schema_drift",
                "rules": [first["rule"], "S11"],
                "message": f"item {first['index']} field {first['field']}: {first['action']} ({first['rule']})",
                "drift": [first],
            }
    _add(rules, "S12")
    return {"ok": True, "micro_deposits": records, "rules": rules, "drift": notes}


# --------------------------------------------------------------------------------------------
# S14, S15


def error_code(body: bytes):
    """S15: the error code of an error body (a string) or None; never raises."""
    code, _message = error_code_and_message(body)
    return code


def error_code_and_message(body: bytes):
    """S15 steps 1-4. Reading chosen: steps 2-3 look at raw values ("still null" means JSON null
    or missing), and step 4 filters the value found at the end."""
    try:
        doc, _facts = parse_json(body)
    except Malformed:
        return None, None
    if type(doc) is not dict:  # S1h: a JSON object is required
        return None, None
    e = doc.get("error")
    code = message = None
    if type(e) is dict:
        code = e.get("code")
        message = e.get("message")
    if code is None:
        code = doc.get("code")
    if message is None:
        message = doc.get("message")
    if message is None and type(e) is str:
        message = e
    if type(code) is str:
        pass
    elif type(code) is int:
        code = decimal_str(code)
    else:
        code = None
    if type(message) is not str:
        message = None
    return code, message


def expect_parse(status: int, headers: list, body: bytes, strict: bool) -> dict:
    """The expected outcome of a response (S14 then S1-S12, or S15).

    Returns ``{"ok": True, "micro_deposits": [...], "rules": [...], "drift": [...]}`` or
    ``{"ok": False, "error": category, "rules": [...], "message": str}``. Headers are not
    consulted (S1a: Content-Type is ignored; Location only decorates unexpected_redirect).
    """
    if type(status) is not int:
        raise TypeError("status must be an int")
    body = bytes(body)
    if 200 <= status <= 299:
        return _parse_2xx(body, bool(strict))
    if 300 <= status <= 399:
        return {"ok": False, "error": "unexpected_redirect", "rules": ["S14"], "message": f"status {status}"}
    code = error_code(body)
    if code == "4011":
        return {"ok": False, "error": "session_expired", "rules": ["S14", "S15"], "message": f"status {status}, code 4011"}
    category = {401: "unauthorized", 403: "forbidden", 404: "not_found", 429: "rate_limited"}.get(status)
    if category is None:
        category = "server_error" if 500 <= status <= 599 else "http_error"
    return {"ok": False, "error": category, "rules": ["S14"], "message": f"status {status}"}


# --------------------------------------------------------------------------------------------
# S12: equality of canonical forms


def _number_value(v):
    """A Fraction for finite numbers, or a tag for non-finite floats."""
    if type(v) is int:
        return Fraction(v)
    if isinstance(v, float):
        if math.isfinite(v):
            return Fraction(v)
        return ("nonfinite", repr(v))
    if isinstance(v, Decimal):
        if v.is_finite():
            return Fraction(v)
        return ("nonfinite", str(v))
    raise TypeError


def _is_number(v) -> bool:
    return (isinstance(v, (int, float, Decimal))) and not isinstance(v, bool)


def _kind(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if _is_number(v):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, (list, tuple)):
        return "array"
    if isinstance(v, dict):
        return "object"
    return type(v).__name__


def _short(v, limit: int = 40) -> str:
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, str):
        r = repr(v)
        if len(r) > limit:
            r = repr(v[:limit]) + f"... ({len(v)} chars)"
        return r
    if _is_number(v):
        r = str(v)
        if len(r) > limit:
            r = r[:limit] + f"... ({len(r)} chars)"
        return r
    try:
        r = json.dumps(v, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        r = repr(v)
    if len(r) > limit:
        r = r[:limit] + "..."
    return r


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _join(path: str, key) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if _IDENT.match(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def _diff(expected, actual, path: str):
    ke, ka = _kind(expected), _kind(actual)
    where = path or "(top)"
    if ke != ka:
        return f"{where}: expected {_short(expected)}, got {_short(actual)}"
    if ke in ("null", "boolean"):
        if expected is not actual:
            return f"{where}: expected {_short(expected)}, got {_short(actual)}"
        return None
    if ke == "number":
        if _number_value(expected) != _number_value(actual):
            return f"{where}: expected {_short(expected)}, got {_short(actual)}"
        return None
    if ke == "string":
        if expected != actual:
            return f"{where}: expected {_short(expected)}, got {_short(actual)}"
        return None
    if ke == "array":
        for i in range(min(len(expected), len(actual))):
            d = _diff(expected[i], actual[i], _join(path, i))
            if d:
                return d
        if len(expected) != len(actual):
            return f"{where}: expected {len(expected)} items, got {len(actual)}"
        return None
    if ke == "object":
        for k in expected:
            if k not in actual:
                return f"{where}: missing member {k!r} (expected {_short(expected[k])})"
            d = _diff(expected[k], actual[k], _join(path, k))
            if d:
                return d
        for k in actual:
            if k not in expected:
                return f"{where}: unexpected member {k!r} (got {_short(actual[k])})"
        return None
    # not a JSON value at all
    if expected != actual:
        return f"{where}: expected {_short(expected)}, got {_short(actual)}"
    return None


def first_difference(expected, actual) -> str | None:
    """The first difference between two canonical forms under S12 equality, or None."""
    return _diff(expected, actual, "")


def canonical_equal(expected, actual) -> bool:
    """S12 equality: objects unordered, arrays ordered, true/false/null only equal themselves,
    numbers by mathematical value (integers exactly), strings by code points."""
    return _diff(expected, actual, "") is None
