"""Choice enumeration: exact, candidates, and the buddy policy (NOTE(buddy-policy))."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from checker import extents as ex
from checker import placement as pl
from checker.model import Placement
from checker.semantics import Semantics
from tests import modelkit as mk

frames_st = st.sets(st.integers(min_value=1, max_value=63), max_size=30)


def test_top_down_prefers_the_smallest_buddy_in_the_highest_zone() -> None:
    # free: [8, 16) (an order-3 buddy, zone 4) and [40, 42) (order 1, zone 6) and 60 (zone 6)
    free = ex.normalize([(8, 8), (40, 2), (60, 1)])
    # order 0: zone 6 has buddies of order 1 (40) and 0 (60): the order-0 one
    assert pl.buddy_block(free, 0, 20, top_down=True) == 60
    # order 1: zone 6 has [40, 42): its top sub-block is itself
    assert pl.buddy_block(free, 1, 20, top_down=True) == 40
    # order 2: only [8, 16) fits: its top-most order-2 sub-block
    assert pl.buddy_block(free, 2, 20, top_down=True) == 12
    assert pl.buddy_block(free, 4, 20, top_down=True) is None
    # bottom-up: lowest zone, smallest buddy, bottom sub-block
    assert pl.buddy_block(free, 0, 20, top_down=False) == 8
    # max_order caps the buddies: [8, 16) with max_order 2 is two order-2 buddies
    assert pl.buddy_block(free, 2, 2, top_down=True) == 12


def test_buddy_frames_walk_down_the_smallest_buddies_first() -> None:
    free = ex.normalize([(8, 8), (40, 2), (60, 1)])
    assert pl.buddy_frames(free, 1, 20, True) == ((60, 1),)
    assert pl.buddy_frames(free, 3, 20, True) == ((40, 2), (60, 1))
    assert pl.buddy_frames(free, 5, 20, True) == ((14, 2), (40, 2), (60, 1))
    assert pl.buddy_frames(free, 12, 20, True) is None
    assert pl.buddy_frames(free, 2, 20, False) == ((8, 2),)


@given(frames_st, st.integers(min_value=1, max_value=3))
def test_buddy_frames_agree_with_one_page_at_a_time(frames: set[int], n: int) -> None:
    free = ex.from_frames(frames)
    got = pl.buddy_frames(free, n, 20, True)
    if len(frames) < n:
        assert got is None
        return
    taken: set[int] = set()
    left = free
    for _ in range(n):
        b = pl.buddy_block(left, 0, 20, True)
        assert b is not None
        taken.add(b)
        left = ex.difference(left, ((b, 1),))
    assert got == ex.from_frames(taken)


@given(frames_st, st.integers(min_value=0, max_value=3))
def test_exact_blocks_are_every_aligned_free_block(frames: set[int], order: int) -> None:
    free = ex.from_frames(frames)
    size = 1 << order
    want = [b for b in range(0, 64, size) if all(b + i in frames for i in range(size))]
    assert pl.block_choices(free, order, pl.EXACT, 20) == want
    assert pl.block_choices(free, order, pl.EXACT, order - 1 if order else 0) == (
        want if order == 0 else [])


@given(frames_st, st.integers(min_value=1, max_value=3))
def test_exact_frames_are_every_subset(frames: set[int], n: int) -> None:
    free = ex.from_frames(frames)
    got = pl.frame_choices(free, n, pl.EXACT, 20)
    assert len(got) == (math.comb(len(frames), n) if len(frames) >= n else 0)
    assert len(set(got)) == len(got)
    assert all(ex.count(c) == n and ex.subset(c, free) for c in got)


def test_candidate_frames() -> None:
    free = ex.single(0x80000, 0x80000)  # 2 GiB of 4 KiB frames
    n = 0x20000  # 512 MiB
    cands = pl.frame_choices(free, n, pl.CANDIDATES, 18, orders=(17,),
                             hints=[ex.single(0xA0000, 4)])
    assert ex.lowest(free, n) in cands and ex.highest(free, n) in cands
    spread = ex.spread(free, 17, n)
    assert spread in cands
    # one frame in each of the 4 aligned 512 MiB blocks, the rest from the bottom
    assert all(ex.contains(spread, b) for b in (0x80000, 0xA0000, 0xC0000, 0xE0000))
    hinted = [c for c in cands if ex.contains_range(c, 0xA0000, 4)]
    assert hinted
    assert all(ex.count(c) == n and ex.subset(c, free) for c in cands)
    assert all(len(c) <= 8 for c in cands)  # a handful of extents each
    assert len(cands) == len(set(cands)) <= 8


def test_candidate_blocks() -> None:
    free = ex.single(0x80000, 0x7F000)
    # 2032 MiB holds 7 whole aligned 256 MiB (order 16) blocks: all enumerated
    assert pl.block_choices(free, 16, pl.CANDIDATES, 18) == [0x80000 + i * 0x10000 for i in range(7)]
    # order 8 (1 MiB): 2032 blocks: lowest, highest, top-down, and a fixed rambase hint
    got = pl.block_choices(free, 8, pl.CANDIDATES, 18, hints=[0xA0000, 0xA0001])
    assert got == [0x80000, 0xFEF00, 0xA0000]  # top-down is the highest here; bad hint dropped
    assert pl.block_choices(free, 19, pl.CANDIDATES, 18) == []  # above max_order


def test_run_choices() -> None:
    ipas = ex.normalize([(0, 3), (10, 1), (20, 100)])
    assert pl.run_choices(ipas, 2, exhaustive=True) == [0, 1] + list(range(20, 119))
    assert pl.run_choices(ipas, 2, exhaustive=False) == [0, 1, 20, 118]
    assert pl.run_choices(ex.single(0, 5), 1, exhaustive=False) == [0, 1, 2, 3, 4]


def test_semantics_follows_the_hypervisor_policy() -> None:
    m = mk.frag_balloon(8, 1, 2, "naive")
    top = mk.model(m.domains, m.scenario.statements, m.properties, ram=m.platform.ram,
                   placement=Placement.TOP_DOWN)
    sem = Semantics(top)
    assert sem.placement == "top-down" and sem.exact
    (a, _t), = [(a, t) for a, t in sem.successors(sem.initial())
                if sem.action_label(a) == "create domd"]
    assert dict(a.choices)["block"] == 0x80006  # top-most order-1 block of the bank
    cu = [a for a, _ in sem.successors(sem.initial()) if sem.action_label(a) == "create u1"]
    assert [dict(a.choices)["frames"] for a in cu] == [((0x80006, 2),)]
    bottom = Semantics(top, placement="bottom-up")
    (a, _t), = [(a, t) for a, t in bottom.successors(bottom.initial())
                if bottom.action_label(a) == "create domd"]
    assert dict(a.choices)["block"] == 0x80000


def test_comb_at_most_is_exact_and_cheap() -> None:
    for pool in range(20):
        for n in range(-1, pool + 2):
            want = math.comb(pool, n) if 0 <= n <= pool else 0
            for limit in (0, 1, 5, 64, 1000):
                assert pl.comb_at_most(pool, n, limit) == (want <= limit)
    assert not pl.comb_at_most(0x7F000, 0x20000, 64)  # 2 GiB heap, 512 MiB request: instant
