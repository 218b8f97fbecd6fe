"""Hypothesis strategies for responses of ``GET /micro_deposits``, in three profiles.

``cases(profile)`` yields ``{"status": int, "headers": [[name, value], ...], "body": bytes,
"strict": bool}``:

- ``"spec"``: 2xx bodies generated from ``spec.response_schema("spec")`` by this module's own
  small generator (no hypothesis-jsonschema), with realistic values mixed in (ABA routing numbers
  valid and not, RFC 3339 date-times, ``MIC-<uuid>`` guids, statuses 0-9 and unknown ones, names,
  emails). Every generated document validates against the spec schema (asserted here).
- ``"observed"``: what real servers send though the document forbids it: nulls, integer routing
  numbers, numeric error codes, unknown statuses, offsets and other timestamp forms, extra fields,
  items without a microdeposit, strings in integer fields; serialised as odd but duplicate-key-free
  JSON (odd whitespace, escapes, exponent forms). Also non-2xx statuses with error bodies (S14/S15).
- ``"hostile"``: invalid and malicious bodies as raw bytes (wrong types, deep nesting, huge numbers,
  NaN/Infinity, duplicate keys, invalid UTF-8, lone surrogate escapes, BOMs, very long strings,
  truncated JSON, top-level arrays, empty bodies, HTML, random bytes), mostly with status 200,
  sometimes as error bodies of non-2xx statuses.

Also exported: ``routing_numbers(valid=None)``, ``rfc3339_datetimes()``, ``guids()``,
``statuses()``, ``json_values()``, ``from_schema(schema)``.
"""

from __future__ import annotations

import math

from hypothesis import strategies as st

from . import oracle as _oracle
from . import spec as _spec

__all__ = [
    "cases",
    "from_schema",
    "guids",
    "json_values",
    "rfc3339_datetimes",
    "routing_numbers",
    "statuses",
]

CT = "application/vnd.mx.nexus.v1+json"
FIELDS = [
    "account_name", "account_number", "account_type", "account_type_name", "created_at", "email", "error_code",
    "error_message", "first_name", "guid", "institution_name", "last_name", "routing_number", "status",
    "status_name", "updated_at", "verified_at",
]
TIMESTAMPS = ("created_at", "updated_at", "verified_at")
STATUS_NAMES = ["INITIATED", "REQUESTED", "DEPOSITED", "VERIFIED", "ERRORED", "DENIED", "PREVENTED",
                "CONFLICTED", "REJECTED", "PREINITIATED"]

# --------------------------------------------------------------------------------------------
# Scalars and JSON values

# Text without surrogate code points (json.dumps would write them as lone surrogate escapes,
# which S1e rejects: such bodies belong to the hostile profile).
_chars = st.characters(exclude_categories=("Cs",))
texts = st.text(_chars, max_size=12)
keys = st.text(_chars, max_size=8)
big_integers = st.one_of(
    st.integers(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.sampled_from([2**53, 2**53 + 1, -(2**53) - 1, 2**63, 2**64 + 1, 12345678901234567890, 10**4299, -(10**4299)]),
)
finite_floats = st.floats(allow_nan=False, allow_infinity=False)


def json_values(max_leaves: int = 8) -> st.SearchStrategy:
    """Any JSON value (as Python), shallow enough to stay far below S1f's depth limit."""
    scalars = st.one_of(st.none(), st.booleans(), big_integers, finite_floats, texts)
    return st.recursive(
        scalars,
        lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)),
        max_leaves=max_leaves,
    )


# --------------------------------------------------------------------------------------------
# Realistic field values


def _aba_check_digit(d8: str) -> str:
    d = [int(c) for c in d8]
    s = 3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5])
    return str((-s) % 10)


def _aba_valid(s: str) -> bool:
    d = [int(c) for c in s]
    return (3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5] + d[8])) % 10 == 0


_digits8 = st.text("0123456789", min_size=8, max_size=8)
_valid_aba = st.one_of(
    st.just("091000019"),
    _digits8.map(lambda d: d + _aba_check_digit(d)),
    st.text("0123456789", min_size=7, max_size=7).map(lambda d: "0" + d + _aba_check_digit("0" + d)),
)
_invalid_aba = st.one_of(
    # 9 digits, checksum wrong
    _digits8.map(lambda d: d + str((int(_aba_check_digit(d)) + 1) % 10)),
    # a valid number whose leading zero was lost (8 digits)
    st.text("0123456789", min_size=7, max_size=7).map(lambda d: ("0" + d + _aba_check_digit("0" + d))[1:]),
    st.just("91000019"),
    # other lengths, letters, separators, non-ASCII digits
    st.text("0123456789", min_size=0, max_size=12).filter(lambda s: len(s) != 9),
    st.sampled_from(["09100001A", " 091000019", "091000019 ", "091-000-019", "٠٩١٠٠٠٠١٩", "０９１０００００１９", ""]),
)


