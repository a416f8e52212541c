"""A hypothesis strategy for small random models, sized so that exact page-level search (the
explicit engine under placement `exact`, the page-level Z3 encoding) covers every choice.

`random_models()` draws:
- a platform: one or two RAM banks (4 KiB pages, 4 to 16 frames each, the second one maybe
  adjacent so that the banks merge), maybe a reserved hole, sometimes frame 0 in RAM;
- one to three domains, each one of: 1:1 from the heap (`direct_map` always, rambase
  allocated, layout or fixed), 1:1 by the id hook (`direct_map when id == N`), 1:1 from
  static memory, or ordinary (not 1:1), with 1 to 4 pages;
- a scenario: a few fixed steps, a `choose up to N` and/or a `loop` over the domains'
  create / destroy / balloon_out / balloon_in (1 or 2 pages), and sometimes a frontend that
  grants pages to a backend with a DMA-capable passthrough device (swiotlb on or off), with
  grant / unmap / dma grant / dma ram;
- a balloon mode, a max_order, and every built-in property the Z3 engine encodes.

Placement is `any` half of the time, else the top-down or bottom-up allocator policy.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace
from typing import TypeVar

from hypothesis import strategies as st
from modelkit import PAGE, domain, model, prop, ram

from checker import model as m

T = TypeVar("T")

KINDS = ("direct", "hook", "static", "plain")
PROPS = (
    m.PropertyKind.IPA_EQ_PA,
    m.PropertyKind.CREATE_SUCCEEDS,
    m.PropertyKind.BALLOON_IN_SUCCEEDS,
    m.PropertyKind.NO_FRAME_SHARED,
    m.PropertyKind.RAM_IN_HOST_RAM,
    m.PropertyKind.NO_IPA_OVERLAP,
    m.PropertyKind.DMA_REACHES_INTENDED,
)
BANK0 = 0x8000_0000
GUEST = 0x4000_0000
WINDOWS = (m.Region("gnttab", m.RegionKind.WINDOW, GUEST + 2 * PAGE, PAGE),)
GUEST_RAM = (m.Region("guest_ram0", m.RegionKind.GUEST_RAM, GUEST, 0xC000_0000),)


class _Draw:
    """The few draws the builder needs, from a seeded `random.Random`."""

    def __init__(self, rnd: random.Random) -> None:
        self.rnd = rnd

    def integers(self, lo: int, hi: int) -> int:
        return self.rnd.randint(lo, hi)

    def booleans(self) -> bool:
        return self.rnd.random() < 0.5

    def sampled_from(self, xs: Sequence[T]) -> T:
        return self.rnd.choice(list(xs))

    def lists(self, xs: Sequence[T], lo: int, hi: int) -> list[T]:
        pool = list(xs)
        return self.rnd.sample(pool, min(len(pool), self.rnd.randint(lo, hi)))


def random_models() -> st.SearchStrategy[m.Model]:
    """Random small models (hypothesis draws the seed; `example(seed)` rebuilds one)."""
    return st.randoms(use_true_random=False).map(build)


def example(seed: int) -> m.Model:
    return build(random.Random(seed))


def build(rnd: random.Random) -> m.Model:
    """One random model, a function of the generator's state only."""
    g = _Draw(rnd)
    low = g.booleans()  # a bank at address 0: frame 0 never enters the heap
    base0 = 0 if low else BANK0
    n0 = g.integers(4, 12)
    banks = [ram("bank0", base0, n0 * PAGE)]
    if g.booleans():
        gap = g.sampled_from([0, 4])
        n1 = g.integers(2, 8)
        banks.append(ram("bank1", base0 + (n0 + gap) * PAGE, n1 * PAGE))
    reserved = []
    if g.booleans():
        at = g.integers(0, n0 - 1)
        reserved.append(m.Region("hole", m.RegionKind.RESERVED, base0 + at * PAGE, PAGE))
    ndom = g.integers(1, 3)
    doms: list[m.Domain] = []
    static_next = base0 + (n0 - 1) * PAGE  # static memory from the top of bank 0 down
    for d in range(ndom):
        kind = g.sampled_from(KINDS)
        pages = g.integers(1, 4)
        name = f"d{d}"
        if kind == "direct":
            mode = g.sampled_from([m.RambaseMode.ALLOCATED, m.RambaseMode.LAYOUT,
                                 m.RambaseMode.FIXED])
            fixed = base0 + g.integers(0, n0 - 1) * PAGE if mode is m.RambaseMode.FIXED \
                else None
            doms.append(domain(d, name, pages * PAGE, direct_map=m.DirectMap.ALWAYS,
                               rambase_mode=mode, rambase=fixed if fixed is not None else
                               (GUEST if mode is m.RambaseMode.LAYOUT else None)))
        elif kind == "hook":
            doms.append(domain(d, name, pages * PAGE, direct_map=m.DirectMap.HOOK,
                               hook_id=g.integers(1, 2),
                               rambase_mode=m.RambaseMode.ALLOCATED))
        elif kind == "static":
            pages = min(pages, 2)
            static_next -= (pages - 1) * PAGE
            if static_next < base0 + PAGE:
                kind = "plain"
            else:
                doms.append(domain(d, name, pages * PAGE, direct_map=m.DirectMap.STATIC,
                                   rambase_mode=m.RambaseMode.STATIC,
                                   static_mem=[(static_next, pages * PAGE)]))
                static_next -= PAGE
        if kind == "plain":
            doms.append(domain(d, name, pages * PAGE, rambase=GUEST))
    ops: list[m.Op] = []
    for d in range(ndom):
        n = g.integers(1, 2)
        ops += [m.Op(m.OpKind.CREATE, d), m.Op(m.OpKind.DESTROY, d),
                m.Op(m.OpKind.BALLOON_OUT, d, n), m.Op(m.OpKind.BALLOON_IN, d, n)]
    statements: list[m.Statement] = []
    for _ in range(g.integers(0, 2)):
        statements.append(m.Step(g.sampled_from(ops)))
    shape = g.sampled_from(["loop", "choose", "choose+loop"])
    if "choose" in shape:
        alts = g.lists(ops, 1, 5)
        statements.append(m.Choose(tuple(alts), g.integers(1, 4)))
    if "loop" in shape:
        alts = g.lists(ops, 1, 8)
        statements.append(m.Loop(tuple(alts)))
    balloon = g.sampled_from(list(m.BalloonMode))
    placement = g.sampled_from([m.Placement.ANY, m.Placement.ANY, m.Placement.TOP_DOWN,
                                m.Placement.BOTTOM_UP])
    max_order = g.integers(2, 3)
    # drawn last, so that the models of the draws above stay what they were
    mmio: list[m.Region] = []
    if ndom >= 2 and g.booleans():
        f, b = g.lists(list(range(ndom)), 2, 2)
        dev = m.Region("dev", m.RegionKind.MMIO, 0x1000_0000, PAGE, dma=True)
        mmio.append(dev)
        doms[b] = replace(doms[b], passthrough=(dev,), swiotlb=g.booleans(),
                          backends=("blk",))
        doms[f] = replace(doms[f], frontends=(m.Frontend("blk", doms[b].name),))
        gops = [m.Op(m.OpKind.GRANT, f, 1, b), m.Op(m.OpKind.UNMAP, b),
                m.Op(m.OpKind.DMA, b, buffer="grant"), m.Op(m.OpKind.DMA, b, buffer="ram")]
        alts = g.lists(ops, 1, 4) + gops
        statements.append(m.Loop(tuple(alts)) if g.booleans() else
                          m.Choose(tuple(alts), g.integers(2, 5)))
    props = [prop(k) for k in PROPS]
    return model(doms, statements, props, ram=banks, mmio=mmio, reserved=reserved,
                 windows=WINDOWS, guest_ram=GUEST_RAM, max_order=max_order, balloon=balloon,
                 placement=placement, path="<random>")


__all__ = ["build", "example", "random_models"]
