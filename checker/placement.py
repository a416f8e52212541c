"""How the nondeterministic choices of an operation are enumerated (docs/semantics.md).

Four modes:
- `exact`: every choice the state allows: every naturally aligned free block of the order,
  every n-subset of the free frames, every IPA run.
- `top-down` / `bottom-up`: the one choice a buddy allocator makes (below).
- `candidates`: a few adversarial choices per request, for real sizes; see ARCHITECTURE.md
  ("Placement candidates") for what it can miss.

NOTE(buddy-policy): Xen's `alloc_heap_pages` scans zones from the highest down (zone of a
frame = position of its highest set bit), takes the smallest free buddy of order >= the request
in that zone, and splits it keeping the upper half, so it returns the top-most sub-block; a run
of single-page allocations therefore walks down from the top of the smallest free buddy first
(xen-facts §5.2). Which of several equal buddies heads the free list depends on history the
state does not keep; `top-down` takes the highest-addressed one. `bottom-up` is the mirror image
(lowest zone, smallest buddy, lowest address, bottom sub-block); no Xen version does this, it
exists to show how sensitive a configuration is to the policy.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

from checker import extents as ex
from checker.extents import Extents

EXACT = "exact"
CANDIDATES = "candidates"
TOP_DOWN = "top-down"
BOTTOM_UP = "bottom-up"
MODES = (EXACT, CANDIDATES, TOP_DOWN, BOTTOM_UP)

CANDIDATE_ALL = 64  # under `candidates`, enumerate every choice when there are at most this many


def _zone(frame: int) -> int:
    return frame.bit_length()


def buddy_block(free: Extents, order: int, max_order: int, top_down: bool) -> int | None:
    """The block of 2**order frames a buddy allocator hands out (NOTE(buddy-policy))."""
    best: tuple[int, int, int] | None = None
    for start, bo in ex.buddies(free, max_order):
        if bo < order:
            continue
        if top_down:
            key = (-_zone(start), bo, -start)
        else:
            key = (_zone(start), bo, start)
        if best is None or key < best:
            best = (key[0], key[1], key[2])
            chosen = (start, bo)
    if best is None:
        return None
    start, bo = chosen
    return start + (1 << bo) - (1 << order) if top_down else start


def buddy_frames(free: Extents, n: int, max_order: int, top_down: bool) -> Extents | None:
    """The n frames that n single-page buddy allocations hand out, or None if too few are free."""
    if ex.count(free) < n:
        return None
    blocks = ex.buddies(free, max_order)
    if top_down:
        blocks.sort(key=lambda b: (-_zone(b[0]), b[1], -b[0]))
    else:
        blocks.sort(key=lambda b: (_zone(b[0]), b[1], b[0]))
    taken: list[tuple[int, int]] = []
    for start, bo in blocks:
        if n <= 0:
            break
        size = 1 << bo
        take = min(size, n)
        taken.append((start + size - take, take) if top_down else (start, take))
        n -= take
    return ex.normalize(taken)


def block_choices(
    free: Extents, order: int, mode: str, max_order: int, hints: Sequence[int] = ()
) -> list[int]:
    """Starts of the naturally aligned free blocks of 2**order frames to try, in a fixed order.

    `hints` are block starts an adversary would like to occupy or a configuration names (fixed
    rambases); `candidates` includes those that are free.
    """
    if order > max_order:
        return []
    if mode == EXACT:
        return list(ex.aligned_blocks(free, order))
    if mode in (TOP_DOWN, BOTTOM_UP):
        b = buddy_block(free, order, max_order, mode == TOP_DOWN)
        return [] if b is None else [b]
    if ex.count_aligned(free, order) <= CANDIDATE_ALL:
        return list(ex.aligned_blocks(free, order))
    size = 1 << order
    out: list[int] = []
    first = next(ex.aligned_blocks(free, order), None)
    last = next(ex.aligned_blocks_desc(free, order), None)
    buddy = buddy_block(free, order, max_order, True)
    for b in (first, last, buddy, *hints):
        if b is not None and b % size == 0 and ex.contains_range(free, b, size) and b not in out:
            out.append(b)
    return out


def comb_at_most(pool: int, n: int, limit: int) -> bool:
    """Whether C(pool, n) <= limit, in O(min(n, log limit)) steps (C can be astronomical)."""
    if n < 0 or n > pool:
        return True
    k = min(n, pool - n)
    c = 1
    for i in range(k):
        c = c * (pool - i) // (i + 1)
        if c > limit:
            return False
    return c <= limit


def every_subset(pool: Extents, n: int) -> list[Extents]:
    """Every n-subset of the pool as extents, in lexicographic order of the frames."""
    if n == 1:
        return [((f, 1),) for f in ex.frames(pool)]
    out: list[Extents] = []
    for combo in itertools.combinations(ex.frames(pool), n):
        runs: list[tuple[int, int]] = []
        start = prev = combo[0]
        for f in combo[1:]:
            if f != prev + 1:
                runs.append((start, prev - start + 1))
                start = f
            prev = f
        runs.append((start, prev - start + 1))
        out.append(tuple(runs))
    return out


def frame_choices(
    pool: Extents,
    n: int,
    mode: str,
    max_order: int,
    orders: Iterable[int] = (),
    hints: Iterable[Extents] = (),
) -> list[Extents]:
    """The n-frame subsets of `pool` to try (frames need not be contiguous), in a fixed order.

    `orders`: block orders of direct-mapped domains (spreading one frame per aligned block of
    such an order is the fragmentation that makes their creation fail). `hints`: frame sets an
    adversary wants to take first (the frames a direct-mapped domain ballooned out, a fixed
    rambase's block); the candidate takes as many of them as it can, then the lowest others.
    """
    total = ex.count(pool)
    if n <= 0 or total < n:
        return [] if n > 0 else [ex.EMPTY]
    if mode == EXACT:
        return every_subset(pool, n)
    if mode in (TOP_DOWN, BOTTOM_UP):
        got = buddy_frames(pool, n, max_order, mode == TOP_DOWN)
        return [] if got is None else [got]
    if comb_at_most(total, n, CANDIDATE_ALL):
        return every_subset(pool, n)
    cands: list[Extents] = [ex.lowest(pool, n), ex.highest(pool, n)]
    for order in orders:
        cands.append(ex.spread(pool, order, n))
        cands.append(ex.spread(pool, order, n, descending=True))
    for hint in hints:
        want = ex.intersection(pool, hint)
        if not want:
            continue
        got = ex.lowest(want, n)
        if ex.count(got) < n:
            got = ex.union(got, ex.lowest(ex.difference(pool, got), n - ex.count(got)))
        cands.append(got)
    got_buddy = buddy_frames(pool, n, max_order, True)
    if got_buddy is not None:
        cands.append(got_buddy)
    out: list[Extents] = []
    for c in cands:
        if c not in out:
            out.append(c)
    return out


def run_choices(ipas: Extents, n: int, exhaustive: bool) -> list[int]:
    """Starts of runs of n consecutive IPA frames inside `ipas`, in a fixed order.

    The guest (not the allocator) picks which IPAs it balloons, maps or hands to a device, so
    a placement policy says nothing about them: they are enumerated in full when `exhaustive` or
    when there are at most CANDIDATE_ALL runs, else the first and the last run of every extent.
    """
    starts: list[int] = []
    total = sum(max(0, c - n + 1) for _, c in ipas)
    if exhaustive or total <= CANDIDATE_ALL:
        for s, c in ipas:
            starts.extend(range(s, s + c - n + 1))
        return starts
    for s, c in ipas:
        if c >= n:
            starts.append(s)
            if c > n:
                starts.append(s + c - n)
    return starts
