"""Bit-vector queries asked as linear integer arithmetic (NOTE(bv-as-int)).

NOTE(bv-as-int): the extent-level encoding (checker/encode_extent.py) is frame numbers and
counts added, subtracted and compared, behind case splits. Bit-blasted, a question such as
"the p2m runs left after three balloon-outs at symbolic IPAs are still covered by the owned
extents" is a sum of overlaps over adder circuits, which the SAT solver refutes slowly (about
10 s per operation sequence on `models/domd.m11`); as integer arithmetic the same query is
linear and takes about a second. `translate` gives an equisatisfiable QF_LIA formula: every
bit-vector term of width w becomes an integer in [0, 2^w) with the same value (each variable
gets those bounds; a sum or a difference folds back into the range with one case split, since
it lies within one period of it; a product by a constant, an extract or a mask takes `mod`
and `div` by a constant), comparisons compare those integers, and Booleans stay Booleans. So
an unsatisfiable translation is an unsatisfiable query. A model of the translation is read
back as bit-vector values (`lift`), and the caller evaluates the original query in it, which
must come out true: anything else is an internal error, never a verdict. A
term outside this fragment (a product of two variables, signed comparisons, ...) raises
`Unsupported`, and the caller asks the bit-vector query instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import z3
from z3 import z3core as _core


class Unsupported(Exception):
    """A term the translation does not cover; ask the bit-vector query."""


_CMP = {z3.Z3_OP_ULEQ: lambda a, b: a <= b, z3.Z3_OP_ULT: lambda a, b: a < b,
        z3.Z3_OP_UGEQ: lambda a, b: a >= b, z3.Z3_OP_UGT: lambda a, b: a > b}
_ARITH = {z3.Z3_OP_ADD, z3.Z3_OP_SUB, z3.Z3_OP_MUL, z3.Z3_OP_UMINUS, z3.Z3_OP_LE, z3.Z3_OP_LT,
          z3.Z3_OP_GE, z3.Z3_OP_GT, z3.Z3_OP_IDIV, z3.Z3_OP_MOD}
_BOOL = {z3.Z3_OP_AND, z3.Z3_OP_OR, z3.Z3_OP_NOT, z3.Z3_OP_IMPLIES, z3.Z3_OP_XOR,
         z3.Z3_OP_IFF}


def _uninterpreted(x: z3.ExprRef) -> bool:
    return bool(z3.is_const(x) and x.decl().kind() == z3.Z3_OP_UNINTERPRETED)


class Translation:
    """One formula's translation: the integer terms and each bit-vector variable's integer."""

    def __init__(self) -> None:
        # term id -> (term, its translation): the term is kept, so that its id is not reused
        self._memo: dict[int, tuple[z3.ExprRef, z3.ExprRef]] = {}
        self.bvs: dict[int, tuple[z3.BitVecRef, z3.ArithRef]] = {}  # id -> (bit-vector, int)
        self.others: dict[int, z3.ExprRef] = {}  # Boolean and integer variables, as they are
        self.bounds: dict[int, z3.BoolRef] = {}  # bit-vector variable id -> its range

    def __call__(self, f: z3.ExprRef) -> z3.ExprRef:
        memo = self._memo
        got = memo.get(f.get_id())
        if got is not None:
            return got[1]
        # iterative post-order (the encoding's terms are deep DAGs), read through the C API
        # (NOTE(fast-terms) in encode.py); a term gets a Python wrapper only when translated
        ctx = f.ctx
        ref = ctx.ref()
        ast_id, num_args, arg = _core.Z3_get_ast_id, _core.Z3_get_app_num_args, \
            _core.Z3_get_app_arg
        stack: list[tuple[Any, list[Any] | None]] = [(f.as_ast(), None)]
        while stack:
            a, kids = stack.pop()
            aid = ast_id(ref, a)
            if aid in memo:
                continue
            if kids is None:
                n = num_args(ref, a) if _core.Z3_get_ast_kind(ref, a) == z3.Z3_APP_AST else 0
                kids = [arg(ref, a, j) for j in range(n)]
                todo = [c for c in kids if ast_id(ref, c) not in memo]
                if todo:
                    stack.append((a, kids))
                    stack.extend((c, None) for c in todo)
                    continue
            x = z3.z3._to_expr_ref(a, ctx)
            memo[aid] = (x, self._node(x, [memo[ast_id(ref, c)][1] for c in kids]))
        return memo[f.get_id()][1]

    def _node(self, x: z3.ExprRef, ch: list[z3.ExprRef]) -> z3.ExprRef:
        if z3.is_bv(x):
            return self._bv(x, ch)
        if _uninterpreted(x):
            if not (z3.is_bool(x) or z3.is_int(x)):
                raise Unsupported(f"a variable of sort {x.sort()}")
            self.others[x.get_id()] = x
            return x
        if z3.is_true(x) or z3.is_false(x) or z3.is_int_value(x):
            return x
        k = x.decl().kind()
        if k in _CMP:
            return _CMP[k](ch[0], ch[1])
        if k == z3.Z3_OP_EQ:
            return ch[0] == ch[1]
        if k == z3.Z3_OP_DISTINCT:
            return z3.Distinct(*ch)
        if k == z3.Z3_OP_ITE:
            return z3.If(ch[0], ch[1], ch[2])
        if k in _BOOL or k in _ARITH and z3.is_int(x) or k in _ARITH and z3.is_bool(x) \
                and all(z3.is_int(c) for c in x.children()):
            return _rebuild(x, ch)
        raise Unsupported(x.decl().name())

    def _bv(self, x: z3.ExprRef, ch: list[z3.ExprRef]) -> z3.ArithRef:
        w = x.size()
        M = 1 << w
        if z3.is_bv_value(x):
            return z3.IntVal(x.as_long())
        if _uninterpreted(x):
            v = z3.Int(f"{x.decl().name()}!int")
            self.bvs[x.get_id()] = (x, v)
            self.bounds[x.get_id()] = z3.And(v >= 0, v < M)
            return v
        k = x.decl().kind()
        kids = x.children()
        if kids and all(z3.is_bv_value(c) for c in kids):
            folded = z3.simplify(x)
            if z3.is_bv_value(folded):
                return z3.IntVal(folded.as_long())
        if k == z3.Z3_OP_BADD:
            acc = ch[0]
            for c in ch[1:]:
                s = acc + c  # both in [0, M): one period at most
                acc = z3.If(s >= M, s - M, s)
            return acc
        if k == z3.Z3_OP_BSUB:
            d = ch[0] - ch[1]
            return z3.If(d < 0, d + M, d)
        if k == z3.Z3_OP_BNEG:
            return z3.If(ch[0] == 0, 0, M - ch[0])
        if k == z3.Z3_OP_BMUL:
            consts = [c.as_long() for c in kids if z3.is_bv_value(c)]
            terms = [t for c, t in zip(kids, ch) if not z3.is_bv_value(c)]
            if len(terms) > 1:
                raise Unsupported("a product of two variables")
            c = 1
            for v in consts:
                c = c * v % M
            if not terms:
                return z3.IntVal(c)
            if c == M - 1:
                return z3.If(terms[0] == 0, 0, M - terms[0])
            return (c * terms[0]) % M
        if k == z3.Z3_OP_ITE:
            return z3.If(ch[0], ch[1], ch[2])
        if k == z3.Z3_OP_EXTRACT:
            hi, lo = x.params()
            a = ch[0]
            if lo:
                a = a / (1 << lo)
            return a if hi - lo + 1 == kids[0].size() else a % (1 << (hi - lo + 1))
        if k == z3.Z3_OP_CONCAT:
            acc = ch[0]
            for c, kid in zip(ch[1:], kids[1:]):
                acc = acc * (1 << kid.size()) + c
            return acc
        if k == z3.Z3_OP_ZERO_EXT:
            return ch[0]
        if k == z3.Z3_OP_BAND and len(kids) == 2 and any(z3.is_bv_value(c) for c in kids):
            j = 0 if z3.is_bv_value(kids[0]) else 1
            mask, a = kids[j].as_long(), ch[1 - j]
            low = (mask + 1) & -(mask + 1)  # a mask 2^k - 1, or M - 2^k
            if mask == low - 1:
                return a % low
            high = M - (mask & -mask) if mask else 0
            if mask == high:
                return a - a % (M - mask)
            raise Unsupported("a mask that is not a run of low or high bits")
        if k in (z3.Z3_OP_BUDIV, z3.Z3_OP_BUDIV_I, z3.Z3_OP_BUREM, z3.Z3_OP_BUREM_I,
                 z3.Z3_OP_BLSHR, z3.Z3_OP_BSHL) and z3.is_bv_value(kids[1]):
            c = kids[1].as_long()
            if k in (z3.Z3_OP_BLSHR, z3.Z3_OP_BSHL):
                if c >= w:
                    return z3.IntVal(0)
                return ch[0] / (1 << c) if k == z3.Z3_OP_BLSHR else ch[0] * (1 << c) % M
            if c == 0:
                raise Unsupported("a division by zero")
            return ch[0] / c if k in (z3.Z3_OP_BUDIV, z3.Z3_OP_BUDIV_I) else ch[0] % c
        raise Unsupported(x.decl().name())

    def lift(self, mdl: z3.ModelRef, ids: Iterable[int] | None = None) -> z3.ModelRef:
        """A model of the original variables from a model of the translation: the variables
        with the given term ids (default: every variable translated so far), each at its
        value there (0 or false where it has none)."""
        out = z3.Model()
        for j in [*self.bvs, *self.others] if ids is None else ids:
            if j in self.bvs:
                bv, iv = self.bvs[j]
                val = mdl.eval(iv, model_completion=True).as_long()
                out.update_value(bv, z3.BitVecVal(val, bv.size()))
            elif j in self.others:
                v = self.others[j]
                out.update_value(v, mdl.eval(v, model_completion=True))
        return out


def _rebuild(x: z3.ExprRef, ch: Sequence[z3.ExprRef]) -> z3.ExprRef:
    ctx = x.ctx
    args = (z3.Ast * len(ch))(*[c.as_ast() for c in ch])
    raw = z3.Z3_mk_app(ctx.ref(), x.decl().ast, len(ch), args)
    return z3.z3._to_expr_ref(raw, ctx)


def translate(terms: Sequence[z3.BoolRef], tr: Translation | None = None,
              variables: Iterable[int] | None = None) -> tuple[list[z3.BoolRef], Translation]:
    """The QF_LIA formula equisatisfiable with the conjunction of `terms`, and the translation
    (to read its models back); raises `Unsupported`. A `tr` shared between queries keeps the
    terms translated so far; `variables` (the ids of the terms' variables, where the caller
    knows them) limits the range constraints to those, not every variable translated so far
    (harmless, but a split search's queries would each carry thousands)."""
    tr = Translation() if tr is None else tr
    out = [tr(t) for t in terms]
    if variables is None:
        return out + list(tr.bounds.values()), tr
    return out + [tr.bounds[j] for j in variables if j in tr.bounds], tr
