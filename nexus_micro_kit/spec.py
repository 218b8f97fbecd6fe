"""The OpenAPI document as JSON Schema, in three profiles.

- ``"spec"``: exactly the document's ``MicrodepositsResponse`` (no required fields, items of any
  type, extra properties allowed, any string in timestamp fields), converted from OpenAPI 3.0
  schema objects to JSON Schema draft 2020-12.
- ``"observed"``: the spec schema widened with what real servers send though the document forbids
  it: ``null`` in any field (and for ``micro_deposits`` and ``micro_deposit``), integer routing
  numbers, numeric (integer) error codes. Unknown statuses, offsets in timestamps and extra fields
  are already allowed by the spec schema.
- ``"hostile"``: no schema (``response_schema`` returns None; ``validate`` raises ValueError).

Public: ``PROFILES``, ``openapi()``, ``response_schema(profile)``, ``validate(document, profile)``.
The document is read through ``nexus_micro_kit.resources`` (``KitDataError`` when it cannot be).
"""

from __future__ import annotations

import copy
import functools
import json

import jsonschema

from nexus_micro_kit import resources

PROFILES = ("spec", "observed", "hostile")

OPENAPI_JSON_NAME = "nexus-v1-micro_deposits.openapi.json"
OPENAPI_YAML_NAME = "nexus-v1-micro_deposits.openapi.yaml"
DRAFT = "https://json-schema.org/draft/2020-12/schema"
RESPONSE_REF = "#/components/schemas/MicrodepositsResponse"

__all__ = ["PROFILES", "openapi", "resolve", "response_schema", "to_json_schema", "validate"]

# OpenAPI 3.0 keywords that are not JSON Schema (or whose meaning differs) and carry no constraint
_DROP = {"example", "xml", "externalDocs", "discriminator", "nullable"}


def __getattr__(name: str) -> str:
    """``OPENAPI_JSON`` and ``OPENAPI_YAML``: filesystem paths of the documents, found on first use
    (not at import: a broken installation then fails as a KitDataError where the kit reads data)."""
    if name == "OPENAPI_JSON":
        return resources.spec_file(OPENAPI_JSON_NAME)
    if name == "OPENAPI_YAML":
        return resources.spec_file(OPENAPI_YAML_NAME)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.lru_cache(maxsize=None)
def _load() -> dict:
    return json.loads(resources.read_spec(OPENAPI_JSON_NAME))


def openapi() -> dict:
    """The OpenAPI document (a fresh copy each call)."""
    return copy.deepcopy(_load())


def _pointer(doc: dict, ref: str):
    if not ref.startswith("#/"):
        raise ValueError(f"only local $ref are supported: {ref!r}")
    node = doc
    for token in ref[2:].split("/"):
        node = node[token.replace("~1", "/").replace("~0", "~")]
    return node


def resolve(node, doc: dict | None = None, _stack: tuple = ()):
    """Inline every local ``$ref`` (OpenAPI 3.0: siblings of ``$ref`` are ignored)."""
    doc = _load() if doc is None else doc
    if isinstance(node, dict):
        if "$ref" in node:
            ref = node["$ref"]
            if ref in _stack:
                raise ValueError(f"recursive $ref {ref!r} cannot be inlined")
            return resolve(_pointer(doc, ref), doc, (*_stack, ref))
        return {k: resolve(v, doc, _stack) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(v, doc, _stack) for v in node]
    return node


# Keywords whose value is a schema / a map of schemas / a list of schemas
_SCHEMA_KEYS = {"items", "additionalProperties", "not", "additionalItems", "contains", "propertyNames"}
_SCHEMA_MAP_KEYS = {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}
_SCHEMA_LIST_KEYS = {"allOf", "anyOf", "oneOf", "prefixItems"}


def to_json_schema(schema):
    """One OpenAPI 3.0 schema object (refs already resolved) -> JSON Schema 2020-12."""
    if isinstance(schema, bool):
        return schema
    if not isinstance(schema, dict):
        raise TypeError(f"not a schema object: {schema!r}")
    out: dict = {}
    for key, value in schema.items():
        if key in _DROP:
            continue
        if key in _SCHEMA_KEYS:
            out[key] = to_json_schema(value)
        elif key in _SCHEMA_MAP_KEYS:
            out[key] = {k: to_json_schema(v) for k, v in value.items()}
        elif key in _SCHEMA_LIST_KEYS:
            out[key] = [to_json_schema(v) for v in value]
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and isinstance(value, bool):
            continue  # handled below (3.0 boolean form -> 2020-12 numeric form)
        else:
            out[key] = copy.deepcopy(value)
    for excl, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if schema.get(excl) is True and bound in schema:
            out[excl] = out.pop(bound)
    if schema.get("nullable") is True:
        # OpenAPI 3.0 nullable: null is allowed in addition to the declared type (and enum)
        if "type" in out:
            types = out["type"] if isinstance(out["type"], list) else [out["type"]]
            if "null" not in types:
                out["type"] = [*types, "null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
        for combinator in ("allOf", "oneOf", "anyOf"):
            if combinator in out:
                # null must get past the combinator too
                out = {"anyOf": [{"type": "null"}, out]}
                break
    return out


def _allow(schema: dict, *types: str) -> None:
    current = schema.get("type")
    if current is None:
        return  # already any type
    current = current if isinstance(current, list) else [current]
    for t in types:
        if t not in current:
            current = [*current, t]
    schema["type"] = current


@functools.lru_cache(maxsize=None)
def _schema(profile: str) -> str:
    base = to_json_schema(resolve({"$ref": RESPONSE_REF}))
    if profile == "observed":
        md_array = base["properties"]["micro_deposits"]
        _allow(md_array, "null")
        item = md_array["items"]
        md = item["properties"]["micro_deposit"]
        _allow(md, "null")
        for name, field in md["properties"].items():
            _allow(field, "null")
            if name in ("routing_number", "error_code"):
                _allow(field, "integer")
    schema = {
        "$schema": DRAFT,
        "title": f"MicrodepositsResponse ({profile} profile)",
        **base,
    }
    jsonschema.Draft202012Validator.check_schema(schema)
    return json.dumps(schema)


def response_schema(profile: str) -> dict | None:
    """JSON Schema 2020-12 of a response body in this profile; None for "hostile"."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; expected one of {PROFILES}")
    if profile == "hostile":
        return None
    return json.loads(_schema(profile))


@functools.lru_cache(maxsize=None)
def _validator(profile: str):
    return jsonschema.Draft202012Validator(response_schema(profile))


def validate(document, profile: str) -> list[str]:
    """Error messages of ``document`` (a parsed JSON value) against the profile; [] = valid.

    Raises ValueError for the "hostile" profile, which has no schema.
    """
    if profile == "hostile":
        raise ValueError("the hostile profile has no schema")
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; expected one of {PROFILES}")
    out = []
    for err in sorted(_validator(profile).iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path]):
        where = "/" + "/".join(str(p) for p in err.absolute_path)
        msg = err.message
        if len(msg) > 200:
            msg = msg[:200] + "..."
        out.append(f"{where}: {msg}")
    return out
