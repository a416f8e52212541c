"""Built-in properties over page-level symbolic states: `holds(enc, prop, i) -> BoolRef`.

Each is the formula of the same check in checker/evaluate.py (the reference), over the
variables of checker/encode_page.py. `supported(model, prop)` names what is not encoded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import z3

from checker import encode_invariant
from checker import extents as ex
from checker import model as m
from checker.encode import all_of, and_, any_of, implies, neg, or_, pb_le

if TYPE_CHECKING:
    from checker.encode_page import PageEncoding

SUPPORTED = {
    m.PropertyKind.IPA_EQ_PA,
    m.PropertyKind.CREATE_SUCCEEDS,
    m.PropertyKind.BALLOON_IN_SUCCEEDS,
    m.PropertyKind.NO_FRAME_SHARED,
    m.PropertyKind.RAM_IN_HOST_RAM,
    m.PropertyKind.NO_IPA_OVERLAP,
    m.PropertyKind.DMA_REACHES_INTENDED,
}


def observed_failures(model: m.Model) -> set[tuple[m.OpKind, int]]:
    """(op, domain) pairs whose failures some declared property observes (docs/semantics.md)."""
    out: set[tuple[m.OpKind, int]] = set()
    for p in model.properties:
        for d in range(len(model.domains)):
            if not p.covers(d):
                continue
            if p.kind is m.PropertyKind.CREATE_SUCCEEDS:
                out.add((m.OpKind.CREATE, d))
            elif p.kind is m.PropertyKind.BALLOON_IN_SUCCEEDS:
                out.add((m.OpKind.BALLOON_IN, d))
    return out


def supported(model: m.Model, prop: m.Property) -> bool | str:
    if prop.kind is m.PropertyKind.INVARIANT:
        return encode_invariant.supported(model, prop, "page")
    if prop.kind not in SUPPORTED:
        return f"the symbolic engine does not encode `{prop.kind.value}` yet"
    return True


def holds(e: PageEncoding, prop: m.Property, i: int) -> z3.BoolRef:
    k = prop.kind
    if k is m.PropertyKind.INVARIANT:
        return encode_invariant.holds(encode_invariant.PageFields(e), e.model, prop, i)
    doms = [d for d in range(e.nd) if prop.covers(d)]
    if k is m.PropertyKind.IPA_EQ_PA:
        return all_of(_ipa_eq_pa(e, d, i) for d in doms if e.model.domains[d].wants_direct_map)
    if k is m.PropertyKind.CREATE_SUCCEEDS:
        return all_of(neg(e.failed(m.OpKind.CREATE, d, i)) for d in doms)
    if k is m.PropertyKind.BALLOON_IN_SUCCEEDS:
        return all_of(neg(e.failed(m.OpKind.BALLOON_IN, d, i)) for d in doms)
    if k is m.PropertyKind.NO_FRAME_SHARED:
        return _no_frame_shared(e, doms, i)
    if k is m.PropertyKind.RAM_IN_HOST_RAM:
        return all_of(_ram_in_host_ram(e, d, i) for d in doms)
    if k is m.PropertyKind.NO_IPA_OVERLAP:
        return all_of(_no_ipa_overlap(e, d, i) for d in doms)
    if k is m.PropertyKind.DMA_REACHES_INTENDED:
        return all_of(neg(e.var(("dmabad", d), i)) for d in doms if e.has(("dmabad", d)))
    raise NotImplementedError(k.value)


def _ipa_eq_pa(e: PageEncoding, d: int, i: int) -> z3.BoolRef:
    """Every populated RAM page has IPA == PA (for a hook domain that is not 1:1: its derived
    p2m, the owned frames in ascending order from rambase, NOTE(opaque-p2m))."""
    parts: list[z3.BoolRef] = []
    for s in range(e.nslots[d]):
        for f in e.slot_frames[d][s]:
            parts.append(implies(e.mp(d, s, f, i), e.slot_ipa_is(d, s, e.frames[f], i)))
    dom = e.doms[d]
    if dom.may_plain:
        # ascending owned frames onto the lowest IPAs of the RAM range that hold no grant
        # mapping: identity iff every owned frame is such an IPA and every such IPA below an
        # owned frame is owned too
        rb = dom.rambase
        plain = and_(e.alive(d, i), neg(e.direct(d, i)))
        for f, p in enumerate(e.frames):
            s = p - rb
            if not 0 <= s < dom.pages:
                parts.append(implies(plain, neg(e.own(d, f, i))))
                continue
            below = []
            for t in range(s):
                g = e.index.get(rb + t)
                held = e.own(d, g, i) if g is not None else z3.BoolVal(False)
                below.append(or_(e.gpop(d, t, i), held))
            ok = and_(neg(e.gpop(d, s, i)), *below)
            parts.append(implies(and_(plain, e.own(d, f, i)), ok))
    return all_of(parts)


def _no_frame_shared(e: PageEncoding, doms: list[int], i: int) -> z3.BoolRef:
    parts: list[z3.BoolRef] = []
    nf = len(e.frames)
    for d in doms:
        # every frame mapped as RAM is owned by d; no frame mapped twice as RAM by d
        for s in range(e.nslots[d]):
            for f in e.slot_frames[d][s]:
                parts.append(implies(e.mp(d, s, f, i), e.own(d, f, i)))
        if e.nslots[d] > 1:
            for f in range(nf):
                hits = [e.mp(d, s, f, i) for s in range(e.nslots[d]) if e.has(("map", d, s, f))]
                if len(hits) > 1:
                    parts.append(pb_le([(h, 1) for h in hits], 1))
    # between two alive domains: no frame owned by both, none mapped as RAM by both
    for d in doms:
        for o in range(e.nd):
            if o == d or (o in doms and o < d):
                continue
            both = and_(e.alive(d, i), e.alive(o, i))
            for f in range(nf):
                parts.append(implies(both, neg(and_(e.own(d, f, i), e.own(o, f, i)))))
                parts.append(implies(both, neg(and_(e.mapped(d, f, i), e.mapped(o, f, i)))))
    return all_of(parts)


def _ram_in_host_ram(e: PageEncoding, d: int, i: int) -> z3.BoolRef:
    """A 1:1 domain's RAM IPA range and the frames backing it lie in host RAM banks."""
    dom = e.doms[d]
    direct = and_(e.alive(d, i), e.direct(d, i))
    parts: list[z3.BoolRef] = []
    if dom.static:
        if ex.difference(tuple((p, 1) for p in dom.static), e.host_ram):
            parts.append(neg(direct))
    else:
        for c in e.rb_cands[d]:
            if ex.difference(ex.single(c, dom.pages), e.host_ram):
                parts.append(neg(and_(direct, e.rb_is(d, c, i))))
    for s in range(e.nslots[d]):
        for f in e.slot_frames[d][s]:
            if not ex.contains(e.host_ram, e.frames[f]):
                parts.append(neg(and_(direct, e.mp(d, s, f, i))))
    return all_of(parts)


