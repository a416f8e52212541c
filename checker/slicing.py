"""Cone-of-influence slicing of a BMC query (NOTE(cone-of-influence)).

NOTE(cone-of-influence): a query of the split BMC (NOTE(bmc-split) in smt.py) is a list of
conjuncts along one operation sequence (the initial state, each step's relation with what
forward propagation fixed, the property at each earlier state) and a goal (the property broken
at the last state). Many conjuncts cannot matter to the goal: the frames a domain the property
does not read takes, with the choices that place them. `cone` keeps the conjuncts that define
a variable the goal depends on (an equality with that variable on one side), transitively, and
every other conjunct all of whose variables are already in that cone (a guard on them); it
drops the rest. Dropping conjuncts only loses constraints, so an unsatisfiable slice shows the
whole query unsatisfiable; a satisfiable one shows nothing, and the whole query is asked then.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import z3
from z3 import z3core as _core


@dataclass(frozen=True)
class Conjunct:
    term: z3.BoolRef
    defines: frozenset[int]  # ids of the variables an equality names on either side
    uses: frozenset[int]  # ids of every variable in the term


class Memo(dict[int, frozenset[int]]):
    """The variables of each term, by term id. It holds every term it was asked about (and so
    every subterm of one), so that Z3 does not free a term and give its id to another while
    the entry stands."""

    def __init__(self) -> None:
        super().__init__()
        self.terms: list[z3.ExprRef] = []


_NONE: frozenset[int] = frozenset()


def variables(e: z3.ExprRef, memo: Memo) -> frozenset[int]:
    """Ids of the uninterpreted constants in e (memoised per subterm id: terms are DAGs). The
    walk reads the term through Z3's C API (NOTE(fast-terms) in encode.py): the Python API
    builds a wrapper object per child visited, which dominated slicing a query."""
    got = memo.get(e.get_id())
    if got is not None:
        return got
    memo.terms.append(e)  # alive, and with it every subterm the entries below name
    ctx = e.ctx.ref()
    ast_id, num_args, arg = _core.Z3_get_ast_id, _core.Z3_get_app_num_args, _core.Z3_get_app_arg
    # iterative post-order, so deep terms do not exhaust Python's stack
    stack: list[tuple[Any, bool]] = [(e.as_ast(), False)]
    while stack:
        a, done = stack.pop()
        aid = ast_id(ctx, a)
        if not done and aid in memo:
            continue
        if _core.Z3_get_ast_kind(ctx, a) != z3.Z3_APP_AST:
            memo[aid] = _NONE
            continue
        n = num_args(ctx, a)
        if n == 0:
            kind = _core.Z3_get_decl_kind(ctx, _core.Z3_get_app_decl(ctx, a))
            memo[aid] = frozenset((aid,)) if kind == z3.Z3_OP_UNINTERPRETED else _NONE
            continue
        kids = [arg(ctx, a, j) for j in range(n)]
        if not done:
            stack.append((a, True))
            stack.extend((c, False) for c in kids if ast_id(ctx, c) not in memo)
            continue
        acc: set[int] = set()
        for c in kids:
            acc |= memo[ast_id(ctx, c)]
        memo[aid] = frozenset(acc)
    return memo[e.get_id()]


def conjuncts(f: z3.BoolRef, memo: Memo) -> list[Conjunct]:
    """f split at its top-level conjunctions (read through the C API, NOTE(fast-terms) in
    encode.py: a step's relation has hundreds of conjuncts, one per value it fixes)."""
    ctx = f.ctx
    ref = ctx.ref()
    get_arg, app_decl, decl_kind = _core.Z3_get_app_arg, _core.Z3_get_app_decl, \
        _core.Z3_get_decl_kind
    out: list[Conjunct] = []
    stack = [f.as_ast()]
    while stack:
        a = stack.pop()
        if _core.Z3_get_ast_kind(ref, a) != z3.Z3_APP_AST:
            g = z3.BoolRef(a, ctx)
            out.append(Conjunct(g, frozenset(), variables(g, memo)))
            continue
        kind = decl_kind(ref, app_decl(ref, a))
        n = _core.Z3_get_app_num_args(ref, a)
        if kind == z3.Z3_OP_AND:
            stack.extend(get_arg(ref, a, j) for j in reversed(range(n)))
            continue
        if kind == z3.Z3_OP_TRUE:
            continue
        defines: frozenset[int] = frozenset()
        if kind == z3.Z3_OP_EQ:
            kids = [get_arg(ref, a, j) for j in range(n)]
            defines = frozenset(
                _core.Z3_get_ast_id(ref, c) for c in kids
                if _core.Z3_get_ast_kind(ref, c) == z3.Z3_APP_AST
                and _core.Z3_get_app_num_args(ref, c) == 0
                and decl_kind(ref, app_decl(ref, c)) == z3.Z3_OP_UNINTERPRETED)
        g = z3.BoolRef(a, ctx)
        out.append(Conjunct(g, defines, variables(g, memo)))
    return out


def cone(parts: list[Conjunct], goal: list[Conjunct]) -> list[z3.BoolRef]:
    """The conjuncts of `parts` in the cone of influence of `goal` (its terms included)."""
    inside: set[int] = set()
    for c in goal:
        inside |= c.uses
    keep = [False] * len(parts)
    changed = True
    while changed:
        changed = False
        for j, c in enumerate(parts):
            if keep[j]:
                continue
            if c.defines & inside or (not c.defines and c.uses <= inside):
                keep[j] = True
                if not c.uses <= inside:
                    inside |= c.uses
                    changed = True
    return [c.term for c, k in zip(parts, keep) if k] + [c.term for c in goal]


__all__ = ["Conjunct", "cone", "conjuncts"]
