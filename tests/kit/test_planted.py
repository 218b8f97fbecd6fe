"""The kit must be SHOWN to fail: each planted adapter (tests/planted/, one bug each) makes the
relevant part of the kit fail, naming the planted rule; the bundled nexus_micro adapter passes
the same runs. Small example counts, a fixed seed and no shrinking keep this fast."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from nexus_micro_kit import runner
from nexus_micro_kit.protocol import InProcessAdapter, SubprocessAdapter
from tests.planted import PLANTED, TIMEOUTS

ROOT = Path(__file__).resolve().parents[2]
SEED = 20240601
BUNDLED = "nexus_micro_kit.adapters.nexus_micro:handle"


def config_for(phases: str, scenarios: tuple | None) -> runner.RunConfig:
    return runner.RunConfig(phases=tuple(phases.split(",")), profiles=("observed", "hostile"), examples=40,
                            seed=SEED, scenarios=scenarios, shrink=False, label="(test)")


def named_rules(result: runner.RunResult) -> set[str]:
    return {rule for r in result.unexpected() for rule in r.rules}


def planted_adapter(module: str, target: str = "handle") -> InProcessAdapter:
    limit = TIMEOUTS.get(module)
    limits = {"parse_timeout": limit, "fetch_timeout": limit} if limit else {}
    return InProcessAdapter(f"tests.planted.{module}:{target}", **limits)


@pytest.mark.parametrize("module", sorted(PLANTED))
def test_planted_bug_is_caught_and_named(module):
    rule, phases, scenarios = PLANTED[module]
    result = runner.run(planted_adapter(module), config_for(phases, scenarios))
    assert result.exit_code() == 1, f"{module}: the kit did not fail"
    assert rule in named_rules(result), (module, sorted(named_rules(result)),
                                         [(r.id, r.message) for r in result.unexpected()][:5])


def test_crashing_bugs_are_reported_as_errored():
    for module in ("null_crash", "non_object_crash"):
        rule, phases, scenarios = PLANTED[module]
        result = runner.run(InProcessAdapter(f"tests.planted.{module}:handle"), config_for(phases, scenarios))
        errored = [r for r in result.results if r.status == runner.ERRORED]
        assert errored and any(rule in r.rules for r in errored), module
        assert all("crashed" in r.message for r in errored)


def test_planted_bug_caught_through_a_subprocess():
    adapter = SubprocessAdapter(f"{sys.executable} -m tests.planted.routing_zero", cwd=str(ROOT))
    result = runner.run(adapter, config_for("vectors", None))
    assert result.mode == "subprocess" and result.exit_code() == 1 and "S7" in named_rules(result)


def test_garbage_printing_adapter_fails_cases_and_is_restarted():
    adapter = SubprocessAdapter(f"{sys.executable} -m tests.planted.garbage", cwd=str(ROOT))
    config = config_for("vectors", None)
    config.vectors = ("s7-*", "s1c-*")
    result = runner.run(adapter, config)
    garbage = [r for r in result.results if "protocol" in r.rules]
    assert garbage and all("not JSON" in r.message for r in garbage)
    assert len(garbage) - 1 <= result.restarts <= len(garbage) and result.exit_code() == 1  # restart is lazy
    assert any(r.status == runner.PASS for r in result.results if r.id.startswith("vector:s1c-"))


def test_hanging_adapter_times_out_and_is_restarted():
    adapter = SubprocessAdapter(f"{sys.executable} -m tests.planted.hang", cwd=str(ROOT), parse_timeout=1.0)
    config = config_for("vectors", None)
    config.vectors = ("s1c-*",)
    result = runner.run(adapter, config)
    hung = [r for r in result.results if r.status == runner.FAIL and "hang" in r.message]
    assert [r.id for r in hung] == ["vector:s1c-nan"]
    assert result.restarts == 1
    others = [r for r in result.results if r.kind == "vector" and r.id != "vector:s1c-nan"]
    assert others and all(r.status == runner.PASS for r in others)


def test_every_planted_module_has_one_documented_bug():
    for module in PLANTED:
        mod = importlib.import_module(f"tests.planted.{module}")
        assert callable(mod.handle) and "Planted bug" in (mod.__doc__ or ""), module
    assert len(PLANTED) >= 12


# The bundled implementation must pass the very runs that catch the planted bugs.

@pytest.mark.parametrize("phases", ["vectors,properties", "http"])
def test_bundled_nexus_micro_passes(phases):
    result = runner.run(InProcessAdapter(BUNDLED), config_for(phases, None))
    assert result.exit_code() == 0, [(r.id, r.rules, r.message) for r in result.unexpected()]


def test_bundled_nexus_micro_passes_as_subprocess():
    adapter = SubprocessAdapter(f"{sys.executable} -m nexus_micro_kit.adapters.nexus_micro", cwd=str(ROOT))
    result = runner.run(adapter, config_for("vectors", None))
    assert result.implementation["name"] == "nexus-micro" and result.mode == "subprocess"
    assert result.exit_code() == 0, [(r.id, r.rules, r.message) for r in result.unexpected()]
