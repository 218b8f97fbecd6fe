"""nexus-micro: a small, exact client for MX Nexus API ``GET /micro_deposits``.

One file, standard library only, Python 3.8+. The rules it follows are in
``spec/SEMANTICS.md``; comments and messages cite their ids (S1, S9b, ...).

    >>> import nexus_micro
    >>> records = nexus_micro.parse_microdeposits(body)          # sans-IO
    >>> records = nexus_micro.list_microdeposits(session_token)  # over HTTPS

The module is sans-IO at its core (``build_request`` and ``parse_response`` are pure) with
a thin ``urllib`` transport (``Client``) that imports ``urllib.request`` only when used.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import datetime as _dt
import enum
import functools
import itertools
import json
import logging
import re
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs 6-10 ms to import and is only needed by type checkers
    from typing import Any, Callable, Iterable, Iterator, Mapping, Optional, Sequence, Tuple, TypeVar, Union

    _R = TypeVar("_R")

    _Headers = Union[Mapping[str, str], Iterable[Tuple[str, str]]]
    # A drift note until it is read: (index, field position, field, type, action, rule, value).
    # Tuples sort in S11 order and cost a third of a Drift object.
    _Note = Tuple[int, int, Optional[str], str, str, str, Any]

__version__ = "0.1.0"

__all__ = [
    "INTEGRATION_URL",
    "PRODUCTION_URL",
    "AccountType",
    "Client",
    "Drift",
    "Forbidden",
    "HTTPError",
    "InvalidArgument",
    "MalformedResponse",
    "Microdeposit",
    "MicrodepositList",
    "MicrodepositStatus",
    "NexusError",
    "NotFound",
    "RateLimited",
    "Request",
    "ResponseTooLarge",
    "SchemaDrift",
    "ServerError",
    "SessionExpired",
    "Timeout",
    "TransportError",
    "Unauthorized",
    "UnexpectedRedirect",
    "__version__",
    "build_request",
    "list_microdeposits",
    "main",
    "parse_microdeposits",
    "parse_response",
]

INTEGRATION_URL = "https://int-data.moneydesktop.com/"
PRODUCTION_URL = "https://data.moneydesktop.com/"
_MEDIA_TYPE = "application/vnd.mx.nexus.v1+json"

_log = logging.getLogger("nexus_micro")


# --------------------------------------------------------------------------- errors
# One shallow tree, as urllib3's: catch NexusError for everything, or a leaf for one case.
# Each class carries the conformance kit's category string (spec/SEMANTICS.md, last table).


class NexusError(Exception):
    """Base class of every error this module raises on purpose."""

    category = "nexus_error"

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only constructor arguments would break pickling (multiprocessing, futures).
        return (_restore_error, (type(self), self.args, self.__dict__))


def _restore_error(cls: type[NexusError], args: tuple[Any, ...], state: dict[str, Any]) -> NexusError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class InvalidArgument(NexusError, ValueError):
    """A bad session token, base URL or option (S13c, S13d); nothing was sent.

    Also a ValueError, so ``except ValueError`` keeps working.
    """

    category = "invalid_argument"


class MalformedResponse(NexusError):
    """A 2xx body that is not one UTF-8 JSON object, or has a non-array micro_deposits (S1, S2)."""

    category = "malformed_response"


class SchemaDrift(NexusError):
    """Strict mode met a coercion or a skipped item (S11); ``drift`` says which."""

    category = "schema_drift"

    def __init__(self, message: str, drift: Drift) -> None:
        super().__init__(message)
        # Without the value that came: it is the body's (the token echoed, personal data; S22).
        self.drift = dataclasses.replace(drift, got=None) if drift.got is not None else drift


class HTTPError(NexusError):
    """A non-2xx, non-3xx response (S14). ``code``/``message`` come from the body (S15)."""

    category = "http_error"

    def __init__(
        self,
        text: str,
        *,
        status: int,
        code: str | None = None,
        message: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(text)
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.retry_after = retry_after


class Unauthorized(HTTPError):
    """401: the session token was refused. Get a new session token (POST /sessions)."""

    category = "unauthorized"


class SessionExpired(Unauthorized):
    """Error code 4011: the session token expired (30 minutes after its last use)."""

    category = "session_expired"


class Forbidden(HTTPError):
    """403: this session may not list microdeposits."""

    category = "forbidden"


class NotFound(HTTPError):
    """404: wrong base URL, or the user has no such resource."""

    category = "not_found"


class RateLimited(HTTPError):
    """429: too many requests; ``retry_after`` is the server's wait in seconds, if it gave one."""

    category = "rate_limited"


class ServerError(HTTPError):
    """5xx: MX's side failed. 502/503/504 are retried by the Client; 500 is not."""

    category = "server_error"


class UnexpectedRedirect(NexusError):
    """A 3xx response. Never followed: the session token must not go to another origin (S19)."""

    category = "unexpected_redirect"

    def __init__(self, text: str, *, status: int, location: str | None) -> None:
        super().__init__(text)
        self.status = status
        self.location = location


class ResponseTooLarge(NexusError):
    """The body passed ``max_response_bytes`` (S20a); it was not parsed."""

    category = "response_too_large"


class TransportError(NexusError):
    """Connecting, TLS, or reading the response failed, or the body was cut short (S20b)."""

    category = "transport_error"
    retryable = True


class Timeout(TransportError):
    """A network wait passed ``timeout``, or the whole call passed ``deadline`` (S21)."""

    category = "timeout"


# --------------------------------------------------------------------------- enums


class AccountType(enum.IntEnum):
    """``account_type`` values MX documents (S10). Unknown values stay plain ints."""

    CHECKING = 1
    SAVINGS = 2


class MicrodepositStatus(enum.IntEnum):
    """``status`` values from MX's Connect widget (S10). Unknown values stay plain ints."""

    INITIATED = 0
    REQUESTED = 1
    DEPOSITED = 2
    VERIFIED = 3
    ERRORED = 4
    DENIED = 5
    PREVENTED = 6
    CONFLICTED = 7
    REJECTED = 8
    PREINITIATED = 9


_ERROR_STATUS_NAMES = frozenset({"ERRORED", "DENIED", "PREVENTED", "CONFLICTED", "REJECTED"})


# --------------------------------------------------------------------------- records

# The 17 fields in spec order (S5). Positions below index into this tuple.
_FIELDS = (
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
_FIELD_SET = frozenset(_FIELDS)
_FIELD_POS = {name: i for i, name in enumerate(_FIELDS)}
_INT_POS = (2, 13)
_TS_POS = (4, 15, 16)
_ROUTING_POS = 12
_TS_FIELDS = ("created_at", "updated_at", "verified_at")
_HIDDEN = frozenset({"email", "first_name", "last_name", "account_name"})  # S22b


@dataclasses.dataclass(frozen=True)
class Drift:
    """One coercion, assumption or skip (S11). ``got`` holds the value; the repr shows its type only."""

    index: int  # position in the response's micro_deposits array (skipped items count)
    field: str | None  # None for a skipped item
    got_type: str  # JSON type of what came: string, integer, number, boolean, null, array, object
    action: str  # coerced, padded, nulled, assumed_utc, truncated, skipped
    rule: str
    got: Any = dataclasses.field(default=None, repr=False, compare=False)

    def __str__(self) -> str:
        where = f"item {self.index}" + (f", field {self.field!r}" if self.field else "")
        return f"{where}: {self.got_type} {self.action} ({self.rule})"

    def to_dict(self) -> dict[str, Any]:
        """The canonical note of S11 (what the conformance kit compares); never the value."""
        return {
            "index": self.index,
            "field": self.field,
            "type": self.got_type,
            "action": self.action,
            "rule": self.rule,
        }


class _DriftNotes(collections.abc.Sequence):  # type: ignore[type-arg]
    """The drift notes of one response, in S11 order: a read-only sequence of ``Drift``.

    Kept compactly, because a hostile body under the size cap can hold millions of skipped
    items: field notes as tuples, skipped items as runs of item indexes (no storage per
    skipped item: its type is read from the raw body). ``Drift`` objects are made on access.
    """

    __slots__ = ("_fields", "_items", "_runs", "_starts")

    def __init__(self, fields: list[_Note], runs: list[tuple[int, int]], items: list[Any]) -> None:
        self._fields = fields  # sorted by (index, field position)
        self._runs = runs  # (start, stop) item ranges that were skipped (S3), ascending
        self._items = items
        self._starts: list[int] | None = None  # position in the sequence of each run's first note

    def __len__(self) -> int:
        return len(self._fields) + sum(stop - start for start, stop in self._runs)

    def __bool__(self) -> bool:
        return bool(self._fields or self._runs)

    def __iter__(self) -> Iterator[Drift]:
        fields, runs = self._fields, self._runs
        j = 0
        for start, stop in runs:
            while j < len(fields) and fields[j][0] < start:
                yield self._drift(fields[j])
                j += 1
            for index in range(start, stop):
                yield self._skip(index)
        for note in fields[j:]:
            yield self._drift(note)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, slice):
            return tuple(self[i] for i in range(*key.indices(len(self))))
        size = len(self)
        position = key + size if key < 0 else key
        if not 0 <= position < size:
            raise IndexError("drift note index out of range")
        if not self._runs:
            return self._drift(self._fields[position])
        if self._starts is None:
            import bisect

            starts, skipped = [], 0
            indexes = [note[0] for note in self._fields]
            for start, stop in self._runs:
                starts.append(bisect.bisect_left(indexes, start) + skipped)
                skipped += stop - start
            self._starts = starts
        import bisect

        run = bisect.bisect_right(self._starts, position) - 1
        skipped = sum(stop - start for start, stop in self._runs[: max(run, 0)])
        if run >= 0:
            start, stop = self._runs[run]
            offset = position - self._starts[run]
            if offset < stop - start:
                return self._skip(start + offset)
            skipped += stop - start
        return self._drift(self._fields[position - skipped])

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (_DriftNotes, tuple, list)):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"<{len(self)} drift note(s)>"

    def _drift(self, note: _Note) -> Drift:
        return Drift(note[0], note[2], note[3], note[4], note[5], note[6])

    def _skip(self, index: int) -> Drift:
        return _skip_drift(index, self._items[index])


def _skip_drift(index: int, item: Any) -> Drift:
    """S3's note for an item that carries no microdeposit."""
    got = item.get("micro_deposit") if type(item) is dict else item
    return Drift(index, None, _json_type(got), "skipped", "S3", got)


