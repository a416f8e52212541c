"""Small models built directly as `checker.model.Model`s: the frag-balloon family and a
hypothesis strategy for random models whose heap is small enough for exact page-level search.

`random_models()` draws platforms (one or two RAM banks, maybe a reserved hole), domain sets
(direct-mapped from the heap, from static memory, by the id hook, ordinary), a scenario (fixed
steps, `choose up to N`, `loop`), a balloon mode, a placement policy and a property set.
"""

from __future__ import annotations

from hypothesis import strategies as st

from checker import model as m

PAGE = 4096
RAM_BASE = 0x8000_0000
GUEST_RAM = m.Region("GUEST_RAM0", m.RegionKind.GUEST_RAM, 0x4000_0000, 0xC000_0000)


def hypervisor(balloon: m.BalloonMode, max_order: int = 18,
               placement: m.Placement = m.Placement.ANY) -> m.Hypervisor:
    return m.Hypervisor("xen", (), (GUEST_RAM,), max_order, placement, balloon)


def domain(index: int, name: str, pages: int, direct: m.DirectMap = m.DirectMap.NONE, *,
           rambase: m.RambaseMode | None = None, hook_id: int | None = None,
           static: tuple[m.Region, ...] = (), group: int | None = None) -> m.Domain:
    if rambase is None:
        rambase = m.RambaseMode.ALLOCATED if direct in (m.DirectMap.ALWAYS, m.DirectMap.HOOK) \
            else m.RambaseMode.LAYOUT
        if static:
            rambase = m.RambaseMode.STATIC
    base = GUEST_RAM.base if rambase is m.RambaseMode.LAYOUT else None
    return m.Domain(index, name, pages * PAGE, pages, direct, hook_id, rambase, base, static,
                    False, (), (), (), group)


def frag_balloon(F: int, K: int, R: int, mode: str) -> m.Model:
    """frag-balloon(F, K, R, mode) of the benchmark definition, as a Model.

    The bank starts at 2 GiB so that no frame of it is frame 0 (which never enters the heap).
    naive = `balloon release_any`, fixed = `balloon release_same`.
    """
    S = F // 4
    balloon = {"naive": m.BalloonMode.RELEASE_ANY, "fixed": m.BalloonMode.RELEASE_SAME}[mode]
    plat = m.Platform("bank", PAGE, (m.Region("ram0", m.RegionKind.RAM, RAM_BASE, F * PAGE),),
                      (), ())
    doms = [domain(0, "domd", S, m.DirectMap.ALWAYS)]
    doms += [domain(i, f"u{i}", R, group=1 if K > 1 else None) for i in range(1, K + 1)]
    alts: list[m.Op] = []
    for d in range(K + 1):
        alts += [m.Op(m.OpKind.CREATE, d), m.Op(m.OpKind.DESTROY, d),
                 m.Op(m.OpKind.BALLOON_OUT, d, 1), m.Op(m.OpKind.BALLOON_IN, d, 1)]
    props = (
        m.Property("ipa_eq_pa", m.PropertyKind.IPA_EQ_PA, ()),
        m.Property("domd_create_never_fails", m.PropertyKind.CREATE_SUCCEEDS, (0,)),
        m.Property("no_frame_shared", m.PropertyKind.NO_FRAME_SHARED, ()),
    )
    return m.Model(f"frag-balloon-{F}-{K}-{R}-{mode}.m11", (), plat, hypervisor(balloon),
                   tuple(doms), m.Scenario((m.Loop(tuple(alts)),)), props)


SIZES: dict[str, tuple[int, int, int]] = {
    "tiny": (8, 1, 2),
    "small": (16, 2, 2),
    "medium": (32, 2, 2),
    "large": (32, 3, 3),
    "wide": (32, 1, 3),
    "small-r3": (16, 2, 3),
    "huge": (64, 3, 4),
}


__all__ = ["frag_balloon", "SIZES", "st"]
