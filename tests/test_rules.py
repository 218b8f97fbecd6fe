"""One or more tests per rule of spec/SEMANTICS.md Part 1 (S1-S12), each naming its rule."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import pytest

import nexus_micro as nm
from nexus_micro import MalformedResponse, SchemaDrift, parse_microdeposits

ROOT = Path(__file__).resolve().parent.parent
SPEC = json.loads((ROOT / "spec" / "nexus-v1-micro_deposits.openapi.json").read_text("utf-8"))
UTC = dt.timezone.utc


def seed_record() -> dict:
    """The seed document's own example values, as one micro_deposit object."""
    props = SPEC["components"]["schemas"]["MicrodepositResponse"]["properties"]["micro_deposit"]["properties"]
    return {name: schema["example"] for name, schema in props.items()}


def body_of(*records: object, **top: object) -> bytes:
    return json.dumps({"micro_deposits": [{"micro_deposit": r} for r in records], **top}).encode()


def one(record: dict, strict: bool = False) -> nm.Microdeposit:
    (rec,) = parse_microdeposits(body_of(record), strict=strict)
    return rec


def drift_of(record: dict) -> list[tuple[str | None, str, str]]:
    return [(d.field, d.action, d.rule) for d in parse_microdeposits(body_of(record)).drift]


# --------------------------------------------------------------------------- S1


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   ",
        b"<html><body>502 Bad Gateway</body></html>",
        b'{"micro_deposits": []} trailing',
        b"\xff\xfe{}",
        b'{"a": "\xed\xa0\x80"}',  # an encoded surrogate is not UTF-8 (S1a)
        b'{"a": "caf\xc3"}',  # truncated sequence
        '{"a": 1}'.encode("utf-16"),  # S1a: no UTF-16 detection
        b"[]",
        b'"text"',
        b"null",
        b"1",
        b'{"a": NaN}',
        b'{"a": Infinity}',
        b'{"a": -Infinity}',
        b'{"a": 1e400}',
        b'{"a": -1e400}',
        b'{"a": ' + b"1" * 4301 + b"}",
        b'{"a": "\\ud800"}',
        b'{"a": "\\udc00"}',
        b'{"a": "\\ud800x"}',
        b'{"\\ud800": 1}',
        b'{"a": [' * 100000 + b"]" * 100000 + b"}",
        b"{'a': 1}",
        b'{"a": 1,}',
        b'{"a": "tab\there"}',
        b'{"micro_deposits": [{"micro_deposit": {"guid": "\x01"}}]}',
    ],
)
def test_s1_malformed_bodies_raise_only_malformed_response(body: bytes) -> None:
    """S1a-S1h: anything but one UTF-8 JSON object is MalformedResponse, never a bare error."""
    with pytest.raises(MalformedResponse):
        parse_microdeposits(body)
    with pytest.raises(MalformedResponse):
        parse_microdeposits(body, strict=True)


def test_s1a_bom_in_bytes_and_s1b_bom_in_text_are_removed_once() -> None:
    """S1a/S1b: one leading BOM is tolerated, a second one is not."""
    assert parse_microdeposits(b"\xef\xbb\xbf" + body_of({"guid": "MIC-1"}))[0].guid == "MIC-1"
    assert parse_microdeposits("\ufeff" + body_of({"guid": "MIC-1"}).decode())[0].guid == "MIC-1"
    with pytest.raises(MalformedResponse):
        parse_microdeposits(b"\xef\xbb\xbf\xef\xbb\xbf{}")


def test_s1b_text_with_lone_surrogate_is_malformed() -> None:
    """S1b: a Python str can hold a lone surrogate; it is not Unicode text."""
    with pytest.raises(MalformedResponse):
        parse_microdeposits('{"micro_deposits": [], "x": "\ud800"}')


def test_s1d_numbers_underflow_is_fine_and_big_integers_stay_exact() -> None:
    """S1d: 1e-400 is 0.0; integers are exact; 4300 digits is the last accepted length."""
    rec = one({"account_number": 12345678901234567890, "x": 1e-400, "big": int("9" * 4300)})
    assert rec.account_number == "12345678901234567890"
    assert rec.extra["x"] == 0.0
    assert rec.extra["big"] == int("9" * 4300)


