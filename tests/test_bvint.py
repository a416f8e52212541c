"""NOTE(bv-as-int): the integer translation of a bit-vector query is equisatisfiable with it,
and its models lift to models of the query, on random formulas over the operations the
extent-level encoding uses (checked against Z3's own bit-vector solver), and on every
operation at the edges of its range."""

from __future__ import annotations

import random

import pytest
import z3

from checker import bvint

W = 5  # small widths make wrap-around frequent


def _term(rng: random.Random, xs: list[z3.BitVecRef], depth: int) -> z3.BitVecRef:
    if depth == 0 or rng.random() < 0.25:
        return rng.choice(xs) if rng.random() < 0.7 else z3.BitVecVal(rng.randrange(1 << W), W)
    a = _term(rng, xs, depth - 1)
    b = _term(rng, xs, depth - 1)
    c = rng.randrange(1 << W)
    pick = rng.randrange(12)
    if pick == 0:
        return a + b
    if pick == 1:
        return a - b
    if pick == 2:
        return -a
    if pick == 3:
        return a * z3.BitVecVal(c, W)
    if pick == 4:
        return z3.If(_atom(rng, xs, depth - 1), a, b)
    if pick == 5:
        k = rng.randrange(1, W)
        return a & z3.BitVecVal((1 << k) - 1, W)
    if pick == 6:
        k = rng.randrange(1, W)
        return a & z3.BitVecVal(((1 << W) - 1) & ~((1 << k) - 1), W)
    if pick == 7:
        hi = rng.randrange(W)
        lo = rng.randrange(hi + 1)
        return z3.ZeroExt(W - (hi - lo + 1), z3.Extract(hi, lo, a))
    if pick == 8:
        return z3.LShR(a, rng.randrange(W + 1))
    if pick == 9:
        return a << rng.randrange(W + 1)
    if pick == 10:
        return z3.URem(a, z3.BitVecVal(max(1, c), W))
    return z3.UDiv(a, z3.BitVecVal(max(1, c), W))


def _atom(rng: random.Random, xs: list[z3.BitVecRef], depth: int) -> z3.BoolRef:
    a, b = _term(rng, xs, depth), _term(rng, xs, depth)
    op = rng.choice([z3.ULE, z3.ULT, z3.UGE, z3.UGT, lambda x, y: x == y,
                     lambda x, y: x != y])
    return op(a, b)


def _formula(rng: random.Random, xs: list[z3.BitVecRef], flags: list[z3.BoolRef]
             ) -> list[z3.BoolRef]:
    out = []
    for _ in range(rng.randrange(1, 5)):
        parts = [_atom(rng, xs, 3) for _ in range(rng.randrange(1, 4))]
        parts.append(rng.choice(flags))
        out.append(z3.Or(parts) if rng.random() < 0.5 else z3.And(parts))
    return out


def _bv_sat(terms: list[z3.BoolRef]) -> z3.CheckSatResult:
    s = z3.SolverFor("QF_BV")
    s.add(terms)
    return s.check()


@pytest.mark.parametrize("seed", range(300))
def test_translation_is_equisatisfiable(seed: int) -> None:
    rng = random.Random(seed)
    xs = [z3.BitVec(f"x{j}", W) for j in range(3)]
    flags = [z3.Bool(f"p{j}") for j in range(2)]
    terms = _formula(rng, xs, flags)
    lia, tr = bvint.translate(terms)
    s = z3.SolverFor("QF_LIA")
    s.add(lia)
    got = s.check()
    assert got == _bv_sat(terms), [t.sexpr() for t in terms]
    if got == z3.sat:
        mdl = tr.lift(s.model())
        assert all(z3.is_true(mdl.eval(t, model_completion=True)) for t in terms)


@pytest.mark.parametrize("make", [
    lambda x, y: x + y, lambda x, y: x - y, lambda x, y: -x, lambda x, y: x * 7,
    lambda x, y: x * ((1 << W) - 1), lambda x, y: z3.Concat(z3.Extract(1, 0, x), z3.Extract(2, 0, y)),
    lambda x, y: x & ((1 << 3) - 1), lambda x, y: x & ((1 << W) - 8), lambda x, y: z3.LShR(x, 2),
])
def test_every_operation_agrees_on_every_value(make) -> None:  # type: ignore[no-untyped-def]
    """Each term equals its translation for all 2^(2W) pairs of operands."""
    x, y = z3.BitVec("x", W), z3.BitVec("y", W)
    t = make(x, y)
    tr = bvint.Translation()
    ti = tr(t)
    xi, yi = z3.Int("x!int"), z3.Int("y!int")
    for a in range(1 << W):
        for b in range(1 << W):
            want = z3.simplify(z3.substitute(t, (x, z3.BitVecVal(a, W)),
                                             (y, z3.BitVecVal(b, W)))).as_long()
            got = z3.simplify(z3.substitute(ti, (xi, z3.IntVal(a)), (yi, z3.IntVal(b))))
            assert got.as_long() == want, (t.sexpr(), a, b)


def test_products_of_variables_are_left_to_the_bit_vector_solver() -> None:
    x, y = z3.BitVec("x", W), z3.BitVec("y", W)
    with pytest.raises(bvint.Unsupported):
        bvint.translate([x * y == 3])
    with pytest.raises(bvint.Unsupported):
        bvint.translate([x & y == 3])
    with pytest.raises(bvint.Unsupported):
        bvint.translate([z3.ULE(x, y), z3.BitVecVal(1, W) & x == 1, x & 0b10110 == 0])


def test_a_shared_translation_bounds_only_the_query_variables() -> None:
    """With `variables`, a query carries the ranges of its own variables only, not those of
    every query translated before it with the same `Translation`; still equisatisfiable."""
    x, y, z = z3.BitVecs("x y z", W)
    tr = bvint.Translation()
    bvint.translate([x + y == 3], tr)
    q = [z + 1 == 0]  # z = 2^W - 1: needs its range to wrap
    lia, _ = bvint.translate(q, tr, [z.get_id()])
    assert len(lia) == 2  # the term and z's range
    s = z3.Solver()
    s.add(lia)
    assert s.check() == z3.sat
    mdl = tr.lift(s.model(), [z.get_id()])
    assert mdl.eval(z).as_long() == (1 << W) - 1
