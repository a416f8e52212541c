"""NOTE(lowest-path) in checker/smt_lowest.py: the exact lowest run along one operation
sequence, which the split BMC asks before a relaxed query it cannot settle quickly."""

from __future__ import annotations

from typing import Any

import pytest
import z3
from modelkit import PAGE, domain, model, prop, ram

from checker import smt
from checker.model import (
    BalloonMode,
    DirectMap,
    Model,
    Op,
    OpKind,
    Placement,
    PropertyKind,
    RambaseMode,
    Step,
)
from checker.results import Trace, Verdict
from checker.smt_lowest import lowest
from checker.solver import Budget


def test_lowest_takes_each_objective_at_its_lowest_in_order() -> None:
    x, y = z3.BitVecs("x y", 16)
    terms = [z3.UGE(x, 3), (x & 1) == 1, z3.UGT(y, x), z3.Or(y == 9, y == 40)]
    got = lowest(terms, [x, y], Budget(timeout=10.0), 1_000_000)
    assert got is not None and [v.as_long() for v in got] == [3, 9]
    # the order matters: the lowest y first, then the lowest x under it
    got = lowest(terms, [y, x], Budget(timeout=10.0), 1_000_000)
    assert got is not None and [v.as_long() for v in got] == [9, 3]
    assert lowest([z3.ULT(x, 2), z3.UGT(x, 5)], [x], Budget(timeout=10.0), 1_000_000) is None


def _stolen(frames: int) -> Model:
    """The release-same finding in small: a 1:1 domain gives one page back, then a domain
    asks for every free frame, which takes that page, so balloon-in fails."""
    doms = [domain(0, "d", 8 * PAGE, direct_map=DirectMap.ALWAYS,
                   rambase_mode=RambaseMode.ALLOCATED),
            domain(1, "u", (frames - 8 + 1) * PAGE)]
    steps = [Step(Op(OpKind.CREATE, 0)), Step(Op(OpKind.BALLOON_OUT, 0, pages=1)),
             Step(Op(OpKind.CREATE, 1)), Step(Op(OpKind.BALLOON_IN, 0, pages=1))]
    props = [prop(PropertyKind.BALLOON_IN_SUCCEEDS, "d_balloon_in", (0,)),
             prop(PropertyKind.IPA_EQ_PA)]
    return model(doms, steps, props, ram=[ram("r", 0x8000_0000, frames * PAGE)],
                 max_order=4, placement=Placement.TOP_DOWN, balloon=BalloonMode.RELEASE_SAME)


def _steps(t: Trace | None) -> list[tuple[str, dict[str, Any]]]:
    assert t is not None
    return [(s.op, s.choices) for s in t.steps]


@pytest.mark.parametrize("frames", [24, 40])
def test_the_lowest_run_is_the_trace_the_joint_query_minimises(monkeypatch: Any,
                                                                frames: int) -> None:
    """The split search with the quick stages given no effort takes the lowest run
    (`stats.lowest_paths`); its trace must be the one the joint query reads and minimises
    over the exact relation of every run, and both must be violations at depth 4."""
    mdl = _stolen(frames)
    monkeypatch.setattr(smt, "encoding_for", lambda _model: "extent")
    want = smt.verify_property(mdl, mdl.properties[0], depth=None, timeout=60.0)
    assert want.verdict is Verdict.VIOLATED and want.trace_length == 4
    assert "joint_gave_up_at" not in want.stats and want.stats["minimal"] is True
    monkeypatch.setattr(smt, "JOINT_RLIMIT", 1)
    monkeypatch.setattr(smt, "INT_QUICK", 1)
    monkeypatch.setattr(smt, "BV_QUICK", 1)
    got = smt.verify_property(mdl, mdl.properties[0], depth=None, timeout=60.0)
    assert got.stats.get("relaxed_steps", 0) > 0 and got.stats.get("lowest_paths") == 1
    assert got.verdict is Verdict.VIOLATED and got.trace_length == 4
    assert got.stats["minimal"] is True
    assert _steps(got.trace) == _steps(want.trace)
    # ipa_eq_pa holds under release_same: no lowest run breaks it, the relaxed query decides
    got = smt.verify_property(mdl, mdl.properties[1], depth=None, timeout=60.0)
    assert got.verdict is Verdict.PROVED and "lowest_paths" not in got.stats
