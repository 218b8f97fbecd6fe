"""Planted bug (S20d): reads Content-Length as http.client does (int() of the first field; '+5', '5.0' read to EOF)"""

from tests.planted._fetch import handler

handle = handler("lenient_cl")
