"""Planted bug (S22b): quotes a 2xx body that fails to parse in its error message, personal data
included (email, names, the full account number)"""

from tests.planted._fetch import handler

handle = handler("excerpt_2xx")
