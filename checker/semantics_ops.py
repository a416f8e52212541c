"""The operations of docs/semantics.md: each yields (choices, next view) for one view."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, ClassVar

from checker import extents as ex
from checker import placement as pl
from checker.extents import Extents, P2m
from checker.model import (
    BalloonMode,
    DirectMap,
    Op,
    OpKind,
    RambaseMode,
)
from checker.semantics_choices import Choosing
from checker.semantics_types import (
    D_DIRECT,
    D_GRANTS,
    D_OWNED,
    D_RAM,
    DMA_BAD,
    DOM0,
    FAILED,
    FREE,
    NEXT_ID,
    Choices,
    ChoiceValue,
    DomState,
    NotEnabled,
    View,
)


class Operations(Choosing):
    """Each operation as a generator of (choices, next view) (`_dispatch`)."""

    def _fail(self, st: View, base: list[Any], what: str, d: int,
              choices: Choices) -> Iterator[tuple[Choices, View]]:
        """A failed operation: recorded only if a property observes it (docs/semantics.md)."""
        observed = (self.obs_create if what == "create" else self.obs_balloon_in)[d]
        new = list(base)
        changed = False
        if observed and (what, d) not in st[FAILED]:
            new[FAILED] = tuple(sorted(st[FAILED] + ((what, d),)))
            changed = True
        if what == "create" and self.track_ids:
            # NOTE(domid-rover): Xen hands out the domain id before the memory is allocated,
            # so a failed create still uses one up.
            new[NEXT_ID] = min(st[NEXT_ID] + 1, self.id_cap)
            changed = changed or new[NEXT_ID] != st[NEXT_ID]
        if changed:
            yield choices, tuple(new)

    def _op_create(self, st: View, base: list[Any], op: Op,
                   rec: dict[str, ChoiceValue] | None) -> Iterator[tuple[Choices, View]]:
        d = op.domain
        if st[DOM0 + d] is not None:
            return
        if ("create", d) in st[FAILED]:
            return
        info = self.doms[d]
        nid = st[NEXT_ID]
        next_id = min(nid + 1, self.id_cap) if self.track_ids else 0
        direct = info.direct_decl in (DirectMap.ALWAYS, DirectMap.STATIC) or (
            info.direct_decl is DirectMap.HOOK and nid == info.hook_id
        )
        slot = DOM0 + d
        if info.static:
            owned = info.static
            ram: P2m = tuple((s, s, c) for s, c in owned) if direct else ()
            rambase = info.rambase if info.rambase_mode is RambaseMode.FIXED or not direct else owned[0][0]
            new = list(base)
            new[NEXT_ID] = next_id
            new[slot] = (nid, direct, rambase, ram, owned, ())
            yield (), tuple(new)
            return
        free: Extents = st[FREE]
        if direct:
            order = info.order
            if order <= self.max_order:
                blocks = self._pick_block(st, order, rec, d)
            elif rec is not None and "block" in rec:
                raise NotEnabled(f"order {order} exceeds max_order {self.max_order}")
            else:
                blocks = []
            if not blocks:
                yield from self._fail(st, base, "create", d, ())
                return
            size = 1 << order
            pages = info.pages
            allocated = info.rambase_mode is RambaseMode.ALLOCATED or (
                info.rambase_mode is RambaseMode.STATIC
            )
            for b in blocks:
                rb = b if allocated else info.rambase
                new = list(base)
                new[NEXT_ID] = next_id
                new[FREE] = ex.difference(free, ((b, size),))
                new[slot] = (nid, True, rb, ((rb, b, pages),), ((b, size),), ())
                yield (("block", b),), tuple(new)
            return
        sets = self._pick_frames(st, free, info.pages, rec, "frames", guest=False)
        if not sets:
            yield from self._fail(st, base, "create", d, ())
            return
        for fs in sets:
            new = list(base)
            new[NEXT_ID] = next_id
            new[FREE] = ex.difference(free, fs)
            new[slot] = (nid, False, info.rambase, (), fs, ())
            yield (("frames", fs),), tuple(new)

    def _op_destroy(self, st: View, base: list[Any], op: Op,
                    rec: dict[str, ChoiceValue] | None) -> Iterator[tuple[Choices, View]]:
        d = op.domain
        dom = st[DOM0 + d]
        if dom is None:
            return
        new = list(base)
        new[FREE] = self._release(st[FREE], dom[D_OWNED], d)
        new[DOM0 + d] = None
        for e in range(self.ndom):
            other = st[DOM0 + e]
            if other is not None and other[D_GRANTS] and any(g[2] == d for g in other[D_GRANTS]):
                grants = tuple(g for g in other[D_GRANTS] if g[2] != d)
                new[DOM0 + e] = other[:D_GRANTS] + (grants,)
        yield (), tuple(new)

    def _balloon_out_one(self, st: View, new: list[Any], d: int, dom: DomState, n: int,
                         rec: dict[str, ChoiceValue] | None,
                         name: str) -> Iterator[tuple[Choices, DomState]]:
        """Balloon out n pages of `dom` into `new` (FREE updated); yields (choices, new dom)."""
        free: Extents = st[FREE]
        granted = self._granted(st, d)
        if dom[D_DIRECT]:
            ipas = ex.p2m_ipas(dom[D_RAM])
            if granted:
                # NOTE(granted-pages): a page the guest has granted is in use by the backend:
                # the guest does not balloon it out (and Xen would keep it referenced anyway).
                busy = ex.normalize(
                    (i + lo - m, hi - lo)
                    for i, m, c in dom[D_RAM]
                    for gs, gc in granted
                    for lo, hi in [(max(m, gs), min(m + c, gs + gc))]
                    if lo < hi
                )
                ipas = ex.difference(ipas, busy)
            for ipa in self._pick_ipa(ipas, n, rec, name):
                ram, unmapped = ex.p2m_remove(dom[D_RAM], ipa, n)
                if self.balloon is BalloonMode.KEEP_OWNED:
                    new[FREE] = free
                    yield ((name, ipa),), (dom[0], dom[1], dom[2], ram, dom[D_OWNED], dom[5])
                else:
                    new[FREE] = self._release(free, unmapped, d)
                    owned = ex.difference(dom[D_OWNED], unmapped)
                    yield ((name, ipa),), (dom[0], dom[1], dom[2], ram, owned, dom[5])
            return
        owned = dom[D_OWNED]
        for fs in self._pick_frames(st, ex.difference(owned, granted), n, rec, name, guest=True):
            new[FREE] = self._release(free, fs, d)
            yield ((name, fs),), (dom[0], dom[1], dom[2], (), ex.difference(owned, fs), dom[5])

    def _granted(self, st: View, d: int) -> Extents:
        """Frames of domain d that some backend has grant-mapped."""
        if not self.has_grants:
            return ex.EMPTY
        return ex.from_frames(
            g[1] for e in range(self.ndom) if st[DOM0 + e] is not None
            for g in st[DOM0 + e][D_GRANTS] if g[2] == d
        )

    def _op_balloon_out(self, st: View, base: list[Any], op: Op,
                        rec: dict[str, ChoiceValue] | None) -> Iterator[tuple[Choices, View]]:
        d = op.domain
        dom = st[DOM0 + d]
        if dom is None:
            return
        name = "ipa" if dom[D_DIRECT] else "frames"
        new = list(base)
        for choices, ndom in self._balloon_out_one(st, new, d, dom, op.pages, rec, name):
            new[DOM0 + d] = ndom
            yield choices, tuple(new)

    def _op_balloon_in(self, st: View, base: list[Any], op: Op,
                       rec: dict[str, ChoiceValue] | None) -> Iterator[tuple[Choices, View]]:
        d = op.domain
        dom = st[DOM0 + d]
        if dom is None:
            return
        n = op.pages
        slot = DOM0 + d
        free: Extents = st[FREE]
        holes = self.ballooned(dom, d)
        if not dom[D_DIRECT]:
            if ex.count(holes) < n:
                return
            pool = self._pool(st, dom, d)
            sets = self._pick_frames(st, pool, n, rec, "frames", guest=False)
            if not sets:
                yield from self._fail(st, base, "balloon_in", d, ())
                return
            for fs in sets:
                new = list(base)
                if not self.doms[d].static:
                    new[FREE] = ex.difference(free, fs)
                new[slot] = (dom[0], False, dom[2], (), ex.union(dom[D_OWNED], fs), dom[5])
                yield (("frames", fs),), tuple(new)
            return
        mode = self.balloon
        for ipa in self._pick_ipa(holes, n, rec):
            choice: Choices = (("ipa", ipa),)
            if mode is BalloonMode.RELEASE_ANY:
                pool = self._pool(st, dom, d)
                sets = self._pick_frames(st, pool, n, rec, "frames", guest=False)
                if not sets:
                    yield from self._fail(st, base, "balloon_in", d, choice)
                    continue
                for fs in sets:
                    new = list(base)
                    if not self.doms[d].static:
                        new[FREE] = ex.difference(free, fs)
                    ram = ex.p2m_add(dom[D_RAM], ipa, fs)
                    new[slot] = (dom[0], True, dom[2], ram, ex.union(dom[D_OWNED], fs), dom[5])
                    yield choice + (("frames", fs),), tuple(new)
                continue
            if rec is not None and "frames" in rec:
                raise NotEnabled(f"balloon mode {mode.value} takes no 'frames' choice")
            want = ((ipa, n),)
            if mode is BalloonMode.RELEASE_SAME:
                pool = self._pool(st, dom, d)
                if not ex.contains_range(pool, ipa, n):
                    yield from self._fail(st, base, "balloon_in", d, choice)
                    continue
                new = list(base)
                if not self.doms[d].static:
                    new[FREE] = ex.difference(free, want)
                owned = ex.union(dom[D_OWNED], want)
            else:  # KEEP_OWNED: populate maps mfn == gfn, which the domain must still own
                if not ex.contains_range(dom[D_OWNED], ipa, n):
                    yield from self._fail(st, base, "balloon_in", d, choice)
                    continue
                new = list(base)
                owned = dom[D_OWNED]
            ram = ex.p2m_add(dom[D_RAM], ipa, want)
            new[slot] = (dom[0], True, dom[2], ram, owned, dom[5])
            yield choice, tuple(new)

    def _op_grant(self, st: View, base: list[Any], op: Op,
                  rec: dict[str, ChoiceValue] | None) -> Iterator[tuple[Choices, View]]:
        f, b = op.domain, op.peer
        if b is None or b == f:
            return
        fdom, bdom = st[DOM0 + f], st[DOM0 + b]
        if fdom is None or bdom is None:
            return
        frames = self.mapped_frames(fdom)
        if rec is not None:
            v = rec.get("frame")
            if type(v) is not int or not ex.contains(frames, v):
                raise NotEnabled("choice 'frame' must be a frame the frontend has mapped")
            frame_list = [v]
        else:
            frame_list = pl.run_choices(frames, 1, self.guest_mode == pl.EXACT)
        if not frame_list:
            return
        # The backend needs a ballooned-out IPA to map the grant at (Linux's
        # alloc_xenballooned_pages); it balloons one page out first if it has none.
        pre: list[tuple[Choices, Extents, DomState]] = []
        holes = self.ballooned(bdom, b)
        if holes:
            if rec is not None and "balloon" in rec:
                raise NotEnabled("the backend has a ballooned-out IPA: no 'balloon' choice")
            pre.append(((), st[FREE], bdom))
        else:
            scratch = list(base)
            name = "balloon"
            for ch, ndom in self._balloon_out_one(st, scratch, b, bdom, 1, rec, name):
                pre.append((ch, scratch[FREE], ndom))
        for pre_choice, free, ndom in pre:
            holes = self.ballooned(ndom, b)
            if ndom[D_DIRECT]:
                ipas = self._pick_ipa(holes, 1, rec)
            else:
                # NOTE(opaque-p2m): which IPA of a translated backend holds the grant makes no
                # difference to any property; it is the highest ballooned-out one.
                top = holes[-1][0] + holes[-1][1] - 1
                if rec is not None and rec.get("ipa") != top:
                    raise NotEnabled(f"choice 'ipa': the backend maps the grant at {top:#x}")
                ipas = [top]
            for fr in frame_list:
                for ipa in ipas:
                    new = list(base)
                    new[FREE] = free
                    grants = tuple(sorted(ndom[D_GRANTS] + ((ipa, fr, f),)))
                    new[DOM0 + b] = ndom[:D_GRANTS] + (grants,)
                    yield (("frame", fr),) + pre_choice + (("ipa", ipa),), tuple(new)

    def _op_unmap(self, st: View, base: list[Any], op: Op,
                  rec: dict[str, ChoiceValue] | None) -> Iterator[tuple[Choices, View]]:
        b = op.domain
        dom = st[DOM0 + b]
        if dom is None or not dom[D_GRANTS]:
            return
        grants = dom[D_GRANTS]
        for ipa in self._pick_ipa(self.grant_ipas(dom), 1, rec):
            new = list(base)
            new[DOM0 + b] = dom[:D_GRANTS] + (tuple(g for g in grants if g[0] != ipa),)
            yield (("ipa", ipa),), tuple(new)

    def _op_dma(self, st: View, base: list[Any], op: Op,
                rec: dict[str, ChoiceValue] | None) -> Iterator[tuple[Choices, View]]:
        d = op.domain
        dom = st[DOM0 + d]
        info = self.doms[d]
        if dom is None or not info.dma_capable:
            return
        record = self.obs_dma[d] and st[DMA_BAD] is None
        if op.buffer == "grant":
            by_ipa = {g[0]: g[1] for g in dom[D_GRANTS]}
            for ipa in self._pick_ipa(self.grant_ipas(dom), 1, rec):
                intended = by_ipa[ipa]
                reached = intended if info.swiotlb else ipa
                new = list(base)
                if record and reached != intended:
                    new[DMA_BAD] = (d, ipa, intended, reached)
                yield (("ipa", ipa),), tuple(new)
            return
        p2m = self.p2m(dom, d)
        for ipa in self._pick_ipa(ex.p2m_ipas(p2m), 1, rec):
            intended = ex.p2m_lookup(p2m, ipa)
            assert intended is not None
            new = list(base)
            # NOTE(dma-bus): Linux's pfn_to_bfn is the identity for the domain's own pages, so
            # the device is given the IPA; without an IOMMU it reaches PA == bus address.
            if record and ipa != intended:
                new[DMA_BAD] = (d, ipa, intended, ipa)
            yield (("ipa", ipa),), tuple(new)

    _dispatch: ClassVar[dict[OpKind, Callable[..., Iterator[tuple[Choices, View]]]]] = {
        OpKind.CREATE: _op_create,
        OpKind.DESTROY: _op_destroy,
        OpKind.BALLOON_OUT: _op_balloon_out,
        OpKind.BALLOON_IN: _op_balloon_in,
        OpKind.GRANT: _op_grant,
        OpKind.UNMAP: _op_unmap,
        OpKind.DMA: _op_dma,
    }
