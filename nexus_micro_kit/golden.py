"""Golden vectors: loading and checking the files in nexus_micro_kit/vectors/{required,recommended}/.

Public:

- ``load_vectors(tier=None) -> list[dict]``: every case of every vector file (of one tier, or of
  both), each augmented with ``file`` (path relative to nexus_micro_kit/vectors), ``tier``
  (``"required"`` or ``"recommended"``, from its folder), ``id`` (unique; the case's own id) and
  ``body_bytes`` (the input body as bytes: ``body`` UTF-8 encoded, or ``body_b64`` decoded).
- ``validate_vector_files() -> list[str]``: problems found (empty = all good): schema errors
  against ``schemas/vector-case.schema.json``, duplicate ids, undecodable base64.
"""

from __future__ import annotations

import base64
import binascii
import copy
import glob
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
VECTORS_DIR = os.path.join(HERE, "vectors")
TIERS = ("required", "recommended")
CASE_SCHEMA_PATH = os.path.join(HERE, "schemas", "vector-case.schema.json")
CANONICAL_SCHEMA_PATH = os.path.join(os.path.dirname(HERE), "spec", "canonical.schema.json")

__all__ = ["TIERS", "VECTORS_DIR", "load_vectors", "validate_vector_files", "vector_files"]


def vector_files(tier: str | None = None) -> list[tuple[str, str]]:
    """(tier, absolute path) of every vector file, sorted."""
    if tier is not None and tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}; expected one of {TIERS}")
    out = []
    for t in TIERS if tier is None else (tier,):
        for path in sorted(glob.glob(os.path.join(VECTORS_DIR, t, "*.json"))):
            out.append((t, path))
    return out


def _read(path: str):
    with open(path, "rb") as f:
        return json.loads(f.read().decode("utf-8"))


def _body_bytes(inp: dict) -> bytes:
    if "body_b64" in inp:
        return base64.b64decode(inp["body_b64"], validate=True)
    return inp["body"].encode("utf-8")


def load_vectors(tier: str | None = None) -> list[dict]:
    cases = []
    seen: dict[str, str] = {}
    for t, path in vector_files(tier):
        rel = os.path.relpath(path, VECTORS_DIR).replace(os.sep, "/")
        data = _read(path)
        for raw in data["cases"]:
            c = copy.deepcopy(raw)
            cid = c["id"]
            if cid in seen:
                raise ValueError(f"duplicate vector id {cid!r} in {rel} and {seen[cid]}")
            seen[cid] = rel
            c["file"] = rel
            c["tier"] = t
            c["body_bytes"] = _body_bytes(c["input"])
            cases.append(c)
    return cases


def _validator():
    import jsonschema
    from referencing import Registry, Resource

    case_schema = _read(CASE_SCHEMA_PATH)
    canonical = _read(CANONICAL_SCHEMA_PATH)
    registry = Registry().with_resources(
        [(canonical["$id"], Resource.from_contents(canonical)), (case_schema["$id"], Resource.from_contents(case_schema))]
    )
    cls = jsonschema.validators.validator_for(case_schema)
    cls.check_schema(case_schema)
    return cls(case_schema, registry=registry)


def validate_vector_files() -> list[str]:
    problems: list[str] = []
    validator = _validator()
    seen: dict[str, str] = {}
    files = vector_files()
    if not files:
        problems.append(f"no vector files under {VECTORS_DIR}")
    for _t, path in files:
        rel = os.path.relpath(path, VECTORS_DIR).replace(os.sep, "/")
        try:
            data = _read(path)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
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
