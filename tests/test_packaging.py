"""The product as users install it: the wheel and sdist, the kit's data from a wheel or a zip, the stubs.

One build per module (python -m build --no-isolation: offline, with the test environment's
setuptools) from a copy of the repository's files; a fresh venv with that wheel installed
non-editable. The stub checks need no build: stubtest (stub vs the module at run time) and the
same reveal_type answer from the stub and from the module's own annotations for every public
name. When they fail after an API change: python tests/stubs_regen.py.
"""

from __future__ import annotations

import ast
import email.parser
import json
import os
import re
import shutil
import site
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parent.parent
STUB = ROOT / "nexus_micro-stubs" / "__init__.pyi"
REGEN = "bring the stub up to date: python tests/stubs_regen.py (then review and commit nexus_micro-stubs/)"
# Source folders a copy of the tree leaves out (caches, venvs, build output).
_JUNK_DIRS = {"__pycache__", ".git", ".hypothesis", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".venv",
              "build", "dist", "node_modules", "reports"}
# Repository files that the wheel does not carry on purpose (maintainers' generator scripts).
NOT_IN_WHEEL = {"nexus_micro_kit/vectors/build.py", "nexus_micro_kit/certs/make.sh"}
NOT_IN_SDIST = {".gitignore"}


def source_files() -> list[str]:
    """The repository's files: git's list in a checkout (tracked and new, not ignored), else the tree."""
    if (ROOT / ".git").exists() and shutil.which("git"):
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             cwd=ROOT, capture_output=True, check=True).stdout.decode("utf-8")
        return sorted(f for f in out.split("\0") if f and (ROOT / f).is_file())
    files = []
    for folder, dirs, names in os.walk(ROOT):  # an unpacked sdist
        dirs[:] = [d for d in dirs if d not in _JUNK_DIRS and not d.endswith(".egg-info") and not d.startswith(".venv")]
        rel = Path(folder).relative_to(ROOT)
        files.extend(str(rel / n) if str(rel) != "." else n for n in names
                     if not n.endswith((".pyc", ".pyo")) and n != "PKG-INFO")
    return sorted(f.replace(os.sep, "/") for f in files)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "MYPYPATH", "PYTHONPATH")}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """sdist and wheel built from a copy of the repository's files, and the build's output."""
    files = source_files()
    src = tmp_path_factory.mktemp("src")
    for rel in files:
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, src / rel)
    dist = tmp_path_factory.mktemp("dist")
    # PYTHONDONTWRITEBYTECODE unset: with it, setuptools warns "byte-compiling is disabled".
    proc = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(src)],
                          capture_output=True, text=True, env=_env(), timeout=300, check=False)
    assert proc.returncode == 0, f"python -m build failed (needs the test extra: build, setuptools>=69, wheel):\n" \
                                 f"{proc.stdout}\n{proc.stderr}"
    (wheel,) = dist.glob("*.whl")
    (sdist,) = dist.glob("*.tar.gz")
    return SimpleNamespace(wheel=wheel, sdist=sdist, log=proc.stdout + proc.stderr, files=files)


@pytest.fixture(scope="module")
def venv(built: SimpleNamespace, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """A fresh venv (no pip) with the wheel installed non-editable, without dependencies."""
    where = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True, timeout=120)
    python = where / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index",
                    str(built.wheel)], check=True, timeout=300, env=_env(PIP_DISABLE_PIP_VERSION_CHECK="1"))
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    return SimpleNamespace(python=python, site=Path(purelib))


# ------------------------------------------------------------------------------------ the build

def test_build_prints_no_warnings(built: SimpleNamespace) -> None:
    noisy = [line for line in built.log.splitlines() if re.search(r"warn|deprecat|would be ignored", line, re.I)]
    assert noisy == [], "\n".join(noisy)


def _wheel_names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as z:
        return [n for n in z.namelist() if not n.endswith("/")]


def test_wheel_holds_the_module_stubs_kit_and_spec_copies_and_nothing_else(built: SimpleNamespace) -> None:
    names = _wheel_names(built.wheel)
    payload = {n for n in names if ".dist-info/" not in n}
    spec = [f for f in built.files if f.startswith("spec/")]
    expected = ({"nexus_micro.py", "nexus_micro-stubs/__init__.pyi"}
                | {f for f in built.files if f.startswith("nexus_micro_kit/") and f not in NOT_IN_WHEEL}
                | {"nexus_micro_kit/spec_files/" + f[len("spec/"):] for f in spec})
    assert sorted(expected - payload) == [], "missing from the wheel (setup.cfg packages/package_data)"
    assert sorted(payload - expected) == [], "in the wheel but not expected (tests? caches?)"
    assert not any(n.startswith(("tests/", "bench/", "spec/")) for n in names)
    with zipfile.ZipFile(built.wheel) as z:
        for name in sorted(payload):
            source = "spec/" + name[len("nexus_micro_kit/spec_files/"):] if "/spec_files/" in name else name
            assert z.read(name) == (ROOT / source).read_bytes(), f"{name} differs from {source}"
        licenses = [n for n in names if ".dist-info/" in n and n.rsplit("/", 1)[-1] == "LICENSE"]
        assert licenses and z.read(licenses[0]) == (ROOT / "LICENSE").read_bytes()


