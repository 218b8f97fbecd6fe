"""Planted bug (S20d): refuses a Content-Length list such as '5, 5' (or two equal fields)"""

from tests.planted._fetch import handler

handle = handler("strict_cl_list")
