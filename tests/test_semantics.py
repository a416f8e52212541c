"""The reference semantics on the frag-balloon family and small hand-built models."""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import pytest

from checker import extents as ex
from checker.model import BalloonMode, DirectMap, Loop, Op, OpKind, PropertyKind, Step
from checker.semantics import Action, NotEnabled, Semantics, State
from tests import modelkit as mk


@dataclass
class Search:
    states: int = 0
    transitions: int = 0
    orbit_total: int = 0
    shortest: dict[str, int] = field(default_factory=dict)  # property -> depth of first violation
    witness: dict[str, str] = field(default_factory=dict)
    fired: set[int] = field(default_factory=set)


def bfs(sem: Semantics, reduce: bool = False) -> Search:
    """Plain BFS over `successors` (states canonicalised when `reduce`)."""
    key = sem.canonical if reduce else (lambda s: s)
    init = key(sem.initial())
    seen = {init}
    out = Search()
    frontier = deque([(init, 0)])
    while frontier:
        s, depth = frontier.popleft()
        out.orbit_total += sem.orbit_size(s) if reduce else 1
        for p in sem.model.properties:
            if p.name not in out.shortest:
                w = sem.violation(s, p)
                if w is not None:
                    out.shortest[p.name] = depth
                    out.witness[p.name] = w
        for action, t in sem.successors(s):
            out.transitions += 1
            out.fired.add(action.op_index)
            t = key(t)
            if t not in seen:
                seen.add(t)
                frontier.append((t, depth + 1))
    out.states = len(seen)
    return out


@pytest.fixture(scope="module")
def tiny_fixed() -> Search:
    return bfs(Semantics(mk.frag_balloon(8, 1, 2, "fixed"), placement="exact", symmetry=False))


@pytest.fixture(scope="module")
def tiny_naive() -> Search:
    return bfs(Semantics(mk.frag_balloon(8, 1, 2, "naive"), placement="exact", symmetry=False))


def test_tiny_fixed_counts_and_verdicts(tiny_fixed: Search) -> None:
    assert tiny_fixed.states == 522
    assert tiny_fixed.transitions == 4009  # same as the independent enumerator
    assert tiny_fixed.shortest == {}  # K*R = 2 < 4: every property holds


def test_tiny_naive_counts_and_verdicts(tiny_naive: Search) -> None:
    assert tiny_naive.states == 7262
    assert tiny_naive.transitions == 66617
    assert tiny_naive.shortest == {"ipa_eq_pa": 3}
    w = tiny_naive.witness["ipa_eq_pa"]
    assert "domd: RAM page at IPA 0x8000" in w and "backed by PA 0x8000" in w
    assert "ram 'bank0'" in w


def test_every_scenario_op_fires(tiny_naive: Search) -> None:
    sem = Semantics(mk.frag_balloon(8, 1, 2, "naive"))
    assert tiny_naive.fired == set(range(len(sem.op_labels())))
    assert sem.op_labels()[:4] == ["create domd", "destroy domd", "balloon_out domd 1",
                                   "balloon_in domd 1"]


@pytest.mark.parametrize("mode", ["naive", "fixed"])
def test_create_fails_once_the_blocks_are_fragmented(mode: str) -> None:
    # K*R >= 4: the ordinary domains put a frame in each of the four aligned blocks first.
    res = bfs(Semantics(mk.frag_balloon(8, 2, 2, mode), placement="exact"), reduce=True)
    assert res.shortest["domd_create_never_fails"] == 3  # ceil(4/R) + 1
    assert "create domd failed" in res.witness["domd_create_never_fails"]
    assert ("ipa_eq_pa" in res.shortest) == (mode == "naive")
    assert "no_frame_shared" not in res.shortest


def test_symmetry_reduces_and_orbits_add_up() -> None:
    m = mk.frag_balloon(8, 2, 2, "fixed")
    full = bfs(Semantics(m, placement="exact", symmetry=False))
    sem = Semantics(m, placement="exact", symmetry=True)
    assert sem.symmetric_groups == ((1, 2),)
    red = bfs(sem, reduce=True)
    assert red.states < full.states
    assert red.orbit_total == full.states
    assert red.shortest == full.shortest


def test_symmetry_refused_when_a_property_names_one_member() -> None:
    m = mk.frag_balloon(8, 2, 2, "fixed")
    props = m.properties + (mk.prop(PropertyKind.CREATE_SUCCEEDS, "u1_ok", (1,)),)
    sem = Semantics(mk.model(m.domains, m.scenario.statements, props, ram=m.platform.ram))
    assert sem.symmetric_groups == ()
    s = sem.initial()
    assert sem.canonical(s) == s and sem.orbit_size(s) == 1


def test_symmetry_refused_when_scenario_is_asymmetric() -> None:
    m = mk.frag_balloon(8, 2, 2, "fixed")
    stmts = (Step(Op(OpKind.CREATE, 1)),) + m.scenario.statements
    sem = Semantics(mk.model(m.domains, stmts, m.properties, ram=m.platform.ram))
    assert sem.symmetric_groups == ()


def _edges(sem: Semantics) -> list[tuple[State, Action, State]]:
    init = sem.initial()
    seen = {init}
    todo = [init]
    out: list[tuple[State, Action, State]] = []
    while todo:
        s = todo.pop()
        for a, t in sem.successors(s):
            out.append((s, a, t))
            if t not in seen:
                seen.add(t)
                todo.append(t)
    return out