def _frames_of(e: PageEncoding, r: m.Region) -> ex.Extents:
    sh = e.shift
    lo = r.base >> sh
    hi = (r.end + (1 << sh) - 1) >> sh
    return ex.single(lo, hi - lo)


def _windows(e: PageEncoding, direct: bool) -> list[m.Region]:
    hv = e.model.hypervisor
    if direct and hv.host_windows:
        found = [e.model.platform.region(n) for n in hv.host_windows]
        return [r for r in found if r is not None]
    return list(hv.windows)


def _overlap_bad(e: PageEncoding, d: int, ram: ex.Extents, direct: bool) -> bool:
    """The reference's no_ipa_overlap finding for one RAM range and 1:1-ness, as a constant."""
    mmio = list(e.model.domains[d].passthrough)
    wins = _windows(e, direct)
    for r in mmio + wins:
        if ex.intersection(ram, _frames_of(e, r)):
            return True
    return any(a.overlaps(w) for a in mmio for w in wins)


def _no_ipa_overlap(e: PageEncoding, d: int, i: int) -> z3.BoolRef:
    dom = e.doms[d]
    alive, direct = e.alive(d, i), e.direct(d, i)
    parts: list[z3.BoolRef] = []
    for c in e.rb_cands[d]:
        for is_direct in (True, False):
            if is_direct and not dom.may_direct or not is_direct and not dom.may_plain:
                continue
            ram = tuple((p, 1) for p in dom.static) if (is_direct and dom.static) else \
                ex.single(c, dom.pages)
            ram = ex.normalize(ram)
            if _overlap_bad(e, d, ram, is_direct):
                when = direct if is_direct else neg(direct)
                parts.append(neg(and_(alive, when, e.rb_is(d, c, i))))
    return all_of(parts)


__all__ = ["any_of", "holds", "observed_failures", "supported"]
