"""Planted bug (S20c): bounds each read of an error body by timeout, so a trickling error body never ends"""

from tests.planted._fetch import handler

handle = handler("error_body_per_read")