class _Timestamp:
    """A timestamp field that holds the S9 string until first read, then its datetime.

    Converting three timestamps per record while parsing cost more than the rest of the
    parse; most callers never read all of them. A data descriptor, so that the dataclass
    __init__ stores through it too.
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: object, owner: type | None = None) -> _dt.datetime | None:
        if obj is None:
            return None  # the dataclass field default
        state = obj.__dict__
        value = state.get(self.name)
        if type(value) is str:
            value = _to_datetime(value)
            state[self.name] = value  # cache: equal for every reader, so safe across threads
        return value

    def __set__(self, obj: object, value: _dt.datetime | str | None) -> None:
        # Reached only from the dataclass __init__ (the parser fills __dict__ directly): check
        # what a caller passes, so that a bad string does not quietly read back as None.
        if type(value) is str:
            parsed = _parse_timestamp(value)[0]
            if parsed is None:
                raise InvalidArgument(f"{self.name}: not an RFC 3339 date-time (S9): {_shown(value[:40])!r}")
            value = parsed
        elif value is not None and not isinstance(value, _dt.datetime):
            raise TypeError(f"{self.name} must be a datetime or None, not {type(value).__name__}")
        obj.__dict__[self.name] = value


@dataclasses.dataclass(frozen=True, repr=False)
class Microdeposit:
    """One microdeposit, its 17 fields typed and normalised by spec/SEMANTICS.md S5-S10.

    ``extra`` holds fields the spec does not name, as they came (S5b); ``raw`` is the
    original ``micro_deposit`` object. The repr hides names, email and all but the last
    4 characters of the account number (S22b). A field the server did not send is None.
    """

    account_name: str | None = None
    account_number: str | None = None
    account_type: int | None = None
    account_type_name: str | None = None
    created_at: _dt.datetime | None = _Timestamp()  # type: ignore[assignment]
    email: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    first_name: str | None = None
    guid: str | None = None
    institution_name: str | None = None
    last_name: str | None = None
    routing_number: str | None = None
    status: int | None = None
    status_name: str | None = None
    updated_at: _dt.datetime | None = _Timestamp()  # type: ignore[assignment]
    verified_at: _dt.datetime | None = _Timestamp()  # type: ignore[assignment]
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict, hash=False)
    raw: Mapping[str, Any] = dataclasses.field(default_factory=dict, compare=False, hash=False)

    def __repr__(self) -> str:
        shown = []
        for name in _FIELDS:
            value = getattr(self, name)
            if name in _HIDDEN and value is not None:
                text = "<hidden>"
            elif name == "account_number" and value is not None:
                text = repr(_mask_account(value))
            else:
                text = repr(value)
            shown.append(f"{name}={text}")
        shown.append(f"extra=<{len(self.extra)} field(s)>")
        return f"Microdeposit({', '.join(shown)})"

    @property
    def status_enum(self) -> MicrodepositStatus | None:
        """The known status named by ``status_name``, or None (S10: answer from the name)."""
        return MicrodepositStatus.__members__.get(self.status_name or "")

    @property
    def account_type_enum(self) -> AccountType | None:
        """The known account type named by ``account_type_name``, or None."""
        return AccountType.__members__.get(self.account_type_name or "")

    @property
    def is_verified(self) -> bool:
        """True when ``status_name`` is ``VERIFIED`` (the end user confirmed the amounts)."""
        return self.status_name == "VERIFIED"

    @property
    def is_deposited(self) -> bool:
        """True when ``status_name`` is ``DEPOSITED``: the end user can now verify the amounts."""
        return self.status_name == "DEPOSITED"

    @property
    def is_error(self) -> bool:
        """True when ``status_name`` is one of MX's error states (ERRORED ... REJECTED)."""
        return self.status_name in _ERROR_STATUS_NAMES

    def to_dict(self) -> dict[str, Any]:
        """The canonical JSON-ready form (S12): 17 fields in spec order, then ``extra``."""
        state = self.__dict__
        # A full record's state is the 17 fields in spec order, then extra and raw (the parser's
        # fast path and the dataclass __init__ fill it so): a copy is the fastest way to the form.
        out = state.copy() if len(state) == 19 else dict(zip(_FIELDS, map(state.get, _FIELDS)))
        out.pop("raw", None)
        for name in _TS_FIELDS:
            value = out[name]
            if type(value) is str:  # not read yet
                if _TS_UTC_CLEAN(value):  # valid by the pattern alone, and already UTC: its digits
                    out[name] = value[:23] + "000Z" if len(value) in (24, 29) else _utc_text(value)
                else:  # convert, and keep the datetime for readers
                    state[name], out[name] = _canonical_timestamp(value)
            elif value is not None:
                out[name] = _format_timestamp(value)
        extra = state.get("extra")
        out["extra"] = _copy_json(extra) if extra else {}
        return out


class MicrodepositList(tuple):  # type: ignore[type-arg]
    """The records of a response, in order, with ``drift`` notes and the ``raw`` body (S2, S11)."""

    raw: Mapping[str, Any]
    _notes: list[_Note]
    _runs: list[tuple[int, int]]
    _items: list[Any]
    _lazy: bool
    _drift: _DriftNotes | None

    def __new__(
        cls,
        records: Iterable[Microdeposit] = (),
        drift: Iterable[Drift] = (),
        raw: Mapping[str, Any] | None = None,
    ) -> MicrodepositList:
        self = super().__new__(cls, records)
        self.raw = {} if raw is None else raw
        notes = [(d.index, _FIELD_POS.get(d.field or "", -1), d.field, d.got_type, d.action, d.rule, d.got)
                 for d in drift]
        self._notes = sorted(notes, key=_note_order)
        self._runs = []
        self._items = []
        self._lazy = False
        self._drift = None
        return self

    @property
    def drift(self) -> Sequence[Drift]:
        """Every coercion, assumption or skip, in item then spec-field order (S11).

        A read-only sequence of ``Drift``; compact, whatever the body held.
        """
        if self._drift is None:
            notes = self._notes
            if self._lazy:  # lenient parsing left timestamp strings unchecked: note them now
                notes = notes + _lazy_timestamp_notes(self, self._runs)
                notes.sort(key=_note_order)
            self._drift = _DriftNotes(notes, self._runs, self._items)
        return self._drift

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt from its parts, without the drift view (a cache): pickles with every protocol.
        return (_result, (list(self), self._notes, self._runs, self.raw, self._lazy, self._items))

    def __repr__(self) -> str:
        return f"MicrodepositList({len(self)} record(s), {len(self.drift)} drift note(s))"

    def to_dict(self) -> dict[str, Any]:
        """The canonical form of the whole response: ``{"micro_deposits": [...]}`` (S12)."""
        return {"micro_deposits": [record.to_dict() for record in self]}


def _note_order(note: _Note) -> tuple[int, int]:
    return note[0], note[1]


def _lazy_timestamp_notes(records: Sequence[Microdeposit], runs: list[tuple[int, int]]) -> list[_Note]:
    """S9 notes of records whose timestamps lenient parsing left unchecked; item indexes
    count the skipped items of ``runs`` (S11)."""
    notes: list[_Note] = []
    index, run = 0, 0
    for record in records:
        while run < len(runs) and runs[run][0] <= index:
            index = runs[run][1]
            run += 1
        notes.extend(_timestamp_notes(record.raw, index))
        index += 1
    return notes


def _mask_account(number: str) -> str:
    """Last 4 characters only, and nothing when there are 4 or fewer (S22b)."""
    return "****" + number[-4:] if len(number) > 4 else "****"


def _copy_json(value: Any) -> Any:
    """A deep copy of a parsed JSON value, so callers cannot mutate a frozen record.

    With an explicit stack, not recursion: a record may be copied from deep in a caller's
    stack, and a RecursionError must not escape (S1f bounds parsed values, not callers).
    """
    kind = type(value)
    if kind is not dict and kind is not list:
        return value
    top: Any = {} if kind is dict else []
    stack = [(value, top)]
    while stack:
        source, target = stack.pop()
        pairs = source.items() if type(source) is dict else enumerate(source)
        for key, item in pairs:
            kind = type(item)
            copy = item
            if kind is dict or kind is list:
                copy = {} if kind is dict else []
                stack.append((item, copy))
            if type(target) is dict:
                target[key] = copy
            else:
                target.append(copy)
    return top


# --------------------------------------------------------------------------- S1: body


class _Reject(ValueError):
    """Raised by our json hooks; carries the rule id for the message."""


def _reject_constant(name: str) -> Any:
    raise _Reject(f"the literal {name} is not JSON (S1c)")


def _parse_float(text: str) -> float:
    value = float(text)
    if value in (_INF, -_INF):
        raise _Reject(f"the number {text[:20]} overflows a double (S1d)")
    return value


def _parse_int_checked(text: str) -> int:
    # Only used when this interpreter does not enforce CPython's default 4300-digit limit.
    if len(text) - text.startswith("-") > _MAX_INT_DIGITS:
        raise _Reject(f"an integer has more than {_MAX_INT_DIGITS} digits (S1d)")
    return int(text)


_INF = float("inf")
_MAX_INT_DIGITS = 4300
_MAX_DEPTH = 64
_get_limit = getattr(sys, "get_int_max_str_digits", None)
_decoder = json.JSONDecoder(parse_float=_parse_float, parse_constant=_reject_constant)
_decoder_checked = json.JSONDecoder(
    parse_float=_parse_float, parse_constant=_reject_constant, parse_int=_parse_int_checked
)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")
_SURROGATE_CHAR = re.compile("[\ud800-\udfff]")


def _load_json(body: bytes | bytearray | memoryview | str, secrets: Iterable[str] = ()) -> dict[str, Any]:
    """Decode and parse a body by S1 (all of it), raising MalformedResponse for anything else.

    ``secrets`` are kept out of the excerpt shown for a non-JSON body (S22a).
    """
    text = _decode_body(body)
    try:
        return _parse_text(text, secrets)
    except RecursionError:
        pass
    if _text_depth(text) > _MAX_DEPTH:
        raise MalformedResponse(f"the body nests deeper than {_MAX_DEPTH} levels (S1f)")
    # Not the body: Python's recursion limit counts the caller's frames too, and from deep in a
    # caller's stack a 10-level body can reach it. Parse again on a fresh stack.
    doc: dict[str, Any] = _on_fresh_stack(_parse_text_fresh, text, secrets)
    return doc


def _parse_text_fresh(text: str, secrets: Iterable[str]) -> dict[str, Any]:
    """_parse_text on a fresh stack, where a RecursionError is about the body (S1f)."""
    try:
        return _parse_text(text, secrets)
    except RecursionError:
        limit = sys.getrecursionlimit()
        if limit >= _ENOUGH_RECURSION:
            raise MalformedResponse(f"the body nests deeper than {_MAX_DEPTH} levels (S1f)") from None
    raise NexusError(
        f"Python's recursion limit ({limit}, sys.getrecursionlimit()) is too low to parse this body, which "
        f"may nest {_MAX_DEPTH} levels (S1f); raise it to at least {_ENOUGH_RECURSION}"
    )


_ENOUGH_RECURSION = 4 * _MAX_DEPTH + 50  # json's scanner and our exact pass use about 2 frames a level


