"""Python builders of `checker.model.Model` objects for tests (no parser involved).

- `frag_balloon(F, K, R, mode)`: the benchmark family (frag-balloon.md) mapped into the
  language: one RAM bank of F 4 KiB frames at 0x80000000, `domd` (F/4 pages, direct_map
  always, rambase allocated) and `u1..uK` (R pages, one symmetry group), one loop over every
  create / destroy / balloon_out 1 / balloon_in 1, placement any, balloon release_any (naive)
  or release_same (fixed), properties ipa_eq_pa, domd_create_never_fails, no_frame_shared.
- `omap5(...)`: an OMAP5 uEVM-like model at real size (2032 MiB of RAM, 4 KiB pages, the SoC
  MMIO map of xen-facts §4, Xen 4.5-like guest layout windows).
"""

from __future__ import annotations

from collections.abc import Sequence

from checker.model import (
    BalloonMode,
    Choose,
    DirectMap,
    Domain,
    Expr,
    Frontend,
    Hypervisor,
    Loop,
    Model,
    Op,
    OpKind,
    Placement,
    Platform,
    Property,
    PropertyKind,
    RambaseMode,
    Region,
    RegionKind,
    Scenario,
    Statement,
    Step,
)

KIB = 1 << 10
MIB = 1 << 20
GIB = 1 << 30
PAGE = 4 * KIB
FRAG_BASE = 0x8000_0000


def domain(
    index: int,
    name: str,
    memory: int,
    *,
    page_size: int = PAGE,
    direct_map: DirectMap = DirectMap.NONE,
    hook_id: int | None = None,
    rambase_mode: RambaseMode = RambaseMode.LAYOUT,
    rambase: int | None = None,
    static_mem: Sequence[tuple[int, int]] = (),
    swiotlb: bool = False,
    backends: Sequence[str] = (),
    frontends: Sequence[tuple[str, str]] = (),
    passthrough: Sequence[Region] = (),
    symmetry_group: int | None = None,
) -> Domain:
    return Domain(
        index=index,
        name=name,
        memory=memory,
        pages=memory // page_size,
        direct_map=direct_map,
        hook_id=hook_id,
        rambase_mode=rambase_mode,
        rambase=rambase,
        static_mem=tuple(
            Region(f"{name}_static{i}", RegionKind.STATIC, b, s) for i, (b, s) in enumerate(static_mem)
        ),
        swiotlb=swiotlb,
        backends=tuple(backends),
        frontends=tuple(Frontend(k, b) for k, b in frontends),
        passthrough=tuple(passthrough),
        symmetry_group=symmetry_group,
    )


def prop(kind: PropertyKind, name: str | None = None, domains: Sequence[int] = (),
         expr: Expr | None = None) -> Property:
    return Property(name or kind.value, kind, tuple(domains), expr)


def model(
    domains: Sequence[Domain],
    statements: Sequence[Statement],
    properties: Sequence[Property],
    *,
    ram: Sequence[Region] = (),
    mmio: Sequence[Region] = (),
    reserved: Sequence[Region] = (),
    windows: Sequence[Region] = (),
    guest_ram: Sequence[Region] = (),
    max_order: int = 20,
    placement: Placement = Placement.ANY,
    balloon: BalloonMode = BalloonMode.RELEASE_ANY,
    host_windows: Sequence[str] = (),
    page_size: int = PAGE,
    path: str = "<modelkit>",
) -> Model:
    return Model(
        path=path,
        sources=(path,),
        platform=Platform("kit", page_size, tuple(ram), tuple(mmio), tuple(reserved)),
        hypervisor=Hypervisor(
            "kit", tuple(windows), tuple(guest_ram), max_order, placement, balloon,
            tuple(host_windows),
        ),
        domains=tuple(domains),
        scenario=Scenario(tuple(statements)),
        properties=tuple(properties),
    )


def ram(name: str, base: int, size: int) -> Region:
    return Region(name, RegionKind.RAM, base, size)


def mmio(name: str, base: int, size: int, dma: bool = False) -> Region:
    return Region(name, RegionKind.MMIO, base, size, dma)


def window(name: str, base: int, size: int) -> Region:
    return Region(name, RegionKind.WINDOW, base, size)


def ops_for(d: int, balloon_pages: int = 1) -> tuple[Op, ...]:
    return (
        Op(OpKind.CREATE, d),
        Op(OpKind.DESTROY, d),
        Op(OpKind.BALLOON_OUT, d, balloon_pages),
        Op(OpKind.BALLOON_IN, d, balloon_pages),
    )


