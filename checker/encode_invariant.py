"""User invariants (`invariant NAME: EXPR`) as Z3 formulas over state i of either encoding.

`holds(fields, model, prop, i)` is the formula of `checker/evaluate.py` (`_invariant`) for one
symbolic state. It reads the state only through `Fields`, which both encodings provide
(`PageFields`, `ExtentFields` below): aliveness, 1:1-ness, rambase in frames and, where the
encoding keeps it, the domain id. `supported(model, prop, level)` says, before anything is
built, whether an invariant can be encoded exactly at that level, else why not (the verdict is
then `undecided` with that reason, never a guess).

What is encoded: numbers, `+ - *`, `== != < <= > >=`, `and or not implies`, `forall` /
`exists` over domains (unrolled over the model's domain list), the domain fields `alive`,
`direct`, `memory`, `rambase`, `ram`, `id` (see `supported`), `region(NAME)`, intervals
`[A, B)`, `overlaps`, `within`. Fields of a domain that is not alive read as evaluate.py
reads them (NOTE(invariant-values)): `alive = false, id = 0, direct = false, rambase = 0,
ram = [0, 0)`; `memory` is the declared size; addresses are bytes.

NOTE(invariant-width): the reference computes with unbounded Python integers; the solver
(`QF_FD`, smt.py) has no unbounded integers, so every integer subterm is a signed bit-vector
wide enough for every value it can take. Each `Int` carries a range [lo, hi] that contains
its value in every state (constants: themselves; rambase: 0 up to the largest frame the
encoding can hold, times the page size; the sum, difference and product of two ranges by
interval arithmetic) and a term at least `signed_bits(lo, hi)` wide. An operation widens
both operands (sign extension keeps their values) to a width that holds the result's whole
range, so two's complement arithmetic modulo 2^w never wraps and reads back as the exact
integer; comparisons are signed, at the wider operand's width. A comparison the two ranges
already decide is folded to a constant, as are operations on constants (Python integers).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, Union

import z3

from checker import model as m
from checker.encode import all_of, any_of, eq, ite, neg

if TYPE_CHECKING:
    from checker.encode_extent import ExtentEncoding
    from checker.encode_page import PageEncoding


class InvariantError(Exception):
    """An invariant that cannot be encoded (`supported` says so first for loaded models)."""


# ---- integers as bit-vectors with a range (NOTE(invariant-width)) ----------------------------


def signed_bits(lo: int, hi: int) -> int:
    """The fewest bits of a two's complement vector that holds every integer of [lo, hi]."""
    def mag(x: int) -> int:
        return x.bit_length() if x >= 0 else (-x - 1).bit_length()
    return 1 + max(mag(lo), mag(hi))


@dataclass(frozen=True)
class Int:
    """An integer term: its value lies in [lo, hi] in every state; `term` is a signed
    bit-vector of at least `signed_bits(lo, hi)` bits, or None for the constant lo == hi."""

    lo: int
    hi: int
    term: z3.BitVecRef | None = None

    @property
    def const(self) -> int | None:
        return self.lo if self.term is None else None

    @property
    def width(self) -> int:
        return self.term.size() if self.term is not None else signed_bits(self.lo, self.hi)


def num(v: int) -> Int:
    return Int(v, v)


def unsigned(x: z3.BitVecRef, hi: int) -> Int:
    """An unsigned bit-vector of the encoding (a frame number, at most `hi`) as an `Int`."""
    if hi >= 1 << x.size():
        raise InvariantError(f"bound {hi} does not fit {x.size()} bits")
    return Int(0, hi, z3.ZeroExt(1, x))


def as_bv(a: Int, w: int) -> z3.BitVecRef:
    """a at width w >= a.width (a constant is written modulo 2^w, i.e. in two's complement)."""
    if a.term is None:
        return z3.BitVecVal(a.lo, w)
    if w == a.term.size():
        return a.term
    return z3.SignExt(w - a.term.size(), a.term)


