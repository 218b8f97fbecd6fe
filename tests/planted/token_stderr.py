"""Planted bug (S22a): logs every fetch, token included, to stderr ("fetching with token ...")."""

import sys

from nexus_micro_kit.adapters import nexus_micro as bundled


def handle(message: dict) -> dict:
    if message.get("op") == "fetch":
        print(f"fetching {message['base_url']} with token {message['token']}", file=sys.stderr, flush=True)
    reply = bundled.handle(message)
    if message.get("op") == "start" and reply.get("ok"):
        reply["implementation"] = {"name": "planted-token-stderr", "language": "python", "version": "0"}
    return reply


if __name__ == "__main__":
    from nexus_micro_kit.adapters import run_stdio

    run_stdio(handle)