def test_wheel_metadata_console_scripts_and_package_page(built: SimpleNamespace) -> None:
    with zipfile.ZipFile(built.wheel) as z:
        info = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        meta = email.parser.Parser().parsestr(z.read(info).decode("utf-8"))
        entry_points = z.read(info.replace("METADATA", "entry_points.txt")).decode("utf-8")
    assert meta["Name"] == "nexus-micro" and meta["License"] == "MIT"
    assert "nexus-micro = nexus_micro:main" in entry_points
    assert "nexus-micro-kit = nexus_micro_kit.__main__:main" in entry_points
    description = meta.get_payload()
    assert "pip install" in description and "nexus-micro-kit" in description
    links = re.findall(r"\]\(([^)\s]+)", description) + re.findall(r'href="([^"]+)"', description)
    assert links and [u for u in links if not u.startswith("https://")] == [], "package page links must be absolute"


def test_sdist_holds_every_repository_file(built: SimpleNamespace) -> None:
    with tarfile.open(built.sdist) as t:
        top = t.getnames()[0].split("/")[0]
        names = {m.name[len(top) + 1:] for m in t.getmembers() if m.isfile()}
    expected = set(built.files) - NOT_IN_SDIST
    assert sorted(expected - names) == [], "missing from the sdist (MANIFEST.in)"
    extra = {n for n in names - expected if n != "PKG-INFO" and not n.startswith("nexus_micro.egg-info/")}
    assert sorted(extra) == []
    for must in ("LICENSE", "spec/SEMANTICS.md", "tests/_servers.py", "tests/kit/test_runner.py",
                 "tests/planted/__init__.py", "ruff.toml", ".ci/installed"):
        assert must in names


# ------------------------------------------------------------------------ the kit's data, installed

_ZIP_CHILD = r"""
import json, os, sys, zipfile
wheel, root = sys.argv[1], sys.argv[2]
sys.path.insert(0, wheel)
sys.path.extend(json.loads(sys.argv[3]))  # jsonschema for spec.py; no .pth runs: no editable finder
import nexus_micro_kit
from nexus_micro_kit import golden, resources, spec
assert nexus_micro_kit.__file__.startswith(wheel), nexus_micro_kit.__file__
checked = 0
with zipfile.ZipFile(wheel) as z:
    members = [n for n in z.namelist() if n.startswith("nexus_micro_kit/") and not n.endswith((".py", "/"))]
    for name in members:
        rel = name[len("nexus_micro_kit/"):]
        if rel.startswith("spec_files/"):
            spec_name = rel[len("spec_files/"):]
            want = open(os.path.join(root, "spec", spec_name), encoding="utf-8").read()
            assert resources.read_spec(spec_name) == want, spec_name
            assert open(resources.spec_file(spec_name), encoding="utf-8").read() == want, spec_name
        else:
            assert resources.read_kit(rel) == z.read(name).decode("utf-8"), rel
        checked += 1
    required = sorted(n.rsplit("/", 1)[1] for n in members if n.startswith("nexus_micro_kit/vectors/required/"))
    assert resources.list_kit("vectors/required") == required
    cases = sum(len(json.loads(z.read(n))["cases"]) for n in members if "/vectors/" in n)
assert resources.list_kit("examples", folders=True) == ["javascript"]
adapter = resources.kit_file("examples/javascript/adapter.js")
assert not adapter.startswith(wheel) and os.path.isfile(adapter)
assert os.path.isfile(os.path.join(os.path.dirname(adapter), "nexus_micro.js"))  # siblings extracted too
assert len(golden.load_vectors()) == cases and golden.validate_vector_files() == []
assert spec.openapi() == json.load(open(os.path.join(root, "spec", "nexus-v1-micro_deposits.openapi.json")))
assert os.path.isfile(spec.OPENAPI_YAML) and spec.validate({"micro_deposits": []}, "spec") == []
for bad in (lambda: resources.read_kit("vectors/required/no-such.json"), lambda: resources.read_spec("nope.md"),
            lambda: resources.kit_file("examples/cobol/adapter.cob"), lambda: resources.list_kit("no-folder"),
            lambda: resources.read_kit("../setup.cfg")):
    try:
        bad()
    except resources.KitDataError as exc:
        assert "no-such.json" in str(exc) or "nope.md" in str(exc) or "cobol" in str(exc) \
            or "no-folder" in str(exc) or "not a kit path" in str(exc), exc
    else:
        raise AssertionError("no KitDataError")
print(json.dumps({"checked": checked, "cases": cases}))
"""


