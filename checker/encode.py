"""The reference semantics (docs/semantics.md) in Z3: symbolic states and a transition relation.

Shared by both encodings (`encode_page` exact per frame, `encode_extent` for real sizes):

- `VarTable`: the one map from (variable, step) to its Z3 constant. Encoding and reading a
  model back both go through it; no code parses a Z3 name.
- `Scenario`: the scenario position (`pc`, `count`) as a symbolic program counter and the
  flattened operation list whose positions are `semantics.Action.op_index`.
- `Branch`: one way an operation can fire (success or recorded failure) as a guard, the
  state variables it writes, and the choice variables a trace reads back.
- `Step`: what a model says happened at one step: the operation index, the outcome and the
  recorded choices, ready to become a `semantics.Action`.

NOTE(frame-rule): the next-state value of every state variable is an `If` chain over the
branches that write it, ending in its current value; exactly one branch indicator is true at
each step. Each branch's indicator implies its guard, so a step is one enabled action.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import z3
from z3 import z3core as _core

from checker import model as m

VarKey = tuple[Any, ...]


class VarTable:
    """(key, step) -> Z3 constant. Keys are tuples such as ("alive", 0) or ("own", 1, 7)."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self._vars: dict[tuple[VarKey, int], z3.ExprRef] = {}
        self._sorts: dict[VarKey, z3.SortRef] = {}

    def get(self, key: VarKey, step: int, sort: z3.SortRef) -> z3.ExprRef:
        k = (key, step)
        v = self._vars.get(k)
        if v is None:
            name = f"{self.prefix}{'.'.join(str(p) for p in key)}@{step}"
            v = z3.Const(name, sort)
            self._vars[k] = v
            self._sorts[key] = sort
        return v

    def lookup(self, key: VarKey, step: int) -> z3.ExprRef | None:
        return self._vars.get((key, step))

    def keys_at(self, step: int) -> list[tuple[VarKey, z3.SortRef]]:
        return [(k, self._sorts[k]) for (k, i) in self._vars if i == step]

    def __len__(self) -> int:
        return len(self._vars)


def flatten_ops(scenario: m.Scenario) -> list[tuple[int, m.Op]]:
    """(statement index, op) in op_index order: a Step's op, then each alternative in order."""
    out: list[tuple[int, m.Op]] = []
    for i, st in enumerate(scenario.statements):
        if isinstance(st, m.Step):
            out.append((i, st.op))
        else:
            out.extend((i, op) for op in st.alternatives)
    return out


def bits_for(n: int) -> int:
    """Bits to hold the values 0..n."""
    return max(1, int(n).bit_length())


class Scenario:
    """The scenario position as (pc, count) and the position guard of each statement.

    pc is the index of the statement the run is at; `choose` and `loop` statements may be
    skipped without an action, a `step` may not. A `choose` whose count reaches its bound moves
    pc past itself. Traces (sequences of actions) are those of the reference semantics; the
    exact position values need not be, because traces are replayed through it.
    """

    def __init__(self, scenario: m.Scenario) -> None:
        self.statements = scenario.statements
        n = len(self.statements)
        self.pc_bits = bits_for(n)
        self.count_bits = bits_for(
            max([st.max_times for st in self.statements if isinstance(st, m.Choose)] + [1])
        )
        # lo[j]: the smallest pc from which statement j is reachable by skipping
        self.lo: list[int] = []
        for j in range(n):
            lo = j
            while lo > 0 and not isinstance(self.statements[lo - 1], m.Step):
                lo -= 1
            self.lo.append(lo)

    def longest(self) -> int | None:
        """NOTE(scenario-bound): the most actions a run can take, None when a `loop` makes
        runs unbounded. Every action moves the position (pc, count) strictly forward: a
        `step` past itself, an alternative of a `choose` its count up by one (past itself at
        its bound, so at most `max_times` actions), and skipping is no action. So every
        reachable state is reached in at most this many steps."""
        if any(isinstance(st, m.Loop) for st in self.statements):
            return None
        return sum(1 if isinstance(st, m.Step) else st.max_times for st in self.statements
                   if isinstance(st, m.Step | m.Choose))

    def state_keys(self) -> list[tuple[VarKey, z3.SortRef]]:
        return [(("pc",), z3.BitVecSort(self.pc_bits)), (("count",), z3.BitVecSort(self.count_bits))]

    def init(self, pc: z3.ExprRef, count: z3.ExprRef) -> z3.BoolRef:
        return z3.And(pc == 0, count == 0)

    def wellformed(self, pc: z3.ExprRef, count: z3.ExprRef) -> z3.BoolRef:
        n = len(self.statements)
        parts = [z3.ULE(pc, n)]
        for j, st in enumerate(self.statements):
            if isinstance(st, m.Choose):
                parts.append(z3.Implies(pc == j, z3.ULT(count, max(st.max_times, 1))))
            else:
                parts.append(z3.Implies(pc == j, count == 0))
        parts.append(z3.Implies(pc == n, count == 0))
        return z3.And(parts)

    def fire(
        self, j: int, pc: z3.ExprRef, count: z3.ExprRef
    ) -> tuple[z3.BoolRef, z3.ExprRef, z3.ExprRef]:
        """(position guard, pc', count') for firing an operation of statement j."""
        st = self.statements[j]
        at = z3.And(z3.UGE(pc, self.lo[j]), z3.ULE(pc, j))
        if isinstance(st, m.Step):
            return at, z3.BitVecVal(j + 1, self.pc_bits), z3.BitVecVal(0, self.count_bits)
        if isinstance(st, m.Loop):
            return at, z3.BitVecVal(j, self.pc_bits), z3.BitVecVal(0, self.count_bits)
        cnt = z3.If(pc == j, count, z3.BitVecVal(0, self.count_bits))
        guard = z3.And(at, z3.ULT(cnt, st.max_times)) if st.max_times > 0 else z3.BoolVal(False)
        done = cnt + 1 == st.max_times
        pc2 = z3.If(done, z3.BitVecVal(j + 1, self.pc_bits), z3.BitVecVal(j, self.pc_bits))
        cnt2 = z3.If(done, z3.BitVecVal(0, self.count_bits), cnt + 1)
        return guard, pc2, cnt2


