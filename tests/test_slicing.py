"""Cone-of-influence slicing (NOTE(cone-of-influence) in checker/slicing.py)."""

from __future__ import annotations

import z3

from checker import slicing


def test_the_cone_keeps_definitions_and_guards_it_reads_and_drops_the_rest() -> None:
    a0, a1, x, b1, c = (z3.BitVec(n, 8) for n in ("a@0", "a@1", "x", "b@1", "c"))
    f = z3.And(a0 == 3, a1 == a0 + x, z3.ULT(x, 4),  # a's definition and a guard on x
               b1 == c * 2, z3.ULT(c + a1, 100),  # b is not read; the last guard mixes c in
               z3.BoolVal(True))
    memo = slicing.Memo()
    parts = slicing.conjuncts(f, memo)
    assert len(parts) == 5  # `True` is no conjunct
    goal = slicing.conjuncts(z3.UGT(a1, 6), memo)
    kept = slicing.cone(parts, goal)
    text = {str(t) for t in kept}
    assert text == {"a@0 == 3", "a@1 == a@0 + x", "ULT(x, 4)", "UGT(a@1, 6)"}
    # the slice is unsatisfiable (a@1 <= 6), and so is the whole query
    s = z3.Solver()
    s.add(kept)
    assert s.check() == z3.unsat
    s = z3.Solver()
    s.add([p.term for p in parts] + [g.term for g in goal])
    assert s.check() == z3.unsat


def test_a_satisfiable_slice_says_nothing_about_the_whole_query() -> None:
    a, c = z3.BitVec("a@1", 8), z3.BitVec("c", 8)
    memo = slicing.Memo()
    parts = slicing.conjuncts(z3.And(a == c, c == 5, z3.ULT(c, 3)), memo)
    kept = slicing.cone(parts, slicing.conjuncts(a == 5, memo))
    s = z3.Solver()
    s.add(kept)
    whole = z3.Solver()
    whole.add([p.term for p in parts] + [a == 5])
    assert whole.check() == z3.unsat
    assert len(kept) <= len(parts) + 1


def test_variables_of_deep_terms_are_found_without_recursion() -> None:
    x = z3.BitVec("x", 16)
    t = x
    for j in range(5000):
        t = t + j
    memo = slicing.Memo()
    (part,) = slicing.conjuncts(t == 0, memo)
    assert part.uses == frozenset({x.get_id()})
