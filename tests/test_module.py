"""The module's promises about itself: standard library only, lazy network imports, fast import."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "nexus_micro.py"

# sys.stdlib_module_names exists from 3.10; the fallback lists what this module may use.
STDLIB = getattr(sys, "stdlib_module_names", None) or {
    "argparse", "dataclasses", "datetime", "email", "enum", "http", "ipaddress", "json", "logging", "os",
    "random", "re", "socket", "ssl", "sys", "threading", "time", "typing", "urllib", "__future__",
}  # fmt: skip


def imported_modules() -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(SOURCE.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_imports_only_the_standard_library() -> None:
    outside = {name for name in imported_modules() if name not in STDLIB}
    assert outside == set(), f"nexus_micro.py imports non-stdlib modules: {outside}"
    assert "json" in imported_modules()  # the walk sees imports at all


def test_import_does_not_load_the_network_stack_or_typing() -> None:
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r}); import nexus_micro; "
        "print(sorted(m for m in ('urllib.request', 'http.client', 'ssl', 'socket', 'typing', 'argparse') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-I", "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    # typing may already be loaded by the stdlib itself on some versions (3.11's logging/re chain);
    # the module must not be the one that needs it.
    assert [m for m in eval(loaded) if m != "typing"] == []


def test_list_microdeposits_loads_urllib_only_when_called() -> None:
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r}); import nexus_micro\n"
        "try:\n nexus_micro.list_microdeposits('t', base_url='http://127.0.0.1:9/', timeout=0.2, max_retries=0)\n"
        "except nexus_micro.TransportError: pass\n"
        "print('urllib.request' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-I", "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True"
