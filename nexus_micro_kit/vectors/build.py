"""Writes the golden vector files (nexus_micro_kit/vectors/{required,recommended}/*.json).

The expected outputs below are written BY HAND from spec/SEMANTICS.md, case by case: nothing here
calls the oracle or any implementation. tests/kit/test_vectors.py then checks that the oracle
(nexus_micro_kit/oracle.py, a separate derivation) agrees with every case.

The JSON files are the source of truth that other languages load; this script only produced
them. Run it again (python3 nexus_micro_kit/vectors/build.py) after editing a case here.
"""

from __future__ import annotations

import base64
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
CT = [["Content-Type", "application/vnd.mx.nexus.v1+json"]]

FIELDS = (
    "account_name account_number account_type account_type_name created_at email error_code "
    "error_message first_name guid institution_name last_name routing_number status status_name "
    "updated_at verified_at"
).split()


def R(extra=None, **fields):
    """A canonical record: every field null unless given, then extra."""
    for k in fields:
        assert k in FIELDS, k
    rec = {f: fields.get(f) for f in FIELDS}
    rec["extra"] = extra or {}
    return rec


def doc(*mds, **top):
    """A response body text with one item per micro_deposit object given."""
    d = dict(top)
    d["micro_deposits"] = [{"micro_deposit": md} for md in mds]
    return json.dumps(d, ensure_ascii=False)


def case(id, description, rules, body=None, *, b64=None, status=200, headers=None, strict=False,
         ok=None, error=None, drift=None):
    """One vector. `drift`: the S11 notes, written by hand (records: all of them, in order;
    schema_drift: the one strict mode raises); vectors without it are judged on the oracle's."""
    inp = {"status": status, "headers": CT if headers is None else headers}
    if b64 is not None:
        inp["body_b64"] = base64.b64encode(b64).decode("ascii")
    else:
        inp["body"] = body
    inp["strict"] = strict
    assert (ok is None) != (error is None), id
    expected = {"micro_deposits": ok} if ok is not None else {"error": error}
    if drift is not None:
        assert ok is not None or (error == "schema_drift" and len(drift) == 1), id
        expected["drift"] = drift
    return {"id": id, "description": description, "rules": rules, "input": inp, "expected": expected}


def both(id, description, rules, body, ok, strict_error="schema_drift", drift=None, **kw):
    """The same body in lenient mode (records) and strict mode (schema_drift or the same records).
    `drift`: the lenient notes; the strict case then expects the first."""
    out = [case(id, description + " (lenient)", rules, body, ok=ok, drift=drift, **kw)]
    if strict_error is None:
        out.append(case(id + "-strict", description + " (strict: no drift, same result)", rules + ["S11"],
                        body, strict=True, ok=ok, drift=[] if drift is not None else None, **kw))
    else:
        first = drift[:1] if drift is not None and strict_error == "schema_drift" else None
        out.append(case(id + "-strict", description + " (strict: drift raises)", rules + ["S11"],
                        body, strict=True, error=strict_error, drift=first, **kw))
    return out


def note(index, field, type, action, rule):
    """A drift note in its canonical form (SEMANTICS S11)."""
    return {"index": index, "field": field, "type": type, "action": action, "rule": rule}


MAL = "malformed_response"

# ------------------------------------------------------------------------------------------------
# The seed document's own example, assembled into a one-record response.
SEED_MD = {
    "account_name": "My Test Account",
    "account_number": "333312345",
    "account_type": 1,
    "account_type_name": "CHECKING",
    "created_at": "2021-09-01T18:29:06.000Z",
    "email": "example@example.com",
    "error_code": None,
    "error_message": None,
    "first_name": "Josh",
    "guid": "MIC-09ba578e-8448-4f7f-89e1-b62ff2517edb",
    "institution_name": "MX Bank",
    "last_name": "James",
    "routing_number": 91000019,
    "status": 1,
    "status_name": "REQUESTED",
    "updated_at": "2021-09-01T18:29:07.000Z",
    "verified_at": "2021-09-01T18:29:07.000Z",
}
SEED_REC = R(
    account_name="My Test Account",
    account_number="333312345",
    account_type=1,
    account_type_name="CHECKING",
    created_at="2021-09-01T18:29:06.000000Z",
    email="example@example.com",
    first_name="Josh",
    guid="MIC-09ba578e-8448-4f7f-89e1-b62ff2517edb",
    institution_name="MX Bank",
    last_name="James",
    routing_number="091000019",
    status=1,
    status_name="REQUESTED",
    updated_at="2021-09-01T18:29:07.000000Z",
    verified_at="2021-09-01T18:29:07.000000Z",
)
CLEAN_MD = dict(SEED_MD, routing_number="091000019")  # the webhook's string form: no drift at all

OK_EMPTY = '{"micro_deposits":[]}'

FILES: dict[str, tuple[str, list]] = {}

# ------------------------------------------------------------------------------------------------
FILES["required/s00-seed.json"] = ("The seed document's example, and a clean record", [
    *both("seed-example", "The OpenAPI document's example values as one record: routing_number 91000019 "
          "is an integer that lost its leading zero, error_code null", ["S5a", "S7", "S9a", "S12"],
          doc(SEED_MD), [SEED_REC]),
    *both("seed-example-string-routing", "The seed example with the webhook's string routing number "
          "091000019: nothing to coerce", ["S5a", "S7", "S12"], doc(CLEAN_MD), [SEED_REC], strict_error=None),
])