def routing_numbers(valid: bool | None = None) -> st.SearchStrategy[str]:
    """Routing numbers as strings: valid ABA numbers (checksum ok), invalid ones (bad checksum,
    8 digits whose leading zero was lost, other lengths, non-digits), or either (None)."""
    if valid is True:
        return _valid_aba
    if valid is False:
        return _invalid_aba
    return st.one_of(_valid_aba, _invalid_aba)


def _days(y: int, m: int) -> int:
    if m == 2:
        return 29 if (y % 4 == 0 and y % 100 != 0) or y % 400 == 0 else 28
    return 30 if m in (4, 6, 9, 11) else 31


# Years whose February decides a leap-year rule (centuries: 1900 and 2100 are common, 2000 and
# 2400 leap) and the ends of the range: drawn often, because a month-length or leap-year bug
# shows only on these dates and uniform years almost never hit them.
_CALENDAR_YEARS = st.sampled_from([1900, 2000, 2100, 2400, 2023, 2024, 1, 4, 100, 9996, 9999])
# Which day of the month: the last one (and the first, to roll back over a month end with an
# offset) as often as any other, so that every month's length is exercised.
_DAY_KIND = st.sampled_from(["last", "first", "any", "any"])


@st.composite
def _datetime(draw, zone_required: bool = True):
    y = draw(st.one_of(st.integers(1970, 2035), st.integers(1, 9999), _CALENDAR_YEARS))
    mo = draw(st.integers(1, 12))
    kind = draw(_DAY_KIND)
    d = _days(y, mo) if kind == "last" else 1 if kind == "first" else draw(st.integers(1, _days(y, mo)))
    if kind != "any" and draw(st.booleans()):
        # near midnight, so that an offset moves the instant across the month's end (S9a)
        hh, mi, ss = (23, draw(st.integers(0, 59)), 59) if kind == "last" else (0, draw(st.integers(0, 59)), 0)
    else:
        hh, mi, ss = draw(st.integers(0, 23)), draw(st.integers(0, 59)), draw(st.integers(0, 59))
    n_frac = draw(st.integers(0, 9))
    digits = draw(st.lists(st.sampled_from("0123456789"), min_size=n_frac, max_size=n_frac))
    frac = "." + "".join(digits) if n_frac else ""
    zones = [st.sampled_from(["Z", "z", "+00:00", "-00:00"]),
             st.tuples(st.sampled_from("+-"), st.integers(0, 23), st.integers(0, 59)).map(
                 lambda t: f"{t[0]}{t[1]:02d}:{t[2]:02d}")]
    if not zone_required:
        zones.append(st.just(""))
    zone = draw(st.one_of(zones))
    t = draw(st.sampled_from("Tt"))
    return f"{y:04d}-{mo:02d}-{d:02d}{t}{hh:02d}:{mi:02d}:{ss:02d}{frac}{zone}"


def rfc3339_datetimes() -> st.SearchStrategy[str]:
    """RFC 3339 date-times (no leap seconds): Z, z or offsets, 0 to 9 fraction digits, T or t."""
    return _datetime(True)


@st.composite
def _day_after_last(draw) -> str:
    """The day after a month's last day (31 April, 29 February of a common year, 30 February of a
    leap one): out of range (S9e), a date an off-by-one month table accepts."""
    y = draw(st.one_of(_CALENDAR_YEARS, st.integers(1, 9999)))
    mo = draw(st.one_of(st.sampled_from([2, 4, 6, 9, 11]), st.integers(1, 12)))
    zone = draw(st.sampled_from(["Z", "+05:45", "-03:30", ""]))
    return f"{y:04d}-{mo:02d}-{_days(y, mo) + 1:02d}T{draw(st.integers(0, 23)):02d}:00:00{zone}"


def _timestamp_like() -> st.SearchStrategy[str]:
    """RFC 3339 date-times and near misses: no zone, +0530, space separator, week dates, the day
    after a month's end..."""
    return st.one_of(
        rfc3339_datetimes(),
        _datetime(False),
        _day_after_last(),
        rfc3339_datetimes().map(lambda s: s[:10] + " " + s[11:]),
        st.sampled_from([
            "2021-09-01T18:29:06.000Z", "2021-10-22T21:44:38.000+00:00", "2021-10-08T21:39:07+00:00",
            "2021-09-01", "2021-09-01T18Z", "2021-W35-3T18:29:06Z", "2021-09-01T18:29:06,123Z",
            "2021-09-01T18:29:06+0530", "2021-09-01T18:29:06.Z", "2021-09-01T24:00:00Z", "2021-02-29T00:00:00Z",
            "2021-09-01T18:29:60Z", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",
            "2021-09-01T18:29:06.1234567890Z", "2021-09-01T18:29:06Z\n", "", "now",
        ]),
    )


