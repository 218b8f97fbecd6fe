"""The kit's data files (spec documents, schemas, vectors, examples), wherever the kit is installed.

Every kit module reads its data through this module and nothing else, so that the kit works
the same from a checkout, an installed wheel or a zip on ``sys.path``. A file that cannot be
loaded raises ``KitDataError``: a fault of the kit's installation, never of the implementation
under test.

- ``read_spec(name) -> str``: a file of ``spec/`` (``SEMANTICS.md``,
  ``nexus-v1-micro_deposits.openapi.json``, ``canonical.schema.json``, ...).
- ``read_kit(path) -> str``: a file of the kit package, ``/``-separated
  (``schemas/protocol-v1.schema.json``, ``vectors/required/s00-seed.json``).
- ``list_kit(folder) -> list[str]``: file names in a kit folder, sorted (``folders=True``: the
  names of its subfolders instead).
- ``kit_file(path) -> str``, ``kit_dir(path) -> str``, ``spec_file(name) -> str``: a real
  filesystem path (an adapter script to run with ``node``, a folder to show the user). From a
  zip, the file's whole folder is extracted once per process to a temporary folder (an example
  adapter needs its sibling files), removed at exit.

Where the files are: an installed kit carries a copy of the repository's ``spec/`` as
``nexus_micro_kit/spec_files/`` (setup.cfg maps that package to ``spec/``, so ``spec/`` stays the
one source); a kit run from a source checkout or an unpacked sdist reads ``spec/`` itself.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

__all__ = ["KitDataError", "kit_dir", "kit_file", "list_kit", "read_kit", "read_spec", "spec_file"]

SPEC_FOLDER = "spec_files"  # the packaged copy of spec/ inside the kit (setup.cfg package_dir)
_REINSTALL = 'reinstall it: pip install --force-reinstall "nexus-micro[conformance]"'


class KitDataError(Exception):
    """A data file of the kit is missing or unreadable: the kit is installed wrongly."""


def _root() -> Traversable:
    """The kit package itself, as importlib.resources sees it (a folder or a place in a zip)."""
    if sys.version_info < (3, 9):
        raise KitDataError("the conformance kit needs Python 3.9 or newer")
    from importlib.resources import files

    return files(__package__ or "nexus_micro_kit")


def _checkout_spec() -> Path | None:
    """``spec/`` of the source tree this kit runs from (a checkout or an unpacked sdist), if any.

    Both setup.cfg and spec/SEMANTICS.md must sit beside the kit: an installed kit's parent is
    site-packages, where an unrelated ``spec/`` could exist (that once made the kit fail).
    """
    here = Path(__file__).resolve().parent.parent
    if (here / "setup.cfg").is_file() and (here / "spec" / "SEMANTICS.md").is_file():
        return here / "spec"
    return None


def _spec_root() -> Traversable:
    packaged = _root() / SPEC_FOLDER
    if packaged.is_dir():
        return packaged
    checkout = _checkout_spec()
    if checkout is not None:
        return checkout
    raise KitDataError(f"the kit's copy of the spec documents ({SPEC_FOLDER}/) is missing; {_REINSTALL}")


def _join(root: Traversable, path: str) -> Traversable:
    """``root / "a" / "b"`` for ``"a/b"``; no absolute paths, no ``..`` (a kit path is a kit path)."""
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\\" in path:
        raise KitDataError(f"not a kit path: {path!r}")
    node = root
    for part in parts:
        node = node / part
    return node


def _read(node: Traversable, label: str) -> str:
    try:
        return node.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError, KeyError) as exc:  # zipfile.Path raises KeyError for a missing member
        raise KitDataError(f"kit data file {label} cannot be loaded ({type(exc).__name__}: {exc}); "
                           f"{_REINSTALL}") from None


def read_spec(name: str) -> str:
    """The text of ``spec/<name>``."""
    return _read(_join(_spec_root(), name), f"spec/{name}")


def read_kit(path: str) -> str:
    """The text of a file inside the kit package."""
    return _read(_join(_root(), path), path)


def list_kit(folder: str, *, folders: bool = False) -> list[str]:
    """The names of the files (or, with ``folders=True``, the subfolders) in a kit folder, sorted."""
    node = _join(_root(), folder)
    try:
        if not node.is_dir():
            raise FileNotFoundError("no such folder")
        entries = list(node.iterdir())
    except (OSError, KeyError, ValueError) as exc:
        raise KitDataError(f"kit data folder {folder} cannot be listed ({type(exc).__name__}: {exc}); "
                           f"{_REINSTALL}") from None
    names = [e.name for e in entries if (e.is_dir() if folders else e.is_file())]
    return sorted(n for n in names if n != "__pycache__" and not n.startswith("."))


def kit_file(path: str) -> str:
    """A filesystem path to a kit file (its folder extracted first when the kit is in a zip)."""
    parent, _, name = path.rpartition("/")
    full = os.path.join(kit_dir(parent), name) if parent else os.path.join(_on_disk(_root(), ""), name)
    if not os.path.isfile(full):
        raise KitDataError(f"kit file {path} is missing; {_REINSTALL}")
    return full


def kit_dir(path: str) -> str:
    """A filesystem path to a kit folder (extracted first when the kit is in a zip)."""
    full = _on_disk(_join(_root(), path), path)
    if not os.path.isdir(full):
        raise KitDataError(f"kit folder {path} is missing; {_REINSTALL}")
    return full


def spec_file(name: str) -> str:
    """A filesystem path to ``spec/<name>`` (extracted first when the kit is in a zip)."""
    _join(_spec_root(), name)  # the same path checks as read_spec
    full = os.path.join(_on_disk(_spec_root(), SPEC_FOLDER), name)
    if not os.path.isfile(full):
        raise KitDataError(f"kit data file spec/{name} is missing; {_REINSTALL}")
    return full


_extracted: dict[str, str] = {}  # kit folder -> its copy on disk, for a kit inside a zip


def _on_disk(node: Traversable, label: str) -> str:
    """The filesystem path of a kit folder: itself when it is one, else a temporary copy."""
    if isinstance(node, Path):
        return str(node)
    if label not in _extracted:
        if not node.is_dir():
            raise KitDataError(f"kit folder {label or '.'} is missing; {_REINSTALL}")
        target = tempfile.mkdtemp(prefix="nexus_micro_kit-")
        atexit.register(shutil.rmtree, target, True)
        _copy_tree(node, Path(target))
        _extracted[label] = target
    return _extracted[label]


def _copy_tree(node: Traversable, target: Path) -> None:
    for entry in node.iterdir():
        if entry.is_dir():
            (target / entry.name).mkdir()
            _copy_tree(entry, target / entry.name)
        else:
            (target / entry.name).write_bytes(entry.read_bytes())