def _on_fresh_stack(function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)`` on a new thread, whose stack and recursion count start empty."""
    import threading

    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append((True, function(*args)))
        except BaseException as exc:  # handed back to the caller's thread below
            outcome.append((False, exc))

    thread = threading.Thread(target=run, name="nexus_micro parse")
    thread.start()
    thread.join()
    ok, value = outcome[0]
    if not ok:
        raise value
    return value


def _decode_body(body: bytes | bytearray | memoryview | str) -> str:
    """S1a and S1b: the text of a body."""
    if isinstance(body, str):
        text = body[1:] if body.startswith("\ufeff") else body  # S1b
        if _SURROGATE_CHAR.search(text):
            raise MalformedResponse("the body holds a lone surrogate code point, not Unicode text (S1b)")
    elif isinstance(body, (bytes, bytearray, memoryview)):
        data = bytes(body)
        bom = 3 if data.startswith(b"\xef\xbb\xbf") else 0  # S1a: one BOM removed
        try:
            text = (data[3:] if bom else data).decode("utf-8")  # strict; "utf-8-sig" runs in Python, this in C
        except UnicodeDecodeError as exc:
            raise MalformedResponse(
                f"the body is not valid UTF-8 at byte {exc.start + bom} (S1a); is the server sending JSON?"
            ) from None
    else:
        raise TypeError(f"body must be bytes or str, not {type(body).__name__}")
    return text


def _parse_text(text: str, secrets: Iterable[str]) -> dict[str, Any]:
    """S1c to S1h for a decoded body. A RecursionError is left to _load_json."""
    limit = _get_limit() if _get_limit is not None else 0
    decoder = _decoder if limit == _MAX_INT_DIGITS else _decoder_checked
    try:
        doc = decoder.decode(text)
    except _Reject as exc:
        raise MalformedResponse(f"the body is not acceptable JSON: {exc}") from None
    except ValueError as exc:  # JSONDecodeError, and int() past the digit limit
        rule = "S1d" if "digits" in str(exc) else "S1c"
        excerpt = _excerpt(text, secrets)
        raise MalformedResponse(f"the body is not valid JSON: {_first_line(exc)} ({rule}){excerpt}") from None
    if type(doc) is not dict:
        raise MalformedResponse(f"the body's top-level value is a {_json_type(doc)}, not an object (S1h)")
    # S1e and S1f concern every value in the text, also those a duplicate key replaced (S1g),
    # so the parsed tree cannot answer them alone. When every bracket in the text belongs to the
    # response's skeleton (depth <= 4) and no surrogate escape appears, there is nothing to
    # check; otherwise one exact pass sees every pair. All tests are C-speed scans: a count of
    # "{" (not bytes.translate, which copies the body: peak memory 1.27x json.loads instead of
    # 1.03x), and for "[" two finds (memchr, 10x faster than a count), as the skeleton has one.
    objects, has_array = _skeleton_containers(doc)
    first = text.find("[")
    stray_array = first >= 0 and (not has_array or text.find("[", first + 1) >= 0)
    if stray_array or text.count("{") != objects or ("\\" in text and _SURROGATE_ESCAPE.search(text)):
        _exact_checks(text)
    return doc


def _skeleton_containers(doc: dict[str, Any]) -> tuple[int, bool]:
    """How many objects a response has when it holds nothing but its skeleton, and whether
    it has the one array (micro_deposits)."""
    count = 1
    items = doc.get("micro_deposits")
    if type(items) is not list:
        return count, False
    for item in items:
        if type(item) is dict:
            count += 2 if type(item.get("micro_deposit")) is dict else 1
    return count, True


# Strings and runs of brackets in a JSON text, for the exact pass: strings are matched whole, so
# that a bracket or quote inside one is not taken for structure; a run of brackets ("[[[", "{}")
# is one token, which halves the tokens of the hostile bodies that bring the exact pass here.
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]+').finditer
_RUNS: dict[str, tuple[int, int]] = {}  # bracket run -> (depth change, highest depth reached)


def _run_shape(run: str) -> tuple[int, int]:
    depth = peak = 0
    for bracket in run:
        depth += 1 if bracket in "[{" else -1
        peak = max(peak, depth)
    if len(_RUNS) < 1024:  # bounded: a hostile body cannot grow it
        _RUNS[run] = (depth, peak)
    return depth, peak


def _text_depth(text: str) -> int:
    """S1f on the text itself: the deepest nesting of arrays and objects, also of values a
    duplicate key replaced (S1g). Stops counting past the limit."""
    depth = deepest = 0
    for match in _TOKENS(text):
        token = match.group()
        if token[0] != '"':
            change, peak = _RUNS.get(token) or _run_shape(token)
            deepest = max(deepest, depth + peak)
            if deepest > _MAX_DEPTH:
                break
            depth += change
    return deepest


def _exact_checks(text: str) -> None:
    """S1e and S1f over every value in the text, replaced duplicates included, in one scan of
    its tokens: memory stays flat and nothing recurses, whatever the body."""
    depth = 0
    for match in _TOKENS(text):
        token = match.group()
        if token[0] != '"':
            change, peak = _RUNS.get(token) or _run_shape(token)
            if depth + peak > _MAX_DEPTH:
                raise MalformedResponse(f"the body nests deeper than {_MAX_DEPTH} levels (S1f)")
            depth += change
        elif "\\" in token and _SURROGATE_ESCAPE.search(token) and _SURROGATE_CHAR.search(json.loads(token)):
            raise MalformedResponse("a string holds a lone surrogate escape such as \\ud800 (S1e)")


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__


def _excerpt(text: str, secrets: Iterable[str] = ()) -> str:
    """An excerpt of a body that is plainly not JSON data (an HTML error page, a proxy's text).

    Nothing when the first 80 characters hold a brace or bracket: JSON, even behind a prefix
    such as ``)]}',``, may carry personal data. Secrets are removed from a window wide enough
    to hold any of them before cutting and quoting, so no part of one survives (S22a).
    """
    window = text[: 80 + _ENCODED_LEN * max((len(secret) for secret in secrets), default=0)]
    shown = _redact(window, secrets)[:80]
    if not shown.strip() or "{" in shown or "[" in shown:
        return ""
    return f"; body starts {shown!r}"


def _json_type(value: Any) -> str:
    kind = type(value)
    if value is None:
        return "null"
    if kind is bool:
        return "boolean"
    if kind is int:
        return "integer"
    if kind is float:
        return "number"
    if kind is str:
        return "string"
    if kind is list:
        return "array"
    return "object"


# --------------------------------------------------------------------------- S6-S9: fields

_ASCII_DIGITS = re.compile("[0-9]+").fullmatch

# S9 in two patterns: the common case (offset present, <= 6 fraction digits, day <= 28, no
# boundary year) needs no other check; anything else goes through _timestamp_check.
_TS_CLEAN = re.compile(
    r"(?!0000|0001|9999)[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])[Tt]"
    r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?"
    r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
).fullmatch
_TS_FULL = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]{1,9}))?([Zz]|[+-][0-9]{2}:[0-9]{2})?"
).fullmatch
_UTC = _dt.timezone.utc
_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _parse_timestamp(text: str) -> tuple[_dt.datetime | None, str | None, str]:
    """S9: (UTC datetime or None, drift action or None, rule id) for one timestamp string."""
    m = _TS_FULL(text)
    if m is None:
        return None, "nulled", "S9e"
    year, month, day, hour, minute, second = (int(g) for g in m.group(1, 2, 3, 4, 5, 6))
    fraction, zone = m.group(7), m.group(8)
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if not (year >= 1 and 1 <= month <= 12 and hour <= 23 and minute <= 59 and second <= 59):
        return None, "nulled", "S9e"
    if not 1 <= day <= (29 if month == 2 and leap else _DAYS[month - 1]):
        return None, "nulled", "S9e"
    offset = 0
    if zone and zone not in "Zz":
        off_h, off_m = int(zone[1:3]), int(zone[4:6])
        if off_h > 23 or off_m > 59:
            return None, "nulled", "S9e"
        offset = (off_h * 60 + off_m) * (1 if zone[0] == "+" else -1)
    micro = int((fraction or "0")[:6].ljust(6, "0"))  # S9c: truncate, never round
    try:
        value = _dt.datetime(year, month, day, hour, minute, second, micro, _UTC)
        if offset:
            value -= _dt.timedelta(minutes=offset)  # S9a: to UTC
    except OverflowError:
        return None, "nulled", "S9d"
    if not zone:
        return value, "assumed_utc", "S9b"  # one note per field; the assumption matters more
    if fraction and len(fraction) > 6:
        return value, "truncated", "S9c"
    return value, None, "S9a"


if sys.version_info >= (3, 11):
    _fromisoformat = _dt.datetime.fromisoformat
else:  # before 3.11 it takes neither "Z" nor fractions of other than 3 or 6 digits
    _fromisoformat = None

# Where datetime.fromisoformat may convert (3.11+): S9's form with "Z" or an offset and at most 6
# fraction digits. It checks the calendar itself (month lengths, leap years); what it accepts
# beyond S9 (week dates, "T18", "," fractions, "+0530", offset minutes past 59) fails here.
_TS_ISO = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt](?:[01][0-9]|2[0-3]):[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?:Z|[+-][0-9]{2}:[0-5][0-9])"
).fullmatch


def _fast_datetime(text: str) -> _dt.datetime | None:
    """S9 for the common forms on 3.11+, or None: then _parse_timestamp decides.

    datetime.fromisoformat after _TS_ISO is 5x faster than the portable path, with identical
    results (tests/test_properties.py compares the two on every interpreter).
    """
    if _fromisoformat is not None and _TS_ISO(text):
        try:
            value = _fromisoformat(text)
            return value if value.tzinfo is _UTC else value.astimezone(_UTC)
        except (ValueError, OverflowError):
            pass  # Feb 30, year 0000, offset hours past 23, a year out of range in UTC
    return None


def _to_datetime(text: str) -> _dt.datetime | None:
    """S9: the UTC datetime of a timestamp string, or None (S9d, S9e)."""
    return _fast_datetime(text) or _parse_timestamp(text)[0]  # a datetime is always true


def _canonical_timestamp(text: str) -> tuple[_dt.datetime | None, str | None]:
    """S9 then S12 for a timestamp string: (UTC datetime, canonical text), both None if nulled.

    When the string already names UTC, its own digits are the canonical text: slicing them
    costs a tenth of formatting the datetime (the difference to_dict() pays three times).
    """
    value = _fast_datetime(text)
    if value is None:
        value = _parse_timestamp(text)[0]
        return value, (None if value is None else _format_timestamp(value))
    if text[10] == "T" and (text[-1] == "Z" or text[-5:] == "00:00"):
        return value, _utc_text(text)
    return value, _format_timestamp(value)


def _utc_text(text: str) -> str:
    """S12's text of an accepted timestamp string whose zone is UTC (Z, +00:00, -00:00)."""
    end = len(text) - (1 if text[-1] in "Zz" else 6)
    return f"{text[:10]}T{text[11:19]}.{text[20:end]:0<6}Z"


# S9 where the pattern alone proves a UTC timestamp valid (day <= 28, no year 0000), so that
# to_dict() can print its digits without converting it: most real ones (milliseconds or none).
_TS_UTC_CLEAN = re.compile(
    r"(?!0000)[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(?:\.[0-9]{3})?(?:Z|[+-]00:00)"
).fullmatch


def _timestamp_check(value: Any) -> tuple[str | None, str | None, str]:
    """Slow path of S9: (text to keep for lazy conversion or None, drift action or None, rule)."""
    if type(value) is not str:
        return None, "nulled", "S9e"
    parsed, action, rule = _parse_timestamp(value)
    return (value if parsed is not None else None), action, rule


def _format_timestamp(value: _dt.datetime) -> str:
    """S12's ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` of a datetime (naive ones are taken as UTC).

    isoformat, not strftime: "%Y" does not zero-pad years below 1000 on glibc; isoformat
    does, and is 3x faster than formatting the seven parts by hand.
    """
    if value.tzinfo is not None and value.tzinfo is not _UTC:
        value = value.astimezone(_UTC)
    return value.isoformat(timespec="microseconds")[:26] + "Z"


def _string_field(value: Any) -> tuple[str | None, str | None]:
    """S6 for a value that is not str or None: (new value, drift action)."""
    if type(value) is int:
        return str(value), "coerced"
    return None, "nulled"


def _routing_field(value: Any) -> tuple[str | None, str | None]:
    """S7: (new value, drift action or None)."""
    if type(value) is str:
        if len(value) < 9 and _ASCII_DIGITS(value):
            return value.rjust(9, "0"), "padded"
        return value, None
    if type(value) is int:
        text = str(value)
        return (text.rjust(9, "0"), "padded") if 0 <= value < 100_000_000 else (text, "coerced")
    return None, "nulled"