Eval = Callable[[z3.ExprRef], z3.ExprRef]  # the model's value of an expression at one step
ChoiceReader = Callable[[Eval], Any]


def value_int(v: z3.ExprRef) -> int:
    if z3.is_bv_value(v) or z3.is_int_value(v):
        return int(v.as_long())
    raise ValueError(f"not a numeral: {v}")


def read_int(x: z3.ExprRef) -> ChoiceReader:
    return lambda ev: value_int(ev(x))


def read_ints(xs: Sequence[z3.ExprRef]) -> ChoiceReader:
    return lambda ev: tuple(value_int(ev(x)) for x in xs)


def read_set(bits: Sequence[z3.BoolRef], values: Sequence[int]) -> ChoiceReader:
    """The values whose bit is true, ascending."""
    return lambda ev: tuple(sorted(v for b, v in zip(bits, values) if z3.is_true(ev(b))))


@dataclass
class Branch:
    """One way an operation fires. `writes` maps state keys to next values (NOTE(frame-rule))."""

    op_index: int
    label: str
    outcome: str  # "ok" | "failed"
    guard: z3.BoolRef
    writes: dict[VarKey, z3.ExprRef] = field(default_factory=dict)
    choices: list[tuple[str, ChoiceReader]] = field(default_factory=list)
    # address objectives in the order the choices are recorded (NOTE(minimal-trace) in
    # smt.py): ("onehot", bits) or ("set", bits), bits in ascending address order
    addresses: list[tuple[str, list[z3.BoolRef]]] = field(default_factory=list)
    moved: z3.ArithRef | int = 0  # pages moved by balloon and grant operations
    # a cut that fires only where the allocator policy's first `slots` buddies hold fewer
    # than `n` frames: (n, slots) (NOTE(reference-heap) in encode_extent_policy.py)
    policy_cut: tuple[int, int] | None = None
    # a cut that fires only because domain d's frames, placed anywhere, may take more runs
    # than its extent slots: d (NOTE(localization) in localize.py)
    slots_of: int | None = None


@dataclass(frozen=True)
class Step:
    """One step of a solver trace, read back from a model."""

    op_index: int
    label: str
    outcome: str
    choices: tuple[tuple[str, Any], ...]


def exactly_one(bs: Sequence[z3.BoolRef]) -> z3.BoolRef:
    if not bs:
        return z3.BoolVal(False)
    if len(bs) == 1:
        return bs[0]
    return pb_eq([(b, 1) for b in bs], 1)


def _nary(mk: Any, xs: list[Any]) -> z3.BoolRef | None:
    """NOTE(fast-terms): a Boolean and/or built with one native call. The Python API's
    `z3.And` / `z3.Or` re-derive the context and re-check the sort of every argument, which
    dominates building a transition relation over thousands of variables. Returns None when
    an argument is not a Z3 Boolean (the caller falls back to the checked API)."""
    first = xs[0]
    if not all(type(x) is z3.BoolRef for x in xs):
        return None
    ctx = first.ctx
    arr = (z3.Ast * len(xs))(*[x.as_ast() for x in xs])
    return z3.BoolRef(mk(ctx.ref(), len(xs), arr), ctx)


