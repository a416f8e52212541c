"""Built-in properties over page-level symbolic states: `holds(enc, prop, i) -> BoolRef`.

`supported(model, prop)` says which properties the page-level encoding decides; the others get
a reason that `smt.supports` passes on to `--engine auto`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import z3

from checker import model as m
from checker.encode import all_of, any_of

if TYPE_CHECKING:
    from checker.encode_page import PageEncoding

SUPPORTED = {
    m.PropertyKind.IPA_EQ_PA,
    m.PropertyKind.CREATE_SUCCEEDS,
    m.PropertyKind.BALLOON_IN_SUCCEEDS,
    m.PropertyKind.NO_FRAME_SHARED,
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


def dma_tracked(model: m.Model) -> set[int]:
    return {
        d
        for p in model.properties
        if p.kind is m.PropertyKind.DMA_REACHES_INTENDED
        for d in range(len(model.domains))
        if p.covers(d)
    }


def supported(model: m.Model, prop: m.Property) -> bool | str:
    if prop.kind not in SUPPORTED:
        return f"the symbolic engine does not encode {prop.kind.value} yet"
    return True


def holds(e: "PageEncoding", prop: m.Property, i: int) -> z3.BoolRef:
    k = prop.kind
    doms = [d for d in range(e.nd) if prop.covers(d)]
    if k is m.PropertyKind.IPA_EQ_PA:
        parts = []
        for d in doms:
            if not e.model.domains[d].wants_direct_map:
                continue
            for s in range(e.nslots[d]):
                parts.append(z3.Implies(z3.And(e.alive(d, i), e.direct(d, i), e.pop(d, s, i)),
                                        e.mp(d, s, i) == e.slot_ipa(d, s, i)))
        return all_of(parts)
    if k is m.PropertyKind.CREATE_SUCCEEDS:
        return all_of(z3.Not(e.failed(m.OpKind.CREATE, d, i)) for d in doms)
    if k is m.PropertyKind.BALLOON_IN_SUCCEEDS:
        return all_of(z3.Not(e.failed(m.OpKind.BALLOON_IN, d, i)) for d in doms)
    if k is m.PropertyKind.NO_FRAME_SHARED:
        return _no_frame_shared(e, doms, i)
    raise NotImplementedError(k.value)


def _no_frame_shared(e: "PageEncoding", doms: list[int], i: int) -> z3.BoolRef:
    parts: list[z3.BoolRef] = []
    # no frame owned by two domains
    if e.nd > 1:
        for f in range(len(e.frames)):
            ds = [e.own(d, f, i) for d in range(e.nd)]
            if any(d in doms for d in range(e.nd)):
                parts.append(z3.PbLe([(b, 1) for b in ds], 1))
    # every frame mapped as RAM is owned by the domain that maps it
    mapped: list[tuple[z3.BoolRef, z3.BitVecRef]] = []
    for d in doms:
        for s in range(e.nslots[d]):
            live = z3.And(e.alive(d, i), e.direct(d, i), e.pop(d, s, i))
            x = e.mp(d, s, i)
            parts.append(z3.Implies(live, e.owned_by(d, x, i)))
            mapped.append((live, x))
    # no frame mapped twice as RAM (a frame not owned by its mapper is caught above)
    if len(mapped) > 1:
        for f, p in enumerate(e.frames):
            hits = [z3.And(live, x == p) for live, x in mapped]
            parts.append(z3.PbLe([(h, 1) for h in hits], 1))
    return all_of(parts)


__all__ = ["holds", "supported", "observed_failures", "dma_tracked", "any_of"]