def guids() -> st.SearchStrategy[str]:
    """MX microdeposit guids: ``MIC-<uuid>``."""
    return st.uuids().map(lambda u: f"MIC-{u}")


def statuses() -> st.SearchStrategy[int]:
    """Statuses: 0-9 (known, S10) mostly, and unknown integers (negative, large)."""
    return st.one_of(st.integers(0, 9), st.integers(0, 9), st.integers(-5, 100), big_integers)


_first_names = st.sampled_from(["Josh", "Renée", "Zoë", "O'Neil", "Ana María", "李", "Łukasz", "José", ""])
_last_names = st.sampled_from(["James", "Smith-Jones", "Müller", "García", "王", "d'Arc", "O'Brien"])
_emails = st.one_of(st.emails().map(str), st.sampled_from(["example@example.com", "a+b@example.co.uk", "not-an-email"]))
_account_numbers = st.one_of(st.text("0123456789", min_size=1, max_size=17), st.just("333312345"))

# realistic values that the spec schema allows, by field
_REALISTIC_SPEC = {
    "account_name": st.sampled_from(["My Test Account", "Checking", "Savings ••1234", "Joint ✓"]),
    "account_number": _account_numbers,
    "account_type": st.one_of(st.sampled_from([1, 2]), st.integers(-3, 10)),
    "account_type_name": st.sampled_from(["CHECKING", "SAVINGS", "checking", "BROKERAGE"]),
    "email": _emails,
    "error_code": st.sampled_from(["4011", "4001", "4220", "", "E_ACH"]),
    "error_message": st.sampled_from(["Session expired", "ACH return R03", ""]),
    "first_name": _first_names,
    "guid": guids(),
    "institution_name": st.sampled_from(["MX Bank", "Chase Bank", "Wells Fargo Bank.", ""]),
    "last_name": _last_names,
    "routing_number": routing_numbers(),
    "status": statuses(),
    "status_name": st.one_of(st.sampled_from(STATUS_NAMES), st.sampled_from(["verified", "ON_HOLD", ""])),
    "created_at": _timestamp_like(),
    "updated_at": _timestamp_like(),
    "verified_at": _timestamp_like(),
}

# --------------------------------------------------------------------------------------------
# A small generator from JSON Schema (the subset the spec and observed profiles use)

_TYPE_STRATEGIES = {
    "null": st.none(),
    "boolean": st.booleans(),
    "integer": big_integers,
    "number": st.one_of(finite_floats, big_integers),
    "string": texts,
}


def from_schema(schema, realistic: dict | None = None) -> st.SearchStrategy:
    """Values valid against ``schema`` (keywords: type, properties, items; no required, no
    additionalProperties: false in our schemas, but both are honoured). ``realistic`` maps a
    property name to a strategy mixed in for that property's values (they must be valid too)."""
    shapeless = isinstance(schema, dict) and not (set(schema) & {"type", "properties", "items"})
    if schema is True or schema == {} or shapeless:
        return json_values()
    if schema is False:
        return st.nothing()
    types = schema.get("type")
    if types is None:
        # no type: anything, shaped by properties/items when it is an object/array
        types = ["null", "boolean", "integer", "number", "string", "array", "object"]
    elif isinstance(types, str):
        types = [types]
    options = []
    for t in types:
        if t == "object":
            options.append(_objects(schema, realistic))
        elif t == "array":
            items = schema.get("items", True)
            options.append(st.lists(from_schema(items, realistic), max_size=4))
        else:
            options.append(_TYPE_STRATEGIES[t])
    return st.one_of(options)


def _objects(schema: dict, realistic: dict | None) -> st.SearchStrategy:
    props = schema.get("properties", {})
    required = set(schema.get("required", []))
    strategies = {}
    for name, sub in props.items():
        s = from_schema(sub, realistic)
        if realistic and name in realistic:
            s = st.one_of(realistic[name], realistic[name], s)
        strategies[name] = s
    fixed = st.fixed_dictionaries(
        {k: v for k, v in strategies.items() if k in required},
        optional={k: v for k, v in strategies.items() if k not in required},
    )
    additional = schema.get("additionalProperties", True)
    if additional is False:
        return fixed
    extra_values = json_values() if additional is True else from_schema(additional, realistic)
    extras = st.dictionaries(keys.filter(lambda k: k not in props), extra_values, max_size=3)

    def merge(pair):
        a, b = pair
        out = dict(a)
        out.update(b)
        return out

    return st.tuples(fixed, st.one_of(st.just({}), extras)).map(merge)


