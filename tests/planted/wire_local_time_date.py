"""Planted bug (S16): reads a Retry-After HTTP-date as local time"""

from tests.planted._fetch import handler

handle = handler("local_time_date")
