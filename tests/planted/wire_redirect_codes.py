"""Planted bug (S14): takes only 301/302/303/307/308 as redirects: a 3xx without Location becomes http_error"""

from tests.planted._fetch import handler

handle = handler("redirect_codes")
