"""Planted bug (S22a): puts the session token in every error message of a fetch ("401 for token
tok-...")."""

from nexus_micro_kit.adapters import nexus_micro as bundled


def handle(message: dict) -> dict:
    reply = bundled.handle(message)
    if message.get("op") == "start" and reply.get("ok"):
        reply["implementation"] = {"name": "planted-token-in-message", "language": "python", "version": "0"}
    if message.get("op") == "fetch" and reply.get("ok") is False:
        reply["message"] = f"{reply.get('message', '')} (token {message['token']})"
    return reply