def test_every_kit_resource_loads_from_a_zip(built: SimpleNamespace) -> None:
    """The wheel itself on sys.path (zipimport): every data file reads back, examples are extracted."""
    site_dirs = [p for p in [*site.getsitepackages(), sysconfig.get_paths()["purelib"]] if os.path.isdir(p)]
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", _ZIP_CHILD, str(built.wheel), str(ROOT),
                           json.dumps(site_dirs)], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert result["checked"] >= 20 and result["cases"] >= 60


def test_installed_kit_without_its_spec_copy_raises_kit_data_error(venv: SimpleNamespace) -> None:
    """The old failure: a kit that looked for site-packages/spec/. Now the packaged copy or KitDataError."""
    code = "from nexus_micro_kit import resources; print(resources.read_spec('SEMANTICS.md')[:40])"
    ok = subprocess.run([str(venv.python), "-I", "-c", code], capture_output=True, text=True, check=False,
                        cwd=venv.site)
    assert ok.returncode == 0 and "SEMANTICS" in ok.stdout.upper(), ok.stderr
    copy, hidden = venv.site / "nexus_micro_kit" / "spec_files", venv.site / "spec_files.hidden"
    decoy = venv.site / "spec"
    copy.rename(hidden)
    decoy.mkdir()
    (decoy / "SEMANTICS.md").write_text("an unrelated spec/ folder in site-packages", encoding="utf-8")
    try:
        broken = subprocess.run([str(venv.python), "-I", "-c", code], capture_output=True, text=True, check=False)
    finally:
        shutil.rmtree(decoy)
        hidden.rename(copy)
    assert "KitDataError" in broken.stderr and "spec_files" in broken.stderr and "reinstall" in broken.stderr, \
        broken.stdout + broken.stderr


# --------------------------------------------------------------------------------------- the stubs

def _mypy_ini(where: Path) -> Path:
    ini = where / "mypy.ini"
    ini.write_text("[mypy]\nno_site_packages = True\n", encoding="utf-8")  # only the stub under test
    return ini


def test_stubtest_finds_the_stub_equal_to_the_module_at_run_time(tmp_path: Path) -> None:
    (tmp_path / "stub").mkdir()
    shutil.copy(STUB, tmp_path / "stub" / "nexus_micro.pyi")
    command = [sys.executable, "-m", "mypy.stubtest", "nexus_micro", "--mypy-config-file", str(_mypy_ini(tmp_path))]
    usage = subprocess.run([sys.executable, "-m", "mypy.stubtest", "--help"], capture_output=True, text=True,
                           check=False)
    if "--ignore-disjoint-bases" in usage.stdout:
        # PEP 800 @disjoint_base (MicrodepositList is a tuple subclass) needs typing_extensions.disjoint_base,
        # which type checkers before 2025 do not know: the marker would break users' checks for no gain.
        command.append("--ignore-disjoint-bases")
    proc = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
                          env=_env(MYPYPATH=str(tmp_path / "stub"), PYTHONPATH=str(ROOT)))
    assert proc.returncode == 0, f"stubtest: the stub differs from nexus_micro.py:\n{proc.stdout}{proc.stderr}\n{REGEN}"


def _member(node: ast.stmt) -> str | None:
    if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
        return node.name
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return node.target.id
    if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
        return node.targets[0].id
    return None


def _probe_expressions(stub: ast.Module) -> tuple[list[str], list[str]]:
    """(parameters, expressions) of a function that reveal_types every public name of the stub."""
    params, exprs = [], []
    for node in stub.body:
        name = _member(node)
        if name is None or name == "__all__" or (name.startswith("_") and name != "__version__"):
            continue
        exprs.append(f"nexus_micro.{name}")
        if isinstance(node, ast.ClassDef):
            params.append(f"{name}_: nexus_micro.{name}")
            for member in node.body:
                attr = _member(member)
                if attr is None or attr == "__new__":
                    continue
                on = f"nexus_micro.{name}" if isinstance(member, ast.Assign) else f"{name}_"  # enum members
                exprs.append(f"{on}.{attr}")
    return params, exprs