def _int_field(value: Any) -> tuple[int | None, str | None]:
    """S8 for a value that is not int or None: (new value, drift action)."""
    kind = type(value)
    if kind is float:
        if value == value and value not in (_INF, -_INF) and value == int(value):
            return int(value), "coerced"
        return None, "nulled"
    if kind is str and len(value) <= _MAX_INT_DIGITS and _ASCII_DIGITS(value):
        try:
            return int(value), "coerced"
        except ValueError:  # the process lowered sys.set_int_max_str_digits below 4300
            return None, "nulled"
    return None, "nulled"


def _timestamp_notes(obj: Mapping[str, Any], index: int) -> list[_Note]:
    """Drift notes for the string timestamps of one micro_deposit object (S9)."""
    notes: list[_Note] = []
    for pos in _TS_POS:
        name = _FIELDS[pos]
        text = obj.get(name)
        if type(text) is str and not _TS_CLEAN(text):
            _, action, rule = _parse_timestamp(text)
            if action:
                notes.append((index, pos, name, "string", action, rule, text))
    return notes


# Key orders + value types seen before, and whether they need no coercion: each string field
# str/None, each integer field int/None. Real servers send one shape, so this is nearly always
# a hit. Bounded, so that hostile input cannot grow it.
_CLEAN_SHAPES: dict[tuple[Any, ...], int] = {}
_STR_OK = (str, type(None))
_INT_OK = (int, type(None))
_INT_FIELDS = ("account_type", "status")


def _learn_shape(shape: tuple[Any, ...]) -> int:
    """What a shape (17 keys in order, then their 17 value types) needs: 0 the general path
    (coercions or unknown keys), 1 nothing (keys in spec order), 2 only reordering."""
    names, kinds = shape[:17], shape[17:]
    clean = all(
        name in _FIELD_SET and kind in (_INT_OK if name in _INT_FIELDS else _STR_OK) for name, kind in zip(names, kinds)
    )
    verdict = (1 if names == _FIELDS else 2) if clean else 0
    if clean and len(_CLEAN_SHAPES) < 4096:  # only the 17 short names: hostile keys are not kept
        _CLEAN_SHAPES[shape] = verdict
    return verdict


def _coerce_fields(obj: dict[str, Any], index: int, notes: list[_Note], strict: bool) -> dict[str, Any]:
    """The general path of S5-S9: any shape, extra fields, coercions; returns the record state."""
    state: dict[str, Any] = {}  # only what came: missing fields read as the class default, None (S5a)
    extra: dict[str, Any] = {}
    found: list[_Note] = []
    for name, value in obj.items():
        pos = _FIELD_POS.get(name)
        if pos is None:
            extra[name] = value  # S5b
            continue
        if value is None:
            continue  # S5a: the class default is None
        new: Any = value
        action: str | None = None
        rule = "S6"
        if pos == _ROUTING_POS:
            new, action = _routing_field(value)
            rule = "S7"
        elif pos in _INT_POS:
            if type(value) is not int:
                new, action = _int_field(value)
            rule = "S8"
        elif pos in _TS_POS:
            if type(value) is not str:
                new, action, rule = None, "nulled", "S9e"
            elif strict:
                new, action, rule = _timestamp_check(value)
        elif type(value) is not str:
            new, action = _string_field(value)
        if action:
            found.append((index, pos, name, _json_type(value), action, rule, value))
        state[name] = new
    if found:
        found.sort(key=_note_order)
        notes.extend(found)
    if len(state) == 17:  # all fields came: keep them in spec order, as the fast path does
        state = {name: state[name] for name in _FIELDS}
    state["extra"] = extra
    return state


# --------------------------------------------------------------------------- parsing


def parse_microdeposits(body: bytes | str, *, strict: bool = False) -> MicrodepositList:
    """Parse a 2xx ``GET /micro_deposits`` body into records, in order (S1-S12).

    Lenient mode (the default) coerces drifted values and records each change in the
    result's ``drift``; ``strict=True`` raises SchemaDrift on the first one instead.
    Raises MalformedResponse for a body that is not one UTF-8 JSON object (S1, S2).
    """
    return _public(_parse_body, body, strict, ())


_object_new = object.__new__
_object_setattr = object.__setattr__
_tuple_new = tuple.__new__
_LOGGED_NOTES = 100  # a hostile body can have millions of notes; the log gets the first ones


def _parse_body(body: bytes | str, strict: bool, secrets: Iterable[str]) -> MicrodepositList:
    doc = _load_json(body, secrets)  # S1 whole, depth and surrogates included
    items = doc.get("micro_deposits")
    if items is None:  # S2
        return _result((), [], [], doc, False)
    if type(items) is not list:
        raise MalformedResponse(
            f"'micro_deposits' is a {_json_type(items)}, not an array (S2); is this the /micro_deposits endpoint?"
        )
    records: list[Microdeposit] = []
    notes: list[_Note] = []
    runs: list[tuple[int, int]] = []  # skipped items (S3), as ranges: no storage per item
    skipped_from = -1
    add, new, set_state, cls = records.append, _object_new, _object_setattr, Microdeposit
    # Shapes of this body: json.loads shares key strings within one call, so these lookups
    # compare keys by identity, where the global cache compares 17 strings each time.
    shapes: dict[tuple[Any, ...], int] = {}
    for index, item in enumerate(items):
        obj = item.get("micro_deposit") if type(item) is dict else None
        if type(obj) is not dict:
            if strict:
                note = _skip_drift(index, item)
                raise SchemaDrift(f"strict mode: {note}; the server drifted from the spec", note)
            if skipped_from < 0:
                skipped_from = index
            continue
        if skipped_from >= 0:
            runs.append((skipped_from, index))
            skipped_from = -1
        clean: int | None = 0
        if len(obj) == 17:  # 17 distinct keys: the shape proves they are exactly the fields
            shape = (*obj, *map(type, obj.values()))
            clean = shapes.get(shape)
            if clean is None:
                clean = shapes[shape] = _CLEAN_SHAPES.get(shape) or _learn_shape(shape)
        if clean:  # the fast path (S5): the copy, in spec order, becomes the record
            state = obj.copy() if clean == 1 else {name: obj[name] for name in _FIELDS}
            routing = state["routing_number"]
            if routing is not None and len(routing) < 9 and _ASCII_DIGITS(routing):
                state["routing_number"] = routing.rjust(9, "0")  # S7
                notes.append((index, _ROUTING_POS, "routing_number", "string", "padded", "S7", routing))
            state["extra"] = {}
        else:
            state = _coerce_fields(obj, index, notes, strict)
        state["raw"] = obj
        record = new(cls)  # no __init__: the parsed state is the record
        set_state(record, "__dict__", state)
        add(record)
        if strict:  # notes holds this item's notes only: an earlier note would have raised
            found = notes + _timestamp_notes(obj, index) if clean else notes
            if found:
                note = _note_drift(min(found, key=_note_order))  # S11: the first in spec field order
                raise SchemaDrift(f"strict mode: {note}; the server drifted from the spec", note)
    if skipped_from >= 0:
        runs.append((skipped_from, len(items)))
    result = _result(records, notes, runs, doc, not strict, items)
    if _log.isEnabledFor(logging.DEBUG):
        drift = result.drift
        for note in itertools.islice(drift, _LOGGED_NOTES):
            _log.debug("drift: %s", note)  # Drift.__str__ names the type, never the value (S22b)
        if len(drift) > _LOGGED_NOTES:
            _log.debug("drift: %d more note(s) not logged", len(drift) - _LOGGED_NOTES)
    return result


def _note_drift(note: _Note) -> Drift:
    return Drift(note[0], note[2], note[3], note[4], note[5], note[6])


def _result(
    records: Iterable[Microdeposit],
    notes: list[_Note],
    runs: list[tuple[int, int]],
    raw: Any,
    lazy: bool,
    items: list[Any] | None = None,
) -> MicrodepositList:
    """A MicrodepositList from the parser's own compact notes (the public constructor takes Drift).

    ``items``: the micro_deposits array as parsed, where skipped items' notes are read from: a
    shallow copy, so that a caller editing ``raw`` cannot change the notes.
    """
    result: MicrodepositList = _tuple_new(MicrodepositList, records)
    result.raw, result._notes, result._runs, result._lazy, result._drift = raw, notes, runs, lazy, None
    result._items = list(items) if runs and items is not None else []
    return result


# --------------------------------------------------------------------------- the request (S13)

_TOKEN_OK = re.compile("[!-~]+").fullmatch  # visible ASCII only (S13c)
_URL_CHARS_OK = re.compile("[!-~]+").fullmatch  # visible ASCII; urlsplit silently drops tabs and newlines


@dataclasses.dataclass(frozen=True, repr=False)
class Request:
    """An HTTP request to send with any HTTP stack: ``method``, ``url``, ``headers`` (S13)."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...]

    def __repr__(self) -> str:
        shown = tuple((k, "<redacted>" if k.lower() == "md-session-token" else v) for k, v in self.headers)
        return f"Request(method={self.method!r}, url={self.url!r}, headers={shown!r})"

    __str__ = __repr__


def _check_token(token: object) -> str:
    if not isinstance(token, str) or not _TOKEN_OK(token):
        # Never echo the token: describe it instead (S22a).
        what = "empty" if token == "" else "not a string" if not isinstance(token, str) else "not visible ASCII"
        raise InvalidArgument(
            f"session token is {what} (S13c): pass the MD-SESSION-TOKEN value from POST /sessions, "
            "without spaces, quotes or line breaks"
        )
    return token


def _check_base_url(base_url: str) -> str:
    """Validate a base URL by S13d and return it ending in '/'."""
    from urllib.parse import urlsplit  # not needed by parse-only users; keeps import fast

    if not isinstance(base_url, str) or not _URL_CHARS_OK(base_url):
        raise InvalidArgument(f"base URL {base_url!r} holds whitespace, control or non-ASCII characters (S13d)")
    try:
        parts = urlsplit(base_url)
        host = parts.hostname or ""
        parts.port  # noqa: B018  (raises ValueError for a bad port)
    except (ValueError, TypeError, AttributeError):
        raise InvalidArgument(f"base URL {base_url!r} is not a URL (S13d)") from None
    if parts.username is not None or parts.password is not None:
        raise InvalidArgument("base URL must not hold a user name or password (S13d)")
    if "?" in base_url or "#" in base_url:
        raise InvalidArgument(f"base URL {base_url!r} must not have a query or fragment (S13d)")
    if not host:
        raise InvalidArgument(f"base URL {base_url!r} has no host (S13d); e.g. {INTEGRATION_URL!r}")
    labels = () if ":" in host else host.rstrip(".").split(".")  # an IPv6 literal has no labels
    if not all(0 < len(label) < 64 for label in labels):  # what IDNA refuses at connect time
        raise InvalidArgument(f"base URL {base_url!r} has an empty or over-long host name label (S13d)")
    if not _port_ok(parts.netloc):
        raise InvalidArgument(f"base URL {base_url!r} has a bad port (S13d): 1 to 5 digits, 1 to 65535")
    if parts.scheme == "http" and not _is_loopback(host):
        raise InvalidArgument(f"base URL {base_url!r} must use https (S13d); plain http is only for loopback hosts")
    if parts.scheme not in ("https", "http"):
        raise InvalidArgument(f"base URL {base_url!r} must use https (S13d)")
    return base_url if base_url.endswith("/") else base_url + "/"


def _port_ok(netloc: str) -> bool:
    """S13d's port: none, or ':' and 1 to 5 ASCII digits from 1 to 65535 (urlsplit takes 0 and 0080)."""
    rest = netloc[netloc.find("]") + 1 :] if netloc.startswith("[") else netloc[len(netloc.split(":")[0]) :]
    if not rest:
        return True
    port = rest[1:]
    return rest[0] == ":" and 1 <= len(port) <= 5 and bool(_ASCII_DIGITS(port)) and 1 <= int(port) <= 65535


