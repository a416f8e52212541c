"""The Z3 encoding and engines on hand-built models (frag-balloon family, tests/gen_models.py)."""

from __future__ import annotations

import math

import pytest
import z3
from modelkit import frag_balloon

from checker import model as m
from checker.results import Verdict
from checker.smt import Budget, Outcome, check, make_solver, verify_property


def _verify(model: m.Model, name: str, depth: int | None = None, timeout: float = 60.0):
    return verify_property(model, model.property(name), depth=depth, timeout=timeout)


@pytest.mark.parametrize("mode", ["naive", "fixed"])
def test_frag_balloon_tiny(mode: str) -> None:
    model = frag_balloon(8, 1, 2, mode)
    r = _verify(model, "ipa_eq_pa")
    if mode == "naive":
        assert r.verdict is Verdict.VIOLATED and r.trace_length == 3 and r.method == "bmc"
        assert r.scope.depth == 3 and not r.scope.exhaustive
    else:
        assert r.verdict is Verdict.PROVED and r.method.startswith("k-induction(k=")
        assert r.scope.exhaustive and r.scope.depth is None
    r = _verify(model, "no_frame_shared")
    assert r.verdict is Verdict.PROVED
    # K*R = 2 < 4: the one ordinary domain cannot block every aligned block
    r = _verify(model, "domd_create_never_fails")
    assert r.verdict is Verdict.PROVED


@pytest.mark.parametrize("mode", ["naive", "fixed"])
def test_create_fails_when_blocks_can_be_pinned(mode: str) -> None:
    K, R = 2, 2
    model = frag_balloon(16, K, R, mode)
    r = _verify(model, "domd_create_never_fails")
    assert r.verdict is Verdict.VIOLATED
    assert r.trace_length == math.ceil(4 / R) + 1
    assert r.trace is not None and r.trace.steps[-1].op == "create domd"


def test_solver_factory_is_deterministic_and_never_misreads_unknown() -> None:
    b = Budget(timeout=5.0, rlimit=2_000)
    s = make_solver(b)
    xs = [z3.BitVec(f"x{i}", 64) for i in range(6)]
    s.add(z3.Distinct(xs), *(x * x == 0x1234_5678_9ABC for x in xs))
    a = check(s, b)
    assert a.outcome is Outcome.UNKNOWN and a.reason
