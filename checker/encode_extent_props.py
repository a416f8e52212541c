"""Built-in properties over extent-level states (checker/encode_extent.py): the formulas of the
checks in checker/evaluate.py, exact for the states the encoding reaches."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import z3

from checker import encode_invariant
from checker import extents as ex
from checker import model as m
from checker.encode import all_of, any_of
from checker.encode_extent import RUNS, disjoint, inside
from checker.encode_props import SUPPORTED, _frames_of, _windows

if TYPE_CHECKING:
    from checker.encode_extent import ExtentEncoding


def holds(e: ExtentEncoding, prop: m.Property, i: int) -> z3.BoolRef:
    k = prop.kind
    if k is m.PropertyKind.INVARIANT:
        return encode_invariant.holds(encode_invariant.ExtentFields(e), e.model, prop, i)
    doms = [d for d in range(e.nd) if prop.covers(d)]
    if k not in SUPPORTED:
        raise NotImplementedError(k.value)
    if k is m.PropertyKind.CREATE_SUCCEEDS:
        return all_of(z3.Not(e.failed(m.OpKind.CREATE, d, i)) for d in doms)
    if k is m.PropertyKind.BALLOON_IN_SUCCEEDS:
        return all_of(z3.Not(e.failed(m.OpKind.BALLOON_IN, d, i)) for d in doms)
    if k is m.PropertyKind.IPA_EQ_PA:
        return all_of(_ipa_eq_pa(e, d, i) for d in doms if e.model.domains[d].wants_direct_map)
    if k is m.PropertyKind.NO_FRAME_SHARED:
        return _no_frame_shared(e, doms, i)
    if k is m.PropertyKind.RAM_IN_HOST_RAM:
        return all_of(_ram_in_host_ram(e, d, i) for d in doms if e.doms[d].may_direct)
    if k is m.PropertyKind.DMA_REACHES_INTENDED:
        return all_of(z3.Not(e.var(("dmabad", d), i)) for d in doms if e.has(("dmabad", d)))
    return all_of(_no_ipa_overlap(e, d, i) for d in doms)


def _runs(e: ExtentEncoding, d: int, i: int) -> list[tuple[Any, Any, Any]]:
    return [e.run(d, r, i) for r in range(RUNS)] if e.doms[d].may_direct else []


def _ipa_eq_pa(e: ExtentEncoding, d: int, i: int) -> z3.BoolRef:
    parts = [z3.Or(rc == 0, ri == rm) for ri, rm, rc in _runs(e, d, i)]
    dom = e.doms[d]
    if dom.may_plain:
        # NOTE(opaque-p2m): owned frames ascending from rambase; identity iff they are exactly
        # rambase .. rambase + |owned| - 1
        rb, total = e.bv(dom.rambase), e.owned_total(d, i)
        plain = z3.And(e.alive(d, i), z3.Not(e.direct(d, i)))
        for x in range(e.nx[d]):
            s, n = e.ext(d, x, i)
            if e.ng[d] == 0:
                ok = z3.And(z3.UGE(s, rb), z3.ULE(s + n, rb + total))
            else:
                # the populated IPAs skip grant mappings: identity iff no owned frame is at a
                # grant's IPA and below each owned extent every IPA from rambase on is owned
                # or grant-mapped
                from checker.encode_extent_grants import grants_below, owned_below

                ok = z3.And(z3.UGE(s, rb), z3.ULE(s + n, rb + e.bv(dom.pages)),
                            z3.Not(e.grant_ipa_overlap(d, s, n, i)),
                            owned_below(e, d, s, i) + grants_below(e, d, s, i) == s - rb)
            parts.append(z3.Implies(z3.And(plain, n != 0), ok))
    return all_of(parts)


def _mapped(e: ExtentEncoding, d: int, i: int) -> list[tuple[Any, Any]]:
    """Machine frames d maps as RAM: its p2m runs if 1:1, else its owned extents."""
    direct = e.direct(d, i)
    out = [(rm, z3.If(direct, rc, e.bv(0))) for _ri, rm, rc in _runs(e, d, i)]
    if e.doms[d].may_plain:
        out += [(s, z3.If(direct, e.bv(0), n)) for s, n in (e.ext(d, x, i) for x in range(e.nx[d]))]
    return out


def _no_frame_shared(e: ExtentEncoding, doms: list[int], i: int) -> z3.BoolRef:
    parts: list[z3.BoolRef] = []
    for d in doms:
        runs = _runs(e, d, i)
        for _ri, rm, rc in runs:
            parts.append(e.owned_cover(d, rm, rc, i) == rc)
        for a in range(len(runs)):
            for b in range(a + 1, len(runs)):
                parts.append(disjoint(runs[a][1], runs[a][2], runs[b][1], runs[b][2]))
    for d in doms:
        for o in range(e.nd):
            if o == d or (o in doms and o < d):
                continue
            both = z3.And(e.alive(d, i), e.alive(o, i))
            for x in range(e.nx[d]):
                for y in range(e.nx[o]):
                    parts.append(z3.Implies(both, disjoint(*e.ext(d, x, i), *e.ext(o, y, i))))
            for s1, n1 in _mapped(e, d, i):
                for s2, n2 in _mapped(e, o, i):
                    parts.append(z3.Implies(both, disjoint(s1, n1, s2, n2)))
    return all_of(parts)


def _in_host_ram(e: ExtentEncoding, s: Any, n: Any) -> z3.BoolRef:
    return any_of(inside(s, n, lo, lo + c) for lo, c in e.host_ram)


def _ram_in_host_ram(e: ExtentEncoding, d: int, i: int) -> z3.BoolRef:
    direct = z3.And(e.alive(d, i), e.direct(d, i))
    parts = [z3.Implies(direct, _in_host_ram(e, lo, c)) for lo, c in e.ram_ranges(d, i, True)]
    for _ri, rm, rc in _runs(e, d, i):
        parts.append(z3.Implies(z3.And(direct, rc != 0), _in_host_ram(e, rm, rc)))
    return all_of(parts)


def _no_ipa_overlap(e: ExtentEncoding, d: int, i: int) -> z3.BoolRef:
    dom = e.doms[d]
    alive, direct = e.alive(d, i), e.direct(d, i)
    mmio = list(e.model.domains[d].passthrough)
    parts: list[z3.BoolRef] = []
    for is_direct in (True, False):
        if is_direct and not dom.may_direct or not is_direct and not dom.may_plain:
            continue
        when = z3.And(alive, direct if is_direct else z3.Not(direct))
        wins = _windows(e, is_direct)  # type: ignore[arg-type]
        for r in mmio + wins:
            (lo, cnt), = _frames_of(e, r)  # type: ignore[arg-type]
            for s, n in e.ram_ranges(d, i, is_direct):
                parts.append(z3.Implies(when, disjoint(s, n, e.bv(lo), e.bv(cnt))))
        if any(a.overlaps(w) for a in mmio for w in wins):
            parts.append(z3.Not(when))
    return all_of(parts)


__all__ = ["ex", "holds"]