def _is_loopback(host: str) -> bool:
    """``localhost``, a dotted-quad in 127.0.0.0/8, or ::1 (S13d); nothing looser."""
    if host.lower() == "localhost":
        return True
    import ipaddress

    try:
        address = ipaddress.ip_address(host)  # strict: no '127.1' or '0x7f.1' forms
    except ValueError:
        return False
    # Exact, not is_loopback: 3.13 also calls IPv4-mapped ::ffff:127.0.0.1 loopback.
    return address == ipaddress.IPv6Address("::1") if address.version == 6 else address.is_loopback


def build_request(session_token: str, *, base_url: str = INTEGRATION_URL) -> Request:
    """The ``GET /micro_deposits`` request (S13). Raises InvalidArgument for a bad token or base URL."""
    return _public(_build_request, session_token, base_url)


def _build_request(session_token: str, base_url: str) -> Request:
    return _make_request(_check_token(session_token), _check_base_url(base_url) + "micro_deposits")


_USER_AGENT = f"nexus-micro/{__version__} python/{sys.version_info[0]}.{sys.version_info[1]}"
_STATIC_HEADERS = (("Accept", _MEDIA_TYPE), ("Content-Type", _MEDIA_TYPE), ("User-Agent", _USER_AGENT))


# --------------------------------------------------------------------------- the response (S14-S16)

_REQUEST_ID_HEADERS = ("x-request-id", "request-id")


def _header(headers: _Headers, name: str) -> str | None:
    """The first value of header ``name``, compared case-insensitively."""
    items = headers.items() if hasattr(headers, "items") else headers
    wanted = name.lower()
    for key, value in items:
        if key.lower() == wanted:
            return value
    return None


def _error_details(body: bytes | str) -> tuple[str | None, str | None]:
    """(code, message) from an error body, read tolerantly (S15). Never raises."""
    try:
        doc = _load_json(body)
    except (NexusError, TypeError):
        return None, None
    code: Any = None
    message: Any = None
    err = doc.get("error")
    if type(err) is dict:
        code, message = err.get("code"), err.get("message")
    if code is None:
        code = doc.get("code")
    if message is None:
        message = doc.get("message")
    if message is None and type(err) is str:
        message = err
    code = str(code) if type(code) is int else code if type(code) is str else None
    return code, (message if type(message) is str else None)


