"""Grant, unmap and DMA (docs/semantics.md) as branches of the extent-level transition relation
(checker/encode_extent.py), exact within NOTE(extent-bound).

A backend's grant mappings are `e.ng[b]` slots (used, IPA frame, machine frame, frontend). In
every reachable state the used slots have distinct IPAs inside the backend's RAM range, off its
p2m runs (1:1) and, for a backend that is not 1:1, above its populated IPAs (NOTE(opaque-p2m)),
so "a ballooned-out IPA exists" is a count: |RAM range| > populated + grant mappings.

Choices of step i: ("choice", "gfr") the granted frame, ("choice", "gipa") the IPA the grant is
mapped at, ("choice", "boff") the IPA a 1:1 backend balloons out first, ("choice", "bfr") the
frame a backend that is not 1:1 gives back first, ("choice", "uipa") the mapping unmapped,
("choice", "dipa") the DMA buffer's IPA and ("choice", "dfr") the frame behind it (a domain that
is not 1:1). They become the reference's `frame`, `balloon`, `ipa` choices, in its order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import z3

from checker import model as m
from checker.encode import Branch, any_of, read_int
from checker.encode_extent import RUNS, disjoint, frames_of, within
from checker.encode_extent_ops import (
    Vals,
    Writes,
    _bv_obj,
    _cut,
    _first,
    drop_grant,
    not_granted,
    p2m_remove,
    remove_frames,
)

if TYPE_CHECKING:
    from checker.encode_extent import ExtentEncoding


def op_branches(e: ExtentEncoding, k: int, op: m.Op, lab: str, i: int) -> list[Branch]:
    if op.kind is m.OpKind.GRANT:
        return grant(e, k, op, lab, i)
    if op.kind is m.OpKind.UNMAP:
        return unmap(e, k, op, lab, i)
    if op.kind is m.OpKind.DMA:
        return dma(e, k, op, lab, i)
    raise NotImplementedError(op.kind.value)


def _modes(e: ExtentEncoding, d: int, i: int) -> list[tuple[bool, z3.BoolRef]]:
    """(is 1:1, guard) for each way d can be: 1:1, ordinary, or either (hook)."""
    dom = e.doms[d]
    out: list[tuple[bool, z3.BoolRef]] = []
    if dom.may_direct:
        out.append((True, e.direct(d, i)))
    if dom.may_plain:
        out.append((False, z3.Not(e.direct(d, i))))
    return out


def _mapped_frame(e: ExtentEncoding, f: int, x: Any, i: int) -> z3.BoolRef:
    """f maps machine frame x as RAM: in a p2m run if 1:1, else one it owns."""
    one = e.bv(1)
    parts: list[z3.BoolRef] = []
    for direct, mode in _modes(e, f, i):
        if direct:
            runs = [e.run(f, r, i) for r in range(RUNS)]
            parts.append(z3.And(mode, any_of(z3.And(rc != 0, within(x, one, rm, rc))
                                             for _ri, rm, rc in runs)))
        else:
            exts = [e.ext(f, y, i) for y in range(e.nx[f])]
            parts.append(z3.And(mode, any_of(z3.And(n != 0, within(x, one, s, n))
                                             for s, n in exts)))
    return any_of(parts)


def _add_grant(e: ExtentEncoding, v: Vals, b: int, f: int, ipa: Any, x: Any) -> z3.BoolRef:
    """Put the mapping (ipa, x, f) in b's first unused grant slot; the guard that one exists."""
    G = e.ng[b]
    empty = [z3.Not(v[("gu", b, g)]) for g in range(G)]
    first = _first(empty)
    for g in range(G):
        put = first[g]
        v[("gu", b, g)] = z3.Or(v[("gu", b, g)], put)
        v[("gi", b, g)] = z3.If(put, ipa, v[("gi", b, g)])
        v[("gm", b, g)] = z3.If(put, x, v[("gm", b, g)])
        if len(e.fronts[b]) > 1:
            for h in e.fronts[b]:
                v[("gf", b, g, h)] = z3.If(put, z3.BoolVal(h == f), v[("gf", b, g, h)])
    return any_of(empty)


def grants_below(e: ExtentEncoding, b: int, x: Any, i: int) -> z3.BitVecRef:
    """How many of b's grant mappings lie at an IPA below x."""
    return z3.Sum([z3.If(z3.And(gu, z3.ULT(gi, x)), e.bv(1), e.bv(0))
                   for gu, gi, _gm in (e.grant(b, g, i) for g in range(e.ng[b]))] + [e.bv(0)])