# ------------------------------------------------------------------------------------------------
BAD_UTF8 = b'{"micro_deposits":[{"micro_deposit":{"account_name":"%s"}}]}'
FILES["required/s01-body.json"] = ("S1: the body is one UTF-8 JSON object", [
    case("s1a-bom-removed", "A UTF-8 BOM is removed once", ["S1a"], b64=b"\xef\xbb\xbf" + OK_EMPTY.encode(), ok=[]),
    case("s1a-bom-removed-strict", "A BOM is not drift", ["S1a", "S11"], b64=b"\xef\xbb\xbf" + doc({"guid": "g"}).encode(),
         strict=True, ok=[R(guid="g")]),
    case("s1a-two-boms", "Only one BOM is removed: the second is not JSON", ["S1a", "S1c"],
         b64=b"\xef\xbb\xbf\xef\xbb\xbf" + OK_EMPTY.encode(), error=MAL),
    case("s1a-invalid-byte", "A 0xFF byte is not UTF-8", ["S1a"], b64=BAD_UTF8 % b"\xff", error=MAL),
    case("s1a-overlong", "An overlong encoding of '/' (C0 AF)", ["S1a"], b64=BAD_UTF8 % b"\xc0\xaf", error=MAL),
    case("s1a-encoded-surrogate", "An encoded surrogate (ED A0 80)", ["S1a"], b64=BAD_UTF8 % b"\xed\xa0\x80", error=MAL),
    case("s1a-above-max", "A code point above U+10FFFF (F4 90 80 80)", ["S1a"], b64=BAD_UTF8 % b"\xf4\x90\x80\x80", error=MAL),
    case("s1a-truncated-sequence", "A truncated 3-byte sequence (E2 82) before the quote", ["S1a"],
         b64=BAD_UTF8 % b"\xe2\x82", error=MAL),
    case("s1a-utf16-not-detected", "UTF-16LE with its BOM is not detected, it is invalid UTF-8", ["S1a"],
         b64=b"\xff\xfe" + OK_EMPTY.encode("utf-16-le"), error=MAL),
    case("s1a-latin1-not-decoded", "A Latin-1 byte is invalid UTF-8 even if Content-Type says latin-1", ["S1a"],
         b64=BAD_UTF8 % b"Zo\xeb", headers=[["Content-Type", "application/json; charset=iso-8859-1"]], error=MAL),
    case("s1a-multibyte-ok", "Valid multi-byte UTF-8 (2, 3 and 4 bytes), with a misleading Content-Type", ["S1a"],
         b64=BAD_UTF8 % "Zoë € 💰".encode("utf-8"), headers=[["Content-Type", "text/html; charset=iso-8859-1"]],
         ok=[R(account_name="Zoë € 💰")]),
    case("s1c-empty", "An empty body", ["S1c"], "", error=MAL),
    case("s1c-whitespace-only", "A whitespace-only body", ["S1c"], " \r\n\t ", error=MAL),
    case("s1c-html", "An HTML page", ["S1c"], "<!DOCTYPE html><html><body>Bad gateway</body></html>", error=MAL),
    case("s1c-surrounding-whitespace", "Space, tab, CR and LF around the value are fine", ["S1c"],
         " \t\r\n" + doc({"guid": "g"}) + "\n\r\t ", ok=[R(guid="g")]),
    case("s1c-trailing-data", "Trailing data after the object", ["S1c"], OK_EMPTY + " x", error=MAL),
    case("s1c-two-objects", "Two JSON values", ["S1c"], OK_EMPTY + OK_EMPTY, error=MAL),
    case("s1c-trailing-comma", "A trailing comma", ["S1c"], '{"micro_deposits":[],}', error=MAL),
    case("s1c-single-quotes", "Single-quoted strings", ["S1c"], "{'micro_deposits':[]}", error=MAL),
    case("s1c-comment", "A comment", ["S1c"], '{"micro_deposits":[] /* none */}', error=MAL),
    case("s1c-control-char", "An unescaped tab inside a string", ["S1c"],
         '{"micro_deposits":[{"micro_deposit":{"account_name":"a\tb"}}]}', error=MAL),
    case("s1c-nan", "NaN in an extra field", ["S1c"], '{"micro_deposits":[{"micro_deposit":{"x":NaN}}]}', error=MAL),
    case("s1c-infinity", "Infinity", ["S1c"], '{"micro_deposits":[{"micro_deposit":{"status":Infinity}}]}', error=MAL),
    case("s1c-minus-infinity", "-Infinity at the top level of an object", ["S1c"], '{"x":-Infinity,"micro_deposits":[]}', error=MAL),
    case("s1c-truncated", "A body cut short", ["S1c"], '{"micro_deposits":[{"micro_deposit":{"guid":"MIC-', error=MAL),
    case("s1c-leading-zero", "A number with a leading zero", ["S1c"], '{"micro_deposits":[{"micro_deposit":{"status":01}}]}', error=MAL),
    case("s1c-bad-escape", "An invalid escape \\x", ["S1c"], '{"micro_deposits":[{"micro_deposit":{"guid":"\\x41"}}]}', error=MAL),
    case("s1d-overflow", "1e400 overflows a double", ["S1d"], '{"micro_deposits":[],"x":1e400}', error=MAL),
    case("s1d-negative-overflow", "-1e400 overflows a double", ["S1d"],
         '{"micro_deposits":[{"micro_deposit":{"status":-1e400}}]}', error=MAL),
    case("s1d-underflow", "1e-400 underflows to 0.0, which is fine", ["S1d", "S5b"],
         '{"micro_deposits":[{"micro_deposit":{"x":1e-400}}]}', ok=[R(extra={"x": 0.0})]),
    case("s1d-4301-digits", "An integer with 4301 digits", ["S1d"],
         '{"micro_deposits":[{"micro_deposit":{"x":1' + "0" * 4300 + "}}]}", error=MAL),
    case("s1d-4301-digits-negative", "A negative integer with 4301 digits (the sign is not a digit)", ["S1d"],
         '{"micro_deposits":[],"x":-9' + "9" * 4300 + "}", error=MAL),
    case("s1d-big-integers-exact", "Integers past 2**53 stay exact, in an extra field and in an integer field", ["S1d", "S5b", "S8"],
         '{"micro_deposits":[{"micro_deposit":{"status":9007199254740993,"x":12345678901234567890}}]}',
         strict=True, ok=[R(status=9007199254740993, extra={"x": 12345678901234567890})]),
    case("s1d-17-digit-account-number", "A 17-digit integer account number keeps every digit (S6 coerces)",
         ["S1d", "S6"], '{"micro_deposits":[{"micro_deposit":{"account_number":12345678901234567}}]}',
         ok=[R(account_number="12345678901234567")]),
    case("s1d-float-in-extra", "A fraction number in an extra field is a double", ["S1d", "S5b"],
         '{"micro_deposits":[{"micro_deposit":{"amount":0.1,"e":2.5E+1}}]}', strict=True,
         ok=[R(extra={"amount": 0.1, "e": 25})]),
    case("s1e-lone-high", "A lone high surrogate escape", ["S1e"], '{"micro_deposits":[{"micro_deposit":{"guid":"\\ud800"}}]}', error=MAL),
    case("s1e-lone-low", "A lone low surrogate escape", ["S1e"], '{"micro_deposits":[{"micro_deposit":{"guid":"\\udc00"}}]}', error=MAL),
    case("s1e-high-then-char", "A high surrogate escape followed by a character", ["S1e"],
         '{"micro_deposits":[{"micro_deposit":{"guid":"\\ud800x"}}]}', error=MAL),
    case("s1e-reversed-pair", "Low then high surrogate escapes", ["S1e"],
         '{"micro_deposits":[{"micro_deposit":{"guid":"\\udc00\\ud800"}}]}', error=MAL),
    case("s1e-lone-in-member-name", "A lone surrogate escape in a member name", ["S1e"],
         '{"micro_deposits":[{"micro_deposit":{"\\udfff":1}}]}', error=MAL),
    case("s1e-valid-pair-and-nul", "A surrogate pair escape is one character; \\u0000 is valid", ["S1e"],
         '{"micro_deposits":[{"micro_deposit":{"account_name":"\\ud83d\\udcb0","guid":"a\\u0000b","email":"\\u00e9\\/"}}]}',
         strict=True, ok=[R(account_name="💰", guid="a\u0000b", email="é/")]),
    case("s1f-depth-65", "An array at depth 65 (inside an extra field)", ["S1f"],
         '{"micro_deposits":[{"micro_deposit":{"x":' + "[" * 61 + "]" * 61 + "}}]}", error=MAL),
    case("s1f-depth-10000", "10000 nested arrays must not crash the parser", ["S1f"],
         '{"micro_deposits":' + "[" * 10000 + "]" * 10000 + "}", error=MAL),
    case("s1f-depth-20000-unclosed", "20000 unclosed objects", ["S1f", "S1c"], '{"a":' * 20000, error=MAL),
    case("s1g-duplicate-field", "A field sent twice: the last value wins", ["S1g"],
         '{"micro_deposits":[{"micro_deposit":{"guid":"first","status":1,"guid":"second"}}]}',
         strict=True, ok=[R(guid="second", status=1)]),
    case("s1g-duplicate-micro-deposits", "micro_deposits sent twice: the last one (an array) wins", ["S1g", "S2"],
         '{"micro_deposits":5,"micro_deposits":[{"micro_deposit":{"guid":"g"}}]}', ok=[R(guid="g")]),
    case("s1g-duplicate-micro-deposits-last-bad", "micro_deposits sent twice: the last one (a string) wins", ["S1g", "S2"],
         '{"micro_deposits":[],"micro_deposits":"none"}', error=MAL),
    case("s1g-duplicate-micro-deposit", "micro_deposit sent twice in an item: the last wins", ["S1g", "S3"],
         '{"micro_deposits":[{"micro_deposit":{"guid":"a"},"micro_deposit":null}]}', ok=[]),
    case("s1h-top-array", "A top-level array", ["S1h"], '[{"micro_deposit":{}}]', error=MAL),
    case("s1h-top-string", "A top-level string", ["S1h"], '"micro_deposits"', error=MAL),
    case("s1h-top-number", "A top-level number", ["S1h"], "200", error=MAL),
    case("s1h-top-true", "A top-level true", ["S1h"], "true", error=MAL),
    case("s1h-top-null", "A top-level null", ["S1h"], "null", error=MAL),
])

