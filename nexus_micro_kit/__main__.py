"""Command line of the conformance kit: `nexus-micro-kit [run|serve|examples] ...`.

Installed as the console script ``nexus-micro-kit``; ``python -m nexus_micro_kit`` is the same
program, but it imports whatever ``nexus_micro_kit`` the current directory holds first.
"""

from __future__ import annotations

import argparse
import os
import random
import shlex
import shutil
import sys

PROG = "nexus-micro-kit"
EXTRA = 'pip install "nexus-micro[conformance]"'

# The examples shipped in the kit (nexus_micro_kit/examples/<name>/): name -> (program, adapter
# file inside the folder, what the program is). `--impl example:<name>` runs `program adapter`.
EXAMPLES: dict[str, tuple[str, str, str]] = {
    "javascript": ("node", "adapter.js", "Node.js 20 or newer"),
}

EPILOG = f"""\
examples:
  {PROG}
      the whole kit against the bundled nexus_micro, in-process (offline)
  {PROG} run --impl "./my-adapter --flag"
      any implementation, as a subprocess speaking protocol v1 (nexus_micro_kit/README.md)
  {PROG} run --impl example:javascript
      the bundled Node.js example adapter (`{PROG} examples` shows where it is installed)
  {PROG} run --python mypkg.adapter:handle --only vectors,properties
  {PROG} run --profile hostile --examples 1000 --seed 1234
      reproduce a property failure: same seed, same examples
  {PROG} run --impl "./adapter" --expected-failures known.txt --junit out.xml
  {PROG} serve --port 8080
      the fake Nexus server alone, for manual tests
  {PROG} examples
      the bundled example adapters, their installed paths and the command for each

`python -m nexus_micro_kit ...` is the same program; prefer {PROG}: a nexus_micro_kit/ folder
in the current directory would shadow the installed kit under `python -m`.

exit status: 0 nothing unexpected failed; 1 unexpected failures; 2 usage error or the adapter
could not be started.
"""


def _scenario_lines() -> str:
    """One line per HTTP scenario of the fake server (server.SCENARIOS: name -> description)."""
    from nexus_micro_kit import server

    width = max(len(name) for name in server.SCENARIOS)
    lines = [f"  {name:<{width}}  {description}" for name, description in server.SCENARIOS.items()]
    return "scenarios (each at http://HOST:PORT/<run id>/<scenario>/micro_deposits):\n" + "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (the serve command's help lists every scenario)."""
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog=PROG, epilog=EPILOG, formatter_class=raw,
        description="Conformance kit for MX Nexus API GET /micro_deposits (spec/SEMANTICS.md). "
                    "With no command: run everything against the bundled nexus_micro in-process.")
    commands = parser.add_subparsers(dest="command")
    run = commands.add_parser("run", help="run the kit against an implementation", epilog=EPILOG,
                              formatter_class=raw)
    which = run.add_mutually_exclusive_group()
    which.add_argument("--impl", metavar="COMMAND",
                       help="adapter command, started once (protocol v1); example:NAME runs a bundled example")
    which.add_argument("--python", metavar="MODULE:CALLABLE",
                       help="in-process Python adapter (default nexus_micro_kit.adapters.nexus_micro:handle)")
    run.add_argument("--cwd", help="working directory for --impl")
    run.add_argument("--profile", action="append", choices=["spec", "observed", "hostile"],
                     help="property profile (repeatable; default all)")
    run.add_argument("--examples", type=int, default=200, metavar="N",
                     help="hypothesis examples per profile (default 200)")
    run.add_argument("--seed", type=int, help="hypothesis seed (default: random, printed)")
    run.add_argument("--no-shrink", action="store_true",
                     help="report the first failing example as found, not hypothesis's minimal one")
    run.add_argument("--only", default="vectors,properties,http", metavar="PHASES",
                     help="comma list of vectors,properties,http (default all)")
    run.add_argument("--scenario", action="append", metavar="NAME",
                     help=f"HTTP scenario (repeatable; default all; `{PROG} serve --help` lists them)")
    run.add_argument("--vector", action="append", metavar="GLOB", help="vector id glob (repeatable; default all)")
    run.add_argument("--expected-failures", metavar="FILE",
                     help="case ids or globs, one per line (# comments): known failures")
    run.add_argument("--strict-expected", action="store_true",
                     help="a listed case that passes fails the run")
    run.add_argument("--require-recommended", action="store_true",
                     help="recommended-tier vector failures fail the run too")
    run.add_argument("--allow-skips", action="store_true",
                     help="skipped cases do not fail the run (by default they do: a skip is not a pass)")
    run.add_argument("--json", metavar="FILE", help="write the machine report")
    run.add_argument("--junit", metavar="FILE", help="write JUnit XML")
    run.add_argument("--timeout", type=float, default=10.0, metavar="S",
                     help="per-case limit for parse in seconds (default 10; fetch gets 3x)")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    serve = commands.add_parser("serve", help="run the fake Nexus server (blocking)", epilog=_scenario_lines(),
                                formatter_class=raw,
                                description="The fake Nexus server alone: it prints one prepared URL and token "
                                            "per scenario, then serves until Ctrl-C.")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    commands.add_parser("examples", help="list the bundled example adapters and where they are installed",
                        description="The example adapters shipped inside the kit, with their installed "
                                    f"folders and the command that runs each ({PROG} run --impl example:NAME).")
    return parser


