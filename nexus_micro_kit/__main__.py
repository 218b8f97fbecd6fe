"""Command line of the conformance kit: `python -m nexus_micro_kit [run|serve] ...`."""

from __future__ import annotations

import argparse
import random
import sys

EPILOG = """\
examples:
  python -m nexus_micro_kit
      the whole kit against the bundled nexus_micro, in-process (offline)
  python -m nexus_micro_kit run --impl "node nexus_micro_kit/examples/javascript/adapter.js"
      any implementation, as a subprocess speaking protocol v1
  python -m nexus_micro_kit run --python mypkg.adapter:handle --only vectors,properties
  python -m nexus_micro_kit run --profile hostile --examples 1000 --seed 1234
      reproduce a property failure: same seed, same examples
  python -m nexus_micro_kit run --impl "./adapter" --expected-failures known.txt --junit out.xml
  python -m nexus_micro_kit serve --port 8080
      the fake Nexus server alone, for manual tests

exit status: 0 nothing unexpected failed; 1 unexpected failures; 2 usage error or the adapter
could not be started.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m nexus_micro_kit", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Conformance kit for MX Nexus API GET /micro_deposits (spec/SEMANTICS.md). "
                    "With no command: run everything against the bundled nexus_micro in-process.")
    commands = parser.add_subparsers(dest="command")
    run = commands.add_parser("run", help="run the kit against an implementation", epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    which = run.add_mutually_exclusive_group()
    which.add_argument("--impl", metavar="COMMAND", help="adapter command, started once (protocol v1)")
    which.add_argument("--python", metavar="MODULE:CALLABLE",
                       help="in-process Python adapter (default conformance.adapters.nexus_micro:handle)")
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
    run.add_argument("--scenario", action="append", metavar="NAME", help="HTTP scenario (repeatable; default all)")
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
    serve = commands.add_parser("serve", help="run the fake Nexus server (blocking)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in ("run", "serve", "-h", "--help"):
        argv = ["run", *argv]  # `python -m nexus_micro_kit [run options]` means `run`
    args = parser.parse_args(argv)
    if args.command == "serve":
        from nexus_micro_kit import server

        server.serve(args.host, args.port)
        return 0
    return run_command(parser, args)


def run_command(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from nexus_micro_kit import protocol, report, runner

    phases = tuple(p.strip() for p in args.only.split(",") if p.strip())
    bad = [p for p in phases if p not in runner.PHASES]
    if bad or not phases:
        parser.error(f"--only takes vectors,properties,http; got {args.only!r}")
    if args.examples < 1:
        parser.error("--examples must be at least 1")
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
    adapter = protocol.make_adapter(args.impl, args.python, cwd=args.cwd, parse_timeout=args.timeout,
                                    fetch_timeout=3 * args.timeout)
    progress = runner.Progress() if args.quiet else report.StderrProgress()
    if not args.quiet:
        print(f"conformance: {adapter.description} ({'subprocess' if args.impl else 'in-process'}), "
              f"seed {seed}", file=sys.stderr)
    try:
        result = runner.run(adapter, config, progress)
    except protocol.AdapterStartError as exc:
        print(f"conformance: the adapter could not be started: {exc}", file=sys.stderr)
        tail = adapter.stderr_tail()
        if tail:
            print(tail, file=sys.stderr)
        return 2
    except ValueError as exc:
        parser.error(str(exc))
    sys.stdout.write(report.text_summary(result))
    if args.json:
        report.write_json(result, args.json)
    if args.junit:
        report.write_junit(result, args.junit)
    return result.exit_code()


if __name__ == "__main__":
    sys.exit(main())
