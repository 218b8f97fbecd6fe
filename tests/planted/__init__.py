"""Planted bugs: small adapters, each with exactly ONE bug, that the kit must be shown to catch.

Most wrap the bundled adapter `nexus_micro_kit.adapters.nexus_micro.handle` and corrupt its input or
output; the fetch bugs use `_fetch.fetch`, a small raw-socket reference client with one knob turned. See
`PLANTED` for each module's bug and the rule id the kit must name.
"""

# module -> (rule id the kit must name, phases to run, HTTP scenarios to run or None)
PLANTED = {
    "routing_zero": ("S7", "vectors,properties", None),
    "null_crash": ("S5a", "vectors,properties", None),
    "bool_status": ("S8", "vectors,properties", None),
    "offset_sign": ("S9a", "vectors,properties", None),
    "unknown_status": ("S10", "vectors,properties", None),
    "non_object_crash": ("S3", "vectors,properties", None),
    "drops_extra": ("S5b", "vectors,properties", None),
    "redirect_token": ("S22a", "http", ("redirect_cross_origin", "redirect_307")),
    "truncated_body": ("S20b", "http", ("truncated", "broken_chunked")),
    "expired_as_http_error": ("S14", "http", ("expired_code_on_400",)),
    "retry_400": ("S17", "http", ("bad_request",)),
    "ignore_retry_after": ("S17b", "http", ("rate_limited_then_ok", "rate_limited_long_retry_after")),
    "no_size_cap": ("S20a", "http", ("oversized", "oversized_chunked")),
    # the classes of the verdicts work: each needs the new vectors, strategy weight or runner check
    "local_time": ("S9b", "vectors,properties", None),
    "month_length": ("S9e", "vectors,properties", None),
    "case_insensitive": ("S5b", "vectors,properties", None),
    "depth_containers": ("S1f", "vectors,properties", None),
    "s15_code_true": ("S15", "vectors,properties", None),
    "drift_missing": ("S11", "vectors,properties", None),
    "drift_order": ("S11", "vectors,properties", None),
    "drift_wrong": ("S11", "vectors,properties", None),
    "token_in_message": ("S22a", "http", ("forbidden", "session_expired")),
    "token_stderr": ("S22a", "http", ("ok",)),
    "pii_in_message": ("S22b", "vectors", None),
    "hang_every_third": ("protocol", "vectors,properties,http", ("ok", "empty", "forbidden", "not_found")),
}

# Per-case time limits for planted adapters that hang (seconds for parse; fetch gets the same):
# the kit's default 10 s would make their runs slow without proving more.
TIMEOUTS = {"hang_every_third": 1.0}