# --------------------------------------------------------------------------------------------
# Serialisation with exact control


def _escape_string(s: str, ascii_only: bool, odd_escapes: bool) -> str:
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "/" and odd_escapes:
            out.append("\\/")
        elif o < 0x20:
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}.get(ch, f"\\u{o:04x}"))
        elif o > 0xFFFF and ascii_only:
            o -= 0x10000
            out.append(f"\\u{0xD800 + (o >> 10):04x}\\u{0xDC00 + (o & 0x3FF):04X}")
        elif o > 0x7E and ascii_only:
            out.append(f"\\u{o:04x}")
        elif odd_escapes and ch.isalpha() and o < 0x80 and (o % 3 == 0):
            out.append(f"\\u{o:04X}")  # an escaped plain letter: same string
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _number(v, exp_form: bool) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v) if abs(v) < 10**4000 else _oracle.decimal_str(v)
    if exp_form and v != 0 and math.isfinite(v):
        return f"{v:.17E}"  # same double, exponent form
    return repr(v)


def dump(value, *, ws: str = "", ascii_only: bool = False, odd_escapes: bool = False, exp_floats: bool = False) -> str:
    """JSON text of ``value`` with the chosen oddities; keys in the dict's order, no duplicates."""
    def go(v):
        if v is None:
            return "null"
        if v is True:
            return "true"
        if v is False:
            return "false"
        if isinstance(v, (int, float)):
            return _number(v, exp_floats)
        if isinstance(v, str):
            return _escape_string(v, ascii_only, odd_escapes)
        if isinstance(v, list):
            return "[" + ws + ("," + ws).join(go(x) for x in v) + ws + "]"
        if isinstance(v, dict):
            return "{" + ws + ("," + ws).join(
                _escape_string(k, ascii_only, odd_escapes) + ws + ":" + ws + go(x) for k, x in v.items()) + ws + "}"
        raise TypeError(type(v).__name__)

    return ws + go(value) + ws


_plain_dump = st.sampled_from([{}, {"ascii_only": True}, {"ws": " "}])
_odd_dump = st.builds(
    dict,
    ws=st.sampled_from(["", " ", "\t", "\n", "\r\n", " \t\n\r "]),
    ascii_only=st.booleans(),
    odd_escapes=st.booleans(),
    exp_floats=st.booleans(),
)

_content_types = st.sampled_from([
    [["Content-Type", CT]], [["Content-Type", CT]], [["content-type", "application/json; charset=utf-8"]],
    [["Content-Type", "text/html"]], [],
])
_ok_statuses = st.one_of(st.just(200), st.just(200), st.just(200), st.sampled_from([201, 203, 206, 299]))

# --------------------------------------------------------------------------------------------
# spec profile


# Hypothesis favours boundary integers, so `integers(0, n) == 0` fires far more than 1 in n+1;
# sampled_from keeps these ratios close to what they say.
_ONE_IN_TEN = st.sampled_from([False] * 9 + [True])
_ONE_IN_FOUR = st.sampled_from([False] * 3 + [True])
_ONE_IN_FIVE = st.sampled_from([False] * 4 + [True])


@st.composite
def _spec_record(draw, record_schema: dict):
    """A micro_deposit object of the spec profile: realistic values, most fields present."""
    props = record_schema["properties"]
    record = {}
    for name, sub in props.items():
        if draw(_ONE_IN_TEN):
            continue  # every field is optional in the document
        record[name] = draw(st.one_of(_REALISTIC_SPEC[name], _REALISTIC_SPEC[name], from_schema(sub)))
    if draw(_ONE_IN_FOUR):
        record.update(draw(st.dictionaries(keys.filter(lambda k: k not in props), json_values(), max_size=2)))
    return record


@st.composite
def _spec_document(draw):
    """Mostly responses that carry records; one in five from the bare schema walk (its odd corners:
    items of any type, items without micro_deposit, no micro_deposits at all)."""
    schema = _spec.response_schema("spec")
    if draw(_ONE_IN_FIVE):
        return draw(from_schema(schema, _REALISTIC_SPEC))
    item_schema = schema["properties"]["micro_deposits"]["items"]
    record_schema = item_schema["properties"]["micro_deposit"]
    carrier = _spec_record(record_schema).map(lambda r: {"micro_deposit": r})
    items = draw(st.lists(st.one_of(carrier, from_schema(item_schema)) if draw(_ONE_IN_FIVE) else carrier, max_size=5))
    return {"micro_deposits": items}


