"""The reference semantics on the frag-balloon family and small hand-built models."""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from checker import extents as ex
from checker.model import (
    Attr,
    BalloonMode,
    BinOp,
    Choose,
    DirectMap,
    Loop,
    Num,
    Op,
    OpKind,
    PropertyKind,
    Quant,
    RambaseMode,
    Step,
    Var,
)
from checker.resolve import load_model
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
    states = {t for _s, _a, t in _edges(sem)}
    assert len(states) == 7262
    for x in states:
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


# ---- small hand-built models for the other operations ---------------------------------------


BASE = 0x8000_0000


def _small(domains: list[Any], statements: list[Any], props: list[Any], frames: int = 16,
           **kw: Any) -> Semantics:
    m = mk.model(domains, statements, props, ram=[mk.ram("bank0", BASE, frames * mk.PAGE)], **kw)
    return Semantics(m, placement="exact")


def _search(sem: Semantics) -> Search:
    return bfs(sem, reduce=bool(sem.symmetric_groups))


def _driver_pair(swiotlb: bool) -> list[Any]:
    domd = mk.domain(0, "domd", 4 * mk.PAGE, direct_map=DirectMap.ALWAYS,
                     rambase_mode=RambaseMode.ALLOCATED, swiotlb=swiotlb, backends=("blk",),
                     passthrough=(mk.mmio("l4_per", 0x4800_0000, 0x40_0000, dma=True),))
    domu = mk.domain(1, "domu", 2 * mk.PAGE, frontends=(("blk", "domd"),))
    return [domd, domu]


GRANT_DMA = [
    Step(Op(OpKind.CREATE, 0)),
    Step(Op(OpKind.CREATE, 1)),
    Step(Op(OpKind.GRANT, 1, peer=0)),
    Step(Op(OpKind.DMA, 0, buffer="grant")),
]


@pytest.mark.parametrize("swiotlb", [False, True])
def test_dma_to_a_grant_needs_swiotlb(swiotlb: bool) -> None:
    props = [mk.prop(PropertyKind.DMA_REACHES_INTENDED), mk.prop(PropertyKind.IPA_EQ_PA)]
    for balloon in BalloonMode:
        sem = _small(_driver_pair(swiotlb), GRANT_DMA, props, balloon=balloon)
        res = _search(sem)
        if swiotlb:
            assert "dma_reaches_intended" not in res.shortest
        else:
            assert res.shortest["dma_reaches_intended"] == 4
            w = res.witness["dma_reaches_intended"]
            assert w.startswith("domd: DMA to the buffer at IPA 0x8000")
            assert "should reach PA 0x8000" in w
        assert "ipa_eq_pa" not in res.shortest  # grants are not RAM pages


def test_grant_balloons_out_first_and_unmap_and_destroy_remove_it() -> None:
    stmts = [Step(Op(OpKind.CREATE, 0)), Step(Op(OpKind.CREATE, 1)),
             Step(Op(OpKind.GRANT, 1, peer=0)), Loop((Op(OpKind.UNMAP, 0), Op(OpKind.DESTROY, 1)))]
    sem = _small(_driver_pair(False), stmts, [mk.prop(PropertyKind.NO_FRAME_SHARED)],
                 balloon=BalloonMode.KEEP_OWNED)
    s = sem.initial()
    for label in ("create domd", "create domu"):
        _, s = _first(sem, label, s)
    a, s3 = _first(sem, "grant domu -> domd", s)
    names = [n for n, _ in a.choices]
    assert names == ["frame", "balloon", "ipa"]  # domd had no ballooned-out page
    view = sem.view(s3)
    domd, domu = view[6], view[7]
    (ipa, frame, front), = domd[5]
    assert front == 1 and ex.contains(domu[4], frame)
    assert dict(a.choices)["balloon"] == ipa  # mapped where it ballooned out
    assert ex.contains(domd[4], ipa)  # keep_owned: still owns its own frame there
    lines = sem.describe(s, a, s3)
    assert any("domd maps domu's granted PA" in line for line in lines)
    for label in ("unmap domd", "destroy domu"):
        act, t = _first(sem, label, s3)
        assert sem.view(t)[6][5] == ()
        assert sem.apply(s3, act) == t
    assert sem.violation(s3, sem.model.properties[0]) is None


