"""Runs the transport suite on the running interpreter: ``python -I run.py [-v] [TEST_NAME ...]``.

Standard library only, so that it runs on a bare CPython 3.8-3.13 (tests/test_transport_versions.py
runs it under each one from a temporary directory holding this directory's files and a copy of
nexus_micro.py). It tests the nexus_micro.py next to it, or else the checkout's (two levels up),
never an installed one. The unittest report goes to stderr; the last stdout line is a JSON summary:
``{"python", "tests", "failures", "errors", "skipped", "seconds", "failed"}``. Exit status 0 when
every test passed.
"""
import json
import os
import platform
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKOUT = os.path.dirname(os.path.dirname(HERE))
MODULE_DIR = HERE if os.path.exists(os.path.join(HERE, "nexus_micro.py")) else CHECKOUT

# The environment must not steer the client: proxies and CA locations are set per test, in
# child processes, by the tests that are about them.
for _name in list(os.environ):
    if _name.lower() in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "ssl_cert_file", "ssl_cert_dir"):
        del os.environ[_name]

sys.path[:0] = [HERE, MODULE_DIR]  # -I leaves both off sys.path
import nexus_micro  # noqa: E402  (sys.path first)

if os.path.dirname(os.path.abspath(nexus_micro.__file__)) != MODULE_DIR:
    sys.exit(f"run.py: imported {nexus_micro.__file__}, not the copy under test in {MODULE_DIR}")


def main(argv: list) -> int:
    verbose = "-v" in argv
    names = [a for a in argv if a != "-v"]
    loader = unittest.TestLoader()
    if names:
        suite = loader.loadTestsFromNames(names)
    else:
        suite = loader.discover(HERE, pattern="cases_*.py", top_level_dir=HERE)
    started = time.monotonic()
    result = unittest.TextTestRunner(stream=sys.stderr, verbosity=2 if verbose else 1).run(suite)
    summary = {
        "python": platform.python_version(),
        "tests": result.testsRun,
        "failures": len(result.failures),
        "errors": len(result.errors),
        "skipped": len(result.skipped),
        "seconds": round(time.monotonic() - started, 1),
        "failed": sorted(test.id() for test, _ in result.failures + result.errors),
    }
    sys.stderr.flush()
    print(json.dumps(summary))
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
