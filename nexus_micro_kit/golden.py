"""Golden vectors: loading and checking the files in nexus_micro_kit/vectors/{required,recommended}/.

Public:

- ``load_vectors(tier=None) -> list[dict]``: every case of every vector file (of one tier, or of
  both), each augmented with ``file`` (path relative to nexus_micro_kit/vectors), ``tier``
  (``"required"`` or ``"recommended"``, from its folder), ``id`` (unique; the case's own id) and
  ``body_bytes`` (the input body as bytes: ``body`` UTF-8 encoded, or ``body_b64`` decoded).
  A vector file that cannot be read or is not JSON, or a duplicate id, raises ``KitDataError``.
- ``validate_vector_files() -> list[str]``: problems found (empty = all good): schema errors
  against ``schemas/vector-case.schema.json``, duplicate ids, undecodable base64.
- ``vector_files(tier=None) -> list[tuple[str, str]]``: (tier, file) of every vector file, sorted.

Files are read through ``nexus_micro_kit.resources`` (a checkout, a wheel or a zip alike).
``VECTORS_DIR`` is the vectors folder on disk, found on first use; a test may set it to a folder
of its own, which the functions above then read instead of the kit's.
"""

from __future__ import annotations

import base64
import binascii
import copy
import glob
import json
import os

from nexus_micro_kit import resources
from nexus_micro_kit.resources import KitDataError

TIERS = ("required", "recommended")
CASE_SCHEMA = "schemas/vector-case.schema.json"  # a kit file
CANONICAL_SCHEMA = "canonical.schema.json"  # a spec file

__all__ = ["TIERS", "load_vectors", "validate_vector_files", "vector_files"]


def __getattr__(name: str) -> str:
    if name == "VECTORS_DIR":
        return resources.kit_dir("vectors")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _own_folder() -> str | None:
    """The folder a test put in ``VECTORS_DIR`` (a module global then exists), else None."""
    return globals().get("VECTORS_DIR")


def _list(tier: str) -> list[str]:
    folder = _own_folder()
    if folder is not None:
        return sorted(os.path.basename(p) for p in glob.glob(os.path.join(folder, tier, "*.json")))
    return [name for name in resources.list_kit(f"vectors/{tier}") if name.endswith(".json")]


def _text(file: str) -> str:
    """The text of a vector file, ``file`` relative to the vectors folder."""
    folder = _own_folder()
    if folder is None:
        return resources.read_kit(f"vectors/{file}")
    try:
        with open(os.path.join(folder, *file.split("/")), "rb") as f:
            return f.read().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise KitDataError(f"vector file {file} cannot be loaded ({exc})") from None


def vector_files(tier: str | None = None) -> list[tuple[str, str]]:
    """(tier, file relative to the vectors folder, e.g. ``required/s14-status.json``), sorted."""
    if tier is not None and tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}; expected one of {TIERS}")
    return [(t, f"{t}/{name}") for t in (TIERS if tier is None else (tier,)) for name in _list(t)]


def _body_bytes(inp: dict) -> bytes:
    if "body_b64" in inp:
        return base64.b64decode(inp["body_b64"], validate=True)
    return inp["body"].encode("utf-8")


def load_vectors(tier: str | None = None) -> list[dict]:
    cases = []
    seen: dict[str, str] = {}
    for t, rel in vector_files(tier):
        try:
            data = json.loads(_text(rel))
        except ValueError as exc:
            raise KitDataError(f"vector file {rel} is not JSON ({exc}); the kit is installed wrongly") from None
        for raw in data["cases"]:
            c = copy.deepcopy(raw)
            cid = c["id"]
            if cid in seen:
                raise KitDataError(f"duplicate vector id {cid!r} in {rel} and {seen[cid]}")
            seen[cid] = rel
            c["file"] = rel
            c["tier"] = t
            c["body_bytes"] = _body_bytes(c["input"])
            cases.append(c)
    return cases


def _validator():
    import jsonschema
    from referencing import Registry, Resource

    case_schema = json.loads(resources.read_kit(CASE_SCHEMA))
    canonical = json.loads(resources.read_spec(CANONICAL_SCHEMA))
    registry = Registry().with_resources([(s["$id"], Resource.from_contents(s)) for s in (canonical, case_schema)])
    cls = jsonschema.validators.validator_for(case_schema)
    cls.check_schema(case_schema)
    return cls(case_schema, registry=registry)


def validate_vector_files() -> list[str]:
    problems: list[str] = []
    validator = _validator()
    seen: dict[str, str] = {}
    files = vector_files()
    if not files:
        problems.append("no vector files in the kit's vectors/required/ or vectors/recommended/")
    for _t, rel in files:
        try:
            data = json.loads(_text(rel))
        except (KitDataError, ValueError) as exc:
            problems.append(f"{rel}: not readable JSON: {exc}")
            continue
        for err in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path)):
            where = "/".join(str(p) for p in err.absolute_path)
            problems.append(f"{rel}: {where}: {err.message[:300]}")
        for i, c in enumerate(data.get("cases", []) if isinstance(data, dict) else []):
            if not isinstance(c, dict):
                continue
            cid = c.get("id")
            if isinstance(cid, str):
                if cid in seen:
                    problems.append(f"{rel}: cases/{i}: duplicate id {cid!r} (also in {seen[cid]})")
                seen[cid] = rel
            inp = c.get("input")
            if isinstance(inp, dict) and isinstance(inp.get("body_b64"), str):
                try:
                    base64.b64decode(inp["body_b64"], validate=True)
                except (binascii.Error, ValueError) as exc:
                    problems.append(f"{rel}: cases/{i}: body_b64 is not base64: {exc}")
    return problems