_IMF_FIXDATE = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), ([0-9]{2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"([0-9]{4}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) GMT"
).fullmatch
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _retry_after(value: str | None) -> float | None:
    """S16: seconds to wait from a Retry-After value, or None when it says nothing usable.

    Delay-seconds or an IMF-fixdate only (RFC 9110's preferred form; the obsolete forms are a
    MAY and are not accepted); email.utils would also take offsets and two-digit years.
    """
    if value is None:
        return None
    value = value.strip(" \t")
    if value and _ASCII_DIGITS(value):
        digits = value.lstrip("0") or "0"
        return float(int(digits)) if len(digits) <= 15 else float("inf")  # no int() past 4300 digits
    m = _IMF_FIXDATE(value)
    if m is None or m.group(6) > "60":
        return None
    day, month, year, hour, minute, second = m.groups()
    try:
        when = _dt.datetime(
            int(year), _MONTHS.index(month) + 1, int(day), int(hour), int(minute), min(int(second), 59), tzinfo=_UTC
        )  # second 60 (a leap second) is read as 59 (S16); 61 and more stay impossible
    except ValueError:  # Feb 30, hour 25, year 0000
        return None
    return max(0.0, (when - _dt.datetime.now(_UTC)).total_seconds())


_STATUS_ERRORS = {401: Unauthorized, 403: Forbidden, 404: NotFound, 429: RateLimited}
_ADVICE = {
    Unauthorized: "get a new session token (POST /sessions) and try again",
    SessionExpired: "the session expired: get a new session token (POST /sessions) and try again",
    Forbidden: "this session is not allowed to list microdeposits; check the user and client",
    NotFound: "check the base URL (it should end at the API root, e.g. https://int-data.moneydesktop.com/)",
    RateLimited: "slow down and retry after the server's Retry-After",
    ServerError: "MX's side failed; retry later",
    HTTPError: "the request was refused; see the code and message",
}


def _request_id(headers: _Headers, secrets: Iterable[str] = ()) -> str | None:
    """The response's request id header, if any, with secrets removed (for messages and logs)."""
    value = next((v for v in (_header(headers, n) for n in _REQUEST_ID_HEADERS) if v), None)
    return None if value is None else _redact(value, secrets)


def _redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret removed, also as a server may echo it encoded (S22a)."""
    for secret in secrets:
        # The pattern cannot scan fast (it has no literal prefix): look first for what it needs.
        if secret and ("%" in text or "&" in text or "\\u" in text or secret.lower() in text.lower()):
            text = _secret_pattern(secret).sub("<redacted>", text)
    return text


_ENCODED_LEN = 15  # the longest form of one character that _secret_pattern matches (&#x000000002B;)


@functools.lru_cache(maxsize=64)
def _secret_pattern(secret: str) -> re.Pattern[str]:
    """A pattern for ``secret`` with any of its characters written as itself, percent-encoded
    (``%2B``, ``%2b``, encoded again up to three times: ``%252B``), as an HTML character
    reference (``&#43;``, ``&#x2B;``, with up to 8 leading zeros, with or without the ``;``;
    ``&amp;`` and the other named ones for ``& < > " '``), as a ``\\u002B`` escape, or after a
    backslash (JSON's ``\\/``), in any letter case: what servers plausibly do to a token they
    reflect in a URL, a header or a page. Compiled once per token, on error paths only.
    """
    parts = []
    for char in secret:
        code = ord(char)
        named = _NAMED_REFERENCES.get(char, "")
        if not char.isalnum():
            named += "|\\\\" + re.escape(char)  # a backslash escape: JSON's \\/ seen as text
        parts.append(
            f"(?:{re.escape(char)}|%(?:25){{0,3}}{code:02x}|&#0{{0,8}}{code};?|&#x0{{0,8}}{code:x};?"
            f"|\\\\u00{code:02x}{named})"
        )
    return re.compile("".join(parts), re.IGNORECASE)


_NAMED_REFERENCES = {"&": "|&amp;", "<": "|&lt;", ">": "|&gt;", '"': "|&quot;", "'": "|&apos;"}


# S22c: what must not reach a terminal raw: C0, DEL, C1, bidi controls, line/paragraph separators.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _shown(text: str) -> str:
    """Server text made safe for a terminal or a message: control characters escaped (S22c)."""
    return _UNSAFE.sub(_escape_char, text) if _UNSAFE.search(text) else text


def _raise_for_status(status: int, headers: _Headers, body: bytes | str, secrets: Iterable[str] = ()) -> None:
    """Raise the error S14 maps a non-2xx status to."""
    if 300 <= status <= 399:
        location = _header(headers, "Location")
        location = None if location is None else _redact(location, secrets)
        shown = _shown(location[:200]) if location else "no Location header"
        raise UnexpectedRedirect(
            f"HTTP {status} redirect to {shown} was not followed, so the session token stays with the "
            "base URL's host (S19); set base_url to the final API URL",
            status=status,
            location=location,
        )
    code, message = _error_details(body)
    cls: type[HTTPError]
    if code == "4011":
        cls = SessionExpired
    elif status in _STATUS_ERRORS:
        cls = _STATUS_ERRORS[status]
    elif 500 <= status <= 599:
        cls = ServerError
    else:
        cls = HTTPError
    # Server-supplied text may echo the token back: redact it before anything is cut (S22a).
    request_id = _request_id(headers, secrets)
    retry_after = _retry_after(_header(headers, "Retry-After"))
    code = None if code is None else _redact(code, secrets)
    message = None if message is None else _redact(message, secrets)
    if code or message:
        said = _shown(f"code {code}: {message}"[:200])
    else:
        text_body = body if isinstance(body, str) else bytes(body).decode("utf-8", "replace")
        said = _excerpt(text_body, secrets).lstrip("; ") or "no error body"
    text = f"HTTP {status} from GET /micro_deposits ({said}); {_ADVICE[cls]}"
    if retry_after is not None:
        text += f"; the server asked to wait {retry_after:g} s (Retry-After)"
    if request_id:
        text += f" [request id {_shown(request_id[:100])}]"
    raise cls(
        text,
        status=status,
        code=code,
        message=message,
        request_id=request_id,
        retry_after=retry_after,
    )


def parse_response(
    status: int, headers: _Headers, body: bytes | str, *, strict: bool = False, request: Request | None = None
) -> MicrodepositList:
    """Interpret a response: 2xx gives the records (S1-S12); anything else raises (S14).

    ``headers`` is a mapping or a list of (name, value) pairs; names are case-insensitive.
    Use this with your own HTTP stack after sending ``build_request(...)``; pass that
    ``request=`` so that a token the server echoes is redacted from errors (S22a).
    """
    secrets = () if request is None else tuple(v for k, v in request.headers if k == "MD-SESSION-TOKEN")
    return _public(_parse_response, status, headers, body, strict, secrets)


def _parse_response(
    status: int, headers: _Headers, body: bytes | str, strict: bool, secrets: Iterable[str]
) -> MicrodepositList:
    if type(status) is not int:
        raise TypeError(f"status must be an int, not {type(status).__name__}")
    if 200 <= status <= 299:
        return _parse_body(body, strict, secrets)
    _raise_for_status(status, headers, body, secrets)
    raise AssertionError("unreachable")  # pragma: no cover


# --------------------------------------------------------------------------- the transport (S17-S22)

_MiB = 1024 * 1024
_FOREVER = 1e9  # seconds; larger waits overflow the socket layer (and are not what anyone means)
_ERROR_BODY_LIMIT = 64 * 1024  # S20c
_RETRY_STATUSES = (502, 503, 504)
_RETRY_AFTER_CAP = 60.0  # S17b
_BACKOFF_BASE = 0.5  # S17c
_BACKOFF_CAP = 8.0


class Client:
    """Lists microdeposits over HTTPS: keep-alive connections, retries, deadline, size cap, no redirects.

    One Client is safe to share across threads and serves many users of one base URL: give
    ``session_token`` (or a ``token_provider``, asked on a 401: S18) here, or pass
    ``session_token=`` to each call. Connections are kept alive and reused (at most
    ``pool_size`` idle ones); ``close()``, or leaving a ``with Client(...)`` block, closes them.
    """

    def __init__(
        self,
        session_token: str | None = None,
        *,
        base_url: str = INTEGRATION_URL,
        timeout: float = 10.0,
        deadline: float | None = None,
        max_retries: int = 2,
        max_response_bytes: int = 10 * _MiB,
        ssl_context: Any = None,
        token_provider: Callable[[], str] | None = None,
        pool_size: int = 16,
    ) -> None:
        if session_token is not None:
            _check_token(session_token)
        self.base_url = _check_base_url(base_url)
        if not _is_seconds(timeout) or (deadline is not None and not _is_seconds(deadline)):
            raise InvalidArgument("timeout and deadline must be positive, finite numbers of seconds")
        if not _is_count(max_retries, 0) or not _is_count(max_response_bytes, 1) or not _is_count(pool_size, 0):
            raise InvalidArgument("max_retries and pool_size must be integers >= 0, max_response_bytes >= 1")
        if token_provider is not None and not callable(token_provider):
            raise InvalidArgument("token_provider must be a function that returns a session token")
        self.timeout = float(timeout)
        self.deadline = deadline
        self.max_retries = max_retries
        self.max_response_bytes = max_response_bytes
        self._url = self.base_url + "micro_deposits"
        self._ssl_context = ssl_context
        self._token_provider = token_provider
        self._token = session_token
        import threading  # already loaded by logging; imported here to keep the top flat

        self._lock = threading.Lock()  # guards _token and _opener: held only for a moment
        self._refresh_lock = threading.Lock()  # one refresh at a time; held while the provider runs
        self._opener: Any = None
        self._pool = _Pool(pool_size)

    def __repr__(self) -> str:
        # getattr: a repr must work on an instance whose __init__ failed (debuggers, --showlocals).
        base_url, timeout, deadline = (getattr(self, n, None) for n in ("base_url", "timeout", "deadline"))
        return f"Client(base_url={base_url!r}, timeout={timeout}, deadline={deadline})"

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the idle keep-alive connections; calls still running close theirs when done.

        The Client stays usable: a later call opens a new connection.
        """
        self._pool.clear()

    def list_microdeposits(self, *, session_token: str | None = None, strict: bool = False) -> MicrodepositList:
        """GET /micro_deposits: the records in order, with retries by S17 and S18.

        ``session_token`` is this call's token (one Client, many users); without it the
        Client's own token or ``token_provider`` is used.
        """
        return _public(self._list, session_token, strict)

    def _list(self, session_token: str | None, strict: bool) -> MicrodepositList:
        started = time.monotonic()
        ends = None if self.deadline is None else started + self.deadline
        if session_token is not None:
            token, provider = _check_token(session_token), None  # a per-call token is not refreshed
        else:
            token, provider = self._current_token(ends), self._token_provider
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            request = _make_request(token, self._url)
            try:
                status, headers, body = self._send(request, ends, attempt)
                return _parse_response(status, headers, body, strict, (token,))
            except Unauthorized:
                if provider is None or refreshed:
                    raise
                token = self._refresh(token, ends)  # S18: once, outside max_retries
                refreshed = True
                attempt -= 1
                continue
            except (TransportError, RateLimited, ServerError) as exc:
                delay = self._retry_delay(exc, attempt, ends)
                if delay is None:
                    raise
                _log.info(
                    "retrying in %.1f s (attempt %d of %d) after %s",
                    delay,
                    attempt + 1,
                    self.max_retries + 1,
                    _retry_reason(exc),
                )
            time.sleep(delay)

    def _retry_delay(self, exc: NexusError, attempt: int, ends: float | None) -> float | None:
        """Seconds to wait before the next attempt, or None when ``exc`` is final (S17)."""
        if attempt > self.max_retries:
            return None
        if isinstance(exc, TransportError):
            if not exc.retryable:
                return None
        elif isinstance(exc, ServerError) and exc.status not in _RETRY_STATUSES:
            return None
        wait = exc.retry_after if isinstance(exc, HTTPError) else None
        if wait is not None:
            if wait > _RETRY_AFTER_CAP:
                return None  # S17b: never sooner than asked; too long to wait here
        else:
            import random

            wait = random.uniform(0.0, min(_BACKOFF_CAP, _BACKOFF_BASE * 2 ** (attempt - 1)))
        if ends is not None and time.monotonic() + wait >= ends:
            return None  # S21b: no wait that would end after the deadline
        return wait

    def _current_token(self, ends: float | None) -> str:
        with self._lock:
            token = self._token
        if token is not None:
            return token
        if self._token_provider is None:
            raise InvalidArgument(
                "no session token: pass session_token= to list_microdeposits(), or give the Client "
                "a session_token or token_provider"
            )
        return self._refresh(None, ends)

    def _refresh(self, failed: str | None, ends: float | None) -> str:
        """A fresh token after a 401; threads that failed with the same token share one refresh.

        Other threads keep working while the provider runs (it is called outside ``_lock``);
        a caller with a deadline waits for a running refresh no longer than the deadline.
        """
        wait = -1.0 if ends is None else max(0.0, ends - time.monotonic())
        if not self._refresh_lock.acquire(timeout=wait):
            raise Timeout(f"the deadline of {self.deadline} s was spent waiting for a token refresh (S21b)")
        try:
            with self._lock:
                current = self._token
            if current is not None and current != failed:
                return current  # another thread refreshed already
            fresh = _check_token(self._call_provider())
            with self._lock:
                self._token = fresh
            return fresh
        finally:
            self._refresh_lock.release()

    def _call_provider(self) -> str:
        assert self._token_provider is not None
        token = self._token_provider()
        _log.debug("token_provider gave a new session token")
        return token

    def _get_opener(self) -> Any:
        with self._lock:
            if self._opener is None:
                self._opener = _build_opener(self._pool, self._ssl_context, _is_loopback(_host_of(self.base_url)))
            return self._opener

    def _send(self, request: Request, ends: float | None, attempt: int) -> tuple[int, Any, bytes]:
        """One attempt: (status, headers, body), or a TransportError/Timeout/ResponseTooLarge."""
        timeout = self.timeout
        if ends is not None:
            timeout = min(timeout, ends - time.monotonic())
            if timeout <= 0:
                raise Timeout(f"the deadline of {self.deadline} s was spent after {attempt - 1} attempt(s) (S21b)")
        token = request.headers[0][1]
        t0 = time.monotonic()
        error: NexusError | None = None
        try:
            status, headers, body = _exchange(
                self._get_opener(), self._pool, request, timeout, self.timeout, ends, self.max_response_bytes
            )
        except NexusError as exc:
            error = exc
        except (OSError, UnicodeError, _http_errors()) as exc:  # UnicodeError: a host IDNA refuses
            error = _transport_error(exc, request.url, timeout, token)
        if error is not None:
            raise error  # raised here, not in the except clause: no __context__ holds the response
        _log.debug(
            "GET %s -> %d attempt=%d elapsed_ms=%d request_id=%s",
            request.url,
            status,
            attempt,
            (time.monotonic() - t0) * 1000,
            _shown(_request_id(headers, (token,)) or "-"),
        )
        return status, headers, body


def _is_seconds(value: object) -> bool:
    return type(value) in (int, float) and 0 < value < _FOREVER  # type: ignore[operator]


def _is_count(value: object, least: int) -> bool:
    return type(value) is int and value >= least


def _make_request(token: str, url: str) -> Request:
    """build_request without the base URL checks the Client made once in __init__."""
    return Request("GET", url, (("MD-SESSION-TOKEN", token), *_STATIC_HEADERS))


def _public(function: Callable[..., _R], *args: Any) -> _R:
    """The body of a public call: its NexusError raised detached (S22a), and a RecursionError from
    a caller's nearly full stack turned into a rerun on a fresh stack, or a NexusError (S1)."""
    try:
        return function(*args)
    except NexusError as exc:
        error = exc
    except RecursionError:
        try:
            outcome = _from_fresh_stack(function, *args)
        except RecursionError:  # not even room to call it (C calls count too): a ready-made error
            outcome = _NO_STACK_ERROR
        if not isinstance(outcome, NexusError):
            return outcome  # type: ignore[no-any-return]
        error = outcome
    # Without the exceptions it was raised from (they can hold the body) and without our frames
    # (their locals hold the body and the token, for tools that record them); raised here, not in
    # the except clause, so that no __context__ is set again. No call: the stack may be full.
    error.__cause__ = error.__context__ = error.__traceback__ = None
    raise error


def _from_fresh_stack(function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)`` after a RecursionError from the caller's nearly full stack: on a new
    thread's stack, and a NexusError (never a bare RecursionError) if even that cannot run."""
    try:
        return _on_fresh_stack(function, *args)
    except NexusError as exc:  # returned: the caller raises it outside its except clause
        return exc
    except RecursionError:
        return NexusError(_NO_STACK)


_NO_STACK = (
    "Python's recursion limit (sys.getrecursionlimit()) left no room to run this call; call it from a "
    "shallower stack, or raise the limit (sys.setrecursionlimit)"
)
_NO_STACK_ERROR = NexusError(_NO_STACK)  # made beforehand: at the limit even a C call can fail


def _retry_reason(exc: NexusError) -> str:
    """What a retry log line says happened: category and status, never server text."""
    if isinstance(exc, HTTPError):
        after = "" if exc.retry_after is None else f", Retry-After {exc.retry_after:g} s"
        return f"HTTP {exc.status} ({exc.category}{after})"
    return exc.category


def _describe(exc: object, secrets: Iterable[str] = ()) -> str:
    """An exception's text for a message: redacted, escaped and cut (it may quote server bytes)."""
    return _shown(_redact(str(exc) or type(exc).__name__, secrets))[:200]


def _host_of(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).hostname or url


def _http_errors() -> type[Exception]:
    import http.client

    return http.client.HTTPException


def _transport_error(exc: BaseException, url: str, timeout: float, token: str) -> TransportError:
    """The TransportError (or Timeout) for an exception of the socket, TLS or HTTP layers."""
    import socket
    import ssl

    host = _host_of(url)
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return Timeout(f"no answer from {host} within {timeout:.3g} s (S21a); raise timeout or retry later")
    if isinstance(exc, ssl.SSLCertVerificationError):
        error = TransportError(
            f"TLS certificate of {host} failed verification: {_describe(exc)}; behind a TLS-inspecting "
            "proxy pass ssl_context= with its CA (see README)"
        )
        error.retryable = False  # S17: retrying cannot make a certificate valid
        return error
    if isinstance(exc, ConnectionRefusedError):
        return TransportError(f"{host} refused the connection; check the base URL and the network, or retry later")
    if isinstance(exc, UnicodeError):  # socket's IDNA encoding: a host or proxy that is no DNS name
        error = TransportError(f"a host name of the request cannot be resolved (not a DNS name: {_describe(exc)})")
        error.retryable = False  # the same name fails the same way
        return error
    if isinstance(exc, socket.gaierror):
        return TransportError(f"could not resolve {host}: {_describe(exc)}; check the base URL and DNS")
    return TransportError(f"the connection to {host} failed: {_describe(exc, (token,))}; retry later")


def _build_opener(pool: _Pool, ssl_context: Any, loopback: bool) -> Any:
    """A urllib opener: environment proxies, then our keep-alive handler; nothing else.

    No redirect handler and no error processor are installed, so every response, 3xx
    included, comes back as it is: a redirect can never be followed (S19).
    """
    import urllib.request

    opener = urllib.request.OpenerDirector()
    # ProxyHandler() reads HTTPS_PROXY/NO_PROXY now; a proxy cannot reach our loopback (S13d).
    opener.add_handler(urllib.request.ProxyHandler({} if loopback else None))
    opener.add_handler(_transport_classes().Handler(pool, ssl_context))
    return opener


def _exchange(
    opener: Any, pool: _Pool, request: Request, timeout: float, per_read: float, ends: float | None, max_bytes: int
) -> tuple[int, list[tuple[str, str]], bytes]:
    """Send ``request`` through the opener and read the whole response (S20, S21)."""
    import urllib.request

    req = urllib.request.Request(request.url, method=request.method)
    for name, value in request.headers:
        req.add_header(name, value)
    req.nexus_waits = (per_read, ends)  # type: ignore[attr-defined]  # every wait of the connection (S21a, S21b)
    response = opener.open(req, timeout=timeout)
    conn = response.nexus_conn
    try:
        status = response.status
        headers = list(response.msg.items())
        body = _read_body(response, status, max_bytes, per_read, ends)
    except BaseException:
        conn.discard()  # not read to the end, or broken: never reused
        raise
    conn.release(response, pool)
    return status, headers, body


def _content_length(values: list[str] | None, chunked: bool) -> int | None:
    """S20d: the one Content-Length of a 2xx, None when absent; TransportError when malformed."""
    if not values:
        return None
    found = {part.strip(" \t") for value in values for part in value.split(",")}
    value = found.pop()
    if found or not _ASCII_DIGITS(value) or chunked:
        raise TransportError(
            "the response's Content-Length is malformed, repeated with different values, or sent with "
            "chunked framing (S20d); retry"
        )
    digits = value.lstrip("0") or "0"
    return int(digits) if len(digits) <= 18 else _MAX_LENGTH  # past 18 digits: over any cap (S20a)


_MAX_LENGTH = 10**18


def _read_body(response: Any, status: int, max_bytes: int, per_read: float, ends: float | None) -> bytes:
    """Read a body: a 2xx past ``max_bytes`` raises ResponseTooLarge (S20a), a short one TransportError (S20b).

    An error body (non-2xx) is read tolerantly: at most 64 KiB within one wait of ``timeout``,
    and a cut, reset or stall just ends it: the status decides the outcome (S20c).
    """
    ok = 200 <= status <= 299
    reader = response.nexus_reader
    if ok:
        length = _content_length(response.msg.get_all("Content-Length"), response.chunked)
        if length is not None and length > max_bytes:
            raise ResponseTooLarge(
                f"the response says it is {length} bytes, over max_response_bytes={max_bytes} (S20a); "
                "raise the limit if this is expected"
            )
        if length is not None and response.length is None and status not in (204, 304):
            response.length = length  # http.client does not read "5, 5" (S20d); 204/304 have no body
        limit = max_bytes
        reader.read_each(per_read, ends)  # S21a: each read; the deadline bounds them all (S21b)
    else:
        limit = _ERROR_BODY_LIMIT
        reader.read_within(per_read, ends)  # S20c: one wait for the whole error body
    chunks: list[bytes] = []
    total = 0
    # isclosed(): http.client closes the response at its end (3.13 as soon as Content-Length
    # bytes are in); reading on after that is what broke 3.13.
    while total <= limit and not response.isclosed() and response.length != 0:
        try:
            chunk = response.read1(min(65536, limit + 1 - total))
        except (OSError, ValueError, _http_errors()) as exc:
            if not ok:
                break  # S20c
            if isinstance(exc, ValueError):  # http.client's bad chunk-size line
                raise TransportError("the response's chunked framing is broken (S20b); retry") from None
            raise
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    if total > limit:
        if ok:
            raise ResponseTooLarge(
                f"the body passed max_response_bytes={limit} (S20a); raise the limit if this is expected"
            )
        return b"".join(chunks)[:limit]
    if ok and response.length:
        raise TransportError(f"the body ended {response.length} bytes short of its Content-Length (S20b); retry")
    return b"".join(chunks)


class _Pool:
    """Idle keep-alive connections by origin (scheme, host, port, proxy): bounded, thread-safe.

    Kept apart from the retry policy (``Client._list``), as urllib3 keeps its pool apart from
    Retry. A connection is given back only after its response was read to the end.
    """

    def __init__(self, size: int) -> None:
        import threading

        self._size = size
        self._idle: dict[Any, list[Any]] = {}
        self._count = 0
        self._generation = 0  # close() bumps it: connections taken before are not kept after
        self._lock = threading.Lock()

    def take(self, key: Any) -> Any:
        """An idle connection for ``key`` that the server has not closed, or None."""
        while True:
            with self._lock:
                idle = self._idle.get(key)
                if not idle:
                    return None
                conn = idle.pop()
                self._count -= 1
            if conn.sock is not None and not _readable(conn.sock):
                conn.generation = self._generation
                return conn
            conn.close()  # readable while idle: the server closed it (or sent garbage)

    def put(self, key: Any, conn: Any) -> None:
        with self._lock:
            if self._count < self._size and conn.generation == self._generation:
                self._idle.setdefault(key, []).append(conn)
                self._count += 1
                return
        conn.close()

    def clear(self) -> None:
        with self._lock:
            idle, self._idle, self._count = self._idle, {}, 0
            self._generation += 1
        for conns in idle.values():
            for conn in conns:
                conn.close()

    def __del__(self) -> None:
        try:  # a Client dropped without close(): its sockets close now, not at a garbage collection
            self.clear()
        except Exception:  # interpreter shutdown
            pass


def _readable(sock: Any) -> bool:
    """Whether a socket has something to read (or an end) now; poll, as select cannot see fds past 1023."""
    import select

    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True  # cannot tell: treat it as closed


@functools.lru_cache(maxsize=None)
def _transport_classes() -> Any:
    """The http.client/urllib classes of the transport, defined on first use.

    Deferred because importing http.client, ssl and urllib.request costs 27-39 ms, more than
    the rest of this module; parse-only users never pay it.
    """
    import http.client
    import io
    import socket
    import types
    import urllib.request

    class _Reader(io.RawIOBase):
        """The socket reads of one response, each bounded by the current wait (S21a, S21b).

        While the head is read, one wait from the moment the request was sent covers every
        read (a server trickling its headers is cut at ``timeout``); then ``read_each`` or
        ``read_within`` sets the body's waits.
        """

        def __init__(self, raw: Any, sock: Any) -> None:
            super().__init__()
            self._raw, self._sock = raw, sock
            self._until: float | None = time.monotonic() + (sock.gettimeout() or _FOREVER)
            self._each = 0.0
            self._ends: float | None = None
            self.got = 0  # bytes received: none means the server closed before answering

        def readable(self) -> bool:
            return True

        def read_each(self, each: float, ends: float | None) -> None:
            self._until, self._each, self._ends = None, each, ends

        def read_within(self, wait: float, ends: float | None) -> None:
            until = time.monotonic() + wait
            self._until = until if ends is None else min(until, ends)

        def readinto(self, buffer: Any) -> int | None:
            now = time.monotonic()
            if self._until is not None:
                wait = self._until - now
            else:
                wait = self._each if self._ends is None else min(self._each, self._ends - now)
            if wait <= 0:
                raise socket.timeout("timed out")
            self._sock.settimeout(wait)
            count: int | None = self._raw.readinto(buffer)
            if count:
                self.got += count
            return count

        def close(self) -> None:
            if not self.closed:
                self._raw.close()
            super().close()

    class _Response(http.client.HTTPResponse):
        """An HTTPResponse read through a _Reader, skipping interim 1xx responses (S14)."""

        def __init__(self, sock: Any, debuglevel: int = 0, method: str | None = None, url: str | None = None) -> None:
            super().__init__(sock, 0, method, url)  # never debug output: it would print the token
            self.nexus_reader = _Reader(self.fp.detach(), sock)
            self.fp = io.BufferedReader(self.nexus_reader)

        def _read_status(self) -> tuple[str, int, str]:
            while True:
                version, status, reason = super()._read_status()  # type: ignore[misc]
                if not 101 < status < 200:
                    return version, status, reason  # 100 is skipped by begin(); 101 is final
                http.client.parse_headers(self.fp)  # 102, 103, any other 1xx: interim

    class _Connection:
        """Mixed into http.client's connections: our response class, every wait within what is
        left of the call (S21a, S21b), and a key in the pool."""

        key: Any
        sock: Any
        generation = 0
        response: Any = None
        waits: tuple[float, float | None] = (_FOREVER, None)  # (timeout, deadline as a monotonic time)

        def wait_left(self) -> float:
            each, ends = self.waits
            wait = each if ends is None else min(each, ends - time.monotonic())
            if wait <= 0:
                raise socket.timeout("the deadline was spent")
            return wait

        def connect(self) -> None:
            self.timeout = self.wait_left()  # the TCP connection
            self._create_connection = self._open_socket
            super().connect()  # type: ignore[misc]

        def _open_socket(self, *args: Any, **kwargs: Any) -> Any:
            sock = socket.create_connection(*args, **kwargs)
            sock.settimeout(self.wait_left())  # then the proxy tunnel or the TLS handshake
            return sock

        def _tunnel(self) -> None:
            super()._tunnel()  # type: ignore[misc]
            self.sock.settimeout(self.wait_left())  # the proxy's reply may have taken its time

        def response_class(self, sock: Any, *args: Any, **kwargs: Any) -> Any:
            self.response = _Response(sock, *args, **kwargs)
            self.response.nexus_reader.read_within(self.wait_left(), None)  # the head: one wait
            return self.response

        def release(self, response: Any, pool: _Pool) -> None:
            """Back to the pool after a response read to its end; closed otherwise."""
            status = response.status
            # 204/304 have no body: one that says it has a length has sent bytes we did not read.
            framed = status not in (204, 304) or response.msg.get("Content-Length", "0").strip() == "0"
            done = response.isclosed() or response.length == 0
            if done and framed and not response.will_close and status != 101:
                response.close()  # before 3.13 a response read to its Content-Length stays open
                pool.put(self.key, self)
            else:
                self.discard()

        def discard(self) -> None:
            """Close for good, now: the response's file holds the socket open until it is closed too."""
            if self.response is not None:
                self.response.close()
            self.close()  # type: ignore[attr-defined]

    # response_class is a method here (it records the response), a class attribute in http.client.
    class _HTTPConnection(_Connection, http.client.HTTPConnection):  # type: ignore[misc]
        pass

    class _HTTPSConnection(_Connection, http.client.HTTPSConnection):  # type: ignore[misc]
        pass

    import ssl

    # What a kept-alive connection the server closed while idle fails with, before any answer.
    _STALE = (
        http.client.RemoteDisconnected,
        ConnectionResetError,
        BrokenPipeError,
        ConnectionAbortedError,
        ssl.SSLEOFError,
    )

    class Handler(urllib.request.BaseHandler):
        """urllib's open handler for http and https over pooled keep-alive connections."""

        def __init__(self, pool: _Pool, ssl_context: Any) -> None:
            self._pool = pool
            self._ssl_context = ssl_context

        def http_open(self, req: Any) -> Any:
            return self._connect_and_send(req)

        def https_open(self, req: Any) -> Any:
            return self._connect_and_send(req)

        def _connect_and_send(self, req: Any) -> Any:
            headers = dict(req.unredirected_hdrs)
            headers.update(req.headers)
            tunnel = {}
            if "Proxy-authorization" in headers:  # urllib's ProxyHandler adds it; it is for the proxy only
                tunnel["Proxy-Authorization"] = headers.pop("Proxy-authorization")
            key = (req.type, req.host, req._tunnel_host, tunnel.get("Proxy-Authorization"))
            conn = self._pool.take(key)
            if conn is not None:
                try:
                    return self._send_on(conn, req, headers)
                except (OSError, http.client.HTTPException) as exc:
                    conn.discard()
                    # A reused connection the server closed while idle fails before any byte of
                    # an answer: send once more on a new one, not counted as a retry (GET is safe).
                    # Only those failures: a timeout or a state error of our own is not resent.
                    answered = conn.response is not None and conn.response.nexus_reader.got
                    if answered or not isinstance(exc, _STALE):
                        raise
                    _log.debug("kept-alive connection was closed by the server; sending again on a new one")
            if req.type == "https":
                context = self._ssl_context or _default_tls_context()
                conn = _HTTPSConnection(req.host, timeout=req.timeout, context=context)
            else:
                conn = _HTTPConnection(req.host, timeout=req.timeout)
            conn.key, conn.generation = key, self._pool._generation
            if req._tunnel_host:
                conn.set_tunnel(req._tunnel_host, headers=tunnel)
            try:
                return self._send_on(conn, req, headers)
            except BaseException:
                conn.discard()
                raise

        def _send_on(self, conn: Any, req: Any, headers: dict[str, str]) -> Any:
            conn.response = None
            conn.waits = req.nexus_waits
            if conn.sock is not None:
                conn.sock.settimeout(conn.wait_left())  # sending (S21a); a new connection: in connect()
            conn.request(req.get_method(), req.selector, headers=headers)
            response = conn.getresponse()
            response.nexus_conn = conn
            return response

    return types.SimpleNamespace(Handler=Handler)


_tls_contexts: dict[tuple[str | None, str | None], Any] = {}


def _default_tls_context() -> Any:
    """The default SSLContext, built once per value of SSL_CERT_FILE/SSL_CERT_DIR and shared.

    Building one loads the system CA bundle: 16-19 ms of CPU, which a context per
    connection paid on every call. SSLContext is thread-safe for wrapping sockets.
    """
    import os
    import ssl

    key = (os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    context = _tls_contexts.get(key)
    if context is None:
        context = _tls_contexts.setdefault(key, ssl.create_default_context())
    return context


def list_microdeposits(session_token: str | None = None, *, strict: bool = False, **options: Any) -> MicrodepositList:
    """One call of ``GET /micro_deposits``: ``Client(session_token, **options).list_microdeposits()``.

    The connection is closed afterwards; to make many calls, keep one ``Client``.
    """
    with Client(session_token, **options) as client:
        return client.list_microdeposits(strict=strict)


# --------------------------------------------------------------------------- CLI

_EPILOG = """\
examples:
  export MD_SESSION_TOKEN=...            # never pass the token in argv: it shows in process lists
  python -m nexus_micro list             # table of the user's microdeposits (integration server)
  python -m nexus_micro list --production --json > micro_deposits.json
  python -m nexus_micro list --token-file ~/.mx/session --jsonl | jq .status_name

exit codes:
  0 ok   2 usage   3 unauthorized or session expired   4 other HTTP error, redirects included
  5 transport error or timeout   6 malformed response, response too large, or drift with --strict
  130 interrupted (Ctrl-C)   141 stdout closed early (| head), as for any Unix tool
"""

_EXIT_CODES = (
    (Unauthorized, 3),
    (HTTPError, 4),
    (UnexpectedRedirect, 4),
    (TransportError, 5),
    (ResponseTooLarge, 6),
    (MalformedResponse, 6),
    (SchemaDrift, 6),
)


class _UsageError(Exception):
    """A problem with the command line or its inputs: one ``error:`` line, exit 2."""


def main(argv: list[str] | None = None) -> int:
    """The ``python -m nexus_micro`` command line; returns the exit code."""
    if sys.stdout is None:  # started with stdout closed (>&-): nowhere to write, as a closed pipe
        return 141
    handlers, level, propagate = list(_log.handlers), _log.level, _log.propagate
    try:
        code = _main(argv)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return 141
    finally:  # main() is public: leave the library's logger as it was
        _log.handlers[:], _log.propagate = handlers, propagate
        _log.setLevel(level)  # setLevel, not .level: the logger caches isEnabledFor


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that Python's final flush cannot complain of the pipe."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (tests, an embedding)
        pass


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    if args.command != "list":
        _parser().print_help(sys.stderr)
        return 2
    try:
        token = _cli_token(args.token_file)
    except _UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _cli_logging(args.debug)
    base_url = args.base_url or (PRODUCTION_URL if args.production else INTEGRATION_URL)
    options = {"timeout": args.timeout, "deadline": args.deadline, "max_retries": args.max_retries}
    if args.max_response_bytes is not None:
        options["max_response_bytes"] = args.max_response_bytes
    try:
        records = list_microdeposits(token, base_url=base_url, strict=args.strict, **options)
    except InvalidArgument as exc:
        print(f"error: {_safe_text(str(exc), token)}", file=sys.stderr)
        return 2
    except NexusError as exc:
        print(f"error: {type(exc).__name__}: {_safe_text(str(exc), token)}", file=sys.stderr)
        return next((code for cls, code in _EXIT_CODES if isinstance(exc, cls)), 1)
    if args.verbose:
        for note in records.drift:
            print(f"drift: {note}", file=sys.stderr)
    # A stdout that cannot encode every character (PYTHONIOENCODING=ascii, a cp1252 console):
    # JSON falls back to \u escapes (lossless), the table to replacement characters.
    utf8 = (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "").replace("_", "") == "utf8"
    # Small writes: one big write into a pipe closed early (| head) is cut short without an
    # error (the pipe takes 64 KiB, and the rest is dropped), so the closed pipe would go unseen.
    if args.json:
        for line in _json_text(records.to_dict(), utf8, token, indent=2).splitlines():
            sys.stdout.write(line + "\n")
    elif args.jsonl:
        for record in records:
            sys.stdout.write(_json_text(record.to_dict(), utf8, token) + "\n")
    else:
        if not utf8 and hasattr(sys.stdout, "reconfigure"):
            sys.stdout.reconfigure(errors="replace")
        for line in _table(records, token):
            sys.stdout.write(line + "\n")  # a line at a time: a pipe closed early raises here
    return 0


def _parser() -> Any:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m nexus_micro",
        description="List the microdeposits of the user whose MX Nexus session token you hold.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"nexus-micro {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="list")
    ls = commands.add_parser(
        "list", help="GET /micro_deposits", epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ls.add_argument("--token-file", help="read the session token from this file (default: $MD_SESSION_TOKEN)")
    server = ls.add_mutually_exclusive_group()
    server.add_argument("--base-url", help=f"API root URL (default {INTEGRATION_URL})")
    server.add_argument("--integration", action="store_true", help=f"use {INTEGRATION_URL} (the default)")
    server.add_argument("--production", action="store_true", help=f"use {PRODUCTION_URL}")
    seconds, count = _cli_number(float, 0), _cli_number(int, -1)
    ls.add_argument("--timeout", type=seconds, default=10.0, help="seconds per network wait (default 10)")
    ls.add_argument("--deadline", type=seconds, help="seconds for the whole call, retries included (default none)")
    ls.add_argument("--max-retries", type=count, default=2, help="retries after a retryable failure (default 2)")
    ls.add_argument(
        "--max-response-bytes", type=_cli_number(int, 0), help="refuse larger bodies (default 10485760, 10 MiB)"
    )
    ls.add_argument("--strict", action="store_true", help="fail (exit 6) when the response drifts from the spec")
    output = ls.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print the canonical form as one JSON document")
    output.add_argument("--jsonl", action="store_true", help="print one canonical record per line")
    ls.add_argument("--verbose", action="store_true", help="print drift notes to stderr")
    ls.add_argument("--debug", action="store_true", help="print the nexus_micro log's DEBUG lines to stderr")
    return parser


def _cli_number(kind: type, above: float) -> Callable[[str], Any]:
    """An argparse type: a finite ``kind`` number greater than ``above``."""
    import argparse

    def convert(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not above < value < _FOREVER:
            raise argparse.ArgumentTypeError(f"not a {'whole ' if kind is int else ''}number above {above:g}: {text!r}")
        return value

    return convert


def _cli_logging(debug: bool) -> None:
    """Retry lines (INFO) always, and the DEBUG lines with --debug, on stderr as ``nexus_micro: ...``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("nexus_micro: %(message)s"))
    _log.addHandler(handler)
    _log.setLevel(logging.DEBUG if debug else logging.INFO)
    _log.propagate = False


def _cli_token(token_file: str | None) -> str | None:
    """The session token from --token-file or $MD_SESSION_TOKEN; _UsageError when missing or unreadable."""
    import os

    if token_file:
        try:
            with open(token_file, encoding="utf-8-sig") as f:  # Notepad writes a BOM
                token = f.read().strip()
        except OSError as exc:
            raise _UsageError(f"cannot read --token-file: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise _UsageError("--token-file is not UTF-8 text; save the session token as plain text") from None
    else:
        token = os.environ.get("MD_SESSION_TOKEN", "").strip()
    if not token:
        raise _UsageError("no session token: set MD_SESSION_TOKEN or pass --token-file FILE")
    return token


def _safe_text(text: str, token: str | None) -> str:
    """Text for a terminal: the token redacted (S22a), control characters escaped (S22c)."""
    return _shown(_redact(text, (token,) if token else ()))


def _json_text(document: Any, utf8: bool, token: str | None, indent: int | None = None) -> str:
    """Exact JSON, with the characters S22c escapes for terminals written as \\u escapes (the same
    JSON value), and the token redacted should the server have echoed it into a record (S22a)."""
    if token:
        document = _redacted(document, (token,))  # values, before JSON escapes a '"' or '\\' in it
    text = json.dumps(document, ensure_ascii=not utf8, indent=indent)  # C0 is escaped by json itself
    if _UNSAFE_IN_JSON.search(text):
        text = _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return text


def _redacted(value: Any, secrets: tuple[str, ...]) -> Any:
    """A canonical JSON value with ``secrets`` redacted from every string in it, names too."""
    if type(value) is str:
        return _redact(value, secrets)
    if type(value) is dict:
        return {_redact(k, secrets): _redacted(v, secrets) for k, v in value.items()}
    if type(value) is list:
        return [_redacted(v, secrets) for v in value]
    return value


_UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _table(records: MicrodepositList, token: str | None = None) -> list[str]:
    """An aligned table for people: account numbers masked, no names or email (S22b), server
    text escaped (S22c), columns aligned by display width."""
    head = ("GUID", "STATUS", "TYPE", "ACCOUNT", "ROUTING", "INSTITUTION", "CREATED", "VERIFIED")
    rows: list[tuple[str, ...]] = [head]
    for r in records:
        cells = (
            r.guid or "-",
            r.status_name or ("-" if r.status is None else str(r.status)),
            r.account_type_name or ("-" if r.account_type is None else str(r.account_type)),
            "-" if r.account_number is None else _mask_account(r.account_number),
            r.routing_number or "-",
            _clip(_safe_text(r.institution_name or "-", token), 30),
            "-" if r.created_at is None else _format_timestamp(r.created_at)[:16].replace("T", " "),
            "-" if r.verified_at is None else _format_timestamp(r.verified_at)[:16].replace("T", " "),
        )
        rows.append(tuple(_safe_text(cell, token) for cell in cells))
    widths = [max(_width(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(cell + " " * (w - _width(cell)) for cell, w in zip(row, widths)).rstrip() for row in rows]
    if not records:
        lines.append("(no microdeposits)")
    return lines


def _width(text: str) -> int:
    """Columns a terminal gives ``text``: East Asian wide and full-width characters take 2,
    combining marks none."""
    if text.isascii():
        return len(text)
    import unicodedata

    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text
    )


def _clip(text: str, columns: int) -> str:
    """``text`` cut to at most ``columns`` display columns."""
    while _width(text) > columns:
        text = text[:-1]
    return text


if __name__ == "__main__":
    sys.exit(main())
