"""A user's code, type-checked by tests/test_packaging.py against the INSTALLED wheel (its stubs).

mypy --strict --python-version 3.11 must pass on this file with no error: every ``assert_type``
holds exactly (an ``Any`` from a missing or vague stub fails it), and every ``# type: ignore[...]``
is needed (--strict warns about unused ones), so the stubs do reject wrong calls. Never run: the
functions are only type-checked (they would need a server and a session token).
"""

from __future__ import annotations

import datetime
from typing import Any, Mapping, assert_type

import nexus_micro


def parse_body(body: bytes) -> None:
    records = nexus_micro.parse_microdeposits(body, strict=True)
    assert_type(records, nexus_micro.MicrodepositList)
    assert_type(records[0], nexus_micro.Microdeposit)  # the list is a tuple of records (stub precision)
    for record in records:
        assert_type(record, nexus_micro.Microdeposit)
        assert_type(record.guid, str | None)
        assert_type(record.routing_number, str | None)
        assert_type(record.status, int | None)
        assert_type(record.created_at, datetime.datetime | None)
        assert_type(record.status_enum, nexus_micro.MicrodepositStatus | None)
        assert_type(record.account_type_enum, nexus_micro.AccountType | None)
        assert_type(record.is_verified, bool)
        assert_type(record.extra, Mapping[str, Any])
        assert_type(record.to_dict(), dict[str, Any])
    for note in records.drift:  # a tuple or a lazy sequence: either way its items are Drift
        assert_type(note, nexus_micro.Drift)
        assert_type(note.index, int)
        assert_type(note.field, str | None)
        assert_type(note.rule, str)
        assert_type(note.to_dict(), dict[str, Any])  # the canonical note of S11
    assert_type(records.raw, Mapping[str, Any])
    assert_type(records.to_dict(), dict[str, Any])
    nexus_micro.parse_microdeposits(123)  # type: ignore[arg-type]


def sans_io(token: str, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
    request = nexus_micro.build_request(token, base_url=nexus_micro.PRODUCTION_URL)
    assert_type(request, nexus_micro.Request)
    assert_type(request.url, str)
    assert_type(request.headers, tuple[tuple[str, str], ...])
    assert_type(nexus_micro.parse_response(status, headers, body, request=request), nexus_micro.MicrodepositList)
    assert_type(nexus_micro.parse_response(status, {"Content-Type": "x"}, body.decode()), nexus_micro.MicrodepositList)
    nexus_micro.parse_response("200", headers, body)  # type: ignore[arg-type]


def over_http(token: str) -> None:
    assert_type(nexus_micro.list_microdeposits(token, timeout=5.0), nexus_micro.MicrodepositList)
    with nexus_micro.Client(timeout=10, deadline=25.0, max_retries=2) as client:
        assert_type(client, nexus_micro.Client)
        assert_type(client.list_microdeposits(session_token=token), nexus_micro.MicrodepositList)
        assert_type(client.timeout, float)
        assert_type(client.deadline, float | None)
    client.close()
    nexus_micro.Client(token, token_provider=lambda: token, pool_size=4).list_microdeposits(strict=True)
    nexus_micro.Client(token, timeout="10")  # type: ignore[arg-type]
    nexus_micro.Client(token, retries=3)  # type: ignore[call-arg]


def errors(token: str) -> None:
    try:
        nexus_micro.list_microdeposits(token)
    except nexus_micro.RateLimited as exc:
        assert_type(exc.retry_after, float | None)
        assert_type(exc.status, int)
    except nexus_micro.HTTPError as exc:
        assert_type(exc.code, str | None)
        assert_type(exc.request_id, str | None)
    except nexus_micro.UnexpectedRedirect as exc:
        assert_type(exc.location, str | None)
    except nexus_micro.SchemaDrift as exc:
        assert_type(exc.drift, nexus_micro.Drift)
    except nexus_micro.InvalidArgument as exc:
        also_a_value_error: ValueError = exc
        assert_type(also_a_value_error, ValueError)
    except nexus_micro.NexusError as exc:
        assert_type(exc.category, str)
    assert_type(nexus_micro.main(["list", "--json"]), int)
    assert_type(nexus_micro.__version__, str)
    assert_type(nexus_micro.AccountType(1), nexus_micro.AccountType)
    assert_type(nexus_micro.MicrodepositStatus.VERIFIED < 4, bool)