def _pb(mk: Any, checked: Any, pairs: Sequence[tuple[z3.BoolRef, int]], k: int) -> z3.BoolRef:
    """NOTE(fast-terms) for pseudo-Boolean constraints: sum(c * b) <= / == / >= k in one native
    call (the Python API coerces every argument and coefficient again)."""
    if not pairs or not all(type(b) is z3.BoolRef for b, _c in pairs):
        return checked(list(pairs), k)
    ctx = pairs[0][0].ctx
    n = len(pairs)
    args = (z3.Ast * n)(*[b.as_ast() for b, _c in pairs])
    coeffs = (ctypes.c_int * n)(*[c for _b, c in pairs])
    return z3.BoolRef(mk(ctx.ref(), n, args, coeffs, k), ctx)


def pb_le(pairs: Sequence[tuple[z3.BoolRef, int]], k: int) -> z3.BoolRef:
    return _pb(_core.Z3_mk_pble, z3.PbLe, pairs, k)


def pb_ge(pairs: Sequence[tuple[z3.BoolRef, int]], k: int) -> z3.BoolRef:
    return _pb(_core.Z3_mk_pbge, z3.PbGe, pairs, k)


def pb_eq(pairs: Sequence[tuple[z3.BoolRef, int]], k: int) -> z3.BoolRef:
    return _pb(_core.Z3_mk_pbeq, z3.PbEq, pairs, k)


def any_of(bs: Iterable[z3.BoolRef]) -> z3.BoolRef:
    xs = list(bs)
    if not xs:
        return z3.BoolVal(False)
    if len(xs) == 1:
        return xs[0]
    got = _nary(_core.Z3_mk_or, xs)
    return got if got is not None else z3.Or(xs)


def all_of(bs: Iterable[z3.BoolRef]) -> z3.BoolRef:
    xs = list(bs)
    if not xs:
        return z3.BoolVal(True)
    if len(xs) == 1:
        return xs[0]
    got = _nary(_core.Z3_mk_and, xs)
    return got if got is not None else z3.And(xs)


def _flat(args: tuple[Any, ...]) -> list[Any]:
    if len(args) == 1 and not isinstance(args[0], z3.ExprRef):
        return list(args[0])
    return list(args)


def and_(*args: Any) -> z3.BoolRef:
    """z3.And through NOTE(fast-terms): varargs or one iterable."""
    return all_of(_flat(args))


def or_(*args: Any) -> z3.BoolRef:
    return any_of(_flat(args))


def implies(a: z3.BoolRef, b: z3.BoolRef) -> z3.BoolRef:
    return any_of([neg(a), b])


def eq(a: z3.ExprRef, b: z3.ExprRef) -> z3.BoolRef:
    if type(a) is not type(b) or not isinstance(a, z3.ExprRef) or (
            isinstance(a, z3.BitVecRef) and a.size() != b.size()):
        return a == b
    return z3.BoolRef(_core.Z3_mk_eq(a.ctx.ref(), a.as_ast(), b.as_ast()), a.ctx)


def neg(a: z3.BoolRef) -> z3.BoolRef:
    if type(a) is not z3.BoolRef:
        return z3.Not(a)
    return z3.BoolRef(_core.Z3_mk_not(a.ctx.ref(), a.as_ast()), a.ctx)


def ite(c: z3.BoolRef, a: z3.ExprRef, b: z3.ExprRef) -> z3.ExprRef:
    """If(c, a, b) with one native call when a and b already have the same sort."""
    if type(c) is not z3.BoolRef or type(a) is not type(b) or not isinstance(a, z3.ExprRef):
        return z3.If(c, a, b)
    if isinstance(a, z3.BitVecRef) and a.size() != b.size():
        return z3.If(c, a, b)
    ctx = c.ctx
    raw = _core.Z3_mk_ite(ctx.ref(), c.as_ast(), a.as_ast(), b.as_ast())
    return z3.z3._to_expr_ref(raw, ctx)


def model_int(mdl: z3.ModelRef, e: z3.ExprRef) -> int:
    v = mdl.eval(e, model_completion=True)
    if z3.is_bv_value(v):
        return int(v.as_long())
    if z3.is_int_value(v):
        return int(v.as_long())
    raise ValueError(f"not a numeral: {v}")


def model_bool(mdl: z3.ModelRef, e: z3.ExprRef) -> bool:
    return bool(z3.is_true(mdl.eval(e, model_completion=True)))