# ------------------------------------------------------------------------------------------------
FILES["required/s02-s05-structure.json"] = ("S2-S5: micro_deposits, items, schema-valid bodies, missing and extra fields", [
    case("s2-empty-object", "No micro_deposits member: no records, not drift", ["S2"], "{}", strict=True, ok=[]),
    case("s2-null", "micro_deposits null: no records, not drift", ["S2"], '{"micro_deposits":null}', strict=True, ok=[]),
    case("s2-empty-array", "An empty array", ["S2"], OK_EMPTY, strict=True, ok=[]),
    case("s2-object", "micro_deposits is an object", ["S2"], '{"micro_deposits":{"micro_deposit":{}}}', error=MAL),
    case("s2-object-strict", "micro_deposits is an object, strict", ["S2"], '{"micro_deposits":{}}', strict=True, error=MAL),
    case("s2-string", "micro_deposits is a string", ["S2"], '{"micro_deposits":"[]"}', error=MAL),
    case("s2-number", "micro_deposits is a number", ["S2"], '{"micro_deposits":0}', error=MAL),
    case("s2-boolean", "micro_deposits is a boolean", ["S2"], '{"micro_deposits":false}', error=MAL),
    case("s2-other-members", "pagination and other top-level members are ignored, not drift", ["S2"],
         '{"pagination":{"current_page":1,"per_page":25,"total_entries":1,"total_pages":1},"micro_deposits":[{"micro_deposit":{"guid":"g"}}],"x":[1,2]}',
         strict=True, ok=[R(guid="g")]),
    *both("s3-items-without-microdeposit", "Items that carry no microdeposit are skipped", ["S3", "S4"],
          '{"micro_deposits":[1,"x",null,true,[],{},{"micro_deposit":null},{"micro_deposit":"x"},{"micro_deposit":[]},'
          '{"micro_deposit":7},{"micro_deposit":{"guid":"kept"}}]}', [R(guid="kept")]),
    case("s3-only-skipped-strict-last", "Strict: a skip in the last item raises even after clean records", ["S3", "S11"],
         '{"micro_deposits":[{"micro_deposit":{"guid":"a"}},{"micro_deposit":{"guid":"b"}},{"other":{}}]}',
         strict=True, error="schema_drift"),
    case("s3-item-other-members", "Members of an item other than micro_deposit are ignored, not drift", ["S3"],
         '{"micro_deposits":[{"links":{"self":"/x"},"micro_deposit":{"guid":"g"},"n":1}]}', strict=True, ok=[R(guid="g")]),
    case("s3-empty-micro-deposit", "An empty micro_deposit object is a record of nulls", ["S3", "S5a"],
         '{"micro_deposits":[{"micro_deposit":{}}]}', strict=True, ok=[R()]),
    case("s4-schema-valid-corners", "A schema-valid body with every odd corner parses in lenient mode", ["S4", "S3", "S5b", "S9e"],
         '{"micro_deposits":[null,{"micro_deposit":{"created_at":"yesterday","updated_at":"","verified_at":"2021-09-01","z":{"a":[1]}}},{}],"more":true}',
         ok=[R(extra={"z": {"a": [1]}})]),
    case("s5a-nulls", "Every field null (as real responses send for error_code, verified_at...): not drift", ["S5a"],
         doc({f: None for f in FIELDS}), strict=True, ok=[R()]),
    case("s5a-missing", "Every field missing except one", ["S5a"], doc({"status_name": "DEPOSITED"}), strict=True,
         ok=[R(status_name="DEPOSITED")]),
    case("s5b-extra-fields", "Unknown names are extra fields, case-sensitive, untrimmed, values as parsed; not drift", ["S5b"],
         doc({"Guid": "A", "guid ": "B", "guid": "C", "extra": {"nested": [1, 2.5, None, True]}, "amounts": [0.03, 0.05]}),
         strict=True, ok=[R(guid="C", extra={"Guid": "A", "guid ": "B", "extra": {"nested": [1, 2.5, None, True]},
                                              "amounts": [0.03, 0.05]})]),
    case("s5c-nothing-lost", "Coerced and dropped values are named in drift notes (strict raises on the first)", ["S5c", "S6", "S11"],
         doc({"first_name": True, "guid": "g"}), strict=True, error="schema_drift"),
    case("s5d-disagreeing-fields", "status/status_name and account_type/account_type_name disagree, verified_at "
         "without VERIFIED: reported as they came, not drift", ["S5d", "S10"],
         doc({"status": 3, "status_name": "DENIED", "account_type": 2, "account_type_name": "CHECKING",
              "verified_at": "2021-09-01T18:29:07.000Z"}),
         strict=True, ok=[R(status=3, status_name="DENIED", account_type=2, account_type_name="CHECKING",
                            verified_at="2021-09-01T18:29:07.000000Z")]),
])

# ------------------------------------------------------------------------------------------------
FILES["required/s06-s08-fields.json"] = ("S6-S8 and S10: string, routing number and integer fields, enumerations", [
    case("s6-strings-unchanged", "Strings are kept unchanged: empty, spaces, case, non-ASCII", ["S6"],
         doc({"account_name": "", "account_number": " 0012 ", "email": "MiXeD@Example.COM", "first_name": "Renée",
              "last_name": "O'Brien-Łukasz", "error_message": "line1\nline2"}),
         strict=True, ok=[R(account_name="", account_number=" 0012 ", email="MiXeD@Example.COM", first_name="Renée",
                            last_name="O'Brien-Łukasz", error_message="line1\nline2")]),
    *both("s6-integer-coerced", "Integers in string fields become their decimal representation", ["S6"],
          doc({"error_code": 4011, "account_name": -7, "email": 0, "account_number": 333312345}),
          [R(error_code="4011", account_name="-7", email="0", account_number="333312345")]),
    *both("s6-non-integer-nulled", "Booleans, fraction/exponent numbers (even 4011.0), arrays, objects become null", ["S6"],
          '{"micro_deposits":[{"micro_deposit":{"first_name":true,"last_name":false,"error_code":4011.0,"guid":1e2,'
          '"institution_name":[],"email":{},"status_name":["VERIFIED"]}}]}', [R()]),
    case("s7-nine-digit-string", "A 9-digit string is unchanged (no checksum check)", ["S7"],
         doc({"routing_number": "123456789"}), strict=True, ok=[R(routing_number="123456789")]),
    *both("s7-string-padded", "A string of 1 to 8 ASCII digits is left-padded to 9", ["S7"],
          '{"micro_deposits":[{"micro_deposit":{"routing_number":"91000019"}},{"micro_deposit":{"routing_number":"5"}},'
          '{"micro_deposit":{"routing_number":"00000000"}}]}',
          [R(routing_number="091000019"), R(routing_number="000000005"), R(routing_number="000000000")]),
    case("s7-other-strings-unchanged", "Other strings are unchanged and not drift", ["S7"],
         '{"micro_deposits":[' + ",".join('{"micro_deposit":{"routing_number":%s}}' % json.dumps(s, ensure_ascii=False) for s in
                                          ["", "0910000190", "09100001A", " 91000019", "091-000-019", "٠٩١٠٠٠٠١٩", "９１"]) + "]}",
         strict=True, ok=[R(routing_number=s) for s in ["", "0910000190", "09100001A", " 91000019", "091-000-019", "٠٩١٠٠٠٠١٩", "９１"]]),
    *both("s7-integer", "Integers: decimal representation, padded to 9 when 1 to 8 digits", ["S7"],
          '{"micro_deposits":[{"micro_deposit":{"routing_number":91000019}},{"micro_deposit":{"routing_number":0}},'
          '{"micro_deposit":{"routing_number":99999999}},{"micro_deposit":{"routing_number":123456789}},'
          '{"micro_deposit":{"routing_number":1234567890}},{"micro_deposit":{"routing_number":-5}}]}',
          [R(routing_number="091000019"), R(routing_number="000000000"), R(routing_number="099999999"),
           R(routing_number="123456789"), R(routing_number="1234567890"), R(routing_number="-5")]),
    case("s7-nine-digit-integer-strict", "A 9-digit integer is still drift (an integer came)", ["S7", "S11"],
         doc({"routing_number": 123456789}), strict=True, error="schema_drift"),
    *both("s7-nulled", "Booleans, fraction numbers, arrays and objects become null", ["S7"],
          '{"micro_deposits":[{"micro_deposit":{"routing_number":true}},{"micro_deposit":{"routing_number":91000019.0}},'
          '{"micro_deposit":{"routing_number":["091000019"]}},{"micro_deposit":{"routing_number":{}}}]}',
          [R(), R(), R(), R()]),
    case("s8-integers-unchanged", "Integers of any size, negative too, are unchanged", ["S8"],
         doc({"status": 12345678901234567890123, "account_type": -3}), strict=True,
         ok=[R(status=12345678901234567890123, account_type=-3)]),
    *both("s8-booleans", "Booleans are not integers", ["S8"], doc({"status": True, "account_type": False}), [R()]),
    *both("s8-integral-doubles", "Integral fraction/exponent numbers become that integer, exactly", ["S8"],
          '{"micro_deposits":[{"micro_deposit":{"status":1.0,"account_type":1e2}},{"micro_deposit":{"status":-0.0,'
          '"account_type":1e20}},{"micro_deposit":{"status":2.50e1,"account_type":-3.0}}]}',
          [R(status=1, account_type=100), R(status=0, account_type=100000000000000000000), R(status=25, account_type=-3)]),
    *both("s8-non-integral", "A non-integral number becomes null", ["S8"],
          '{"micro_deposits":[{"micro_deposit":{"status":1.5,"account_type":-0.25}}]}', [R()]),
    *both("s8-digit-strings", "Strings of ASCII digits become integers", ["S8"],
          doc({"status": "1", "account_type": "007"}), [R(status=1, account_type=7)]),
    *both("s8-other-strings", "Other strings become null", ["S8"],
          '{"micro_deposits":[' + ",".join('{"micro_deposit":{"status":%s,"account_type":%s}}' % (json.dumps(a, ensure_ascii=False), json.dumps(b, ensure_ascii=False))
                                           for a, b in [("", "-1"), ("+1", " 1"), ("1.0", "١"), ("1 ", "0x1")]) + "]}",
          [R(), R(), R(), R()]),
    *both("s8-containers", "Arrays and objects become null", ["S8"], doc({"status": [1], "account_type": {"id": 1}}), [R()]),
    case("s10-unknown-enums", "Unknown statuses and names are kept, not drift; PREINITIATED 9 is known", ["S10"],
         '{"micro_deposits":[{"micro_deposit":{"status":42,"status_name":"ON_HOLD","account_type":3,"account_type_name":"BROKERAGE"}},'
         '{"micro_deposit":{"status":9,"status_name":"PREINITIATED"}},{"micro_deposit":{"status":-1,"status_name":"verified"}}]}',
         strict=True, ok=[R(status=42, status_name="ON_HOLD", account_type=3, account_type_name="BROKERAGE"),
                          R(status=9, status_name="PREINITIATED"), R(status=-1, status_name="verified")]),
    case("s10-all-statuses", "Statuses 0 to 9 with their names", ["S10"],
         doc(*({"status": i, "status_name": n} for i, n in enumerate(
             "INITIATED REQUESTED DEPOSITED VERIFIED ERRORED DENIED PREVENTED CONFLICTED REJECTED PREINITIATED".split()))),
         strict=True, ok=[R(status=i, status_name=n) for i, n in enumerate(
             "INITIATED REQUESTED DEPOSITED VERIFIED ERRORED DENIED PREVENTED CONFLICTED REJECTED PREINITIATED".split())]),
])

