"""The kit must be SHOWN to catch wire bugs: each module of tests/planted/wire_registry.py (the
reference client of tests/planted/_fetch.py with ONE knob turned) fails the HTTP scenarios listed
for it, naming the planted rule, while the same client without the knob passes those scenarios.
In-process adapters and only the scenarios each bug needs keep this short."""

from __future__ import annotations

import importlib

import pytest

from nexus_micro_kit import runner, server
from nexus_micro_kit.protocol import InProcessAdapter
from tests.planted import _fetch
from tests.planted.wire_registry import WIRE_PLANTED

SEED = 20240601


def config_for(scenarios: tuple) -> runner.RunConfig:
    return runner.RunConfig(phases=("http",), seed=SEED, scenarios=scenarios, label="(test)")


def named_rules(result: runner.RunResult) -> set[str]:
    return {rule for r in result.unexpected() for rule in r.rules}


@pytest.mark.parametrize("module", sorted(WIRE_PLANTED))
def test_wire_bug_is_caught_and_named(module):
    rule, _phases, scenarios = WIRE_PLANTED[module]
    result = runner.run(InProcessAdapter(f"tests.planted.{module}:handle"), config_for(scenarios))
    assert result.exit_code() == 1, f"{module}: the kit did not fail"
    assert rule in named_rules(result), (module, sorted(named_rules(result)),
                                         [(r.id, r.message) for r in result.unexpected()][:5])


def test_the_reference_client_passes_every_wire_run():
    """Without a knob, _fetch passes the union of the runs above: the failures are the knobs'."""
    scenarios = tuple(dict.fromkeys(name for _rule, _phases, names in WIRE_PLANTED.values() for name in names))
    result = runner.run(InProcessAdapter("tests.planted.wire_registry:reference"), config_for(scenarios))
    assert result.exit_code() == 0, [(r.id, r.rules, r.message) for r in result.unexpected()]
    assert sum(1 for r in result.results if r.status == runner.PASS) == len(scenarios)


def test_every_wire_module_turns_exactly_its_own_knob():
    for module, (rule, phases, scenarios) in WIRE_PLANTED.items():
        mod = importlib.import_module(f"tests.planted.{module}")
        knob = module[len("wire_"):]
        assert mod.handle.bugs == {knob}, module
        assert knob in _fetch.KNOBS and (mod.__doc__ or "").startswith(f"Planted bug ({rule}): "), module
        assert phases == "http" and scenarios and set(scenarios) <= set(server.SCENARIOS), module
    assert len(WIRE_PLANTED) >= 20