def test_hook_domain_is_direct_only_with_its_id() -> None:
    domd = mk.domain(0, "domd", 4 * mk.PAGE, direct_map=DirectMap.HOOK, hook_id=1,
                     rambase_mode=RambaseMode.FIXED, rambase=BASE + 4 * mk.PAGE)
    stmts = [Loop((Op(OpKind.CREATE, 0), Op(OpKind.DESTROY, 0)))]
    sem = _small([domd], stmts, [mk.prop(PropertyKind.IPA_EQ_PA)], frames=8)
    assert sem.track_ids and sem.id_cap == 2
    res = _search(sem)
    # First create: id 1, 1:1, any of the two blocks; the one at 0x80000000 does not match the
    # fixed rambase. Even at the right block, a re-create (id 2) is not 1:1.
    assert res.shortest["ipa_eq_pa"] == 1
    s = sem.initial()
    for a, t in sem.successors(s):
        if dict(a.choices).get("block") == (BASE >> 12) + 4:
            assert sem.violation(t, sem.model.properties[0]) is None
            _, t2 = _first(sem, "destroy domd", t)
            assert sem.state_to_json(t2)["next_id"] == 2
            for _a3, t3 in sem.successors(t2):
                v = sem.view(t3)[6]
                if v is not None:
                    assert v[0] == 2 and v[1] is False


def test_static_memory_never_enters_the_heap() -> None:
    dom = mk.domain(0, "sd", 2 * mk.PAGE, direct_map=DirectMap.STATIC,
                    rambase_mode=RambaseMode.STATIC, static_mem=[(BASE + 4 * mk.PAGE, 2 * mk.PAGE)])
    other = mk.domain(1, "u", 6 * mk.PAGE)
    stmts = [Loop(mk.ops_for(0) + mk.ops_for(1))]
    props = [mk.prop(PropertyKind.IPA_EQ_PA), mk.prop(PropertyKind.NO_FRAME_SHARED),
             mk.prop(PropertyKind.CREATE_SUCCEEDS, "sd_boots", (0,))]
    static = ((BASE >> 12) + 4, 2)
    for balloon in BalloonMode:
        sem = _small([dom, other], stmts, props, frames=8, balloon=balloon)
        assert ex.count(sem.heap) == 6 and not ex.overlaps(sem.heap, (static,))
        res = _search(sem)
        # create never fails and the other domain never gets a static frame; under release_any
        # the domain re-populates from its own reserve in any order (out, out, in elsewhere)
        want = {"ipa_eq_pa": 4} if balloon is BalloonMode.RELEASE_ANY else {}
        assert res.shortest == want, balloon
        for v in sem._vals:
            if isinstance(v, tuple) and len(v) == 6 and v[1] is False:
                assert not ex.overlaps(v[4], (static,))


def test_keep_owned_balloon_in_maps_its_own_frame() -> None:
    sem = Semantics(mk.model(*_frag_parts(BalloonMode.KEEP_OWNED, observed=True),
                             ram=[mk.ram("bank0", BASE, 8 * mk.PAGE)],
                             balloon=BalloonMode.KEEP_OWNED))
    res = _search(sem)
    assert "ipa_eq_pa" not in res.shortest and "domd_balloon_in" not in res.shortest


def _frag_parts(mode: BalloonMode, observed: bool) -> tuple[list[Any], list[Any], list[Any]]:
    m = mk.frag_balloon(8, 1, 2, "fixed")
    props = list(m.properties)
    if observed:
        props.append(mk.prop(PropertyKind.BALLOON_IN_SUCCEEDS, "domd_balloon_in", (0,)))
    return list(m.domains), list(m.scenario.statements), props


def test_release_same_failure_is_recorded_when_observed() -> None:
    sem = Semantics(mk.model(*_frag_parts(BalloonMode.RELEASE_SAME, observed=True),
                             ram=[mk.ram("bank0", BASE, 8 * mk.PAGE)],
                             balloon=BalloonMode.RELEASE_SAME), symmetry=False)
    res = _search(sem)
    # create domd, balloon_out domd, create u1 taking the frame, balloon_in domd fails
    assert res.shortest["domd_balloon_in"] == 4
    assert "balloon_in domd failed" in res.witness["domd_balloon_in"]
    assert res.states > 522  # the failure flag is state