def test_s1e_surrogate_pairs_are_valid() -> None:
    """S1e: a high surrogate escape followed by a low one is one character."""
    rec = one({"guid": "\ud83d\ude00"})
    assert rec.guid == "\U0001f600"
    assert parse_microdeposits(b'{"micro_deposits": [{"micro_deposit": {"guid": "\\ud83d\\ude00"}}]}')[0].guid == "\U0001f600"


def test_s1e_escaped_backslash_before_u_is_not_a_surrogate() -> None:
    """S1e: '\\\\ud800' is a backslash then 'ud800', not an escape."""
    rec = parse_microdeposits(b'{"micro_deposits": [{"micro_deposit": {"guid": "\\\\ud800"}}]}')[0]
    assert rec.guid == "\\ud800"


def nested(depth: int) -> str:
    """A JSON value that is ``depth`` arrays deep (the outermost array counts as 1)."""
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    "where, container_depth_of_outer",
    [
        ('{"micro_deposits": [], "x": %s}', 2),
        ('{"micro_deposits": [%s]}', 3),
        ('{"micro_deposits": [{"micro_deposit": {}, "x": %s}]}', 4),
        ('{"micro_deposits": [{"micro_deposit": %s}]}', 4),
        ('{"micro_deposits": [{"micro_deposit": {"x": %s}}]}', 5),
        ('{"micro_deposits": [{"micro_deposit": {"guid": %s}}]}', 5),
        ('{"micro_deposits": [{"micro_deposit": {"status": %s}}]}', 5),
        ('{"micro_deposits": [{"micro_deposit": {"routing_number": %s}}]}', 5),
        ('{"micro_deposits": [{"micro_deposit": {"created_at": %s}}]}', 5),
    ],
)
def test_s1f_depth_limit_is_exactly_64_everywhere(where: str, container_depth_of_outer: int) -> None:
    """S1f: arrays/objects at depth 64 are fine, at 65 malformed, wherever they sit."""
    fits = 64 - container_depth_of_outer + 1
    parse_microdeposits(where % nested(fits))
    with pytest.raises(MalformedResponse, match="S1f"):
        parse_microdeposits(where % nested(fits + 1))


def test_s1f_scalar_at_depth_65_is_fine() -> None:
    """S1f counts arrays and objects only."""
    parse_microdeposits('{"micro_deposits": [], "x": %s}' % ("[" * 63 + "1" + "]" * 63))


def test_s1g_duplicate_keys_last_wins_at_every_level() -> None:
    """S1g: the last value wins, including micro_deposits and record fields."""
    body = b'{"micro_deposits": 5, "micro_deposits": [{"micro_deposit": {"guid": "a", "guid": "b"}}]}'
    assert [r.guid for r in parse_microdeposits(body)] == ["b"]


# --------------------------------------------------------------------------- S2, S3, S4


@pytest.mark.parametrize("body", [b"{}", b'{"micro_deposits": null}', b'{"pagination": {"page": 1}}'])
def test_s2_missing_or_null_micro_deposits_is_no_records_and_no_drift(body: bytes) -> None:
    """S2: missing or null is an empty result, also in strict mode."""
    result = parse_microdeposits(body, strict=True)
    assert list(result) == [] and result.drift == ()


@pytest.mark.parametrize("value", ['{}', '"x"', "1", "true"])
def test_s2_non_array_micro_deposits_is_malformed_in_both_modes(value: str) -> None:
    """S2: present but not an array."""
    for strict in (False, True):
        with pytest.raises(MalformedResponse, match="S2"):
            parse_microdeposits('{"micro_deposits": %s}' % value, strict=strict)


def test_s2_other_top_level_members_stay_in_raw() -> None:
    """S2: other members are not drift and stay reachable."""
    result = parse_microdeposits(b'{"micro_deposits": [], "pagination": {"current_page": 1}}', strict=True)
    assert result.raw["pagination"] == {"current_page": 1}


@pytest.mark.parametrize(
    "item", ["1", '"x"', "true", "null", "[]", "{}", '{"micro_deposit": null}', '{"micro_deposit": 5}', '{"micro_deposit": []}']
)
def test_s3_items_without_a_microdeposit_are_skipped_with_drift(item: str) -> None:
    """S3: lenient skips with a note naming the item index; strict raises."""
    body = '{"micro_deposits": [{"micro_deposit": {"guid": "a"}}, %s, {"micro_deposit": {"guid": "b"}}]}' % item
    result = parse_microdeposits(body)
    assert [r.guid for r in result] == ["a", "b"]
    assert [(d.index, d.field, d.action, d.rule) for d in result.drift] == [(1, None, "skipped", "S3")]
    with pytest.raises(SchemaDrift, match="item 1"):
        parse_microdeposits(body, strict=True)


