"""Planted bug (protocol): every third parse or fetch call hangs (never replies); the others are
the bundled adapter's. The kit must fail it and still finish quickly: after runner.HANG_LIMIT
hangs in a phase, the rest of the phase is not run. Subprocess (`python -m
tests.planted.hang_every_third`) or in-process."""

import itertools
import threading

from nexus_micro_kit.adapters import nexus_micro as bundled
from nexus_micro_kit.adapters import run_stdio

_calls = itertools.count(1)


def handle(message: dict) -> dict:
    global _calls
    if message.get("op") == "start":  # count from each session's start: tests may run it twice
        _calls = itertools.count(1)
    if message.get("op") in ("parse", "fetch") and next(_calls) % 3 == 0:
        threading.Event().wait()  # forever
    return bundled.handle(message)


if __name__ == "__main__":
    run_stdio(handle)