def _grants_above(e: ExtentEncoding, b: int, x: Any, i: int) -> z3.BitVecRef:
    return z3.Sum([z3.If(z3.And(gu, z3.UGT(gi, x)), e.bv(1), e.bv(0))
                   for gu, gi, _gm in (e.grant(b, g, i) for g in range(e.ng[b]))] + [e.bv(0)])


def _grant_at(e: ExtentEncoding, b: int, x: Any, i: int) -> z3.BoolRef:
    return any_of(z3.And(gu, gi == x) for gu, gi, _gm in (e.grant(b, g, i) for g in range(e.ng[b])))


def owned_below(e: ExtentEncoding, d: int, x: Any, i: int) -> z3.BitVecRef:
    """How many frames below x d owns (its extents are disjoint)."""
    parts = []
    for s, n in (e.ext(d, y, i) for y in range(e.nx[d])):
        parts.append(z3.If(z3.ULE(s + n, x), n, z3.If(z3.ULT(s, x), x - s, e.bv(0))))
    return z3.Sum(parts + [e.bv(0)])


def _plain_top_hole(e: ExtentEncoding, b: int, t: Any, i: int) -> z3.BoolRef:
    """t is the highest IPA of b's RAM range with no grant mapping (NOTE(opaque-p2m): where a
    backend that is not 1:1 maps a grant; it is ballooned out whenever one is)."""
    rb, P = e.bv(e.doms[b].rambase), e.bv(e.doms[b].pages)
    return z3.And(z3.UGE(t, rb), z3.ULT(t, rb + P), z3.Not(_grant_at(e, b, t, i)),
                  _grants_above(e, b, t, i) == rb + P - 1 - t)


def grant(e: ExtentEncoding, k: int, op: m.Op, lab: str, i: int) -> list[Branch]:
    f, b = op.domain, op.peer
    if b is None or b == f or e.ng[b] == 0:
        return []
    x = e.choice(("gfr",), i)
    base = z3.And(e.alive(f, i), e.alive(b, i), _mapped_frame(e, f, x, i))
    frame = ("frame", read_int(x))
    out: list[Branch] = []
    for direct, mode in _modes(e, b, i):
        if direct:
            populated = z3.Sum([e.run(b, r, i)[2] for r in range(RUNS)])
            any_hole = z3.ULT(populated + e.grant_count(b, i), e.bv(e.ram_size(b)))
            ipa = e.choice(("gipa",), i)
            hole = z3.And(any_of(within(ipa, e.bv(1), lo, c) for lo, c in e.ram_ranges(b, i, True)),
                          z3.Not(e.populated_overlap(b, ipa, e.bv(1), i)),
                          z3.Not(_grant_at(e, b, ipa, i)))
            v = Vals(e, i)
            slot = _add_grant(e, v, b, f, ipa, x)
            g1 = z3.And(base, mode, any_hole, hole)
            out.append(Branch(k, lab, "ok", z3.And(g1, slot), v.w,
                              choices=[frame, ("ipa", read_int(ipa))],
                              addresses=[_bv_obj(x), _bv_obj(ipa)], moved=1))
            out += _cut(k, lab, z3.And(g1, z3.Not(slot)))
            # none: balloon one page out first (as balloon_out b 1), map the grant there
            bo = e.choice(("boff",), i)
            v = Vals(e, i)
            moves, fits = p2m_remove(e, v, b, bo, 1, i)
            slot = _add_grant(e, v, b, f, bo, x)
            g2 = z3.And(base, mode, z3.Not(any_hole), moves)
            out.append(Branch(k, lab, "ok", z3.And(g2, slot, *fits), v.w,
                              choices=[frame, ("balloon", read_int(bo)), ("ipa", read_int(bo))],
                              addresses=[_bv_obj(x), _bv_obj(bo)], moved=2))
            out += _cut(k, lab, z3.And(g2, z3.Not(z3.And(slot, *fits))))
        else:
            t = e.choice(("gipa",), i)
            top = _plain_top_hole(e, b, t, i)
            any_hole = z3.ULT(e.owned_total(b, i) + e.grant_count(b, i), e.bv(e.doms[b].pages))
            v = Vals(e, i)
            slot = _add_grant(e, v, b, f, t, x)
            g1 = z3.And(base, mode, any_hole, top)
            out.append(Branch(k, lab, "ok", z3.And(g1, slot), v.w,
                              choices=[frame, ("ipa", read_int(t))],
                              addresses=[_bv_obj(x)], moved=1))
            out += _cut(k, lab, z3.And(g1, z3.Not(slot)))
            # none: give one frame back first; the top IPA with no grant is then a hole
            y = e.choice(("bfr",), i)
            one = e.bv(1)
            v = Vals(e, i)
            held, rslot = remove_frames(v, b, y, one)
            slot = _add_grant(e, v, b, f, t, x)
            g2 = z3.And(base, mode, z3.Not(any_hole), top, held, not_granted(e, b, y, one, i))
            out.append(Branch(k, lab, "ok", z3.And(g2, rslot, slot), v.w,
                              choices=[frame, ("balloon", frames_of([(y, one)])),
                                       ("ipa", read_int(t))],
                              addresses=[_bv_obj(x), _bv_obj(y)], moved=2))
            out += _cut(k, lab, z3.And(g2, z3.Not(z3.And(rslot, slot))))
    return out


