"""Planted protocol bug: hangs (never replies) when a body contains `NaN`;
otherwise the bundled adapter. Subprocess (`python -m tests.planted.hang`) or in-process."""

import threading

from nexus_micro_kit.adapters import nexus_micro as bundled
from nexus_micro_kit.adapters import run_stdio
from tests.planted._base import body_of


def handle(message: dict) -> dict:
    if message.get("op") == "parse" and b"NaN" in body_of(message):
        threading.Event().wait()  # forever
    return bundled.handle(message)


if __name__ == "__main__":
    run_stdio(handle)
