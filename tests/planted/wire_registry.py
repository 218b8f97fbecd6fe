"""Planted wire bugs: `tests/planted/wire_*.py`, each the reference client of `_fetch.py` with ONE
knob turned, and what the kit must do about it (tests/kit/test_planted_wire.py).

Each entry: module -> (rule id the kit must name, phases, the HTTP scenarios that catch it). The
scenarios are the fewest that catch the bug every time, not by luck of the jitter: a bug that one
retry gap shows only sometimes (jitter added to a Retry-After) gets enough scenarios to make a
miss practically impossible.
"""

from tests.planted._fetch import handler

_MONTHS = tuple("retry_after_date_" + m for m in
                ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"))

# module -> (rule id the kit must name, phases to run, HTTP scenarios to run)
WIRE_PLANTED = {
    # S17b: each past-date scenario asks for a wait of 0 and gets full jitter on top (over
    # SLACK with probability 0.7 each): 14 chances
    "wire_jitter_on_retry_after": ("S17b", "http",
                                   ("rate_limited_then_ok", "unavailable_retry_after_then_ok", *_MONTHS)),
    "wire_constant_backoff": ("S17c", "http", ("unavailable_then_ok", "retries_exhausted")),
    # S17c across trials: only the run-wide statistics of backoff_full_jitter see it
    "wire_no_backoff": ("S17c", "http", ("truncated", "broken_chunked", "retries_exhausted",
                                         "connection_reset_on_accept", "content_length_conflicting",
                                         "backoff_full_jitter")),
    "wire_loose_ipv4": ("S13d", "http", ("base_url_ipv4_shorthand", "base_url_ipv4_three_parts",
                                         "base_url_ipv4_hex", "base_url_ipv4_integer", "base_url_ipv4_octal",
                                         "base_url_ipv4_leading_zeros")),
    "wire_redirect_codes": ("S14", "http", ("status_300_no_location", "status_304_no_location", "status_399")),
    "wire_retry_tls": ("S17", "http", ("tls_untrusted",)),
    "wire_no_tls_verify": ("S22a", "http", ("tls_untrusted",)),
    "wire_no_interim_skip": ("S14", "http", ("interim_100_then_ok", "interim_102_103_199_then_ok")),
    "wire_interim_101": ("S14", "http", ("switching_protocols_101",)),
    "wire_per_read_head_timeout": ("S21a", "http", ("head_trickle_then_ok", "interim_flood_then_ok")),
    "wire_timeout_halved": ("S21a", "http", ("head_stall_then_ok", "slow_body")),
    "wire_strict_cl_list": ("S20d", "http", ("content_length_list_same", "content_length_fields_same")),
    "wire_lenient_cl": ("S20d", "http", ("content_length_signed", "content_length_not_decimal",
                                         "content_length_space_or_empty", "content_length_with_chunked")),
    "wire_cl_overflow": ("S20d", "http", ("content_length_overflow",)),
    "wire_error_body_per_read": ("S20c", "http", ("error_body_trickle",)),
    "wire_error_body_uncapped": ("S20c", "http", ("error_body_over_cap",)),
    # (deadline_head_stall catches it too, but costs the ignored deadline's 3 x 2 s timeouts)
    "wire_ignore_deadline": ("S21b", "http", ("deadline_retry_after", "deadline_body_trickle")),
    "wire_ignore_refresh": ("S18", "http", ("refresh_then_ok", "refresh_on_4011_400")),
    # Jan becomes month 0 (impossible: ignored) and Dec becomes Nov: a date 1-2 s ahead this
    # December reads as past (S17b: retried before it)
    "wire_month_off_by_one": ("S16", "http", ("rate_limited_http_date_then_ok", "retry_after_date_jan")),
    # the runner runs every adapter under America/St_Johns (UTC-03:30): the date moves hours away
    "wire_local_time_date": ("S16", "http", ("rate_limited_http_date_then_ok",)),
    "wire_lenient_http_date": ("S16", "http", ("retry_after_lowercase_gmt", "retry_after_bad_day_name",
                                               "retry_after_second_60")),
    "wire_float_retry_after": ("S17c", "http", ("retry_after_fractional",)),
    "wire_int64_retry_after": ("S16", "http", ("retry_after_huge",)),
    # S17a: the reset port counts 1 connection of 3. (connection_refused names S17 as well when the
    # call is quick enough, which a loaded machine does not promise.)
    "wire_no_retry_connect": ("S17a", "http", ("token_injection", "base_url_userinfo", "connection_refused",
                                               "connection_reset_on_accept")),
    "wire_narrow_2xx": ("S14", "http", ("status_299",)),
    # S22a in the reply: the runner's check finds the percent-encoded token in the message
    "wire_leak_encoded_token": ("S22a", "http", ("error_echoes_token", "redirect_echoes_token")),
    # S22b in the reply: the runner's check finds the OK record's email and names in the message
    "wire_excerpt_2xx": ("S22b", "http", ("malformed_with_personal_data",)),
}

# The reference client with no knob: it must pass every run above.
reference = handler()
