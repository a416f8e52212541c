"""The packed form of the semantics (checker/packed.py) against the reference semantics, state by
state (`cross_check`), and against the independent frag-balloon enumerator."""

from __future__ import annotations

from typing import Any

import pytest

from checker.diagnostics import CheckerError
from checker.explore import explore
from checker.packed import Packed, supports
from checker.semantics import Semantics

FAMILIES = [
    (8, 1, 2, "fixed"),
    (8, 1, 2, "naive"),
    (8, 2, 1, "fixed"),
    (8, 2, 2, "fixed"),
    (16, 1, 1, "fixed"),
]


def _model(F: int, K: int, R: int, mode: str) -> Any:
    from modelkit import frag_balloon

    return frag_balloon(F, K, R, mode)


@pytest.mark.parametrize(("F", "K", "R", "mode"), FAMILIES)
@pytest.mark.parametrize("symmetry", [False, True])
def test_cross_checked_search_agrees_with_the_enumerator(
    F: int, K: int, R: int, mode: str, symmetry: bool
) -> None:
    import bruteforce

    expected = bruteforce.explore(bruteforce.Family(F, K, R, mode), traces=False)
    model = _model(F, K, R, mode)
    sem = Semantics(model, placement="exact", symmetry=symmetry)
    assert supports(sem) is True
    exp = explore(sem, list(model.properties), symmetry=symmetry, cross_check=True)
    assert exp.store == "packed"
    assert exp.stopped_by is None
    assert exp.results[0].stats["unreduced_states"] == expected.states
    for r in exp.results:
        want = expected.verdict(r.property)
        assert r.verdict.value == ("proved" if want == "holds" else want), r.property
        assert r.trace_length == expected.shortest(r.property), r.property
    if not symmetry or K == 1:
        assert exp.states == expected.states and exp.transitions == expected.transitions


@pytest.mark.parametrize(("F", "K", "R", "mode"), FAMILIES[:4])
def test_same_results_as_the_reference_store(F: int, K: int, R: int, mode: str) -> None:
    model = _model(F, K, R, mode)
    props = list(model.properties)
    ref = explore(Semantics(model, placement="exact"), props, packed=False)
    got = explore(Semantics(model, placement="exact"), props)
    assert (got.states, got.transitions, got.depth) == (ref.states, ref.transitions, ref.depth)
    assert got.fired == ref.fired and got.stuck == ref.stuck
    for a, b in zip(ref.results, got.results):
        assert (a.verdict, a.trace_length, a.warnings) == (b.verdict, b.trace_length, b.warnings)
        assert a.stats["unreduced_states"] == b.stats["unreduced_states"]
        if b.trace is not None:  # the trace is the reference's: it replays step by step
            sem = Semantics(model, placement="exact")
            state = sem.initial()
            for step in b.trace.steps:
                for act, nxt in sem.successors(state):
                    if sem.state_to_json(nxt) == step.state:
                        state = nxt
                        break
                else:
                    raise AssertionError("trace step not reproduced")
            assert sem.violation(state, model.property(b.property)) is not None


def test_bounds_agree_with_the_reference_store() -> None:
    model = _model(8, 2, 2, "naive")
    props = list(model.properties)
    for kw in ({"depth": 2}, {"max_states": 500}):
        ref = explore(Semantics(model, placement="exact"), props, packed=False, **kw)
        got = explore(Semantics(model, placement="exact"), props, **kw)
        assert got.stopped_by == ref.stopped_by and got.states == ref.states
        assert [r.verdict for r in got.results] == [r.verdict for r in ref.results]


def test_decode_encode_round_trip_and_unsupported_models() -> None:
    model = _model(8, 1, 2, "naive")
    sem = Semantics(model, placement="exact", symmetry=False)
    pk = Packed(sem)
    s = pk.initial()
    for _oi, t in pk.successors(s):
        assert pk.encode(pk.decode(t)) == t
    cand = Semantics(model, placement="candidates", symmetry=False)
    assert isinstance(supports(cand), str)
    with pytest.raises(CheckerError):
        explore(cand, list(model.properties), cross_check=True)
    assert explore(cand, list(model.properties)).store == "reference"


@pytest.mark.parametrize("mode", ["fixed", "naive"])
@pytest.mark.parametrize("symmetry", [False, True])
def test_cross_checked_prefix_of_a_small_ish_size(mode: str, symmetry: bool) -> None:
    """frag-balloon(16, 2, 1): the first states (several BFS levels, every operation of domd
    with its masked memo keys and, with symmetry, swapped pairs) agree with the reference."""
    model = _model(16, 2, 1, mode)
    sem = Semantics(model, placement="exact", symmetry=symmetry)
    props = [p for p in model.properties if p.name == "no_frame_shared"]
    exp = explore(sem, props, symmetry=symmetry, cross_check=True, max_states=6000)
    assert exp.store == "packed" and exp.stopped_by == "max_states" and exp.depth >= 3
    assert {0, 1, 2, 3, 4, 5, 6} <= exp.fired


def test_graph_of_a_packed_search_is_the_reference_graph() -> None:
    model = _model(8, 1, 2, "fixed")
    props = list(model.properties)[:1]
    ref = explore(Semantics(model, placement="exact"), props, packed=False)
    auto = explore(Semantics(model, placement="exact"), props)
    full = explore(Semantics(model, placement="exact"), props, graph=True)
    assert ref.graph is not None and auto.graph is not None and full.graph is not None
    for g in (auto.graph, full.graph):
        assert g.number_of_nodes() == ref.graph.number_of_nodes()
        assert g.number_of_edges() == ref.graph.number_of_edges()