def frag_balloon(F: int, K: int, R: int, mode: str, *,
                 properties: Sequence[str] | None = None) -> Model:
    """The benchmark instance frag-balloon(F, K, R, mode) (mode "naive" or "fixed")."""
    if F < 8 or F & (F - 1) or K < 1 or R < 1 or mode not in ("naive", "fixed"):
        raise ValueError(f"bad frag-balloon parameters {(F, K, R, mode)}")
    doms = [domain(0, "domd", F // 4 * PAGE, direct_map=DirectMap.ALWAYS,
                   rambase_mode=RambaseMode.ALLOCATED)]
    for i in range(1, K + 1):
        doms.append(domain(i, f"u{i}", R * PAGE, symmetry_group=1))
    alts: list[Op] = []
    for d in range(K + 1):
        alts.extend(ops_for(d))
    props = {
        "ipa_eq_pa": prop(PropertyKind.IPA_EQ_PA),
        "domd_create_never_fails": prop(
            PropertyKind.CREATE_SUCCEEDS, "domd_create_never_fails", (0,)
        ),
        "no_frame_shared": prop(PropertyKind.NO_FRAME_SHARED),
    }
    chosen = list(props) if properties is None else list(properties)
    return model(
        doms,
        [Loop(tuple(alts))],
        [props[p] for p in chosen],
        ram=[ram("bank0", FRAG_BASE, F * PAGE)],
        max_order=20,
        balloon=BalloonMode.RELEASE_ANY if mode == "naive" else BalloonMode.RELEASE_SAME,
        path=f"<frag-balloon F={F} K={K} R={R} {mode}>",
    )


# ---- OMAP5 uEVM (xen-facts §4) -------------------------------------------------------------

OMAP5_RAM = ram("dram", 0x8000_0000, 0x7F00_0000)
OMAP5_MMIO = (
    mmio("ocmc_ram", 0x4030_0000, 0x2_0000),
    mmio("l4_per", 0x4800_0000, 0x40_0000, dma=True),
    mmio("gic", 0x4821_1000, 0x7000),
    mmio("l4_cfg", 0x4A00_0000, 0x38_0000),
    mmio("l4_wkup", 0x4AE0_0000, 0x3_0000),
    mmio("dss", 0x5800_0000, 0x100_0000, dma=True),
)
XEN45_WINDOWS = (
    window("gicd", 0x0300_1000, 0x1000),
    window("gicc", 0x0300_2000, 0x2000),
    window("gnttab", 0x3800_0000, 0x100_0000),
    window("magic", 0x3900_0000, 0x100_0000),
)
XEN45_GUEST_RAM = (
    Region("guest_ram0", RegionKind.GUEST_RAM, 0x4000_0000, 0xC000_0000),
    Region("guest_ram1", RegionKind.GUEST_RAM, 0x2_0000_0000, 0xFE_0000_0000),
)


def omap5(
    domd_memory: int = 512 * MIB,
    domu_memory: int = 512 * MIB,
    *,
    direct_map: DirectMap = DirectMap.ALWAYS,
    hook_id: int | None = None,
    rambase_mode: RambaseMode = RambaseMode.ALLOCATED,
    rambase: int | None = None,
    swiotlb: bool = False,
    balloon: BalloonMode = BalloonMode.RELEASE_ANY,
    placement: Placement = Placement.ANY,
    statements: Sequence[Statement] | None = None,
    properties: Sequence[Property] | None = None,
    max_order: int = 20,
) -> Model:
    """domd (1:1 driver domain with the L4_PER devices passed through, blk backend) and domu
    (its blk frontend) on an OMAP5 uEVM under a Xen 4.5-like hypervisor."""
    domd = domain(
        0, "domd", domd_memory, direct_map=direct_map, hook_id=hook_id,
        rambase_mode=rambase_mode, rambase=rambase, swiotlb=swiotlb, backends=("blk",),
        passthrough=(OMAP5_MMIO[1],),
    )
    domu = domain(1, "domu", domu_memory, rambase=XEN45_GUEST_RAM[0].base,
                  frontends=(("blk", "domd"),))
    if statements is None:
        statements = [
            Step(Op(OpKind.CREATE, 0)),
            Step(Op(OpKind.CREATE, 1)),
            Choose(
                (
                    Op(OpKind.DESTROY, 0), Op(OpKind.CREATE, 0),
                    Op(OpKind.BALLOON_OUT, 0, 1), Op(OpKind.BALLOON_IN, 0, 1),
                    Op(OpKind.GRANT, 1, peer=0), Op(OpKind.UNMAP, 0),
                    Op(OpKind.DMA, 0, buffer="grant"),
                ),
                3,
            ),
        ]
    if properties is None:
        properties = [
            prop(PropertyKind.IPA_EQ_PA),
            prop(PropertyKind.NO_IPA_OVERLAP),
            prop(PropertyKind.DMA_REACHES_INTENDED),
            prop(PropertyKind.CREATE_SUCCEEDS, "domd_boots", (0,)),
            prop(PropertyKind.NO_FRAME_SHARED),
            prop(PropertyKind.RAM_IN_HOST_RAM),
        ]
    return model(
        [domd, domu], statements, properties,
        ram=[OMAP5_RAM], mmio=OMAP5_MMIO, windows=XEN45_WINDOWS, guest_ram=XEN45_GUEST_RAM,
        max_order=max_order, placement=placement, balloon=balloon, path="<omap5>",
    )
