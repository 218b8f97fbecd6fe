"""Planted bug (S14): reports error code 4011 as a plain http_error (or unauthorized on 401)"""

from tests.planted._fetch import handler

handle = handler("no_4011")
