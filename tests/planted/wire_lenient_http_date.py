"""Planted bug (S16): parses Retry-After dates with email.utils (lower-case gmt and day names pass, second 60 fails)"""

from tests.planted._fetch import handler

handle = handler("lenient_http_date")