def _revealed(tmp: Path, search: Path, params: list[str], exprs: list[str], label: str) -> dict[str, str]:
    probe_dir = tmp / f"probe-{label}"
    probe_dir.mkdir()
    lines = ["import nexus_micro", "", "", f"def _probe({', '.join(params)}) -> None:"]
    first = len(lines) + 1
    lines += [f"    reveal_type({e})" for e in exprs]
    (probe_dir / "probe.py").write_text("\n".join(lines) + "\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", "--follow-imports=silent",
                           "--config-file", str(_mypy_ini(probe_dir)), "--cache-dir", str(probe_dir / ".cache"),
                           "probe.py"], cwd=probe_dir, capture_output=True, text=True, timeout=300, check=False,
                          env=_env(MYPYPATH=str(search)))
    out: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        m = re.match(r'probe\.py:(\d+): (note: Revealed type is "(.*)"|error: (.*))$', line)
        if m and 0 <= int(m.group(1)) - first < len(exprs):
            expr = exprs[int(m.group(1)) - first]
            out[expr] = m.group(3) if m.group(3) is not None else "error: " + m.group(4)
    assert out, f"mypy revealed nothing ({label}):\n{proc.stdout}{proc.stderr}"
    return out


def test_stub_types_equal_the_module_annotations(tmp_path: Path) -> None:
    """mypy gives the same type for every public name and member from the stub as from the module."""
    (tmp_path / "src").mkdir()
    (tmp_path / "stub").mkdir()
    shutil.copy(ROOT / "nexus_micro.py", tmp_path / "src" / "nexus_micro.py")
    shutil.copy(STUB, tmp_path / "stub" / "nexus_micro.pyi")
    params, exprs = _probe_expressions(ast.parse(STUB.read_text(encoding="utf-8")))
    assert len(exprs) > 60, exprs
    from_module = _revealed(tmp_path, tmp_path / "src", params, exprs, "module")
    from_stub = _revealed(tmp_path, tmp_path / "stub", params, exprs, "stub")
    differ = [f"  {e}:\n    stub:   {from_stub.get(e)}\n    module: {from_module.get(e)}"
              for e in exprs if from_stub.get(e) != from_module.get(e)]
    assert differ == [], "the stub's types differ from nexus_micro.py's:\n" + "\n".join(differ) + "\n" + REGEN


def test_stub_declares_every_public_instance_attribute() -> None:
    """Attributes set in methods (self.x = ...) are invisible to stubtest: the stub must still declare them."""
    stub_classes = {n.name: n for n in ast.parse(STUB.read_text(encoding="utf-8")).body if isinstance(n, ast.ClassDef)}

    def declared(cls: str) -> set[str]:
        node = stub_classes.get(cls)
        if node is None:
            return set()
        names = {name for member in node.body if (name := _member(member))}
        for base in node.bases:
            if isinstance(base, ast.Name):
                names |= declared(base.id)
        return names

    missing = []
    for node in ast.parse((ROOT / "nexus_micro.py").read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ClassDef) and node.name in stub_classes:
            for target in ast.walk(node):
                if (isinstance(target, ast.Attribute) and isinstance(target.ctx, ast.Store)
                        and isinstance(target.value, ast.Name) and target.value.id == "self"
                        and not target.attr.startswith("_") and target.attr not in declared(node.name)):
                    missing.append(f"{node.name}.{target.attr}")
    assert missing == [], f"public attributes missing from the stub: {sorted(set(missing))}\n{REGEN}"


def _mypy_user_file(venv: SimpleNamespace, where: Path) -> subprocess.CompletedProcess[str]:
    shutil.copy(ROOT / "tests" / "typing_user.py", where / "typing_user.py")
    return subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--python-version", "3.11",
                           "--python-executable", str(venv.python), "--cache-dir", str(where / ".cache"),
                           "typing_user.py"], cwd=where, capture_output=True, text=True, timeout=300, check=False,
                          env=_env())


def test_user_code_type_checks_against_the_installed_wheel(venv: SimpleNamespace, tmp_path: Path) -> None:
    """mypy --strict on tests/typing_user.py, nexus_micro resolved from the fresh venv (stubs: PEP 561)."""
    proc = _mypy_user_file(venv, tmp_path)
    assert proc.returncode == 0 and "Success" in proc.stdout, proc.stdout + proc.stderr + "\n" + REGEN
    # The same file without the installed stubs fails: the check above is not vacuous.
    stubs = venv.site / "nexus_micro-stubs"
    hidden = venv.site / "nexus_micro-stubs.hidden"
    stubs.rename(hidden)
    try:
        without = _mypy_user_file(venv, tmp_path)
    finally:
        hidden.rename(stubs)
    assert without.returncode == 1 and "import-untyped" in without.stdout, without.stdout + without.stderr
