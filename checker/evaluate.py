"""Properties evaluated on one state of `checker.semantics`: built-ins and user invariants.

Every check returns None when the property holds, else a witness: the page, its IPA and PA in
hex, and the region (or owner) it hit. Addresses in witnesses and in invariant expressions are
bytes; the state itself is in frames.

NOTE(invariant-values): in a user invariant the fields of a domain that is not alive read as
`alive = false`, `id = 0`, `direct = false`, `rambase = 0` and `ram = [0, 0)`; `memory` is the
declared size. `mappings(X)` are X's RAM p2m runs followed by its grant mappings (one page
each): `m.ipa`, `m.pa`, `m.size` in bytes. A domain's name may be used as a value directly.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from checker import extents as ex
from checker.extents import Extents
from checker.model import (
    Attr,
    BinOp,
    Expr,
    Interval,
    Not,
    Num,
    Property,
    PropertyKind,
    Quant,
    Region,
    RegionRef,
    Var,
)

if TYPE_CHECKING:
    from checker.semantics import Semantics, View

D_ID: Final = 0
D_DIRECT: Final = 1
D_RAMBASE: Final = 2
D_RAM: Final = 3
D_OWNED: Final = 4
D_GRANTS: Final = 5
FAILED: Final = 3  # slots of a view (checker.semantics)
DMA_BAD: Final = 4
FREE: Final = 5
DOM0: Final = 6


class EvalError(Exception):
    """An invariant expression cannot be evaluated (a type error the resolver let through)."""


def violation(sem: Semantics, st: View, prop: Property) -> str | None:
    kind = prop.kind
    if kind is PropertyKind.INVARIANT:
        if prop.expr is None:
            raise EvalError(f"invariant {prop.name} has no expression")
        return _invariant(sem, st, prop)
    return builtin_violation(sem, st, prop)


# ---- naming pages and regions ----------------------------------------------------------------


def addr(sem: Semantics, frame: int) -> str:
    return f"{frame << sem.shift:#x}"


def region_at(sem: Semantics, frame: int) -> str:
    """Which platform region (or static memory) holds the machine frame."""
    pa = frame << sem.shift
    plat = sem.model.platform
    for kind, regions in (("mmio", plat.mmio), ("reserved", plat.reserved)):
        for r in regions:
            if r.base <= pa < r.end:
                return f"{kind} '{r.name}'"
    for d in sem.model.domains:
        for r in d.static_mem:
            if r.base <= pa < r.end:
                return f"static memory of {d.name}"
    for r in plat.ram:
        if r.base <= pa < r.end:
            return f"ram '{r.name}'"
    return "no host region"


def owner_at(sem: Semantics, st: View, frame: int) -> str:
    for d in range(sem.ndom):
        dom = st[DOM0 + d]
        if dom is not None and ex.contains(dom[D_OWNED], frame):
            return f"owned by {sem.doms[d].name}"
    if ex.contains(st[FREE], frame):
        return "free"
    return "not in the heap"


def where(sem: Semantics, st: View, frame: int) -> str:
    return f"{region_at(sem, frame)}, {owner_at(sem, st, frame)}"


# ---- built-in properties ---------------------------------------------------------------------
#
# NOTE(findings): a built-in's verdict depends on one component of the state only (one domain,
# a pair of domains, the failure flags or the DMA record), so `Semantics` memoises *findings*
# per component; a finding becomes a witness text (which also names who owns the frames
# involved, hence needs the whole state) only when a property is violated.

Finding = tuple[Any, ...]

PER_DOMAIN = frozenset({
    PropertyKind.IPA_EQ_PA, PropertyKind.NO_IPA_OVERLAP, PropertyKind.RAM_IN_HOST_RAM,
    PropertyKind.NO_FRAME_SHARED,
})


def dom_finding(sem: Semantics, kind: PropertyKind, dom: Any, d: int) -> Finding | None:
    """What is wrong with one alive domain for a per-domain property, or None."""
    if dom is None:
        return None
    if kind is PropertyKind.IPA_EQ_PA:
        if not sem.model.domains[d].wants_direct_map:
            return None
        for ipa, mfn, _cnt in sem.p2m(dom, d):
            if ipa != mfn:
                return ("ipa", ipa, mfn)
        return None
    if kind is PropertyKind.NO_IPA_OVERLAP:
        return _ipa_overlap(sem, dom, d)
    if kind is PropertyKind.RAM_IN_HOST_RAM:
        if not dom[D_DIRECT]:
            return None
        outside = ex.difference(sem.ram_range(dom, d), sem.host_ram)
        if outside:
            return ("range", outside[0][0])
        outside = ex.difference(sem.mapped_frames(dom), sem.host_ram)
        return ("backing", outside[0][0]) if outside else None
    if kind is PropertyKind.NO_FRAME_SHARED:
        return _frames_self(sem, dom, d)
    raise ValueError(f"{kind.value} is not a per-domain property")


def pair_finding(sem: Semantics, a: Any, b: Any) -> Finding | None:
    """no_frame_shared between two alive domains: a frame owned, or mapped as RAM, by both."""
    if a is None or b is None:
        return None
    both = ex.intersection(a[D_OWNED], b[D_OWNED])
    if both:
        return ("owned", both[0][0])
    twice = ex.intersection(sem.mapped_frames(a), sem.mapped_frames(b))
    return ("mapped", twice[0][0]) if twice else None


def failed_finding(kind: PropertyKind, failed: Any, d: int) -> Finding | None:
    op = "create" if kind is PropertyKind.CREATE_SUCCEEDS else "balloon_in"
    return (op,) if (op, d) in failed else None


def dma_finding(bad: Any, d: int) -> Finding | None:
    return tuple(bad[1:]) if bad is not None and bad[0] == d else None


def _ipa_overlap(sem: Semantics, dom: Any, d: int) -> Finding | None:
    ram = sem.ram_range(dom, d)
    mmio = list(sem.model.domains[d].passthrough)
    wins = _windows(sem, bool(dom[D_DIRECT]))
    for group, label in ((mmio, "passthrough"), (wins, "window")):
        for r in group:
            hit = ex.intersection(ram, _frames_of(sem, r))
            if hit:
                return ("ram", hit[0][0], label, r.name, r.base, r.end, _span(sem, ram))
    for m in mmio:
        for w in wins:
            if m.overlaps(w):
                return ("mmio", m.name, m.base, m.end, w.name, w.base, w.end)
    return None


def _frames_self(sem: Semantics, dom: Any, d: int) -> Finding | None:
    owned = dom[D_OWNED]
    p2m = sem.p2m(dom, d)
    for ipa, mfn, cnt in p2m:
        stray = ex.difference(((mfn, cnt),), owned)
        if stray:
            pa = stray[0][0]
            return ("stray", ipa + pa - mfn, pa)
    seen: Extents = ()
    for ipa, mfn, cnt in p2m:
        again = ex.intersection(seen, ((mfn, cnt),))
        if again:
            pa = again[0][0]
            return ("twice", ipa + pa - mfn, pa)
        seen = ex.union(seen, ((mfn, cnt),))
    return None


def witness(sem: Semantics, st: View, kind: PropertyKind, d: int, f: Finding,
            other: int | None = None) -> str:
    """The text of a finding: page, IPA and PA in hex, the region and owner it hit."""
    name = sem.doms[d].name
    tag = f[0]
    if kind is PropertyKind.IPA_EQ_PA:
        _, ipa, mfn = f
        return (
            f"{name}: RAM page at IPA {addr(sem, ipa)} is backed by PA {addr(sem, mfn)} "
            f"({where(sem, st, mfn)}); PA {addr(sem, ipa)}, where a device given that IPA "
            f"lands, is {where(sem, st, ipa)}"
        )
    if kind is PropertyKind.NO_IPA_OVERLAP:
        if tag == "ram":
            _, ipa, label, rname, base, end, ram = f
            return (f"{name}: RAM page at IPA {addr(sem, ipa)} (RAM IPA {ram}) overlaps "
                    f"{label} '{rname}' [{base:#x}, {end:#x})")
        _, mname, mb, me, wname, wb, we = f
        return (f"{name}: passthrough '{mname}' [{mb:#x}, {me:#x}) overlaps window "
                f"'{wname}' [{wb:#x}, {we:#x}) at IPA {max(mb, wb):#x}")
    if kind is PropertyKind.RAM_IN_HOST_RAM:
        fr = f[1]
        if tag == "range":
            return (f"{name}: RAM page at IPA {addr(sem, fr)} == PA {addr(sem, fr)} is not "
                    f"host RAM ({region_at(sem, fr)})")
        return (f"{name}: RAM is backed by PA {addr(sem, fr)}, which is not host RAM "
                f"({region_at(sem, fr)})")
    if kind is PropertyKind.NO_FRAME_SHARED:
        if other is not None:
            pa = f[1]
            verb = "owned" if tag == "owned" else "mapped as RAM"
            return (f"PA {addr(sem, pa)} ({region_at(sem, pa)}) is {verb} by both {name} and "
                    f"{sem.doms[other].name}")
        _, ipa, pa = f
        if tag == "stray":
            return (f"{name}: RAM page at IPA {addr(sem, ipa)} maps PA {addr(sem, pa)}, "
                    f"which it does not own ({where(sem, st, pa)})")
        return (f"{name}: PA {addr(sem, pa)} ({region_at(sem, pa)}) is mapped twice as RAM, "
                f"once at IPA {addr(sem, ipa)}")
    if kind is PropertyKind.DMA_REACHES_INTENDED:
        ipa, intended, reached = f
        return (
            f"{name}: DMA to the buffer at IPA {addr(sem, ipa)} should reach PA "
            f"{addr(sem, intended)} but reached PA {addr(sem, reached)} "
            f"({where(sem, st, reached)})"
        )
    what = ("no free naturally aligned block / frames for its RAM" if tag == "create"
            else "the frames it needs back are not available")
    return f"{tag} {name} failed: {what}"


def builtin_violation(sem: Semantics, st: View, prop: Property) -> str | None:
    """A built-in property on a decoded state, without memoisation."""
    kind = prop.kind
    covered = [d for d in range(sem.ndom) if prop.covers(d)]
    for d in covered:
        if kind in PER_DOMAIN:
            f = dom_finding(sem, kind, st[DOM0 + d], d)
        elif kind is PropertyKind.DMA_REACHES_INTENDED:
            f = dma_finding(st[DMA_BAD], d)
        else:
            f = failed_finding(kind, st[FAILED], d)
        if f is not None:
            return witness(sem, st, kind, d, f)
    if kind is PropertyKind.NO_FRAME_SHARED:
        for d in covered:
            for e in range(sem.ndom):
                if e != d:
                    f = pair_finding(sem, st[DOM0 + d], st[DOM0 + e])
                    if f is not None:
                        return witness(sem, st, kind, d, f, other=e)
    return None


def _windows(sem: Semantics, direct: bool) -> list[Region]:
    hv = sem.model.hypervisor
    if direct and hv.host_windows:
        found = [sem.model.platform.region(n) for n in hv.host_windows]
        return [r for r in found if r is not None]
    return list(hv.windows)


def _frames_of(sem: Semantics, r: Region) -> Extents:
    sh = sem.shift
    lo = r.base >> sh
    hi = (r.end + (1 << sh) - 1) >> sh
    return ex.single(lo, hi - lo)


def _span(sem: Semantics, ext: Extents) -> str:
    if not ext:
        return "none"
    return ", ".join(f"[{addr(sem, s)}, {addr(sem, s + c)})" for s, c in ext[:3]) + (
        ", ..." if len(ext) > 3 else ""
    )


# ---- user invariants -------------------------------------------------------------------------


@dataclass(frozen=True)
class DomRef:
    index: int


@dataclass(frozen=True)
class MapRef:
    ipa: int
    pa: int
    size: int


@dataclass(frozen=True)
class Span:
    """A half-open interval of bytes."""

    lo: int
    hi: int


Value = int | bool | DomRef | MapRef | Span


class _Eval:
    def __init__(self, sem: Semantics, st: View) -> None:
        self.sem = sem
        self.st = st
        self.names = {d.name: d.index for d in sem.model.domains}

    def mappings(self, d: int) -> Iterator[MapRef]:
        dom = self.st[DOM0 + d]
        if dom is None:
            return
        sh = self.sem.shift
        for ipa, mfn, cnt in self.sem.p2m(dom, d):
            yield MapRef(ipa << sh, mfn << sh, cnt << sh)
        for ipa, mfn, _f in dom[D_GRANTS]:
            yield MapRef(ipa << sh, mfn << sh, 1 << sh)

    def field(self, obj: Value, name: str, e: Expr) -> Value:
        sh = self.sem.shift
        if isinstance(obj, DomRef):
            dom = self.st[DOM0 + obj.index]
            decl = self.sem.model.domains[obj.index]
            if name == "alive":
                return dom is not None
            if name == "memory":
                return decl.memory
            if dom is None:
                dead: dict[str, Value] = {"id": 0, "direct": False, "rambase": 0,
                                          "ram": Span(0, 0)}
                if name in dead:
                    return dead[name]
                return self._bad(e, f"no domain field {name!r}")
            if name == "id":
                return int(dom[D_ID])
            if name == "direct":
                return bool(dom[D_DIRECT])
            if name == "rambase":
                return int(dom[D_RAMBASE]) << sh
            if name == "ram":
                base = int(dom[D_RAMBASE]) << sh
                return Span(base, base + decl.memory)
        if isinstance(obj, MapRef) and name in ("ipa", "pa", "size"):
            return int(getattr(obj, name))
        return self._bad(e, f"no field {name!r} on this value")

    @staticmethod
    def _bad(e: Expr, msg: str) -> Value:
        raise EvalError(f"{e.span}: {msg}")

    def value(self, e: Expr, env: dict[str, Value]) -> Value:
        if isinstance(e, Num):
            return e.value
        if isinstance(e, Var):
            if e.name in env:
                return env[e.name]
            if e.name in self.names:
                return DomRef(self.names[e.name])
            return self._bad(e, f"unknown name {e.name!r}")
        if isinstance(e, Attr):
            return self.field(self.value(e.obj, env), e.name, e)
        if isinstance(e, RegionRef):
            return Span(e.region.base, e.region.end)
        if isinstance(e, Interval):
            lo, hi = self.value(e.lo, env), self.value(e.hi, env)
            if not (type(lo) is int and type(hi) is int):
                return self._bad(e, "interval bounds must be integers")
            return Span(lo, hi)
        if isinstance(e, Not):
            return not self.truth(e.operand, env)
        if isinstance(e, Quant):
            return self.quant(e, env) is None
        if isinstance(e, BinOp):
            return self.binop(e, env)
        return self._bad(e, "unknown expression")

    def truth(self, e: Expr, env: dict[str, Value]) -> bool:
        v = self.value(e, env)
        if type(v) is not bool:
            raise EvalError(f"{e.span}: expected a truth value")
        return v

    def binop(self, e: BinOp, env: dict[str, Value]) -> Value:
        op = e.op
        if op == "and":
            return self.truth(e.left, env) and self.truth(e.right, env)
        if op == "or":
            return self.truth(e.left, env) or self.truth(e.right, env)
        if op == "implies":
            return (not self.truth(e.left, env)) or self.truth(e.right, env)
        a, b = self.value(e.left, env), self.value(e.right, env)
        if op in ("==", "!="):
            return (a == b) == (op == "==")
        if op in ("overlaps", "within"):
            if not (isinstance(a, Span) and isinstance(b, Span)):
                return self._bad(e, f"{op} needs two intervals")
            if op == "overlaps":
                return a.lo < b.hi and b.lo < a.hi and a.lo < a.hi and b.lo < b.hi
            return b.lo <= a.lo and a.hi <= b.hi
        if type(a) is not int or type(b) is not int:
            return self._bad(e, f"{op} needs two integers")
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "<":
            return a < b
        if op == "<=":
            return a <= b
        if op == ">":
            return a > b
        if op == ">=":
            return a >= b
        return self._bad(e, f"unknown operator {op!r}")

    def quant(self, e: Quant, env: dict[str, Value]) -> str | None:
        """None when the quantified formula holds, else a description of why not."""
        if e.over == "domains":
            items: list[tuple[str, Value]] = [
                (d.name, DomRef(d.index)) for d in self.sem.model.domains
            ]
        else:
            of = env.get(e.of or "") if e.of in env else (
                DomRef(self.names[e.of]) if e.of in self.names else None)
            if not isinstance(of, DomRef):
                raise EvalError(f"{e.span}: mappings() needs a domain")
            items = [
                (f"[IPA {m.ipa:#x} -> PA {m.pa:#x}, {m.size:#x} bytes]", m)
                for m in self.mappings(of.index)
            ]
        if e.kind == "forall":
            for label, v in items:
                inner = {**env, e.var: v}
                body = e.body
                if isinstance(body, Quant):
                    why = self.quant(body, inner)
                    if why is not None:
                        return f"{e.var} = {label}, {why}"
                elif not self.truth(body, inner):
                    return f"{e.var} = {label}"
            return None
        for _label, v in items:
            if self.truth(e.body, {**env, e.var: v}):
                return None
        return f"no {e.var} satisfies it"


def _invariant(sem: Semantics, st: View, prop: Property) -> str | None:
    assert prop.expr is not None
    ev = _Eval(sem, st)
    expr = prop.expr
    if isinstance(expr, Quant):
        why = ev.quant(expr, {})
        return None if why is None else f"invariant {prop.name} fails for {why}"
    if ev.truth(expr, {}):
        return None
    return f"invariant {prop.name} is false"