@pytest.mark.parametrize("mode", ["naive", "fixed"])
def test_apply_agrees_with_successors_on_every_edge(mode: str) -> None:
    sem = Semantics(mk.frag_balloon(8, 1, 2, mode), placement="exact", symmetry=False)
    sem.self_check = True  # every computed effect keeps free == heap minus owned
    edges = _edges(sem)
    assert len(edges) == (66617 if mode == "naive" else 4009)
    for s, a, t in edges:
        assert sem.apply(s, a) == t
        back = sem.action_from_json(json.loads(json.dumps(sem.action_to_json(a))))
        assert back == a


def test_state_json_round_trip_on_every_state() -> None:
    sem = Semantics(mk.frag_balloon(8, 1, 2, "naive"), placement="exact")
    for s, _a, t in _edges(sem):
        for x in (s, t):
            text = json.dumps(sem.state_to_json(x))
            assert sem.state_from_json(json.loads(text)) == x


def _first(sem: Semantics, label: str, state: State | None = None) -> tuple[Action, State]:
    s = sem.initial() if state is None else state
    for a, t in sem.successors(s):
        if sem.action_label(a) == label:
            return a, t
    raise AssertionError(f"{label} not enabled")


def test_not_enabled_on_bad_choices() -> None:
    sem = Semantics(mk.frag_balloon(8, 1, 2, "fixed"), placement="exact")
    s0 = sem.initial()
    create, s1 = _first(sem, "create domd")
    base = dict(create.choices)["block"]
    assert isinstance(base, int)
    with pytest.raises(NotEnabled, match="not a free aligned block"):
        sem.apply(s0, create._replace(choices=(("block", base + 1),)))
    with pytest.raises(NotEnabled, match="missing"):
        sem.apply(s0, create._replace(choices=()))
    with pytest.raises(NotEnabled, match="not enabled"):
        sem.apply(s1, create)  # already alive
    with pytest.raises(NotEnabled, match="no scenario operation"):
        sem.apply(s0, create._replace(op_index=99))
    bout, s2 = _first(sem, "balloon_out domd 1", s1)
    with pytest.raises(NotEnabled):
        sem.apply(s1, bout._replace(choices=(("ipa", base + 99),)))
    bin_, _ = _first(sem, "balloon_in domd 1", s2)
    with pytest.raises(NotEnabled, match="takes no 'frames'"):
        sem.apply(s2, bin_._replace(choices=bin_.choices + (("frames", ((base, 1),)),)))
    cu, _ = _first(sem, "create u1")
    with pytest.raises(NotEnabled, match="not 2 available frames"):
        sem.apply(s1, cu._replace(choices=(("frames", ((base, 2),)),)))


def test_state_from_json_rejects_malformed() -> None:
    sem = Semantics(mk.frag_balloon(8, 1, 2, "fixed"))
    _, s1 = _first(sem, "create domd")
    good = sem.state_to_json(s1)
    bad_cases: list[tuple[Any, str]] = [
        ([], "expected an object"),
        ({**good, "pc": -1}, "state.pc"),
        ({**good, "extra": 1}, "unexpected extra"),
        ({**good, "domains": {"domd": None}}, "one entry per domain"),
        ({**good, "failed": [{"op": "boot", "domain": "domd"}]}, "unknown op"),
        ({**good, "domains": {**good["domains"], "u1": {**good["domains"]["domd"]}}},
         "owned by another domain"),
        ({**good, "domains": {**good["domains"], "domd": {**good["domains"]["domd"],
                                                         "owned": [[5, 0]]}}}, "extents must be"),
    ]
    for obj, msg in bad_cases:
        with pytest.raises(ValueError, match=msg):
            sem.state_from_json(obj)
    with pytest.raises(ValueError, match="label"):
        sem.action_from_json({"op_index": 0, "label": "destroy domd", "choices": {}})
    with pytest.raises(ValueError, match="unknown choice"):
        sem.action_from_json({"op_index": 0, "label": "create domd", "choices": {"x": 1}})


def test_describe_names_blocks_and_mappings() -> None:
    sem = Semantics(mk.frag_balloon(8, 1, 2, "naive"), placement="exact")
    a1, s1 = _first(sem, "create domd")
    lines = sem.describe(sem.initial(), a1, s1)
    assert lines[0].startswith("created domd (1:1, rambase 0x80000000")
    assert "allocated PA [0x80000000, 0x80002000) (2 pages) to domd" in lines
    a2, s2 = _first(sem, "balloon_out domd 1", s1)
    assert "freed PA [0x80000000, 0x80001000) (1 pages) from domd" in sem.describe(s1, a2, s2)
    assert sem.action_label(a2) == "balloon_out domd 1"


def test_placement_resolution() -> None:
    tiny = Semantics(mk.frag_balloon(8, 1, 2, "fixed"))
    assert (tiny.placement, tiny.exact) == ("exact", True)
    big = Semantics(mk.frag_balloon(128, 2, 2, "fixed"))
    assert (big.placement, big.exact) == ("candidates", False)
    with pytest.raises(ValueError, match="unknown placement"):
        Semantics(mk.frag_balloon(8, 1, 2, "fixed"), placement="random")