def test_s3_other_item_members_are_ignored_without_drift() -> None:
    result = parse_microdeposits(b'{"micro_deposits": [{"micro_deposit": {"guid": "a"}, "meta": 1}]}', strict=True)
    assert result[0].guid == "a" and result[0].extra == {}


def test_s4_schema_corners_parse_in_lenient_mode() -> None:
    """S4: no fields, extra properties, odd timestamps are all schema-valid."""
    body = {"micro_deposits": [{"micro_deposit": {}}, {"micro_deposit": {"created_at": "yesterday", "z": {}}}, 7]}
    result = parse_microdeposits(json.dumps(body))
    assert len(result) == 2 and result[1].created_at is None


# --------------------------------------------------------------------------- S5


def test_s5a_missing_and_null_fields_are_none_without_drift() -> None:
    rec = one({"guid": "MIC-1", "error_code": None}, strict=True)
    assert rec.error_code is None and rec.account_number is None and rec.created_at is None


def test_s5b_extra_fields_kept_exactly_and_case_sensitive() -> None:
    """S5b: unknown names (also 'Guid' and 'guid ') go to extra with their values as parsed."""
    rec = one({"guid": "a", "Guid": "b", "guid ": "c", "nested": {"k": [1, 2.5, None, True]}}, strict=True)
    assert rec.guid == "a"
    assert rec.extra == {"Guid": "b", "guid ": "c", "nested": {"k": [1, 2.5, None, True]}}
    assert rec.to_dict()["extra"] == rec.extra


def test_s5c_original_object_stays_reachable() -> None:
    original = seed_record()
    rec = one(original)
    assert rec.raw == original and rec.raw["routing_number"] == 91000019


def test_s5d_fields_are_not_derived_from_each_other() -> None:
    rec = one({"status": 3, "status_name": "REQUESTED", "verified_at": "2021-09-01T18:29:07.000Z"}, strict=True)
    assert (rec.status, rec.status_name) == (3, "REQUESTED")
    assert rec.verified_at == dt.datetime(2021, 9, 1, 18, 29, 7, tzinfo=UTC)
    assert rec.is_verified is False  # S10: from the name


# --------------------------------------------------------------------------- S6


@pytest.mark.parametrize(
    "value, expected, action",
    [
        ("", "", None),
        ("  x  ", "  x  ", None),
        (4011, "4011", "coerced"),
        (-7, "-7", "coerced"),
        (0, "0", "coerced"),
        (True, None, "nulled"),
        (4011.0, None, "nulled"),
        ([1], None, "nulled"),
        ({"a": 1}, None, "nulled"),
    ],
)
def test_s6_string_fields(value: object, expected: str | None, action: str | None) -> None:
    rec = one({"error_code": value})
    assert rec.error_code == expected
    assert drift_of({"error_code": value}) == ([("error_code", action, "S6")] if action else [])


# --------------------------------------------------------------------------- S7


@pytest.mark.parametrize(
    "value, expected, action",
    [
        ("091000019", "091000019", None),
        ("91000019", "091000019", "padded"),
        ("1", "000000001", "padded"),
        (91000019, "091000019", "padded"),
        (0, "000000000", "padded"),
        (123456789, "123456789", "coerced"),
        (1234567890, "1234567890", "coerced"),
        (-5, "-5", "coerced"),
        ("", "", None),
        ("1234567890", "1234567890", None),
        ("09100001X", "09100001X", None),
        (" 91000019", " 91000019", None),
        ("\u0660\u0669\u0661", "\u0660\u0669\u0661", None),  # Arabic-Indic digits: not ASCII
        (True, None, "nulled"),
        (91000019.0, None, "nulled"),
        ([], None, "nulled"),
    ],
)
def test_s7_routing_number(value: object, expected: str | None, action: str | None) -> None:
    assert one({"routing_number": value}).routing_number == expected
    assert drift_of({"routing_number": value}) == ([("routing_number", action, "S7")] if action else [])


# --------------------------------------------------------------------------- S8