def _arith(op: str, a: Int, b: Int) -> Int:
    if op == "+":
        lo, hi = a.lo + b.lo, a.hi + b.hi
    elif op == "-":
        lo, hi = a.lo - b.hi, a.hi - b.lo
    else:
        corners = (a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi)
        lo, hi = min(corners), max(corners)
    if a.term is None and b.term is None:
        assert lo == hi
        return num(lo)
    w = max(signed_bits(lo, hi), a.width, b.width)
    x, y = as_bv(a, w), as_bv(b, w)
    return Int(lo, hi, x + y if op == "+" else x - y if op == "-" else x * y)


def shl(a: Int, k: int) -> Int:
    """a * 2^k (frames to bytes) as a concatenation."""
    if a.term is None or k == 0:
        return num(a.lo << k) if a.term is None else a
    return Int(a.lo << k, a.hi << k, z3.Concat(a.term, z3.BitVecVal(0, k)))


def int_ite(c: Bool, a: Int, b: Int) -> Int:
    if isinstance(c, bool):
        return a if c else b
    if a.term is None and b.term is None and a.lo == b.lo:
        return a
    w = max(a.width, b.width)
    return Int(min(a.lo, b.lo), max(a.hi, b.hi), ite(c, as_bv(a, w), as_bv(b, w)))


