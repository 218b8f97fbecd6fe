"""Planted bug (S21a): bounds each read of the response head by timeout, not the whole head"""

from tests.planted._fetch import handler

handle = handler("per_read_head_timeout")