def unmap(e: ExtentEncoding, k: int, op: m.Op, lab: str, i: int) -> list[Branch]:
    b = op.domain
    if e.ng[b] == 0:
        return []
    u = e.choice(("uipa",), i)
    w: Writes = {}
    hits = []
    for g in range(e.ng[b]):
        gu, gi, _gm = e.grant(b, g, i)
        hit = z3.And(gu, gi == u)
        hits.append(hit)
        drop_grant(e, w, b, g, hit, i)
    return [Branch(k, lab, "ok", z3.And(e.alive(b, i), any_of(hits)), w,
                   choices=[("ipa", read_int(u))], addresses=[_bv_obj(u)])]


def dma(e: ExtentEncoding, k: int, op: m.Op, lab: str, i: int) -> list[Branch]:
    d = op.domain
    if not e.model.domains[d].dma_capable:
        return []
    alive = e.alive(d, i)
    observed = d in e.dma_observed
    record = z3.And(z3.BoolVal(observed),
                    *[z3.Not(e.var(("dmabad", x), i)) for x in sorted(e.dma_observed)])
    ipa = e.choice(("dipa",), i)
    out: list[Branch] = []

    def branch(guard: z3.BoolRef, bad: z3.BoolRef) -> None:
        w: Writes = {}
        if observed:
            w[("dmabad", d)] = z3.Or(e.var(("dmabad", d), i), z3.And(record, bad))
        out.append(Branch(k, lab, "ok", z3.And(alive, guard), w,
                          choices=[("ipa", read_int(ipa))], addresses=[_bv_obj(ipa)]))

    if op.buffer == "grant":
        if e.ng[d] == 0:
            return []
        hits = [(z3.And(gu, gi == ipa), gi, gm) for gu, gi, gm in
                (e.grant(d, g, i) for g in range(e.ng[d]))]
        # the device is given the foreign frame (swiotlb on) or the IPA itself
        swiotlb = e.model.domains[d].swiotlb
        bad = z3.And(z3.BoolVal(not swiotlb), any_of(z3.And(h, gm != gi) for h, gi, gm in hits))
        branch(any_of(h for h, _gi, _gm in hits), bad)
        return out
    one = e.bv(1)
    for direct, mode in _modes(e, d, i):
        if direct:
            runs = [e.run(d, r, i) for r in range(RUNS)]
            inr = [(z3.And(rc != 0, within(ipa, one, ri, rc)), ri, rm) for ri, rm, rc in runs]
            branch(z3.And(mode, any_of(c for c, _ri, _rm in inr)),
                   any_of(z3.And(c, rm != ri) for c, ri, rm in inr))
        else:
            # NOTE(opaque-p2m): the populated IPAs are the lowest |owned| of the RAM range
            # without a grant mapping; the one of rank r is backed by d's r-th lowest frame
            x = e.choice(("dfr",), i)
            rb, P = e.bv(e.doms[d].rambase), e.bv(e.doms[d].pages)
            rank = ipa - rb - grants_below(e, d, ipa, i)
            owns = any_of(z3.And(n != 0, within(x, one, s, n))
                          for s, n in (e.ext(d, y, i) for y in range(e.nx[d])))
            guard = z3.And(mode, z3.UGE(ipa, rb), z3.ULT(ipa, rb + P),
                           z3.Not(_grant_at(e, d, ipa, i)), z3.ULT(rank, e.owned_total(d, i)),
                           owns, owned_below(e, d, x, i) == rank)
            branch(guard, x != ipa)
    return out


__all__ = ["disjoint", "dma", "grant", "grants_below", "op_branches", "owned_below", "unmap"]