@pytest.mark.parametrize(
    "value, expected, action",
    [
        (1, 1, None),
        (-1, -1, None),
        (10**30, 10**30, None),
        (True, None, "nulled"),
        (False, None, "nulled"),
        (1.0, 1, "coerced"),
        (-0.0, 0, "coerced"),
        (1e20, 100000000000000000000, "coerced"),
        (1.5, None, "nulled"),
        ("1", 1, "coerced"),
        ("007", 7, "coerced"),
        ("", None, "nulled"),
        ("-1", None, "nulled"),
        ("+1", None, "nulled"),
        (" 1", None, "nulled"),
        ("1.0", None, "nulled"),
        ("\u0661", None, "nulled"),
        ("9" * 4301, None, "nulled"),
        ([1], None, "nulled"),
    ],
)
def test_s8_integer_fields(value: object, expected: int | None, action: str | None) -> None:
    for field in ("status", "account_type"):
        rec = one({field: value})
        assert getattr(rec, field) == expected and type(getattr(rec, field)) in (int, type(None))
        assert drift_of({field: value}) == ([(field, action, "S8")] if action else [])


def test_s8_exponent_integral_float_from_wire() -> None:
    rec = parse_microdeposits(b'{"micro_deposits": [{"micro_deposit": {"status": 1e2}}]}')[0]
    assert rec.status == 100


# --------------------------------------------------------------------------- S9


@pytest.mark.parametrize(
    "text, expected, action, rule",
    [
        ("2021-09-01T18:29:06.000Z", "2021-09-01T18:29:06.000000Z", None, None),
        ("2021-09-01t18:29:06z", "2021-09-01T18:29:06.000000Z", None, None),
        ("2021-10-22T21:44:38.000+00:00", "2021-10-22T21:44:38.000000Z", None, None),
        ("2021-10-22T21:44:38.000+05:30", "2021-10-22T16:14:38.000000Z", None, None),
        ("2021-10-22T21:44:38-07:00", "2021-10-23T04:44:38.000000Z", None, None),
        ("2021-10-22T21:44:38-00:00", "2021-10-22T21:44:38.000000Z", None, None),
        ("2021-10-08T21:39:07+00:00", "2021-10-08T21:39:07.000000Z", None, None),
        ("2021-09-01T18:29:06.1Z", "2021-09-01T18:29:06.100000Z", None, None),
        ("2021-09-01T18:29:06.123456Z", "2021-09-01T18:29:06.123456Z", None, None),
        ("2021-09-01T18:29:06.1234567Z", "2021-09-01T18:29:06.123456Z", "truncated", "S9c"),
        ("2021-09-01T18:29:06.999999999Z", "2021-09-01T18:29:06.999999Z", "truncated", "S9c"),
        ("2021-09-01T18:29:06", "2021-09-01T18:29:06.000000Z", "assumed_utc", "S9b"),
        ("2021-09-01T18:29:06.1234567", "2021-09-01T18:29:06.123456Z", "assumed_utc", "S9b"),
        ("2020-02-29T00:00:00Z", "2020-02-29T00:00:00.000000Z", None, None),
        ("2000-02-29T00:00:00Z", "2000-02-29T00:00:00.000000Z", None, None),
        ("2021-01-31T23:59:59+23:59", "2021-01-31T00:00:59.000000Z", None, None),
        ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000000Z", None, None),
        ("0999-12-31T23:59:59Z", "0999-12-31T23:59:59.000000Z", None, None),
        ("9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999999Z", None, None),
        ("0001-01-01T00:00:00+01:00", None, "nulled", "S9d"),
        ("9999-12-31T23:59:59-01:00", None, "nulled", "S9d"),
        ("2021-02-29T00:00:00Z", None, "nulled", "S9e"),
        ("1900-02-29T00:00:00Z", None, "nulled", "S9e"),
        ("2021-04-31T00:00:00Z", None, "nulled", "S9e"),
        ("2021-13-01T00:00:00Z", None, "nulled", "S9e"),
        ("0000-01-01T00:00:00Z", None, "nulled", "S9e"),
        ("2021-09-01T24:00:00Z", None, "nulled", "S9e"),
        ("2021-09-01T23:59:60Z", None, "nulled", "S9e"),
        ("2021-09-01T18:29:06+24:00", None, "nulled", "S9e"),
        ("2021-09-01T18:29:06+05:60", None, "nulled", "S9e"),
        ("2021-09-01 18:29:06Z", None, "nulled", "S9e"),
        ("2021-09-01", None, "nulled", "S9e"),
        ("2021-09-01T18Z", None, "nulled", "S9e"),
        ("2021-W35-3T18:29:06Z", None, "nulled", "S9e"),
        ("2021-09-01T18:29:06,5Z", None, "nulled", "S9e"),
        ("2021-09-01T18:29:06+0530", None, "nulled", "S9e"),
        ("2021-09-01T18:29:06+05", None, "nulled", "S9e"),
        ("2021-09-01T18:29:06.Z", None, "nulled", "S9e"),
        ("2021-09-01T18:29:06.1234567890Z", None, "nulled", "S9e"),
        ("2021-09-01T18:29:06Z\n", None, "nulled", "S9e"),
        (" 2021-09-01T18:29:06Z", None, "nulled", "S9e"),
        ("\u0662021-09-01T18:29:06Z", None, "nulled", "S9e"),
        ("", None, "nulled", "S9e"),
        (1630520946, None, "nulled", "S9e"),
        (True, None, "nulled", "S9e"),
    ],
)
def test_s9_timestamps(text: object, expected: str | None, action: str | None, rule: str | None) -> None:
    rec = one({"created_at": text})
    assert rec.to_dict()["created_at"] == expected
    if expected is not None:
        assert rec.created_at is not None and rec.created_at.tzinfo is not None
        assert rec.created_at.utcoffset() == dt.timedelta(0)
    assert drift_of({"created_at": text}) == ([("created_at", action, rule)] if action else [])