@st.composite
def _spec_case(draw):
    document = draw(_spec_document())
    problems = _spec.validate(document, "spec")
    assert not problems, f"spec-profile generator produced a schema-invalid body: {problems[:3]}"
    text = dump(document, **draw(_plain_dump))
    body = text.encode("utf-8")
    if draw(st.integers(0, 19)) == 0:
        body = b"\xef\xbb\xbf" + body  # S1a: still the same document
    return {"status": draw(_ok_statuses), "headers": draw(_content_types), "body": body, "strict": draw(st.booleans())}


# --------------------------------------------------------------------------------------------
# observed profile

_DRIFT = {
    "routing_number": st.one_of(
        st.just(91000019), st.integers(0, 999999999), st.integers(-10, 10**12), routing_numbers(), st.none()),
    "error_code": st.one_of(st.sampled_from([4011, 4001, 4220, 0, -1]), st.integers(), st.none(), st.just("4011")),
    "error_message": st.one_of(st.none(), st.just("Session expired"), st.integers(), st.booleans()),
    "verified_at": st.one_of(st.none(), _timestamp_like()),
    "institution_name": st.one_of(st.none(), st.just("MX Bank")),
    "status": st.one_of(statuses(), st.integers(10, 99), st.sampled_from(["1", "03", "", " 1", "١", True]),
                        st.sampled_from([1.0, 2.5, -0.0, 1e2]), st.none()),
    "account_type": st.one_of(st.sampled_from([1, 2, 3, 0]), st.sampled_from(["1", 1.0, False]), st.none()),
    "status_name": st.one_of(st.sampled_from(STATUS_NAMES), st.sampled_from(["UNKNOWN_NEW", "verified"]), st.none()),
    "account_number": st.one_of(_account_numbers, st.integers(0, 10**17), st.none()),
    "created_at": st.one_of(_timestamp_like(), st.none(), st.integers(0, 2**31)),
    "updated_at": st.one_of(_timestamp_like(), st.none()),
}


@st.composite
def _observed_md(draw):
    md = {}
    for f in FIELDS:
        choice = draw(st.integers(0, 9))
        if choice == 0:
            continue  # missing
        if choice == 1:
            md[f] = None
        elif f in _DRIFT and choice >= 5:
            md[f] = draw(_DRIFT[f])
        else:
            md[f] = draw(_REALISTIC_SPEC[f])
    if draw(st.booleans()):
        extras = draw(st.dictionaries(keys.filter(lambda k: k not in FIELDS), json_values(), max_size=3))
        extras.update(draw(st.sampled_from([{}, {"Guid": "X"}, {"guid ": "Y"}, {"amounts": [0.03, 0.05]},
                                            {"extra": {"a": 1}}])))
        for k, v in extras.items():
            if k not in md:
                md[k] = v
    return md


# A full record (all 17 fields, clean values) and, per field, one value that needs a coercion:
# a record where exactly one value is coerced, so that a note or a coercion charged to the
# wrong field shows (a random record has many or none).
_CLEAN_FULL = {
    "account_name": "My Test Account", "account_number": "333312345", "account_type": 1,
    "account_type_name": "CHECKING", "created_at": "2021-09-01T18:29:06.000Z", "email": "example@example.com",
    "error_code": "E_NONE", "error_message": "none", "first_name": "Josh",
    "guid": "MIC-09ba578e-8448-4f7f-89e1-b62ff2517edb", "institution_name": "MX Bank", "last_name": "James",
    "routing_number": "091000019", "status": 1, "status_name": "REQUESTED",
    "updated_at": "2021-09-01T18:29:07.000Z", "verified_at": "2021-09-01T18:29:08.000+05:45",
}
_ONE_COERCION = {
    "string": st.sampled_from([12345, -7, 0, True, 1.5, ["x"], {"a": 1}]),
    "routing": st.sampled_from([91000019, "5", 123456789, -5, False, 9.1e7]),
    "integer": st.sampled_from(["1", "007", 1.0, 2e1, True, "x", [1]]),
    "timestamp": st.one_of(st.sampled_from(["2021-09-01T18:29:06", "2021-09-01T18:29:06.1234567Z", 1630520946,
                                            "2021-09-01 18:29:06Z"]), _day_after_last()),
}


def _field_kind(name: str) -> str:
    if name == "routing_number":
        return "routing"
    if name in ("account_type", "status"):
        return "integer"
    return "timestamp" if name in TIMESTAMPS else "string"


@st.composite
def _one_coercion_md(draw):
    """A micro_deposit with all 17 fields where exactly one value needs a coercion (S5-S9)."""
    name = draw(st.sampled_from(FIELDS))
    return dict(_CLEAN_FULL, **{name: draw(_ONE_COERCION[_field_kind(name)])})


