"""The kit's data files (spec documents, schemas, vectors, examples), wherever the kit is installed.

Every kit module reads its data through this module and nothing else, so that the kit works
the same from a checkout, an installed wheel or a zip. A file that cannot be loaded raises
``KitDataError``: a fault of the kit's installation, never of the implementation under test.

- ``read_spec(name) -> str``: a file of ``spec/`` (``SEMANTICS.md``,
  ``nexus-v1-micro_deposits.openapi.json``, ``canonical.schema.json``, ...).
- ``read_kit(path) -> str``: a file of the kit package, ``/``-separated
  (``schemas/protocol-v1.schema.json``, ``vectors/required/s00-seed.json``).
- ``list_kit(folder) -> list[str]``: file names in a kit folder, sorted.
- ``kit_file(path) -> str``: a real filesystem path to a kit file (for example an adapter script
  to run with ``node``).
"""

from __future__ import annotations

import os

__all__ = ["KitDataError", "kit_file", "list_kit", "read_kit", "read_spec"]

_HERE = os.path.dirname(os.path.abspath(__file__))


class KitDataError(Exception):
    """A data file of the kit is missing or unreadable: the kit is installed wrongly."""


def _spec_path(name: str) -> str:
    return os.path.join(os.path.dirname(_HERE), "spec", name)


def read_spec(name: str) -> str:
    """The text of ``spec/<name>``."""
    try:
        with open(_spec_path(name), "rb") as f:
            return f.read().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise KitDataError(f"kit data file spec/{name} cannot be loaded ({exc}); reinstall nexus-micro") from None


def read_kit(path: str) -> str:
    """The text of a file inside the kit package."""
    try:
        with open(os.path.join(_HERE, *path.split("/")), "rb") as f:
            return f.read().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise KitDataError(f"kit data file {path} cannot be loaded ({exc}); reinstall nexus-micro") from None


def list_kit(folder: str) -> list[str]:
    """The names of the files in a kit folder, sorted."""
    try:
        return sorted(os.listdir(os.path.join(_HERE, *folder.split("/"))))
    except OSError as exc:
        raise KitDataError(f"kit data folder {folder} cannot be listed ({exc}); reinstall nexus-micro") from None


def kit_file(path: str) -> str:
    """A filesystem path to a kit file."""
    full = os.path.join(_HERE, *path.split("/"))
    if not os.path.isfile(full):
        raise KitDataError(f"kit file {path} is missing; reinstall nexus-micro")
    return full