def test_s9_all_three_timestamp_fields_and_lazy_datetimes_compare_equal() -> None:
    rec = one(seed_record())
    assert rec.created_at == dt.datetime(2021, 9, 1, 18, 29, 6, tzinfo=UTC)
    assert rec.updated_at == rec.verified_at == dt.datetime(2021, 9, 1, 18, 29, 7, tzinfo=UTC)
    eager = nm.Microdeposit(**{f: getattr(rec, f) for f in nm._FIELDS}, extra={})
    assert eager == rec and hash(eager) == hash(rec)


# --------------------------------------------------------------------------- S10


def test_s10_enums_and_unknown_values_kept() -> None:
    assert [s.name for s in nm.MicrodepositStatus] == [
        "INITIATED", "REQUESTED", "DEPOSITED", "VERIFIED", "ERRORED",
        "DENIED", "PREVENTED", "CONFLICTED", "REJECTED", "PREINITIATED",
    ]  # fmt: skip
    assert (nm.AccountType.CHECKING, nm.AccountType.SAVINGS) == (1, 2)
    rec = one({"status": 42, "status_name": "FROZEN", "account_type": 7, "account_type_name": "BROKERAGE"}, strict=True)
    assert (rec.status, rec.status_name, rec.account_type, rec.account_type_name) == (42, "FROZEN", 7, "BROKERAGE")
    assert rec.status_enum is None and rec.account_type_enum is None
    assert not rec.is_verified and not rec.is_error and not rec.is_deposited


@pytest.mark.parametrize(
    "name, verified, error, deposited",
    [("VERIFIED", True, False, False), ("verified", False, False, False), ("DEPOSITED", False, False, True),
     ("ERRORED", False, True, False), ("PREVENTED", False, True, False), (None, False, False, False)],
)  # fmt: skip
def test_s10_helpers_answer_from_the_name(name: str | None, verified: bool, error: bool, deposited: bool) -> None:
    rec = one({"status": 3, "status_name": name})
    assert (rec.is_verified, rec.is_error, rec.is_deposited) == (verified, error, deposited)
    assert rec.status_enum == (nm.MicrodepositStatus[name] if name and name.isupper() else None)


# --------------------------------------------------------------------------- S11


def test_s11_notes_ordered_by_item_then_spec_field_order_and_strict_raises_first() -> None:
    body = {
        "micro_deposits": [
            {"micro_deposit": {"verified_at": "2021-09-01T18:29:06", "routing_number": 1, "account_type": "2", "guid": 5}},
            None,
        ]
    }
    result = parse_microdeposits(json.dumps(body))
    assert [(d.index, d.field, d.rule) for d in result.drift] == [
        (0, "account_type", "S8"),
        (0, "guid", "S6"),
        (0, "routing_number", "S7"),
        (0, "verified_at", "S9b"),
        (1, None, "S3"),
    ]
    with pytest.raises(SchemaDrift, match=r"item 0, field 'account_type'") as info:
        parse_microdeposits(json.dumps(body), strict=True)
    assert info.value.drift.rule == "S8" and info.value.category == "schema_drift"