# Member names in another letter case (S5b: extra fields, compared exactly).
_CASE_VARIANTS = st.sampled_from([str.upper, str.title, lambda n: n[:1].upper() + n[1:]])


@st.composite
def _other_case_md(draw):
    """An observed record where some fields are sent only under another letter case (Guid, STATUS):
    extra fields, and the fields themselves are null."""
    md = draw(_observed_md())
    for name in draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=3, unique=True)):
        value = md.pop(name, draw(_REALISTIC_SPEC[name]))
        md[draw(_CASE_VARIANTS)(name)] = value
    return md


@st.composite
def _observed_item(draw):
    kind = draw(st.integers(0, 19))
    if kind < 13:
        item = {"micro_deposit": draw(_observed_md())}
        if kind == 0:
            item["links"] = {"self": "/micro_deposits/1"}
        return item
    if kind == 13:
        return {"micro_deposit": draw(_one_coercion_md())}
    if kind == 14:
        return {"micro_deposit": draw(_other_case_md())}
    return draw(st.sampled_from([None, {}, {"micro_deposit": None}, {"micro_deposit": "x"}, 1, "MIC-1", [], True]))


def _nested_lists(levels: int) -> list:
    value: list = []
    for _ in range(levels - 1):
        value = [value]
    return value


@st.composite
def _observed_document(draw):
    doc = {}
    if draw(st.integers(0, 4)) == 0:
        doc["pagination"] = {"current_page": 1, "per_page": 25, "total_entries": 1, "total_pages": 1}
    shape = draw(st.integers(0, 19))
    if shape == 0:
        pass  # micro_deposits missing
    elif shape == 1:
        doc["micro_deposits"] = None
    else:
        doc["micro_deposits"] = draw(st.lists(_observed_item(), max_size=5))
    if draw(st.booleans()) and "micro_deposits" in doc and "pagination" in doc:
        # member order differs
        doc = {"micro_deposits": doc["micro_deposits"], "pagination": doc["pagination"]}
    if draw(_ONE_IN_TEN):
        # many items without a microdeposit beside a value nested to depth exactly 64 (S1f counts
        # nesting; a check that counts containers rejects this valid body)
        doc["micro_deposits"] = [{}] * draw(st.sampled_from([40, 100])) + list(doc.get("micro_deposits") or [])
        doc["deep"] = _nested_lists(63)
    return doc


_ERROR_STATUSES = st.one_of(
    st.sampled_from([401, 302, 304, 307, 400, 301, 401, 401, 403, 404, 409, 422, 429, 500, 502, 503, 504, 600]),
    st.sampled_from([100, 101, 103, 199, 0, 1000]),  # 1xx and outside 100-999: http_error in parse (S14)
)


@st.composite
def _error_body(draw):
    code = draw(st.one_of(st.sampled_from([4011, "4011", 4010, "4001", None, 4011.0, True, " 4011"]),
                          st.integers(1000, 9999)))
    message = draw(st.sampled_from(["Session expired", "Unauthorized", None, 5]))
    shape = draw(st.integers(0, 8))
    if shape == 7:
        # S15's own example and its kin: a nested code that is present but unusable hides the
        # top-level one ({"error": {"code": true}, "code": 4011} has no code)
        obj = {"error": {"code": draw(st.sampled_from([True, 4011.0, [], {}, False]))}, "code": code}
    elif shape == 8:
        # a non-object error: the top-level code and message are read, a string error is the message
        obj = {"error": draw(st.sampled_from(["bad token", "4011", 4011, None, [1], True])), "code": code}
        if draw(st.booleans()):
            del obj["code"]
    elif shape == 0:
        obj = {"error": {"code": code, "message": message}}
    elif shape == 1:
        obj = {"code": code, "message": message}
    elif shape == 2:
        obj = {"error": {"code": code}}
    elif shape == 3:
        obj = {"error": str(code), "code": code}
    elif shape == 4:
        obj = {"error": {"code": None, "message": message}, "code": code}
    elif shape == 5:
        return draw(st.sampled_from([b"", b"<html><body>Error</body></html>", b"Session expired 4011", b"null", b"[]"]))
    else:
        obj = {"error": {"message": message}, "code": code}
    return dump(obj, **draw(_odd_dump)).encode("utf-8")


def _error_headers(status: int, draw) -> list:
    headers = [["Content-Type", draw(st.sampled_from([CT, "application/json", "text/html"]))]]
    if 300 <= status <= 399:
        headers.append([draw(st.sampled_from(["Location", "location"])), "https://evil.example/micro_deposits"])
    if status == 429:
        headers.append(["Retry-After", draw(st.sampled_from(["1", "0", "Sun, 06 Nov 1994 08:49:37 GMT", "soon"]))])
    return headers