def test_choose_and_step_positions() -> None:
    dom = mk.domain(0, "u", mk.PAGE)
    stmts = [Step(Op(OpKind.CREATE, 0)),
             Choose((Op(OpKind.BALLOON_OUT, 0), Op(OpKind.BALLOON_IN, 0)), 2),
             Step(Op(OpKind.DESTROY, 0))]
    sem = _small([dom], stmts, [], frames=4)
    assert sem.op_labels() == ["create u", "balloon_out u 1", "balloon_in u 1", "destroy u"]
    res = _search(sem)
    assert res.fired == {0, 1, 2, 3}
    # longest run: create, out, in, destroy; the choose may also be skipped
    s = sem.initial()
    _, s = _first(sem, "create u", s)
    assert {sem.action_label(a) for a, _ in sem.successors(s)} == {"balloon_out u 1", "destroy u"}
    _, s = _first(sem, "balloon_out u 1", s)
    assert sem.state_to_json(s)["count"] == 1
    _, s = _first(sem, "balloon_in u 1", s)
    assert (sem.state_to_json(s)["pc"], sem.state_to_json(s)["count"]) == (2, 0)
    _, s = _first(sem, "destroy u", s)
    assert list(sem.successors(s)) == []


def test_unobserved_failed_step_blocks_the_scenario() -> None:
    big = mk.domain(0, "big", 8 * mk.PAGE, direct_map=DirectMap.ALWAYS,
                    rambase_mode=RambaseMode.ALLOCATED)
    stmts = [Step(Op(OpKind.CREATE, 0))]
    sem = _small([big], stmts, [], frames=8)  # the bank holds one aligned order-3 block
    assert len(list(sem.successors(sem.initial()))) == 1
    sem2 = _small([big], stmts, [], frames=8, max_order=2)
    assert list(sem2.successors(sem2.initial())) == []
    sem3 = _small([big], stmts, [mk.prop(PropertyKind.CREATE_SUCCEEDS)], frames=8, max_order=2)
    (_a, t), = sem3.successors(sem3.initial())
    assert sem3.violation(t, sem3.model.properties[0]) == (
        "create big failed: no free naturally aligned block / frames for its RAM")


def test_user_invariants() -> None:
    m = mk.frag_balloon(8, 1, 2, "naive", properties=[])
    d = Var("d")
    high = Quant("forall", "d", "domains", None,
                 BinOp("implies", Attr(d, "alive"),
                       BinOp(">=", Attr(d, "rambase"), Num(0x8000_0000))))
    ident = Quant("forall", "m", "mappings", "domd",
                  BinOp("==", Attr(Var("m"), "ipa"), Attr(Var("m"), "pa")))
    props = [mk.prop(PropertyKind.INVARIANT, "rambase_high", expr=high),
             mk.prop(PropertyKind.INVARIANT, "domd_identity", expr=ident)]
    sem = Semantics(mk.model(m.domains, m.scenario.statements, props, ram=m.platform.ram,
                             balloon=BalloonMode.RELEASE_ANY))
    res = _search(sem)
    # u1 is not 1:1: told its RAM is at GUEST_RAM0_BASE (0x40000000)
    assert res.shortest["rambase_high"] == 1
    assert res.witness["rambase_high"] == "invariant rambase_high fails for d = u1"
    assert res.shortest["domd_identity"] == 3  # as ipa_eq_pa
    assert "m = [IPA 0x8000" in res.witness["domd_identity"]