# ------------------------------------------------------------------------------------------------
def ts(*triples):
    """Records from (created_at, updated_at, verified_at) input triples."""
    return doc(*({"created_at": a, "updated_at": b, "verified_at": c} for a, b, c in triples))


def tr(*triples):
    return [R(created_at=a, updated_at=b, verified_at=c) for a, b, c in triples]


S9E_BAD = [
    "", "2021-09-01", "2021-09-01 18:29:06Z", "2021-09-01T18Z", "2021-W35-3T18:29:06Z", "2021-09-01T18:29:06,123Z",
    "2021-09-01T18:29:06+0530", "2021-09-01T18:29:06+05", "2021-09-01T18:29:06.Z", "2021-09-01T18:29:06.1234567890Z",
    "2021-09-01T24:00:00Z", "2021-09-01T18:29:60Z", "2021-02-29T00:00:00Z", "1900-02-29T00:00:00Z",
    "0000-01-01T00:00:00Z", "2021-13-01T00:00:00Z", "2021-04-31T00:00:00Z", "2021-09-01T18:29:06+24:00",
    "2021-09-01T18:29:06+05:60", "2021-09-01T18:29:06Z\n", " 2021-09-01T18:29:06Z", "2021-09-01T18:29:06ZZ",
    "٢٠٢١-09-01T18:29:06Z", "2021-9-1T18:29:06Z", "2021-09-01T18:29Z", "20210901T182906Z", "2021-09-01T18:29:06 Z",
    "2021-00-10T00:00:00Z", "2021-01-00T00:00:00Z", "2021-09-01T18:60:00Z",
]
FILES["required/s09-timestamps.json"] = ("S9: timestamps", [
    case("s9a-utc-and-offsets", "Z and offsets are converted to UTC with six fraction digits; not drift", ["S9a", "S12"],
         ts(("2021-09-01T18:29:06.000Z", "2021-10-22T21:44:38.000+05:30", "2021-10-22T21:44:38.000+00:00"),
            ("2021-10-08T21:39:07+00:00", "2021-10-08T21:39:07-00:00", "2021-09-01t18:29:06.5z"),
            ("2021-12-31T23:30:00-01:00", "2024-03-01T00:15:00+00:30", "2021-09-01T18:29:06.123456Z")),
         strict=True, ok=tr(("2021-09-01T18:29:06.000000Z", "2021-10-22T16:14:38.000000Z", "2021-10-22T21:44:38.000000Z"),
                            ("2021-10-08T21:39:07.000000Z", "2021-10-08T21:39:07.000000Z", "2021-09-01T18:29:06.500000Z"),
                            ("2022-01-01T00:30:00.000000Z", "2024-02-29T23:45:00.000000Z", "2021-09-01T18:29:06.123456Z"))),
    case("s9a-edges", "Year 0001 and 9999, leap days, offsets 23:59", ["S9a", "S12"],
         ts(("0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z", "2000-02-29T12:00:00Z"),
            ("0001-01-01T00:00:00-01:00", "9999-12-31T23:59:59+23:59", "2020-02-29T23:59:59+00:00"),
            ("0999-06-15T01:02:03.4Z", "2021-09-01T00:00:00+23:59", "2021-09-01T23:59:00-23:59")),
         strict=True, ok=tr(("0001-01-01T00:00:00.000000Z", "9999-12-31T23:59:59.999999Z", "2000-02-29T12:00:00.000000Z"),
                            ("0001-01-01T01:00:00.000000Z", "9999-12-31T00:00:59.000000Z", "2020-02-29T23:59:59.000000Z"),
                            ("0999-06-15T01:02:03.400000Z", "2021-08-31T00:01:00.000000Z", "2021-09-02T23:58:00.000000Z"))),
    *both("s9b-no-zone", "No Z or offset: taken as UTC, drift", ["S9b"],
          ts(("2021-09-01T18:29:06", "2021-09-01T18:29:06.000", None)),
          tr(("2021-09-01T18:29:06.000000Z", "2021-09-01T18:29:06.000000Z", None))),
    *both("s9c-truncated", "7 to 9 fraction digits are truncated, not rounded, to 6; drift", ["S9c"],
          ts(("2021-09-01T18:29:06.1234567Z", "2021-09-01T18:29:06.999999999Z", "2021-09-01T18:29:06.00000019+01:00")),
          tr(("2021-09-01T18:29:06.123456Z", "2021-09-01T18:29:06.999999Z", "2021-09-01T17:29:06.000000Z"))),
    case("s9c-short-fractions", "1 to 6 fraction digits: no drift", ["S9c"],
         ts(("2021-09-01T18:29:06.1Z", "2021-09-01T18:29:06.12345Z", "2021-09-01T18:29:06.000001Z")), strict=True,
         ok=tr(("2021-09-01T18:29:06.100000Z", "2021-09-01T18:29:06.123450Z", "2021-09-01T18:29:06.000001Z"))),
    *both("s9b-s9c-together", "No zone and 9 fraction digits: one drift note for the field", ["S9b", "S9c"],
          ts(("2021-09-01T18:29:06.123456789", None, None)), tr(("2021-09-01T18:29:06.123456Z", None, None))),
    *both("s9d-out-of-range", "Accepted, but the UTC instant is outside years 0001-9999: null, drift", ["S9d"],
          ts(("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0001-01-01T00:59:59.999999+01:00")),
          tr((None, None, None))),
    *both("s9e-not-timestamps", "Strings that do not match the pattern or are out of range: null, drift", ["S9e"],
          ts(*[tuple(S9E_BAD[i:i + 3]) for i in range(0, len(S9E_BAD), 3)]),
          tr(*[(None, None, None)] * (len(S9E_BAD) // 3))),
    *both("s9e-non-strings", "Non-strings (an integer is not a Unix time): null, drift", ["S9e"],
          '{"micro_deposits":[{"micro_deposit":{"created_at":1630520946,"updated_at":true,"verified_at":{"t":"2021-09-01T18:29:06Z"}}},'
          '{"micro_deposit":{"created_at":1630520946.5,"updated_at":["2021-09-01T18:29:06Z"]}}]}', tr((None, None, None), (None, None, None))),
    case("s9e-one-bad-strict", "Strict: one bad timestamp among good ones raises", ["S9e", "S11"],
         ts(("2021-09-01T18:29:06Z", "2021-09-01T18:29:06Z", "2021-09-01T18:29:06Z"),
            ("2021-09-01T18:29:06Z", "2021-09-01T18:29:06Z", "2021-09-01 18:29:06Z")), strict=True, error="schema_drift"),
])

# ------------------------------------------------------------------------------------------------
FILES["required/s11-s12-strict-canonical.json"] = ("S11 strict mode and S12 canonical form", [
    case("s11-clean-strict", "Strict mode: a body with no drift parses the same as lenient", ["S11", "S12"],
         doc(CLEAN_MD, {"guid": "MIC-2", "status": 2, "status_name": "DEPOSITED", "error_code": None}),
         strict=True, ok=[SEED_REC, R(guid="MIC-2", status=2, status_name="DEPOSITED")]),
    case("s11-not-drift-strict", "Not drift: nulls, extras, unknown enums, offsets, null micro_deposits members in items",
         ["S11", "S5a", "S5b", "S10", "S9a", "S3"],
         '{"micro_deposits":[{"micro_deposit":{"status":77,"status_name":"NEW","created_at":"2021-09-01T18:29:06.000-07:00",'
         '"verified_at":null,"x":null}},{"micro_deposit":{},"pagination":null}],"pagination":{}}',
         strict=True, ok=[R(status=77, status_name="NEW", created_at="2021-09-02T01:29:06.000000Z", extra={"x": None}), R()]),
    case("s11-drift-in-later-item", "Strict: drift in the third item after two clean ones", ["S11", "S8"],
         doc(CLEAN_MD, CLEAN_MD, {"status": "2"}), strict=True, error="schema_drift"),
    case("s11-lenient-many-notes", "Lenient: several notes in several items never raise", ["S11", "S3", "S6", "S7", "S8", "S9b"],
         '{"micro_deposits":[{"micro_deposit":{"status":"3","routing_number":91000019}},"junk",'
         '{"micro_deposit":{"error_code":4011,"created_at":"2021-09-01T18:29:06"}}]}',
         ok=[R(status=3, routing_number="091000019"), R(error_code="4011", created_at="2021-09-01T18:29:06.000000Z")]),
    case("s12-order-and-extra", "Records in array order, one per item that carries one; extra keeps nested values", ["S12", "S5b", "S3"],
         '{"micro_deposits":[{"micro_deposit":{"guid":"MIC-b"}},null,{"micro_deposit":{"guid":"MIC-a","extra_list":[{"k":[true,false,null]}],'
         '"big":123456789012345678901234567890,"neg":-0.5,"s":"\\u00fc"}}]}',
         ok=[R(guid="MIC-b"), R(guid="MIC-a", extra={"extra_list": [{"k": [True, False, None]}],
                                                     "big": 123456789012345678901234567890, "neg": -0.5, "s": "ü"})]),
    case("s12-member-order-free", "Fields in any order give the same record", ["S12"],
         '{"micro_deposits":[{"micro_deposit":{"verified_at":null,"status":3,"guid":"g","account_name":"a","zz":1,"aa":2}}]}',
         strict=True, ok=[R(account_name="a", guid="g", status=3, extra={"aa": 2, "zz": 1})]),
])

# ------------------------------------------------------------------------------------------------
E4011 = '{"error":{"code":4011,"message":"Session expired"}}'
FILES["required/s14-status.json"] = ("S14: from status to outcome", [
    case("s14-200", "200 is parsed", ["S14"], doc({"guid": "g"}), ok=[R(guid="g")]),
    case("s14-201-any-content-type", "Any 2xx is parsed whatever its Content-Type", ["S14"], doc({"guid": "g"}),
         status=201, headers=[["Content-Type", "text/plain"]], ok=[R(guid="g")]),
    case("s14-299", "299 is parsed", ["S14"], OK_EMPTY, status=299, ok=[]),
    case("s14-204-empty", "204 with an empty body is malformed_response", ["S14", "S1c"], "", status=204, headers=[], error=MAL),
    case("s14-200-with-4011", "A 2xx body with an error code is parsed, not an error", ["S14", "S2"],
         E4011, ok=[]),
    case("s14-301", "301 is unexpected_redirect", ["S14"], "", status=301,
         headers=[["Location", "https://evil.example/micro_deposits"]], error="unexpected_redirect"),
    case("s14-302-with-4011", "A 3xx with code 4011 is still unexpected_redirect (3xx is checked first)", ["S14", "S15"],
         E4011, status=302, headers=[["location", "/login"]], error="unexpected_redirect"),
    case("s14-300", "300", ["S14"], "", status=300, error="unexpected_redirect"),
    case("s14-304", "304 without Location", ["S14"], "", status=304, headers=[], error="unexpected_redirect"),
    case("s14-307", "307", ["S14"], OK_EMPTY, status=307, headers=[["Location", "http://127.0.0.1:1/"]], error="unexpected_redirect"),
    case("s14-399", "399", ["S14"], "", status=399, error="unexpected_redirect"),
    case("s14-401", "401 without 4011 is unauthorized", ["S14"], '{"error":{"code":"4010","message":"Unauthorized"}}',
         status=401, error="unauthorized"),
    case("s14-401-empty", "401 with an empty body", ["S14"], "", status=401, error="unauthorized"),
    case("s14-401-4011", "401 with code 4011 (integer, nested) is session_expired", ["S14", "S15"], E4011,
         status=401, error="session_expired"),
    case("s14-400-4011-string", "400 with code \"4011\" (string, top level) is session_expired", ["S14", "S15"],
         '{"code":"4011","message":"Session expired"}', status=400, error="session_expired"),
    case("s14-403-4011-int", "403 with code 4011 (integer, top level) is session_expired", ["S14", "S15"],
         '{"code":4011}', status=403, error="session_expired"),
    case("s14-404-4011", "404 with code 4011", ["S14", "S15"], '{"error":{"code":"4011"}}', status=404, error="session_expired"),
    case("s14-500-4011", "500 with code 4011", ["S14", "S15"], E4011, status=500, error="session_expired"),
    case("s14-403", "403", ["S14"], '{"error":{"code":"4030","message":"Forbidden"}}', status=403, error="forbidden"),
    case("s14-404", "404", ["S14"], '{"error":{"code":"4040","message":"Not found"}}', status=404, error="not_found"),
    case("s14-429", "429", ["S14"], '{"error":{"code":"4290","message":"Too many requests"}}', status=429,
         headers=[["Retry-After", "1"]], error="rate_limited"),
    case("s14-500", "500", ["S14"], "", status=500, error="server_error"),
    case("s14-502-html", "502 with an HTML body", ["S14"], "<html><body>Bad Gateway</body></html>", status=502,
         headers=[["Content-Type", "text/html"]], error="server_error"),
    case("s14-503", "503", ["S14"], '{"error":{"code":5030}}', status=503, error="server_error"),
    case("s14-599", "599", ["S14"], "", status=599, error="server_error"),
    case("s14-400", "400 is http_error", ["S14"], '{"error":{"code":4001,"message":"Bad request"}}', status=400, error="http_error"),
    case("s14-409", "409", ["S14"], "", status=409, error="http_error"),
    case("s14-422", "422", ["S14"], '{"code":4220}', status=422, error="http_error"),
    case("s14-402", "402", ["S14"], "", status=402, error="http_error"),
    case("s14-100", "1xx", ["S14"], "", status=100, error="http_error"),
    case("s14-199", "199", ["S14"], "", status=199, error="http_error"),
    case("s14-600", "600+", ["S14"], E4011[:-1], status=600, error="http_error"),
    case("s14-600-4011", "600 with code 4011", ["S14", "S15"], E4011, status=600, error="session_expired"),
])

# ------------------------------------------------------------------------------------------------
FILES["required/s15-error-bodies.json"] = ("S15: error bodies", [
    case("s15-nested-int", "error.code integer", ["S15"], E4011, status=401, error="session_expired"),
    case("s15-nested-string", "error.code string", ["S15"], '{"error":{"code":"4011"}}', status=401, error="session_expired"),
    case("s15-top-level-string", "top-level code string", ["S15"], '{"code":"4011"}', status=401, error="session_expired"),
    case("s15-top-level-int", "top-level code integer", ["S15"], '{"code":4011,"message":"expired"}', status=401, error="session_expired"),
    case("s15-nested-null-falls-back", "error.code null: the top-level code is taken", ["S15"],
         '{"error":{"code":null,"message":"x"},"code":4011}', status=401, error="session_expired"),
    case("s15-nested-missing-falls-back", "error has no code: the top-level code is taken", ["S15"],
         '{"error":{"message":"Session expired"},"code":"4011"}', status=403, error="session_expired"),
    case("s15-error-string", "error is a string: it is the message, not the code", ["S15"],
         '{"error":"4011"}', status=401, error="unauthorized"),
    case("s15-float-code", "A fraction number is not a code", ["S15"], '{"code":4011.0}', status=401, error="unauthorized"),
    case("s15-bool-code", "A boolean is not a code", ["S15"], '{"code":true}', status=401, error="unauthorized"),
    case("s15-array-code", "An array is not a code", ["S15"], '{"error":{"code":[4011]}}', status=403, error="forbidden"),
    case("s15-padded-string", "Codes are compared exactly: \" 4011\" and \"04011\" are not 4011", ["S15"],
         '{"error":{"code":" 4011"}}', status=401, error="unauthorized"),
    case("s15-leading-zero-string", "\"04011\" is not 4011", ["S15"], '{"code":"04011"}', status=404, error="not_found"),
    case("s15-other-code", "code 4010", ["S15"], '{"code":4010}', status=401, error="unauthorized"),
    case("s15-html", "A non-JSON error body: no code", ["S15"], "<html>Session expired 4011</html>", status=401, error="unauthorized"),
    case("s15-text", "A plain-text error body", ["S15"], "4011", status=401, error="unauthorized"),
    case("s15-invalid-utf8", "An error body that is not UTF-8: no code", ["S15"],
         b64=b'{"code":"4011","message":"\xff"}', status=401, error="unauthorized"),
    case("s15-bom", "An error body with a BOM is read", ["S15", "S1a"],
         b64=b'\xef\xbb\xbf{"code":"4011"}', status=401, error="session_expired"),
    case("s15-top-level-array", "An error body that is an array: no code", ["S15", "S1h"],
         '[{"code":4011}]', status=401, error="unauthorized"),
    case("s15-nan-anywhere", "An error body with NaN fails S1: no code", ["S15", "S1c"],
         '{"code":"4011","retry":NaN}', status=401, error="unauthorized"),
    case("s15-truncated", "A truncated error body: no code", ["S15", "S1c"], '{"error":{"code":4011,"mess', status=500, error="server_error"),
    case("s15-duplicate-keys", "Duplicate keys in an error body: the last wins", ["S15", "S1g"],
         '{"code":4011,"code":"4010"}', status=401, error="unauthorized"),
    case("s15-duplicate-keys-last-4011", "Duplicate keys: the last value 4011 wins", ["S15", "S1g"],
         '{"code":"4010","code":4011}', status=429, error="session_expired"),
    case("s15-error-not-object", "error is a number: top-level code taken", ["S15"], '{"error":5,"code":4011}', status=400,
         error="session_expired"),
    case("s15-empty-body-429", "An empty 429 body", ["S15"], "", status=429, error="rate_limited"),
    case("s15-deep-error-body", "An error body nested past 64: no code", ["S15", "S1f"],
         '{"code":4011,"x":' + "[" * 70 + "]" * 70 + "}", status=401, error="unauthorized"),
])

# ------------------------------------------------------------------------------------------------
N = 10000
MB_STRING = "é" * 262144 + "x" * 524288  # 786432 characters, 1048576 bytes of UTF-8
D4300 = "7" * 4300


# Boundaries of MUST rules (S1d, S1f, S6/S8 "-0"): required, though some bodies are long.
FILES["required/s01-boundaries.json"] = ("Boundaries: 4300 digits, depth 64, -0", [
    case("boundary-4300-digit-integer", "An integer with exactly 4300 digits, in an integer, a string field and extra", ["S1d", "S6", "S8"],
         '{"micro_deposits":[{"micro_deposit":{"status":%s,"account_number":-%s,"x":%s}}]}' % (D4300, D4300, D4300),
         ok=[R(status=int(D4300), account_number="-" + D4300, extra={"x": int(D4300)})]),
    case("boundary-4300-digit-string", "A string of 4300 ASCII digits becomes an integer (S8); 4301 becomes null", ["S8"],
         '{"micro_deposits":[{"micro_deposit":{"status":"%s","account_type":"%s"}}]}' % (D4300, D4300 + "7"),
         ok=[R(status=int(D4300))]),
    case("boundary-depth-64", "Arrays and objects up to depth exactly 64 are fine", ["S1f"],
         '{"micro_deposits":[{"micro_deposit":{"x":' + "[" * 60 + "]" * 60 + "}}]}",
         strict=True, ok=[R(extra={"x": json.loads("[" * 60 + "]" * 60)})]),
    case("boundary-depth-64-scalar-at-65", "A scalar at depth 65 is fine: only arrays and objects count", ["S1f"],
         '{"micro_deposits":[{"micro_deposit":{"x":' + "[" * 60 + "1" + "]" * 60 + "}}]}",
         strict=True, ok=[R(extra={"x": json.loads("[" * 60 + "1" + "]" * 60)})]),
    case("boundary-top-depth-64", "A body of 64 nested objects", ["S1f", "S2"], '{"a":' * 63 + "{}" + "}" * 63,
         strict=True, ok=[]),
    case("boundary-top-depth-65", "A body of 65 nested objects", ["S1f"], '{"a":' * 64 + "{}" + "}" * 64, error=MAL),
    case("boundary-negative-zero-integer", "-0 is the integer 0 (no fraction, no exponent): \"0\" in a string field", ["S1d", "S6", "S7"],
         '{"micro_deposits":[{"micro_deposit":{"account_name":-0,"status":-0,"routing_number":-0}}]}',
         ok=[R(account_name="0", status=0, routing_number="000000000")]),
])

# ------------------------------------------------------------------------------------------------
# Values that generated bodies hit too rarely to be seen: month ends, leap years, rollovers.

# Days in each month of a common year, written out (not computed): the table S9 refers to.
MONTH_DAYS = {1: 31, 2: 28, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}
LEAP = {1900: False, 2000: True, 2021: False, 2023: False, 2024: True, 2100: False, 2400: True,
        4: True, 100: False, 9996: True}  # S9: divisible by 4, except centuries not divisible by 400


def last_day(y, m):
    return 29 if m == 2 and LEAP[y] else MONTH_DAYS[m]


def stamp(y, m, d, hms="12:00:00", frac="000000"):
    """The canonical S12 form of a UTC instant."""
    return "%04d-%02d-%02dT%s.%sZ" % (y, m, d, hms, frac)


def ts_notes(count, fields=("created_at", "updated_at", "verified_at"), action="nulled", rule="S9e"):
    return [note(i, f, "string", action, rule) for i in range(count) for f in fields]


_MONTHS = range(1, 13)
_FEB_YEARS = (1900, 2000, 2100, 2400, 2023, 2024, 4, 100, 9996)

FILES["required/s09-calendar.json"] = ("S9: the calendar: the last day of every month, 29 and 30 February in "
                                       "leap and common years, instants that roll over a month's end", [
    case("s9-last-day-of-each-month", "The last day of every month of 2021 (common), 2024 (leap) and 2100 "
         "(a century that is not a leap year) is accepted", ["S9", "S9a"],
         ts(*(("%04d-%02d-%02dT12:00:00Z" % (2021, m, last_day(2021, m)),
               "%04d-%02d-%02dT12:00:00Z" % (2024, m, last_day(2024, m)),
               "%04d-%02d-%02dT12:00:00Z" % (2100, m, last_day(2100, m))) for m in _MONTHS)),
         strict=True, ok=tr(*((stamp(2021, m, last_day(2021, m)), stamp(2024, m, last_day(2024, m)),
                               stamp(2100, m, last_day(2100, m))) for m in _MONTHS)), drift=[]),
    *both("s9-day-after-last-day", "The day after the last day of every month (31 April, 29 February 2021, "
          "30 February 2024, 29 February 2100, 32 January...) is out of range: null, drift", ["S9", "S9e"],
          ts(*(("%04d-%02d-%02dT12:00:00Z" % (2021, m, last_day(2021, m) + 1),
                "%04d-%02d-%02dT12:00:00Z" % (2024, m, last_day(2024, m) + 1),
                "%04d-%02d-%02dT12:00:00Z" % (2100, m, last_day(2100, m) + 1)) for m in _MONTHS)),
          tr(*[(None, None, None)] * 12), drift=ts_notes(12)),
    *both("s9-february-by-year", "28, 29 and 30 February in 1900, 2000, 2100, 2400, 2023, 2024, 0004, 0100 "
          "and 9996: the 28th always, the 29th only in leap years (centuries only when divisible by 400), the "
          "30th never", ["S9", "S9e"],
          ts(*(("%04d-02-28T00:00:00Z" % y, "%04d-02-29T00:00:00Z" % y, "%04d-02-30T00:00:00Z" % y) for y in _FEB_YEARS)),
          tr(*((stamp(y, 2, 28, "00:00:00"), stamp(y, 2, 29, "00:00:00") if LEAP[y] else None, None) for y in _FEB_YEARS)),
          drift=[note(i, f, "string", "nulled", "S9e") for i, y in enumerate(_FEB_YEARS)
                 for f in (("verified_at",) if LEAP[y] else ("updated_at", "verified_at"))]),
    case("s9-rollover-forward", "An offset moves the instant past the end of the month: 23:30-01:00 on the last "
         "day of every month of 2021 and of February 1900, 2000, 2024 and 2100 is 00:30 on the 1st of the next",
         ["S9a"],
         ts(*[("%04d-%02d-%02dT23:30:00-01:00" % (y, m, last_day(y, m)), None, None)
              for y, m in [(2021, m) for m in _MONTHS] + [(1900, 2), (2000, 2), (2024, 2), (2100, 2)]]),
         strict=True, ok=tr(*[(stamp(y + (m == 12), m % 12 + 1, 1, "00:30:00"), None, None)
                              for y, m in [(2021, m) for m in _MONTHS] + [(1900, 2), (2000, 2), (2024, 2), (2100, 2)]]),
         drift=[]),
    case("s9-rollover-backward", "An offset moves the instant back before the 1st: 00:30+01:00 on the 1st of every "
         "month of 2021 and on 1 March 1900, 2000, 2024 and 2100 is 23:30 on the last day of the month before",
         ["S9a"],
         ts(*[("%04d-%02d-01T00:30:00+01:00" % (y, m), None, None)
              for y, m in [(2021, m) for m in _MONTHS] + [(1900, 3), (2000, 3), (2024, 3), (2100, 3)]]),
         strict=True, ok=tr(*[(stamp(y - (m == 1), (m - 2) % 12 + 1, last_day(y - (m == 1) if m == 1 else y, (m - 2) % 12 + 1),
                                     "23:30:00"), None, None)
                              for y, m in [(2021, m) for m in _MONTHS] + [(1900, 3), (2000, 3), (2024, 3), (2100, 3)]]),
         drift=[]),
    case("s9-rollover-minutes", "Offsets with minutes cross day and month ends: +05:45 and -09:30", ["S9a"],
         ts(("2021-03-01T05:44:00+05:45", "2021-02-28T14:30:00-09:30", "2024-03-01T05:00:00+05:45")),
         strict=True, ok=tr(("2021-02-28T23:59:00.000000Z", "2021-03-01T00:00:00.000000Z", "2024-02-29T23:15:00.000000Z")),
         drift=[]),
    *both("s9c-s9d-together", "7 to 9 fraction digits and a UTC instant outside 0001-9999: null, and the note is "
          "S9d's (nulled), not S9c's", ["S9c", "S9d"],
          ts(("0001-01-01T00:00:00.1234567+01:00", "9999-12-31T23:59:59.999999999-01:00", "0001-01-01T00:59:59.12345678+01:00")),
          tr((None, None, None)), drift=ts_notes(1, rule="S9d")),
])

# ------------------------------------------------------------------------------------------------
# A full record (all 17 fields) where exactly one value needs a coercion: one record per field, so
# that a coercion or a note charged to the wrong field, or a note lost among clean ones, shows.
FULL_MD = dict(CLEAN_MD, error_code="E_NONE", error_message="none", verified_at="2021-09-01T18:29:08.000Z")
FULL_REC = dict(SEED_REC, error_code="E_NONE", error_message="none", verified_at="2021-09-01T18:29:08.000000Z")
ONE_COERCION = [  # field, value that came, its JSON type, canonical value, action, rule
    ("account_name", 12345, "integer", "12345", "coerced", "S6"),
    ("account_number", 333312345, "integer", "333312345", "coerced", "S6"),
    ("account_type", "1", "string", 1, "coerced", "S8"),
    ("account_type_name", 2, "integer", "2", "coerced", "S6"),
    ("created_at", "2021-09-01T18:29:06", "string", "2021-09-01T18:29:06.000000Z", "assumed_utc", "S9b"),
    ("email", True, "boolean", None, "nulled", "S6"),
    ("error_code", 4011, "integer", "4011", "coerced", "S6"),
    ("error_message", ["x"], "array", None, "nulled", "S6"),
    ("first_name", 1.5, "number", None, "nulled", "S6"),
    ("guid", {"id": 1}, "object", None, "nulled", "S6"),
    ("institution_name", 0, "integer", "0", "coerced", "S6"),
    ("last_name", -7, "integer", "-7", "coerced", "S6"),
    ("routing_number", 91000019, "integer", "091000019", "padded", "S7"),
    ("status", 1.0, "number", 1, "coerced", "S8"),
    ("status_name", 3, "integer", "3", "coerced", "S6"),
    ("updated_at", "2021-09-01T18:29:07.1234567Z", "string", "2021-09-01T18:29:07.123456Z", "truncated", "S9c"),
    ("verified_at", 1630520947, "integer", None, "nulled", "S9e"),
]
assert [f for f, *_ in ONE_COERCION] == FIELDS
_ONE_BODY = doc(*(dict(FULL_MD, **{f: v}) for f, v, *_ in ONE_COERCION))
FILES["required/s05-one-coercion.json"] = ("S5-S9, S11: a full record where exactly one of the 17 values needs a "
                                           "coercion, for every field", [
    case("s5-full-record-clean", "All 17 fields present and clean: no drift", ["S5", "S11", "S12"],
         doc(FULL_MD), strict=True, ok=[FULL_REC], drift=[]),
    case("s5-one-coercion-per-field", "17 full records; record i has exactly one value to coerce, in field i (spec "
         "order): 17 notes, one per item, each naming its field", ["S5", "S6", "S7", "S8", "S9b", "S9c", "S9e", "S11"],
         _ONE_BODY, ok=[dict(FULL_REC, **{f: want}) for f, _v, _t, want, _a, _r in ONE_COERCION],
         drift=[note(i, f, t, a, r) for i, (f, _v, t, _w, a, r) in enumerate(ONE_COERCION)]),
    *(case("s5-one-coercion-%s-strict" % f.replace("_", "-"), "Strict: a full record whose only coercion is in %s "
           "raises schema_drift naming that field" % f, ["S5", r, "S11"],
           doc(FULL_MD, dict(FULL_MD, **{f: v})), strict=True, error="schema_drift", drift=[note(1, f, t, a, r)])
      for f, v, t, _w, a, r in ONE_COERCION),
])

# ------------------------------------------------------------------------------------------------
_DEEP63 = "[" * 63 + "]" * 63  # arrays at depths 2 to 64 as a top-level member's value
FILES["required/s01-s05-edges.json"] = ("S1c controls, S1f depth beside many containers, S5b letter case", [
    case("s1c-del-and-c1-unescaped", "DEL (U+007F) and the C1 controls U+0080 and U+009F may appear unescaped in a "
         "string: only U+0000 to U+001F must be escaped", ["S1c"],
         b64=BAD_UTF8 % "a\x7fb\u0080c\u009fd".encode("utf-8"), strict=True, ok=[R(account_name="a\x7fb\u0080c\u009fd")],
         drift=[]),
    case("s1c-unescaped-u001f", "U+001F (the last C0 control) unescaped in a string", ["S1c"],
         b64=BAD_UTF8 % b"a\x1fb", error=MAL),
    case("s1c-unescaped-nul", "U+0000 unescaped in a string", ["S1c"], b64=BAD_UTF8 % b"a\x00b", error=MAL),
    case("s1c-unescaped-newline-in-name", "A raw line feed inside a member name", ["S1c"],
         b64=b'{"micro_deposits":[{"micro_deposit":{"gu\nid":"g"}}]}', error=MAL),
    case("s1c-escaped-controls", "Escaped, every C0 control is fine (\\u001f, \\u0000, \\n)", ["S1c"],
         '{"micro_deposits":[{"micro_deposit":{"account_name":"a\\u001fb\\u0000c\\nd"}}]}', strict=True,
         ok=[R(account_name="a\x1fb\x00c\nd")], drift=[]),
    case("s1f-many-items-beside-deep-value", "300 items without a microdeposit beside a value whose arrays reach "
         "depth exactly 64: depth is nesting, not a count of containers (fine)", ["S1f", "S3"],
         '{"micro_deposits":[' + ",".join(["{}"] * 300) + '],"x":' + _DEEP63 + "}",
         ok=[], drift=[note(i, None, "null", "skipped", "S3") for i in range(300)]),
    case("s1f-many-items-beside-deep-value-strict", "The same in strict mode: the first skipped item raises", ["S1f", "S3", "S11"],
         '{"micro_deposits":[' + ",".join(["{}"] * 300) + '],"x":' + _DEEP63 + "}", strict=True,
         error="schema_drift", drift=[note(0, None, "null", "skipped", "S3")]),
    case("s1f-many-records-beside-deep-value", "200 records beside one whose extra value reaches depth exactly 64",
         ["S1f", "S5b"],
         '{"micro_deposits":[' + ",".join(['{"micro_deposit":{}}'] * 200) + ',{"micro_deposit":{"x":'
         + "[" * 60 + "]" * 60 + "}}]}",
         strict=True, ok=[R()] * 200 + [R(extra={"x": json.loads("[" * 60 + "]" * 60)})], drift=[]),
    case("s1f-many-items-beside-depth-65", "300 items beside a value one level deeper (depth 65)", ["S1f"],
         '{"micro_deposits":[' + ",".join(["{}"] * 300) + '],"x":[' + _DEEP63 + "]}", error=MAL),
    case("s1f-wide-and-shallow", "10000 sibling arrays of depth 3 (a wide body is not a deep one)", ["S1f", "S5b"],
         '{"micro_deposits":[{"micro_deposit":{"x":[' + ",".join(["[]"] * 10000) + "]}}]}",
         strict=True, ok=[R(extra={"x": [[]] * 10000})], drift=[]),
    case("s5b-other-case-only", "Names in another letter case, without the exact-case field, are extra fields: "
         "Guid, STATUS, Status_Name, Routing_Number; the fields themselves are null (not drift)", ["S5b", "S5a"],
         doc({"Guid": "MIC-1", "STATUS": 1, "Status_Name": "VERIFIED", "Routing_Number": 91000019, "EMAIL": "a@b.c",
              "Created_At": "2021-09-01T18:29:06Z"}),
         strict=True, ok=[R(extra={"Guid": "MIC-1", "STATUS": 1, "Status_Name": "VERIFIED", "Routing_Number": 91000019,
                                   "EMAIL": "a@b.c", "Created_At": "2021-09-01T18:29:06Z"})], drift=[]),
    case("s5b-padded-names-only", "Names with spaces around them are extra fields", ["S5b", "S5a"],
         doc({" guid": "a", "status ": 1, "guid\t": "b"}), strict=True,
         ok=[R(extra={" guid": "a", "status ": 1, "guid\t": "b"})], drift=[]),
])

# ------------------------------------------------------------------------------------------------
FILES["required/s14-s15-decisions.json"] = ("S14 1xx and out-of-range statuses in parse; S15 with a non-object "
                                            "error and with an unusable nested code", [
    case("s15-nested-true-top-4011", 'SEMANTICS S15\'s own example: {"error": {"code": true}, "code": 4011} has no '
         "code (true was present, then dropped): 401 is unauthorized", ["S15", "S14"],
         '{"error":{"code":true},"code":4011}', status=401, error="unauthorized"),
    case("s15-nested-true-top-4011-on-400", "The same body with 400: http_error, not session_expired", ["S15", "S14"],
         '{"error":{"code":true},"code":4011}', status=400, error="http_error"),
    case("s15-nested-float-top-4011", "error.code 4011.0 is present: the top-level 4011 is not consulted", ["S15"],
         '{"error":{"code":4011.0},"code":4011}', status=403, error="forbidden"),
    case("s15-nested-array-top-4011", "error.code [] is present: no code", ["S15"],
         '{"error":{"code":[],"message":"x"},"code":"4011"}', status=404, error="not_found"),
    case("s15-nested-empty-string", 'error.code "" is a code (a string): the top-level 4011 is not consulted', ["S15"],
         '{"error":{"code":""},"code":4011}', status=429, error="rate_limited"),
    case("s15-error-string-is-message", 'error is a string: it is the message; no code', ["S15"],
         '{"error":"bad token"}', status=401, error="unauthorized"),
    case("s15-error-number-no-code", "error is the number 4011: not a code", ["S15"], '{"error":4011}', status=400,
         error="http_error"),
    case("s15-error-array-top-code", 'error is an array: the top-level "4011" is the code', ["S15"],
         '{"error":[1],"code":"4011"}', status=400, error="session_expired"),
    case("s15-error-null-top-code", "error is null: the top-level 4011 is the code", ["S15"],
         '{"error":null,"code":4011}', status=404, error="session_expired"),
    case("s15-error-string-top-code", "error is a string, and a top-level code 4011", ["S15"],
         '{"error":"expired","code":4011}', status=403, error="session_expired"),
    case("s15-error-true-top-code", "error is true, and a top-level code \"4011\"", ["S15"],
         '{"error":true,"code":"4011"}', status=500, error="session_expired"),
    case("s15-error-string-4011-not-code", 'error is the string "4011": a message, not a code', ["S15"],
         '{"error":"4011","message":"m"}', status=403, error="forbidden"),
    case("s14-100-parse", "A 1xx handed to parse is a final status: http_error", ["S14"], OK_EMPTY, status=100,
         error="http_error"),
    case("s14-101-parse", "101 in parse: http_error", ["S14"], "", status=101, error="http_error"),
    case("s14-102-parse", "102 in parse: http_error", ["S14"], '{"error":{"code":4010}}', status=102, error="http_error"),
    case("s14-103-parse", "103 in parse: http_error", ["S14"], doc({"guid": "g"}), status=103,
         headers=[["Link", "</style.css>; rel=preload"]], error="http_error"),
    case("s14-101-4011", "A 1xx with code 4011: the 4011 row comes before the others (S14's order)", ["S14", "S15"],
         E4011, status=101, error="session_expired"),
    case("s14-status-0", "Status 0 (outside 100-999): http_error", ["S14"], "", status=0, error="http_error"),
    case("s14-status-negative", "Status -1: http_error", ["S14"], OK_EMPTY, status=-1, error="http_error"),
    case("s14-status-1000", "Status 1000 (outside 100-999): http_error", ["S14"], OK_EMPTY, status=1000,
         error="http_error"),
    case("s14-status-99", "Status 99: http_error", ["S14"], OK_EMPTY, status=99, error="http_error"),
])


# Recommended tier: stress and size.
FILES["recommended/stress.json"] = ("Stress and size cases", [
    case("stress-10000-records", "10000 records", ["S12"],
         '{"micro_deposits":[' + ",".join('{"micro_deposit":{"status":%d}}' % (i % 10) for i in range(N)) + "]}",
         strict=True, ok=[R(status=i % 10) for i in range(N)]),
    case("stress-1mb-string", "A string of 1 MiB (UTF-8) in account_name", ["S6"],
         doc({"account_name": MB_STRING}), strict=True, ok=[R(account_name=MB_STRING)]),
    case("stress-many-drift-items", "1000 items that carry no microdeposit, lenient", ["S3"],
         '{"micro_deposits":[' + ",".join(["null"] * 1000) + "]}", ok=[]),
])


def main():
    for rel, (description, cases) in FILES.items():
        path = os.path.join(HERE, rel)
        big = "stress" in rel
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"description": description, "cases": cases}, f, ensure_ascii=False,
                      indent=None if big else 1)
            f.write("\n")
        print(f"{rel}: {len(cases)} cases")


if __name__ == "__main__":
    main()