@st.composite
def _observed_case(draw):
    if draw(st.integers(0, 7)) == 0:
        status = draw(_ERROR_STATUSES)
        return {"status": status, "headers": _error_headers(status, draw), "body": draw(_error_body()),
                "strict": draw(st.booleans())}
    document = draw(_observed_document())
    text = dump(document, **draw(_odd_dump))
    return {"status": draw(_ok_statuses), "headers": draw(_content_types), "body": text.encode("utf-8"),
            "strict": draw(st.booleans())}


# --------------------------------------------------------------------------------------------
# hostile profile: raw bytes


def _wrap_md(fragment: str) -> str:
    """A fragment of JSON text placed as the value of a micro_deposit member."""
    return '{"micro_deposits":[{"micro_deposit":' + fragment + "}]}"


def _nest(depth: int, kind: str) -> str:
    if kind == "array":
        return "[" * depth + "]" * depth
    if kind == "object":
        return '{"a":' * (depth - 1) + "{}" + "}" * (depth - 1)
    return "[" * depth  # unclosed


_DEPTHS = st.sampled_from([60, 62, 63, 64, 65, 66, 100, 1000, 5000, 100000])

_hostile_fragments = st.one_of(
    # wrong types at the top and for micro_deposits
    st.sampled_from(["[]", "[{}]", '"x"', "0", "true", "false", "null", '{"micro_deposits":{}}',
                     '{"micro_deposits":"[]"}', '{"micro_deposits":1}', '{"micro_deposits":true}',
                     '[{"micro_deposit":{"guid":"g"}}]']),
    # wrong types for fields
    st.tuples(st.sampled_from(FIELDS),
              st.sampled_from(["true", "[]", "{}", "1.5", "-0.0", "1e2", '"\\u0661"', "0", "-1"])).map(
        lambda t: _wrap_md('{{"{}":{}}}'.format(*t))),
    # deep nesting, at the top or inside a record (4 levels deeper)
    st.tuples(_DEPTHS, st.sampled_from(["array", "object", "open"])).map(lambda t: _nest(*t)),
    st.tuples(_DEPTHS, st.sampled_from(["array", "object", "open"])).map(
        lambda t: _wrap_md('{"x":' + _nest(t[0] - 4, t[1]) + "}")),
    # huge numbers
    st.sampled_from(["1e400", "-1e400", "1e-400", "1E308", "2e308", "9007199254740993", "-9223372036854775809",
                     "123456789012345678901234567890", "1" + "0" * 4299, "1" + "0" * 4300, "-" + "9" * 4300,
                     "-" + "9" * 4301, "0.1e-999999", "1e999999999", "91000019.0", "4011.0"]).flatmap(
        lambda n: st.sampled_from([_wrap_md(f'{{"status":{n}}}'), _wrap_md(f'{{"routing_number":{n}}}'),
                                   _wrap_md(f'{{"x":{n}}}'), _wrap_md(f'{{"error_code":{n}}}')])),
    # NaN / Infinity
    st.sampled_from(["NaN", "Infinity", "-Infinity", "nan", "inf"]).map(lambda c: _wrap_md(f'{{"status":{c}}}')),
    # duplicate keys
    st.sampled_from([
        '{"micro_deposits":[],"micro_deposits":[{"micro_deposit":{"guid":"b"}}]}',
        '{"micro_deposits":[{"micro_deposit":{"guid":"a"}}],"micro_deposits":null}',
        '{"micro_deposits":[{"micro_deposit":{"guid":"a"}}],"micro_deposits":"x"}',
        _wrap_md('{"guid":"a","guid":1,"status":1,"status":"2"}'),
        _wrap_md('{"routing_number":91000019,"routing_number":"091000019"}'),
        '{"micro_deposits":[{"micro_deposit":{"guid":"a"},"micro_deposit":5}]}',
    ]),
    # lone surrogate escapes (and valid ones)
    st.sampled_from(["\\ud800", "\\udc00", "\\ud800x", "\\udc00\\ud800", "\\ud83d\\udcb0", "\\uD83D\\uDCB0", "\\u0000",
                     "\\ud800\\u0041", "\\udbff\\udfff"]).flatmap(
        lambda e: st.sampled_from([_wrap_md(f'{{"guid":"{e}"}}'), _wrap_md(f'{{"{e}":1}}')])),
    # very long strings
    st.sampled_from([10_000, 100_000, 1_000_000]).map(lambda n: _wrap_md('{"account_name":"%s"}' % ("a" * n))),
    # grammar violations
    st.sampled_from([
        "", " ", "\n\t\r ", "<!DOCTYPE html><html><body>502 Bad Gateway</body></html>", "{'micro_deposits':[]}",
        '{"micro_deposits":[],}', '{"micro_deposits":[1,]}', '{"micro_deposits":[]} x', '{"micro_deposits":[]}{}',
        '{"micro_deposits":[] // c\n}', _wrap_md('{"guid":"a\tb"}'), _wrap_md('{"status":01}'),
        _wrap_md('{"status":+1}'),
        _wrap_md('{"status":.5}'), _wrap_md('{"status":1.}'), _wrap_md('{"guid":"\\x41"}'), _wrap_md("{guid:1}"),
        '{"micro_deposits":[]}\x00', "\ufeff{}", '{"micro_deposits":[TRUE]}', "{\"micro_deposits\":[\"\\u12\"]}",
        _wrap_md('{"guid":"a\x1fb"}'), _wrap_md('{"guid":"a\x00b"}'), _wrap_md('{"guid":"a\x7fb\x80c\x9fd"}'),
    ]),
    # many containers, little depth: items without a microdeposit beside a deep value (S1f)
    st.tuples(st.sampled_from([50, 300]), st.sampled_from([62, 63, 64])).map(
        lambda t: '{"micro_deposits":[' + ",".join(["{}"] * t[0]) + '],"x":' + _nest(t[1], "array") + "}"),
)


