"""Planted bug (S14): takes only 200-206 as success: 299 becomes http_error"""

from tests.planted._fetch import handler

handle = handler("narrow_2xx")
