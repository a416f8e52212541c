"""NOTE(localization): the abstraction that hides an ordinary domain's frames proves a property
only where the explicit engine (every placement of every frame, no extent bound) finds no
violation, and it does prove some; an ordinary domain the property reads is never hidden."""

from __future__ import annotations

import random
from typing import Any

import z3
from modelkit import PAGE, domain, model, prop, ram
from test_engines_agree import _explicit

from checker import slicing, smt
from checker.encode_extent import EXTENTS, ExtentEncoding
from checker.encode_props import observed_failures
from checker.encode_unroll import Unrolling, holds
from checker.localize import Abstraction, hidden_domains, hidden_variables, prove
from checker.model import (
    Choose,
    DirectMap,
    Model,
    Op,
    OpKind,
    PropertyKind,
    RambaseMode,
    Region,
    RegionKind,
)
from checker.results import Verdict
from checker.solver import Budget

BASE = 0x8000_0000


def _model(seed: int) -> Model:
    """A 1:1 domain d and an ordinary domain u with more pages than extent slots, under
    placement `any`, in one bank of 12 to 16 frames."""
    rnd = random.Random(seed)
    frames = rnd.randint(12, 16)
    d_pages = rnd.choice([2, 4])
    u_pages = rnd.randint(EXTENTS + 1, EXTENTS + 3)
    doms = [domain(0, "d", d_pages * PAGE, direct_map=DirectMap.ALWAYS,
                   rambase_mode=RambaseMode.ALLOCATED), domain(1, "u", u_pages * PAGE)]
    ops = [Op(OpKind.CREATE, 0), Op(OpKind.CREATE, 1)]
    ops += rnd.sample([Op(OpKind.DESTROY, 1), Op(OpKind.DESTROY, 0),
                       Op(OpKind.BALLOON_OUT, 0, pages=1)], rnd.randint(0, 2))
    props = [prop(PropertyKind.IPA_EQ_PA), prop(PropertyKind.NO_FRAME_SHARED),
             prop(PropertyKind.RAM_IN_HOST_RAM),
             prop(PropertyKind.CREATE_SUCCEEDS, "d_boots", (0,))]
    return model(doms, [Choose(tuple(ops), rnd.randint(2, 3))], props,
                 ram=[ram("r", BASE, frames * PAGE)], max_order=4)


def _islands() -> Model:
    """Five free aligned 4-frame islands (reserved frames between them): an ordinary domain of
    EXTENTS + 1 pages leaves no 4-frame block for the 1:1 domain only by taking one frame of
    every island, a shape beyond its extent slots."""
    n = EXTENTS + 1
    doms = [domain(0, "d", 4 * PAGE, direct_map=DirectMap.ALWAYS,
                   rambase_mode=RambaseMode.ALLOCATED), domain(1, "u", n * PAGE)]
    holes = [Region(f"hole{j}", RegionKind.RESERVED, BASE + (8 * j + 4) * PAGE, 4 * PAGE)
             for j in range(n - 1)]
    ops = (Op(OpKind.CREATE, 0), Op(OpKind.CREATE, 1))
    props = [prop(PropertyKind.IPA_EQ_PA), prop(PropertyKind.CREATE_SUCCEEDS, "d_boots", (0,))]
    return model(doms, [Choose(ops, 2)], props, ram=[ram("r", BASE, (8 * n - 4) * PAGE)],
                 reserved=holes, max_order=4)


def _check(mdl: Model) -> dict[str, int]:
    truth = _explicit(mdl)
    assert truth is not None
    enc = ExtentEncoding(mdl, observed_failures(mdl))
    run = Unrolling(enc)
    longest = enc.scn.longest()
    assert longest is not None
    seen = {"proved": 0, "refused": 0}
    for p in mdl.properties:
        exact0 = z3.And(holds(enc, p, 0), z3.Not(enc.cut(0)))
        doms = hidden_domains(enc, run, slicing.variables(exact0, slicing.Memo()))
        if p.kind is PropertyKind.NO_FRAME_SHARED:
            assert doms == [], "a property that reads u's frames hid them"
        if not doms:
            continue
        assert doms == [1]
        stats: dict[str, Any] = {}
        ok = prove(enc, run, exact0, doms, longest, Budget(60.0), stats)
        if truth[p.name].verdict is Verdict.VIOLATED:
            assert not ok, (p.name, "proved over the abstraction, violated by the semantics")
            seen["refused"] += 1
        elif ok:
            seen["proved"] += 1
    return seen