def main(argv: list[str] | None = None) -> int:
    """The kit's command line; returns the exit status (141, silently, when stdout is closed early)."""
    try:
        return _main(argv)
    except BrokenPipeError:  # `nexus-micro-kit examples | head -1`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 141


def _main(argv: list[str] | None) -> int:
    if sys.version_info < (3, 9):
        print(f"{PROG}: the conformance kit needs Python 3.9 or newer", file=sys.stderr)
        return 2
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in ("run", "serve", "examples", "-h", "--help"):
        argv = ["run", *argv]  # `nexus-micro-kit [run options]` means `run`
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "serve":
        from nexus_micro_kit import server

        server.serve(args.host, args.port)
        return 0
    if args.command == "examples":
        return examples_command()
    try:
        return run_command(parser, args)
    except ModuleNotFoundError as exc:
        if exc.name not in ("hypothesis", "jsonschema", "referencing"):
            raise
        print(f"{PROG}: the kit needs the conformance extra ({exc}): {EXTRA}", file=sys.stderr)
        return 2


def example_command(name: str) -> tuple[str, str]:
    """``--impl example:NAME`` -> (the adapter command, or "", and why not when it is "")."""
    from nexus_micro_kit import resources

    installed = resources.list_kit("examples", folders=True)
    if name not in EXAMPLES or name not in installed:
        known = ", ".join(n for n in EXAMPLES if n in installed) or "none"
        return "", f"no example {name!r}; the bundled examples are: {known} (see `{PROG} examples`)"
    program, adapter, needs = EXAMPLES[name]
    found = shutil.which(program)
    if found is None:
        return "", f"example:{name} needs {needs}, but {program!r} is not on PATH"
    return f"{shlex.quote(found)} {shlex.quote(resources.kit_file(f'examples/{name}/{adapter}'))}", ""


def examples_command() -> int:
    """Print each bundled example: its folder, and the command that runs the kit against it."""
    from nexus_micro_kit import resources

    installed = resources.list_kit("examples", folders=True)
    for name in installed:
        folder = resources.kit_dir(f"examples/{name}")
        print(f"{name}: {folder}")
        if name in EXAMPLES:
            program, adapter, needs = EXAMPLES[name]
            print(f"  run:   {PROG} run --impl example:{name}")
            print(f"  is:    {program} {shlex.quote(resources.kit_file(f'examples/{name}/{adapter}'))}  ({needs})")
        print(f"  about: {resources.kit_file(f'examples/{name}/README.md')}")
    print(f"protocol: {resources.kit_file('README.md')}")
    return 0


def run_command(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """The run command: build the configuration and the adapter, run, print and write reports."""
    from nexus_micro_kit import protocol, report, runner

    phases = tuple(p.strip() for p in args.only.split(",") if p.strip())
    bad = [p for p in phases if p not in runner.PHASES]
    if bad or not phases:
        parser.error(f"--only takes vectors,properties,http; got {args.only!r}")
    if args.examples < 1:
        parser.error("--examples must be at least 1")
    impl = args.impl
    if impl and impl.startswith("example:"):
        impl, problem = example_command(impl[len("example:"):])
        if problem:
            parser.error(problem)
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    label = f'--impl "{args.impl}"' if args.impl else (f"--python {args.python}" if args.python else "")
    try:
        expected = runner.load_expected_failures(args.expected_failures) if args.expected_failures else ()
    except OSError as exc:
        parser.error(f"cannot read --expected-failures: {exc}")
    config = runner.RunConfig(
        phases=phases, profiles=tuple(args.profile or runner.DEFAULT_PROFILES), examples=args.examples,
        seed=seed, scenarios=tuple(args.scenario) if args.scenario else None,
        vectors=tuple(args.vector) if args.vector else None, expected_failures=expected,
        strict_expected=args.strict_expected, require_recommended=args.require_recommended,
        allow_skips=args.allow_skips, label=label,
        shrink=not args.no_shrink)
    adapter = protocol.make_adapter(impl, args.python, cwd=args.cwd, parse_timeout=args.timeout,
                                    fetch_timeout=3 * args.timeout)
    progress = runner.Progress() if args.quiet else report.StderrProgress()
    if not args.quiet:
        print(f"nexus-micro-kit: {adapter.description} ({'subprocess' if impl else 'in-process'}), "
              f"seed {seed}", file=sys.stderr)
    try:
        result = runner.run(adapter, config, progress)
    except protocol.AdapterStartError as exc:
        print(f"nexus-micro-kit: the adapter could not be started: {exc}", file=sys.stderr)
        tail = adapter.stderr_tail()
        if tail:
            print(tail, file=sys.stderr)
        return 2
    except ValueError as exc:
        parser.error(str(exc))
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM/SIGHUP (runner.Interrupted carries .signum)
        print("nexus-micro-kit: interrupted; the adapter was stopped", file=sys.stderr)
        return 128 + getattr(exc, "signum", 2)
    sys.stdout.write(report.text_summary(result))
    if args.json:
        report.write_json(result, args.json)
    if args.junit:
        report.write_junit(result, args.junit)
    return result.exit_code()


if __name__ == "__main__":
    sys.exit(main())