def test_omap5_real_size() -> None:
    m = mk.omap5()
    sem = Semantics(m)
    assert sem.placement == "candidates" and not sem.exact
    assert ex.count(sem.heap) == 0x7F000  # 2032 MiB of 4 KiB frames
    s = sem.initial()
    a, s = _first(sem, "create domd", s)
    block = dict(a.choices)["block"]
    assert isinstance(block, int) and block % (1 << 17) == 0  # 512 MiB aligned
    _, s = _first(sem, "create domu", s)
    view = sem.view(s)
    assert all(len(dom[4]) <= 4 for dom in view[6:])
    assert len(json.dumps(sem.state_to_json(s))) < 1000
    res = bfs(sem)
    assert res.states < 20_000
    assert res.shortest["ipa_eq_pa"] == 4  # out one page, back in from elsewhere
    assert res.shortest["dma_reaches_intended"] == 4  # no swiotlb: the IPA is not the frame
    assert "no_frame_shared" not in res.shortest and "domd_boots" not in res.shortest
    assert "ram_in_host_ram" not in res.shortest and "no_ipa_overlap" not in res.shortest


def test_omap5_overlaps_and_host_ram() -> None:
    props = [mk.prop(PropertyKind.NO_IPA_OVERLAP), mk.prop(PropertyKind.RAM_IN_HOST_RAM)]
    fixed_in_mmio = mk.omap5(rambase_mode=RambaseMode.FIXED, rambase=0x4800_0000,
                             statements=[Step(Op(OpKind.CREATE, 0))], properties=props)
    sem = Semantics(fixed_in_mmio)
    (_a, t), *_ = sem.successors(sem.initial())
    assert sem.violation(t, props[0]) == (
        "domd: RAM page at IPA 0x48000000 (RAM IPA [0x48000000, 0x68000000)) overlaps "
        "passthrough 'l4_per' [0x48000000, 0x48400000)")
    assert sem.violation(t, props[1]) == (
        "domd: RAM page at IPA 0x48000000 == PA 0x48000000 is not host RAM (mmio 'l4_per')")


def test_granted_pages_are_not_ballooned_out() -> None:
    stmts = [Step(Op(OpKind.CREATE, 0)), Step(Op(OpKind.CREATE, 1)),
             Step(Op(OpKind.GRANT, 1, peer=0)), Loop((Op(OpKind.BALLOON_OUT, 1),))]
    sem = _small(_driver_pair(True), stmts, [])
    s = sem.initial()
    for label in ("create domd", "create domu"):
        _, s = _first(sem, label, s)
    for a, t in sem.successors(s):
        frame = dict(a.choices)["frame"]
        outs = [dict(b.choices)["frames"] for b, _ in sem.successors(t)]
        assert len(outs) == 1 and not ex.contains(outs[0], frame)  # 2 pages, 1 granted
        for b, _ in sem.successors(t):
            with pytest.raises(NotEnabled):
                sem.apply(t, b._replace(choices=(("frames", ((frame, 1),)),)))


# ---- the shipped models, through the resolver -------------------------------------------------


ROOT = Path(__file__).resolve().parent.parent


def test_resolved_benchmark_is_the_modelkit_one() -> None:
    got = Semantics(load_model(str(ROOT / "models/bench/frag-balloon-small.m11")))
    want = Semantics(mk.frag_balloon(16, 2, 2, "fixed"))
    assert got.op_labels() == want.op_labels() and got.heap == want.heap
    assert (got.placement, got.exact, got.symmetric_groups) == ("exact", True, ((1, 2),))

    def level(sem: Semantics, k: int) -> list[str]:
        front = {sem.initial()}
        for _ in range(k):
            front = {t for s in front for _a, t in sem.successors(s)}
        return sorted(json.dumps(sem.state_to_json(s), sort_keys=True) for s in front)

    assert level(got, 3) == level(want, 3)


@pytest.mark.parametrize("path", sorted(str(p.relative_to(ROOT))
                                        for p in (ROOT / "models/findings").glob("*.m11")))
def test_shipped_models_replay_every_edge(path: str) -> None:
    sem = Semantics(load_model(str(ROOT / path)))
    init = sem.initial()
    seen = {init}
    todo = deque([init])
    while todo and len(seen) < 400:
        s = todo.popleft()
        assert sem.state_from_json(json.loads(json.dumps(sem.state_to_json(s)))) == s
        for p in sem.model.properties:
            sem.violation(s, p)
        for a, t in sem.successors(s):
            assert sem.apply(s, a) == t
            assert sem.action_from_json(json.loads(json.dumps(sem.action_to_json(a)))) == a
            assert sem.describe(s, a, t)
            if t not in seen:
                seen.add(t)
                todo.append(t)