def test_localization_proves_only_what_holds() -> None:
    seen = {"proved": 0, "refused": 0}
    for seed in range(8):
        for k, v in _check(_model(seed)).items():
            seen[k] += v
    # both directions were exercised: proofs found, and violations not proved
    assert seen["proved"] > 0 and seen["refused"] > 0, seen


def test_a_violation_beyond_the_slots_is_not_proved() -> None:
    """`d_boots` fails only where u takes more runs than its slots: the explicit engine finds
    that, and the abstraction refuses the proof (the bounded encoding alone, its slot cut left
    out, would prove it)."""
    mdl = _islands()
    truth = _explicit(mdl)
    assert truth is not None and truth["d_boots"].verdict is Verdict.VIOLATED
    assert _check(mdl) == {"proved": 1, "refused": 1}


def test_verify_reports_the_localized_proof(monkeypatch: Any) -> None:
    """The engine meets u's slot cut, then proves `ipa_eq_pa` with u hidden: `proved`, exhaustive,
    the method naming the abstraction, no cut warning left."""
    monkeypatch.setattr(smt, "encoding_for", lambda _model: "extent")
    mdl = _model(0)
    r = smt.verify_property(mdl, mdl.property("ipa_eq_pa"), depth=None, timeout=60.0)
    assert r.verdict is Verdict.PROVED and r.scope.exhaustive, (r.verdict, r.warnings)
    assert r.method.startswith("localization(u)+k-induction")
    assert r.stats["localized"] == ["u"] and "cut_depth" not in r.stats and not r.warnings


def test_the_create_the_cut_stands_for_stays_enabled() -> None:
    """The slot cut is left out because the same create's `ok` branch, its atoms over the
    hidden frames and choices freed, fires wherever the cut does: here the free heap is five
    single frames apart, which u's five pages take only as five runs."""
    n = EXTENTS + 1
    holes = [Region(f"hole{j}", RegionKind.RESERVED, BASE + (2 * j + 1) * PAGE, PAGE)
             for j in range(n - 1)]
    mdl = model([domain(0, "u", n * PAGE)], [Choose((Op(OpKind.CREATE, 0),), 1)],
                [prop(PropertyKind.RAM_IN_HOST_RAM)],
                ram=[ram("r", BASE, (2 * n - 1) * PAGE)], reserved=holes, max_order=4)
    enc = ExtentEncoding(mdl, observed_failures(mdl))
    run = Unrolling(enc)
    cut = [b for b, br in enumerate(run.branches) if br.slots_of == 0]
    ok = [b for b, br in enumerate(run.branches) if br.outcome == "ok"]
    assert len(cut) == 1 and len(ok) == 1
    s = z3.Solver()
    s.add(enc.init(0), run.transition(0))
    assert s.check(run.ind(0, cut[0])) == z3.sat
    assert s.check(run.ind(0, ok[0])) == z3.unsat  # the bounded encoding cannot
    loc = Abstraction(hidden_variables(enc, run, [0], 1))
    s = z3.Solver()
    s.add(loc(enc.init(0)), loc(run.transition(0)))
    assert s.check(run.ind(0, ok[0])) == z3.sat


def test_abstraction_frees_only_atoms_over_hidden_variables() -> None:
    x, y = z3.BitVecs("x y", 8)
    b = z3.Bool("b")
    loc = Abstraction({x.get_id()})
    f = z3.And(z3.Or(b, z3.ULT(x, 3)), y == 2, z3.Implies(b, x + y == 7))
    g = loc(f)
    assert len(loc.fresh) == 2  # x < 3 and x + y == 7; y == 2 and b stay
    assert x.get_id() not in slicing.variables(g, slicing.Memo())
    assert y.get_id() in slicing.variables(g, slicing.Memo())
    s = z3.Solver()
    s.add(g, z3.Not(b), y == 3)
    assert s.check() == z3.unsat  # y == 2 kept
