"""The explicit-state explorer on a small counter system with a known state space.

`Counters` has the interface of `checker.semantics.Semantics` (initial, successors, apply,
violation, canonical, orbit_size, describe, labels and JSON) so that the engine's bookkeeping
(shortest traces, bounds, verdicts, statistics, symmetry, warnings) is checked against numbers
computed by hand. The comparison with the reference semantics and the independent frag-balloon
enumerator is at the end of this file.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from checker.explore import GRAPH_LIMIT, Progress, explore
from checker.model import Property, PropertyKind
from checker.results import Verdict


class NotEnabled(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Act:
    op_index: int
    counter: int
    value: int | None = None  # "set" chooses a value


def prop(name: str) -> Property:
    return Property(name, PropertyKind.INVARIANT, ())


class Counters:
    """K counters in 0..M. Ops per counter: `inc cI` (+1), `set cI` (choice: any value), and an
    op `drop` that is never enabled. Properties: `sum_lt_N` (sum < N), `max_lt_L`, `always`."""

    placement = "exact"
    exact = True

    def __init__(self, k: int = 2, m: int = 3, with_set: bool = False, symmetry: bool = True,
                 dead_end: bool = False, reset: bool = False) -> None:
        self.k, self.m, self.with_set, self.symmetry, self.dead_end = (
            k, m, with_set, symmetry, dead_end)
        self.reset = reset  # `reset cI` (to 0), except for c0 once it reached m: a trap

    # ---- structure
    def op_labels(self) -> list[str]:
        return [f"inc c{i}" for i in range(self.k)] + [f"set c{i}" for i in range(self.k)] + [
            "drop"] + [f"reset c{i}" for i in range(self.k)]

    def initial(self) -> tuple[int, ...]:
        return (0,) * self.k

    def _enabled(self, s: tuple[int, ...]) -> Iterator[Act]:
        if self.dead_end and sum(s) == 1:
            return
        for i in range(self.k):
            if s[i] < self.m:
                yield Act(i, i)
        if self.with_set:
            for i in range(self.k):
                for v in range(self.m + 1):
                    if v != s[i]:
                        yield Act(self.k + i, i, v)
        if self.reset:
            for i in range(self.k):
                if s[i] > 0 and not (i == 0 and s[0] == self.m):
                    yield Act(2 * self.k + 1 + i, i, 0)

    def apply(self, s: tuple[int, ...], a: Act) -> tuple[int, ...]:
        if a.op_index == 2 * self.k:
            raise NotEnabled("drop is never enabled")
        if a not in set(self._enabled(s)):
            raise NotEnabled(f"{self.action_label(a)} is not enabled")
        if a.op_index > 2 * self.k:
            return s[: a.counter] + (0,) + s[a.counter + 1:]
        if a not in set(self._enabled(s)):
            raise NotEnabled(f"{self.action_label(a)} is not enabled")
        v = s[a.counter] + 1 if a.value is None else a.value
        return s[: a.counter] + (v,) + s[a.counter + 1:]

    def successors(self, s: tuple[int, ...]) -> Iterator[tuple[Act, tuple[int, ...]]]:
        for a in self._enabled(s):
            yield a, self.apply(s, a)

    def finished(self, s: tuple[int, ...]) -> bool:
        return all(x == self.m for x in s)

    # ---- properties
    def violation(self, s: tuple[int, ...], p: Property) -> str | None:
        if p.name.startswith("sum_lt_"):
            n = int(p.name.removeprefix("sum_lt_"))
            return f"sum {sum(s)} >= {n}" if sum(s) >= n else None
        if p.name.startswith("max_lt_"):
            n = int(p.name.removeprefix("max_lt_"))
            return f"max {max(s)} >= {n}" if max(s) >= n else None
        return None

    # ---- symmetry
    def canonical(self, s: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(sorted(s)) if self.symmetry else s

    def orbit_size(self, s: tuple[int, ...]) -> int:
        if not self.symmetry:
            return 1
        n = math.factorial(len(s))
        for _v, g in itertools.groupby(sorted(s)):
            n //= math.factorial(len(list(g)))
        return n

    # ---- text and JSON
    def action_label(self, a: Act) -> str:
        return self.op_labels()[a.op_index]

    def describe(self, before: tuple[int, ...], a: Act, after: tuple[int, ...]) -> list[str]:
        return [f"c{a.counter}: {before[a.counter]} -> {after[a.counter]}"]

    def state_to_json(self, s: tuple[int, ...]) -> dict[str, Any]:
        return {"counters": list(s), "note": None}

    def state_from_json(self, data: dict[str, Any]) -> tuple[int, ...]:
        return tuple(data["counters"])

    def action_to_json(self, a: Act) -> dict[str, Any]:
        choices = {} if a.value is None else {"value": a.value}
        return {"op": a.op_index, "label": self.action_label(a), "choices": choices}

    def action_from_json(self, data: dict[str, Any]) -> Act:
        op = data["op"]
        counter = op % self.k if op < 2 * self.k else 0
        return Act(op, counter, data["choices"].get("value"))


def by_name(exp: Any) -> dict[str, Any]:
    return {r.property: r for r in exp.results}


def test_exhaustive_space_is_proved_with_exact_counts() -> None:
    sem = Counters(k=2, m=3, symmetry=False)
    exp = explore(sem, [prop("always")], symmetry=False)
    r = exp.results[0]
    assert r.verdict is Verdict.PROVED
    assert r.scope.exhaustive and r.scope.depth is None and r.scope.placement == "exact"
    assert r.states == 16 == exp.states
    # every state has one inc per counter below 3: 2 * 3 * 4 transitions
    assert r.transitions == 24
    assert exp.depth == 6 and r.stats["depth_reached"] == 6
    assert r.stats["peak_memory_mb"] > 0
    assert exp.stopped_by is None


def test_shortest_trace_and_search_continues_for_other_properties() -> None:
    sem = Counters(k=2, m=3, symmetry=False)
    exp = explore(sem, [prop("sum_lt_3"), prop("max_lt_4"), prop("max_lt_2")], symmetry=False)
    r = by_name(exp)
    assert r["sum_lt_3"].verdict is Verdict.VIOLATED
    assert r["sum_lt_3"].trace_length == 3
    assert r["max_lt_2"].trace_length == 2
    assert r["max_lt_2"].trace is not None
    assert [s.op for s in r["max_lt_2"].trace.steps] == ["inc c0", "inc c0"]
    assert r["max_lt_2"].trace.witness == "max 2 >= 2"
    assert r["max_lt_2"].trace.steps[-1].state == {"counters": [2, 0], "note": None}
    assert r["max_lt_2"].trace.steps[0].changes == ("c0: 0 -> 1",)
    assert r["max_lt_4"].verdict is Verdict.PROVED and r["max_lt_4"].states == 16
    # the violated ones report the states known when the violation was found
    assert r["max_lt_2"].states < 16


def test_stops_when_every_property_is_violated() -> None:
    sem = Counters(k=3, m=5, symmetry=False)
    exp = explore(sem, [prop("sum_lt_2")], symmetry=False)
    assert exp.stopped_by == "violated"
    assert exp.states < 6**3
    assert exp.results[0].trace_length == 2


def test_choices_are_recorded_and_shortest_uses_them() -> None:
    sem = Counters(k=2, m=3, with_set=True, symmetry=False)
    exp = explore(sem, [prop("sum_lt_5")], symmetry=False)
    r = exp.results[0]
    assert r.trace_length == 2
    assert r.trace is not None
    assert [s.op for s in r.trace.steps] == ["set c0", "set c1"]
    assert r.trace.steps[0].choices == {"value": 2}
    assert r.trace.steps[1].choices == {"value": 3}


def test_depth_bound_gives_holds_with_scope() -> None:
    sem = Counters(k=2, m=3, symmetry=False)
    exp = explore(sem, [prop("max_lt_4")], depth=2, symmetry=False)
    r = exp.results[0]
    assert r.verdict is Verdict.HOLDS
    assert r.scope.depth == 2 and not r.scope.exhaustive
    assert r.states == 6  # depths 0, 1, 2: 1 + 2 + 3
    # a bound that does not cut is an exhaustive search, the last level expanded like others
    exp = explore(sem, [prop("max_lt_4")], depth=6, symmetry=False)
    assert exp.results[0].verdict is Verdict.PROVED
    sem = Counters(k=2, m=1, reset=True, symmetry=False)
    bounded = explore(sem, [prop("always")], depth=2, symmetry=False)
    full = explore(sem, [prop("always")], symmetry=False)
    assert bounded.results[0].verdict is Verdict.PROVED and bounded.stopped_by is None
    assert (bounded.states, bounded.transitions, bounded.fired) == (
        full.states, full.transitions, full.fired)
    assert explore(sem, [prop("always")], depth=1, symmetry=False).stopped_by == "depth"


def test_depth_bound_still_finds_violations_within_it() -> None:
    sem = Counters(k=2, m=3, symmetry=False)
    r = by_name(explore(sem, [prop("sum_lt_2"), prop("sum_lt_5")], depth=3, symmetry=False))
    assert r["sum_lt_2"].verdict is Verdict.VIOLATED
    assert r["sum_lt_5"].verdict is Verdict.HOLDS and r["sum_lt_5"].scope.depth == 3


def test_max_states_gives_undecided() -> None:
    sem = Counters(k=2, m=3, symmetry=False)
    exp = explore(sem, [prop("always")], max_states=5, symmetry=False)
    r = exp.results[0]
    assert r.verdict is Verdict.UNDECIDED
    assert exp.states == 5 and exp.stopped_by == "max_states"
    assert not r.scope.exhaustive


def test_timeout_gives_undecided() -> None:
    sem = Counters(k=4, m=9, symmetry=False)
    exp = explore(sem, [prop("always")], timeout=0.0, symmetry=False)
    assert exp.results[0].verdict is Verdict.UNDECIDED
    assert exp.stopped_by == "timeout"
    assert exp.states < 10**4


def test_candidate_placement_says_holds_and_names_what_is_missed() -> None:
    sem = Counters(k=2, m=3, symmetry=False)
    sem.placement, sem.exact = "candidates", False  # type: ignore[misc]
    r = explore(sem, [prop("always")], symmetry=False).results[0]
    assert r.verdict is Verdict.HOLDS
    assert r.scope.placement == "candidates" and r.scope.depth is None
    assert any("not covered" in w for w in r.warnings)


def test_symmetry_reduces_and_counts_the_unreduced_space() -> None:
    full = explore(Counters(k=3, m=3, symmetry=False), [prop("always")], symmetry=False)
    red = explore(Counters(k=3, m=3), [prop("always")], symmetry=True)
    assert full.states == 64
    assert red.states == math.comb(3 + 3, 3)  # multisets of size 3 over 4 values: 20
    r = red.results[0]
    assert r.stats["unreduced_states"] == 64 and r.stats["distinct_states"] == 20
    assert r.verdict is Verdict.PROVED


def test_symmetry_trace_is_concrete_and_shortest() -> None:
    sem = Counters(k=3, m=3)
    exp = explore(sem, [prop("sum_lt_4"), prop("max_lt_3")], symmetry=True)
    r = by_name(exp)
    for name, length in (("sum_lt_4", 4), ("max_lt_3", 3)):
        trace = r[name].trace
        assert trace is not None and len(trace) == length
        # replaying the recorded steps from the initial state reproduces each state
        state = sem.initial()
        for step in trace.steps:
            state = sem.apply(state, Act(sem.op_labels().index(step.op),
                                         int(step.op[-1]), step.choices.get("value")))
            assert sem.state_to_json(state) == step.state
        assert sem.violation(state, prop(name)) == trace.witness


def test_never_fired_ops_are_warned_about() -> None:
    r = explore(Counters(k=2, m=2), [prop("always")]).results[0]
    assert any(w.startswith("drop never fired") for w in r.warnings)
    assert any(w.startswith("set c0 never fired") for w in r.warnings)
    assert not any(w.startswith("inc c0") for w in r.warnings)


def test_dead_ends_before_the_end_are_warned_about() -> None:
    r = explore(Counters(k=2, m=2, dead_end=True, symmetry=False), [prop("always")],
                symmetry=False).results[0]
    stuck = [w for w in r.warnings if "can get stuck" in w]
    assert len(stuck) == 1 and "2 reachable state(s)" in stuck[0]
    assert "(shortest: inc c0)" in stuck[0]


def test_graph_is_built_for_small_spaces() -> None:
    exp = explore(Counters(k=2, m=2, symmetry=False), [prop("always")], symmetry=False)
    assert exp.graph is not None
    assert exp.graph.number_of_nodes() == 9
    assert exp.graph.number_of_edges() == 12
    assert GRAPH_LIMIT >= 100_000
    none = explore(Counters(k=2, m=2, symmetry=False), [prop("always")], symmetry=False,
                   graph=False)
    assert none.graph is None


def test_traps_are_found_in_the_graph() -> None:
    exp = explore(Counters(k=2, m=2, reset=True, symmetry=False), [prop("always")],
                  symmetry=False)
    assert exp.graph is not None
    # c0 == 2 is entered by inc c0 twice and never left; c1 still cycles (inc c1, reset c1)
    assert exp.stuck == [
        ("after inc c0; inc c0, the run is trapped in 3 states where inc c0, reset c0 can never "
         "fire again")
    ]
    assert exp.stuck[0] in exp.results[0].warnings
    # without the graph the trap analysis is skipped, never guessed
    assert explore(Counters(k=2, m=2, reset=True, symmetry=False), [prop("always")],
                   symmetry=False, graph=False).stuck == []


def test_progress_callback_reports_growing_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    import checker.explore as ex

    monkeypatch.setattr(ex, "PROGRESS_EVERY", 4)
    monkeypatch.setattr(ex, "PROGRESS_INTERVAL", 0.0)
    seen: list[Progress] = []
    exp = explore(Counters(k=3, m=4, symmetry=False), [prop("always")], symmetry=False,
                  progress=seen.append)
    assert len(seen) >= 300 // (4 + 3)  # 300 transitions, at most 3 per expansion
    assert [p.states for p in seen] == sorted(p.states for p in seen)
    for p in seen:
        assert 0 < p.states <= exp.states and p.seconds > 0 and p.rate > 0
        assert p.transitions <= exp.transitions and p.depth <= exp.depth


class Crashing(Counters):
    """Counters whose successors raise once a counter reaches 2."""

    def successors(self, state: tuple[int, ...]) -> Iterator[tuple[Act, tuple[int, ...]]]:
        if max(state) >= 2:
            raise RuntimeError("boom")
        yield from super().successors(state)


@pytest.mark.parametrize("enabled", [True, False])
def test_search_runs_without_the_cyclic_collector_and_restores_it(
    monkeypatch: pytest.MonkeyPatch, enabled: bool
) -> None:
    import gc

    import checker.explore as ex

    monkeypatch.setattr(ex, "PROGRESS_EVERY", 1)
    monkeypatch.setattr(ex, "PROGRESS_INTERVAL", 0.0)
    during: list[bool] = []
    was = gc.isenabled()
    try:
        if enabled:
            gc.enable()
        else:
            gc.disable()
        explore(Counters(k=2, m=3, symmetry=False), [prop("always")], symmetry=False,
                progress=lambda _p: during.append(gc.isenabled()))
        assert during and not any(during)
        assert gc.isenabled() is enabled
        with pytest.raises(RuntimeError, match="boom"):
            explore(Crashing(k=2, m=3, symmetry=False), [prop("always")], symmetry=False)
        assert gc.isenabled() is enabled
    finally:
        if was:
            gc.enable()
        else:
            gc.disable()


def test_packed_search_runs_without_the_cyclic_collector(monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    from modelkit import frag_balloon

    from checker import packed_bfs
    from checker.semantics import Semantics

    model = frag_balloon(8, 2, 1, "fixed")
    sem = Semantics(model, placement="exact", symmetry=True)
    during: list[bool] = []
    search = packed_bfs.search

    def spy(*args: Any, **kwargs: Any) -> Any:
        during.append(gc.isenabled())
        return search(*args, **kwargs)

    monkeypatch.setattr(packed_bfs, "search", spy)
    was = gc.isenabled()
    gc.enable()
    try:
        exp = explore(sem, list(model.properties), packed=True)
        assert exp.store == "packed" and during == [False]
        assert gc.isenabled()
    finally:
        if not was:
            gc.disable()


def test_graph_export_is_importable_from_the_explorer() -> None:
    from checker import explore as ex
    from checker import stategraph

    assert ex.write_graph is stategraph.write_graph and ex.to_dot is stategraph.to_dot
    exp = explore(Counters(k=1, m=1, symmetry=False), [prop("always")], symmetry=False,
                  graph=True)
    assert exp.graph is not None
    assert ex.to_dot(exp.graph, "c") == (
        'digraph "c" {\n  node [shape=circle, label=""];\n  0 [shape=doublecircle];\n'
        '  0 -> 1 [label="inc c0"];\n}\n'
    )


def test_deterministic() -> None:
    a = explore(Counters(k=3, m=3, with_set=True), [prop("sum_lt_7")])
    b = explore(Counters(k=3, m=3, with_set=True), [prop("sum_lt_7")])
    ta, tb = a.results[0].trace, b.results[0].trace
    assert ta is not None and tb is not None
    assert ta == tb and a.states == b.states and a.transitions == b.transitions


@pytest.mark.parametrize("k", [1, 2, 3])
def test_initial_violation_has_empty_trace(k: int) -> None:
    r = explore(Counters(k=k, m=1), [prop("sum_lt_0")]).results[0]
    assert r.verdict is Verdict.VIOLATED and r.trace_length == 0


# ---- the reference semantics against the independent frag-balloon enumerator ----------------

FAMILIES = [
    (8, 1, 2, "fixed"),
    (8, 1, 2, "naive"),
    (8, 2, 1, "fixed"),
    (8, 1, 3, "fixed"),
    (16, 1, 1, "fixed"),
    (8, 2, 2, "fixed"),
]


@pytest.mark.parametrize(("F", "K", "R", "mode"), FAMILIES)
def test_agrees_with_the_independent_enumerator(F: int, K: int, R: int, mode: str) -> None:
    import bruteforce
    from modelkit import frag_balloon

    from checker.semantics import Semantics

    expected = bruteforce.explore(bruteforce.Family(F, K, R, mode), traces=False)
    model = frag_balloon(F, K, R, mode)
    symmetry = K > 1  # with symmetry the unreduced count must still match
    sem = Semantics(model, placement="exact", symmetry=symmetry)
    assert sem.exact
    exp = explore(sem, list(model.properties), symmetry=symmetry)
    for r in exp.results:
        want = expected.verdict(r.property)
        assert r.verdict.value == ("proved" if want == "holds" else want), r.property
        assert r.trace_length == expected.shortest(r.property), r.property
    assert exp.stopped_by is None
    assert exp.results[0].stats["unreduced_states"] == expected.states
    if symmetry:
        assert exp.states < expected.states
    else:
        assert exp.states == expected.states and exp.transitions == expected.transitions


SYMMETRIC = """
platform p {
    page_size 4K
    ram bank at 0x8000_0000 size 32K
}
hypervisor x {
    guest_ram guest_ram0 at 0x4000_0000 size 0xC000_0000
    allocator buddy max_order 18 placement any
    balloon release_same
}
domain u1, u2 {
    memory 8K
}
scenario {
    choose up to 1 { create u1 | create u2 }
    choose up to 1 { destroy u1 | destroy u2 }
}
property no_frame_shared
"""


def test_symmetric_ops_count_as_fired(write_m11: Any) -> None:
    from checker.resolve import load_model
    from checker.semantics import Semantics

    model = load_model(write_m11(SYMMETRIC))
    full = explore(Semantics(model, symmetry=False), list(model.properties), symmetry=False)
    red = explore(Semantics(model, symmetry=True), list(model.properties), symmetry=True)
    assert red.states < full.states
    # only one of u1, u2 is ever alive: the reduced search expands one of the two orbits'
    # members, but destroy u1 and destroy u2 are the same operation up to the symmetry
    assert full.results[0].warnings == [] and red.results[0].warnings == []
    assert {k for k in red.fired} != {k for k in full.fired}


def test_packed_false_searches_the_reference_semantics() -> None:
    from modelkit import frag_balloon

    from checker.semantics import Semantics

    model = frag_balloon(8, 1, 2, "fixed")
    sem = Semantics(model, placement="exact", symmetry=False)
    ref = explore(sem, list(model.properties), packed=False)
    fast = explore(sem, list(model.properties))
    assert ref.store == "reference" and fast.store == "packed"
    assert ref.states == fast.states == 522


def test_small_fixed_exact_counts_with_and_without_symmetry() -> None:
    """frag-balloon small (F=16, K=2, R=2, fixed), exact placement: the benchmark reference and
    tests/bruteforce.py (MEMORY11_SLOW=1) count 610,768 states and 9,236,200 transitions."""
    from modelkit import frag_balloon

    from checker.semantics import Semantics

    model = frag_balloon(16, 2, 2, "fixed")
    plain = explore(Semantics(model, placement="exact", symmetry=False),
                    list(model.properties), symmetry=False)
    assert (plain.states, plain.transitions) == (610_768, 9_236_200)
    reduced = explore(Semantics(model, placement="exact", symmetry=True),
                      list(model.properties), symmetry=True)
    assert reduced.states == 305_450
    ipa = next(r for r in reduced.results if r.property == "ipa_eq_pa")
    assert ipa.verdict.value == "proved"
    assert ipa.stats["unreduced_states"] == 610_768