def test_s11_seed_example_drifts_in_strict_mode_only() -> None:
    """The seed's own example sends routing_number as an integer (Conflict noted in S7)."""
    assert one(seed_record()).routing_number == "091000019"
    with pytest.raises(SchemaDrift, match="routing_number"):
        one(seed_record(), strict=True)


def test_s11_drift_logged_at_debug_without_values(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="nexus_micro")
    one({"account_number": 333312345678, "email": 99})
    text = caplog.text
    assert "account_number" in text and "integer" in text and "coerced" in text
    assert "333312345678" not in text and "99" not in text


def test_s11_drift_repr_never_shows_the_value() -> None:
    note = parse_microdeposits(body_of({"account_number": 333312345678})).drift[0]
    assert note.got == 333312345678
    assert "333312345678" not in repr(note) and "333312345678" not in str(note)


# --------------------------------------------------------------------------- S12


def test_s12_canonical_form_of_the_seed_example() -> None:
    rec = one(dict(seed_record(), extra_field=[1, {"a": None}]))
    out = rec.to_dict()
    assert list(out) == list(nm._FIELDS) + ["extra"]
    assert out == {
        "account_name": "My Test Account",
        "account_number": "333312345",
        "account_type": 1,
        "account_type_name": "CHECKING",
        "created_at": "2021-09-01T18:29:06.000000Z",
        "email": "example@example.com",
        "error_code": None,
        "error_message": None,
        "first_name": "Josh",
        "guid": "MIC-09ba578e-8448-4f7f-89e1-b62ff2517edb",
        "institution_name": "MX Bank",
        "last_name": "James",
        "routing_number": "091000019",
        "status": 1,
        "status_name": "REQUESTED",
        "updated_at": "2021-09-01T18:29:07.000000Z",
        "verified_at": "2021-09-01T18:29:07.000000Z",
        "extra": {"extra_field": [1, {"a": None}]},
    }
    json.dumps(out)  # JSON-ready


def test_s12_to_dict_is_a_copy() -> None:
    rec = one({"x": {"k": [1]}})
    out = rec.to_dict()
    out["extra"]["x"]["k"].append(2)
    assert rec.extra == {"x": {"k": [1]}}


def test_s12_response_canonical_form() -> None:
    result = parse_microdeposits(body_of({"guid": "a"}, {"guid": "b"}))
    assert [r["guid"] for r in result.to_dict()["micro_deposits"]] == ["a", "b"]


# --------------------------------------------------------------------------- S22b and the public surface


def test_s22b_repr_masks_account_number_and_hides_names() -> None:
    rec = one(dict(seed_record(), account_number="333312345678"))
    text = repr(rec)
    assert "****5678" in text and "333312345678" not in text
    for secret in ("Josh", "James", "example@example.com", "My Test Account"):
        assert secret not in text
    assert "****" in repr(one({"account_number": "1234"})) and "1234" not in repr(one({"account_number": "1234"}))


def test_records_are_frozen_and_result_is_a_tuple() -> None:
    result = parse_microdeposits(body_of({"guid": "a"}))
    with pytest.raises(AttributeError):
        result[0].guid = "b"  # type: ignore[misc]
    assert isinstance(result, tuple) and result == (result[0],)


def test_public_names() -> None:
    for name in nm.__all__:
        assert hasattr(nm, name), name
    public = [n for n in dir(nm) if not n.startswith("_") and n not in nm.__all__ and not isinstance(getattr(nm, n), type(nm))]
    assert public == ["TYPE_CHECKING", "annotations"]  # mypy needs that exact name; the future import
    for cls in (nm.MalformedResponse, nm.SchemaDrift, nm.HTTPError, nm.TransportError, nm.ResponseTooLarge, nm.UnexpectedRedirect):
        assert issubclass(cls, nm.NexusError)
    assert issubclass(nm.SessionExpired, nm.Unauthorized) and issubclass(nm.Timeout, nm.TransportError)