def _compare(op: str, a: Int, b: Int) -> Bool:
    tests: dict[str, Callable[[int, int], bool]] = {
        "==": lambda x, y: x == y, "!=": lambda x, y: x != y, "<": lambda x, y: x < y,
        "<=": lambda x, y: x <= y, ">": lambda x, y: x > y, ">=": lambda x, y: x >= y}
    if a.term is None and b.term is None:
        return tests[op](a.lo, b.lo)
    # decided by the ranges alone
    if a.hi < b.lo or b.hi < a.lo:
        if op in ("==", "!="):
            return op == "!="
        return tests[op](a.lo, b.lo)
    if op in ("<", ">=") and a.lo >= b.hi:
        return op == ">="
    if op in ("<", ">=") and a.hi < b.lo:
        return op == "<"
    if op in (">", "<=") and a.hi <= b.lo:
        return op == "<="
    w = max(a.width, b.width)
    x, y = as_bv(a, w), as_bv(b, w)
    if op == "==":
        return eq(x, y)
    if op == "!=":
        return neg(eq(x, y))
    return {"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[op]


# ---- truth values, folded while constant ------------------------------------------------------

Bool = Union[bool, z3.BoolRef]  # noqa: UP007 (a runtime alias)


def lift(b: Bool) -> Bool:
    if isinstance(b, z3.BoolRef):
        if z3.is_true(b):
            return True
        if z3.is_false(b):
            return False
    return b


def to_z3(b: Bool) -> z3.BoolRef:
    return z3.BoolVal(b) if isinstance(b, bool) else b


def b_not(a: Bool) -> Bool:
    a = lift(a)
    return (not a) if isinstance(a, bool) else neg(a)


def _b_fold(xs: list[Bool], zero: bool, join: Callable[[list[z3.BoolRef]], z3.BoolRef]) -> Bool:
    """`join` of xs with constants folded: `zero` absorbs (False for all, True for any), its
    negation is the unit."""
    out: list[z3.BoolRef] = []
    for x in map(lift, xs):
        if x is zero:
            return zero
        if x is not (not zero):
            assert isinstance(x, z3.BoolRef)
            out.append(x)
    return (not zero) if not out else join(out)


def b_all(xs: list[Bool]) -> Bool:
    return _b_fold(xs, False, all_of)


def b_any(xs: list[Bool]) -> Bool:
    return _b_fold(xs, True, any_of)


def b_eq(a: Bool, b: Bool) -> Bool:
    a, b = lift(a), lift(b)
    if isinstance(a, bool) and isinstance(b, bool):
        return a == b
    if isinstance(a, bool):
        return b if a else b_not(b)
    if isinstance(b, bool):
        return a if b else b_not(a)
    return eq(a, b)


# ---- the state as the invariant sees it -------------------------------------------------------


class Fields(Protocol):
    """What an invariant reads from state i of an encoding (NOTE(invariant-values))."""

    shift: int  # log2(page size)

    def alive(self, d: int, i: int) -> Bool: ...

    def direct(self, d: int, i: int) -> Bool:
        """1:1 (false when not alive)."""
        ...

    def rambase(self, d: int, i: int) -> Int:
        """The rambase frame (0 when not alive)."""
        ...

    def ident(self, d: int, i: int) -> Int | None:
        """The domain id (0 when not alive), None when the encoding does not keep it."""
        ...


def _alive_and(alive: z3.BoolRef, direct: z3.BoolRef) -> Bool:
    """direct, read false for a dead domain (`direct` is `alive` itself for `always`)."""
    return alive if direct.eq(alive) else b_all([alive, direct])


class _StateFields:
    """What both encodings' `Fields` read the same way (`encode_page.StateVars`)."""

    enc: PageEncoding | ExtentEncoding

    def alive(self, d: int, i: int) -> Bool:
        return self.enc.alive(d, i)

    def direct(self, d: int, i: int) -> Bool:
        return _alive_and(self.enc.alive(d, i), self.enc.direct(d, i))

    def ident(self, d: int, i: int) -> Int | None:
        """("id", d) when the encoding keeps it (`keep_ids`), read 0 when dead."""
        e = self.enc
        if not e.has(("id", d)):
            return None
        v = e.var(("id", d), i)  # any value of its width in a symbolic state, not only ids
        return int_ite(e.alive(d, i), unsigned(v, (1 << v.size()) - 1), num(0))


class PageFields(_StateFields):
    """`Fields` of the page-level encoding (checker/encode_page.py)."""

    def __init__(self, enc: PageEncoding) -> None:
        self.enc: PageEncoding = enc
        self.shift = enc.shift

    def rambase(self, d: int, i: int) -> Int:
        """The one-hot rambase (NOTE(one-hot) in encode_page.py) as an If chain; `rb_is` is
        false for every candidate of a dead domain."""
        out = num(0)
        for c in self.enc.rb_cands[d]:
            out = int_ite(self.enc.rb_is(d, c, i), num(c), out)
        return out


class ExtentFields(_StateFields):
    """`Fields` of the extent-level encoding (checker/encode_extent.py)."""

    def __init__(self, enc: ExtentEncoding) -> None:
        self.enc: ExtentEncoding = enc
        self.shift = enc.shift

    def rambase(self, d: int, i: int) -> Int:
        """`ExtentEncoding.rambase` is the declared rambase for a dead domain: read 0 there.
        A rambase variable can hold any W-bit frame number in a symbolic state."""
        e = self.enc
        rb = e.rambase(d, i)
        fixed = z3.simplify(rb)
        val = num(fixed.as_long()) if z3.is_bv_value(fixed) else unsigned(rb, (1 << e.W) - 1)
        return int_ite(e.alive(d, i), val, num(0))


# ---- which invariants can be encoded ----------------------------------------------------------


def _uses_ids(model: m.Model) -> bool:
    """Whether the reference keeps domain ids (docs/semantics.md: only with the id hook;
    otherwise every id reads 0)."""
    return any(d.direct_map is m.DirectMap.HOOK for d in model.domains)


DOMAIN_FIELDS = {"alive": "bool", "direct": "bool", "memory": "int", "rambase": "int",
                 "ram": "interval", "id": "int"}


def _type(e: m.Expr, env: dict[str, str], level: str, model: m.Model) -> str:
    """The type of `e` ("int", "bool", "interval", "domain"); raises InvariantError with the
    reason when `e` cannot be encoded at `level` ("page" or "extent") or is ill-typed (the
    resolver rejects those; a model built by hand may not)."""
    def want(x: m.Expr, ty: str) -> None:
        got = _type(x, env, level, model)
        if got != ty:
            raise InvariantError(f"the invariant is not well typed: {ty} expected, {got} found")

    if isinstance(e, m.Num):
        return "int"
    if isinstance(e, m.Var):
        if e.name in env:
            return env[e.name]
        if any(d.name == e.name for d in model.domains):
            return "domain"
        raise InvariantError(f"the invariant names an unknown variable `{e.name}`")
    if isinstance(e, m.RegionRef):
        return "interval"
    if isinstance(e, m.Quant):
        if e.over != "domains":
            raise InvariantError(
                f"the symbolic engine does not encode `{e.kind} {e.var} in mappings({e.of})` "
                "(a domain's p2m as the reference's runs and grant mappings) yet")
        inner = {**env, e.var: "domain"}
        if _type(e.body, inner, level, model) != "bool":
            raise InvariantError("the invariant is not well typed: a quantifier's body is not "
                                 "a truth value")
        return "bool"
    if isinstance(e, m.Attr):
        if _type(e.obj, env, level, model) != "domain" or e.name not in DOMAIN_FIELDS:
            raise InvariantError(f"the symbolic engine does not encode the field `.{e.name}` "
                                 "here")
        return DOMAIN_FIELDS[e.name]
    if isinstance(e, m.Interval):
        want(e.lo, "int")
        want(e.hi, "int")
        return "interval"
    if isinstance(e, m.Not):
        want(e.operand, "bool")
        return "bool"
    op = e.op
    if op in ("and", "or", "implies", "overlaps", "within", "+", "-", "*", "<", "<=", ">", ">="):
        ty = {"and": "bool", "or": "bool", "implies": "bool", "overlaps": "interval",
              "within": "interval"}.get(op, "int")
        want(e.left, ty)
        want(e.right, ty)
        return "int" if op in ("+", "-", "*") else "bool"
    if op in ("==", "!="):
        a = _type(e.left, env, level, model)
        if a != _type(e.right, env, level, model):
            raise InvariantError(f"the invariant is not well typed: `{op}` between a {a} and "
                                 "another type")
        return "bool"
    raise InvariantError(f"the symbolic engine does not encode the operator `{op}`")


def supported(model: m.Model, prop: m.Property, level: str) -> bool | str:
    """True if the invariant can be encoded exactly at `level`, else the reason."""
    if prop.expr is None:
        return f"invariant {prop.name} has no expression"
    try:
        ty = _type(prop.expr, {}, level, model)
    except InvariantError as why:
        return str(why)
    return True if ty == "bool" else f"invariant {prop.name} is not a truth value"


# ---- the formula ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DomV:
    index: int


@dataclass(frozen=True)
class SpanV:
    """A half-open interval of bytes."""

    lo: Int
    hi: Int


Value = Union[Int, Bool, DomV, SpanV]  # noqa: UP007 (a runtime alias)


class _Build:
    def __init__(self, fields: Fields, model: m.Model, i: int) -> None:
        self.f = fields
        self.model = model
        self.i = i
        self.names = {d.name: d.index for d in model.domains}
        self.ids = _uses_ids(model)

    def field(self, d: int, name: str) -> Value:
        f, i = self.f, self.i
        if name == "alive":
            return lift(f.alive(d, i))
        if name == "memory":
            return num(self.model.domains[d].memory)
        if name == "direct":
            return lift(f.direct(d, i))
        if name == "rambase":
            return shl(f.rambase(d, i), f.shift)
        if name == "ram":
            lo = shl(f.rambase(d, i), f.shift)
            hi = _arith("+", lo, num(self.model.domains[d].memory))
            return SpanV(lo, int_ite(lift(f.alive(d, i)), hi, num(0)))
        if name == "id":
            if not self.ids:
                return num(0)
            got = f.ident(d, i)
            if got is None:
                raise InvariantError("this encoding does not keep domain ids")
            return got
        raise InvariantError(f"no domain field {name!r}")

    def value(self, e: m.Expr, env: dict[str, int]) -> Value:
        if isinstance(e, m.Num):
            return num(e.value)
        if isinstance(e, m.Var):
            if e.name in env:
                return DomV(env[e.name])
            if e.name in self.names:
                return DomV(self.names[e.name])
            raise InvariantError(f"{e.span}: unknown name {e.name!r}")
        if isinstance(e, m.Attr):
            obj = self.value(e.obj, env)
            if not isinstance(obj, DomV):
                raise InvariantError(f"{e.span}: `.{e.name}` of something not a domain")
            return self.field(obj.index, e.name)
        if isinstance(e, m.RegionRef):
            return SpanV(num(e.region.base), num(e.region.end))
        if isinstance(e, m.Interval):
            return SpanV(self.integer(e.lo, env), self.integer(e.hi, env))
        if isinstance(e, m.Not):
            return b_not(self.truth(e.operand, env))
        if isinstance(e, m.Quant):
            if e.over != "domains":
                raise InvariantError(f"{e.span}: quantifiers over mappings are not encoded")
            parts = [self.truth(e.body, {**env, e.var: d.index}) for d in self.model.domains]
            return b_all(parts) if e.kind == "forall" else b_any(parts)
        return self.binop(e, env)

    def integer(self, e: m.Expr, env: dict[str, int]) -> Int:
        v = self.value(e, env)
        if not isinstance(v, Int):
            raise InvariantError(f"{e.span}: expected a number")
        return v

    def truth(self, e: m.Expr, env: dict[str, int]) -> Bool:
        v = self.value(e, env)
        if not isinstance(v, (bool, z3.BoolRef)):
            raise InvariantError(f"{e.span}: expected a truth value")
        return v

    def span(self, e: m.Expr, env: dict[str, int]) -> SpanV:
        v = self.value(e, env)
        if not isinstance(v, SpanV):
            raise InvariantError(f"{e.span}: expected an interval")
        return v

    def binop(self, e: m.BinOp, env: dict[str, int]) -> Value:
        op = e.op
        if op in ("and", "or", "implies"):
            a, b = self.truth(e.left, env), self.truth(e.right, env)
            if op == "and":
                return b_all([a, b])
            return b_any([a, b] if op == "or" else [b_not(a), b])
        if op in ("overlaps", "within"):
            x, y = self.span(e.left, env), self.span(e.right, env)
            if op == "overlaps":
                return b_all([_compare("<", x.lo, y.hi), _compare("<", y.lo, x.hi),
                              _compare("<", x.lo, x.hi), _compare("<", y.lo, y.hi)])
            return b_all([_compare("<=", y.lo, x.lo), _compare("<=", x.hi, y.hi)])
        if op in ("+", "-", "*"):
            return _arith(op, self.integer(e.left, env), self.integer(e.right, env))
        a, b = self.value(e.left, env), self.value(e.right, env)
        if op in ("==", "!="):
            same = self.equal(a, b, e)
            return same if op == "==" else b_not(same)
        if not (isinstance(a, Int) and isinstance(b, Int)):
            raise InvariantError(f"{e.span}: {op} needs two integers")
        return _compare(op, a, b)

    def equal(self, a: Value, b: Value, e: m.Expr) -> Bool:
        if isinstance(a, Int) and isinstance(b, Int):
            return _compare("==", a, b)
        if isinstance(a, (bool, z3.BoolRef)) and isinstance(b, (bool, z3.BoolRef)):
            return b_eq(a, b)
        if isinstance(a, DomV) and isinstance(b, DomV):
            return a.index == b.index
        if isinstance(a, SpanV) and isinstance(b, SpanV):
            return b_all([_compare("==", a.lo, b.lo), _compare("==", a.hi, b.hi)])
        raise InvariantError(f"{e.span}: `==` between values of different types")


def formula(fields: Fields, model: m.Model, expr: m.Expr, i: int) -> Bool:
    """The invariant at state i, folded to a Python bool when it is constant."""
    return _Build(fields, model, i).truth(expr, {})


def holds(fields: Fields, model: m.Model, prop: m.Property, i: int) -> z3.BoolRef:
    """The invariant `prop` at state i (the formula of evaluate.py `_invariant`)."""
    if prop.expr is None:
        raise InvariantError(f"invariant {prop.name} has no expression")
    return to_z3(formula(fields, model, prop.expr, i))


__all__ = ["ExtentFields", "Fields", "Int", "InvariantError", "PageFields", "formula",
           "holds", "signed_bits", "supported"]