@st.composite
def _hostile_body(draw) -> bytes:
    kind = draw(st.integers(0, 9))
    if kind <= 4:
        body = draw(_hostile_fragments).encode("utf-8")
    elif kind == 5:
        # truncated JSON: a valid-looking body cut anywhere
        full = dump(draw(_observed_document())).encode("utf-8")
        body = full[: draw(st.integers(0, max(0, len(full) - 1)))]
    elif kind == 6:
        # invalid UTF-8 inside a string
        bad = draw(st.sampled_from([b"\xff", b"\xfe", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xed\xa0\x80", b"\xed\xbf\xbf",
                                    b"\xf4\x90\x80\x80", b"\xf8\x88\x80\x80\x80", b"\xe2\x82", b"\x80", b"\xc3"]))
        body = b'{"micro_deposits":[{"micro_deposit":{"account_name":"Zo' + bad + b'"}}]}'
    elif kind == 7:
        # BOMs and other encodings
        inner = b'{"micro_deposits":[{"micro_deposit":{"guid":"g"}}]}'
        body = draw(st.sampled_from([
            b"\xef\xbb\xbf" + inner, b"\xef\xbb\xbf\xef\xbb\xbf" + inner,
            b"\xff\xfe" + inner.decode().encode("utf-16-le"),
            b"\xfe\xff" + inner.decode().encode("utf-16-be"), inner.decode().encode("utf-32"), b" \xef\xbb\xbf" + inner,
        ]))
    elif kind == 8:
        body = draw(st.binary(max_size=64))
    else:
        # a valid observed body with one byte flipped
        full = bytearray(dump(draw(_observed_document())).encode("utf-8"))
        if full:
            i = draw(st.integers(0, len(full) - 1))
            full[i] = draw(st.integers(0, 255))
        body = bytes(full)
    return body


@st.composite
def _hostile_case(draw):
    body = draw(_hostile_body())
    if draw(st.integers(0, 5)) == 0:
        status = draw(_ERROR_STATUSES)
        if draw(st.booleans()):
            # an error body that would carry 4011 but is broken by S1
            body = draw(st.sampled_from([b'{"code":4011,"x":NaN}', b'{"code":"4011"',
                                         b'\xef\xbb\xbf\xef\xbb\xbf{"code":4011}', b'{"code":"4011","m":"\xff"}',
                                         b'[{"code":4011}]', b'{"code":"4011","x":1e400}',
                                         b'{"code":4011,"d":' + b"[" * 70 + b"]" * 70 + b"}", b'{"code":"\\ud800"}']))
        return {"status": status, "headers": _error_headers(status, draw), "body": body, "strict": draw(st.booleans())}
    return {"status": draw(_ok_statuses), "headers": draw(_content_types), "body": body, "strict": draw(st.booleans())}


# --------------------------------------------------------------------------------------------


def cases(profile: str) -> st.SearchStrategy[dict]:
    """Responses of one profile: {"status", "headers", "body" (bytes), "strict"}."""
    if profile == "spec":
        return _spec_case()
    if profile == "observed":
        return _observed_case()
    if profile == "hostile":
        return _hostile_case()
    raise ValueError(f"unknown profile {profile!r}; expected one of {_spec.PROFILES}")
