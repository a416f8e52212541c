"""The extent-level encoding (checker/encode_extent*.py) against the explicit engine on small
models: grants, unmap, DMA and static memory included.

The extent level is forced on models small enough for an exhaustive explicit search; plain BMC
over its unrolling (no induction) must find the first violation at the same depth as the
explicit engine, at every depth below the first reachable `cut` (NOTE(extent-bound): below it
every reference behaviour is one of the encoding's), and each trace it finds must replay
through the reference semantics (`smt.replay` raises otherwise).

`sweep_extent(n_models, seed, depth)` runs the comparison on random models for the benchmark.
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import pytest
import z3
from gen_models import example
from test_encode import _grant_model
from test_engines_agree import _explicit

from checker import model as m
from checker import smt
from checker.encode_extent import ExtentEncoding
from checker.encode_props import observed_failures
from checker.encode_unroll import Unrolling, holds
from checker.explore import explore
from checker.model import Model, Placement, Property
from checker.results import PropertyResult, Verdict
from checker.semantics import Semantics
from checker.solver import Budget, make_solver

DEPTH = 5


def bmc(model: Model, prop: Property, depth: int,
        timeout: float = 120.0) -> tuple[str, int, int | None]:
    """(verdict, depth, first cut depth) of plain BMC over the extent-level unrolling:
    ("violated", k, c) at the first k with a violation, ("holds", depth, c) if none."""
    enc = ExtentEncoding(model, observed_failures(model))
    run = Unrolling(enc)
    s = make_solver(Budget(timeout))
    s.add(enc.init(0))
    p0, cut0 = holds(enc, prop, 0), enc.cut(0)
    cut: int | None = None
    for k in range(depth + 1):
        if k:
            s.add(run.transition(k - 1))
        if cut is None:
            r = s.check(run.at(cut0, k))
            assert r != z3.unknown, f"cut query at depth {k}: {s.reason_unknown()}"
            cut = k if r == z3.sat else None
        r = s.check(z3.Not(run.at(p0, k)))
        assert r != z3.unknown, f"depth {k}: {s.reason_unknown()}"
        if r == z3.sat:
            steps = run.read(s.model(), k)
            smt.replay(model, prop, steps, raw=dict)  # a mismatch raises
            return "violated", k, cut
        s.add(run.at(p0, k))
    return "holds", depth, cut


def _explicit_to(model: Model, depth: int) -> dict[str, PropertyResult] | None:
    """Exhaustive explicit search, or (if the model is too large) an exact one up to `depth`:
    either gives the first violation at every depth <= `depth`."""
    truth = _explicit(model)
    if truth is not None:
        return truth
    policy = model.hypervisor.placement
    sem = Semantics(model, placement="exact" if policy is Placement.ANY else policy.value,
                    symmetry=True)
    run = explore(sem, list(model.properties), depth=depth, max_states=2_000_000, timeout=120.0)
    if run.stopped_by not in (None, "violated", "depth"):
        return None
    return {r.property: r for r in run.results}


def compare_extent(model: Model, depth: int = DEPTH) -> list[str] | None:
    """Disagreements between the explicit engine and extent-level BMC up to `depth` on one
    model (None: the explicit search did not finish, so there is no ground truth)."""
    truth = _explicit_to(model, depth)
    if truth is None:
        return None
    out: list[str] = []
    for p in model.properties:
        if smt.supports(model, p) is not True:
            out.append(f"{p.name}: not supported ({smt.supports(model, p)})")
            continue
        want = truth[p.name]
        verdict, k, cut = bmc(model, p, depth)
        exact = depth if cut is None else min(depth, cut - 1)
        w = want.trace_length if want.verdict is Verdict.VIOLATED else None
        g = k if verdict == "violated" else None
        if (w if w is not None and w <= exact else None) != (g if g is not None and g <= exact
                                                            else None):
            out.append(f"{p.name}: explicit {want.verdict.value} {w}, extent bmc {verdict} "
                       f"{g}, first cut {cut}")
        elif g is not None and w is not None and g < w:
            out.append(f"{p.name}: extent bmc found {g} steps, the explicit engine {w}")
    return out


def sweep_extent(n_models: int, seed: int, depth: int = DEPTH) -> dict[str, Any]:
    rnd = random.Random(seed)
    bad: dict[int, list[str]] = {}
    for s in [rnd.randrange(1 << 30) for _ in range(n_models)]:
        found = compare_extent(example(s), depth)
        if found:
            bad[s] = found
    return {"models": n_models, "seed": seed, "depth": depth, "disagreements": bad}


# seeds of tests/gen_models.py: 0 grants to an ordinary backend (release_same); 5 and 9
# static memory beside heap domains; 7 static memory under keep_owned; 10 grants to a hook
# backend beside a static domain (top-down); 22 grants, static memory and keep_owned
SEEDS = [0, 5, 7, 9, 10, 22]


@pytest.mark.parametrize("seed", SEEDS)
def test_extent_level_agrees_with_the_explicit_engine(seed: int) -> None:
    got = compare_extent(example(seed))
    assert got is not None, "the explicit search must finish on these seeds"
    assert got == []


def _granting(backend: str, swiotlb: bool) -> Model:
    """tests/test_encode.py's grant model with both domains created first, then any two of
    its grant, unmap, DMA and balloon operations (a DMA to a granted page is step 4)."""
    model = _grant_model(backend, swiotlb)
    loop = model.scenario.statements[0]
    assert isinstance(loop, m.Loop)
    ops = [op for op in loop.alternatives if op.kind in (
        m.OpKind.GRANT, m.OpKind.UNMAP, m.OpKind.DMA, m.OpKind.BALLOON_OUT, m.OpKind.BALLOON_IN)]
    steps = (m.Step(m.Op(m.OpKind.CREATE, 0)), m.Step(m.Op(m.OpKind.CREATE, 1)),
             m.Choose(tuple(ops), 2))
    return replace(model, scenario=replace(model.scenario, statements=steps))


@pytest.mark.parametrize("backend, swiotlb, depth", [
    ("direct", False, 4), ("direct", True, 4), ("hook", False, 4),
    ("plain", False, 3),  # an ordinary backend's grant: depth 4 takes minutes here
])
def test_extent_level_grant_models(backend: str, swiotlb: bool, depth: int) -> None:
    model = _granting(backend, swiotlb)
    assert compare_extent(model, depth) == []
    truth = _explicit_to(model, 4)
    assert truth is not None
    # the comparison is only as good as the verdicts are varied: without swiotlb the device
    # is given the grant's IPA, which is not the granted page
    dma = truth["dma_reaches_intended"]
    assert (dma.verdict is Verdict.VIOLATED) == (not swiotlb), dma.verdict
