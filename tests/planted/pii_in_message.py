"""Planted bug (S22b): names the full account number of the response in its error messages
("schema_drift ... (account 333312345)") instead of at most its last 4 characters."""

from nexus_micro_kit.adapters import nexus_micro as bundled
from tests.planted._base import items_of


def handle(message: dict) -> dict:
    reply = bundled.handle(message)
    if message.get("op") == "start" and reply.get("ok"):
        reply["implementation"] = {"name": "planted-pii-in-message", "language": "python", "version": "0"}
    if message.get("op") == "parse" and reply.get("ok") is False:
        for item in items_of(message):
            record = item.get("micro_deposit") if isinstance(item, dict) else None
            number = record.get("account_number") if isinstance(record, dict) else None
            if isinstance(number, (str, int)) and not isinstance(number, bool):
                reply["message"] = f"{reply.get('message', '')} (account {number})"
                break
    return reply
