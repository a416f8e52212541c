"""The buddy allocator's policies (`top-down`, `bottom-up`) over page-level states: which block
`placement.buddy_block` hands out, and which frames n single-page allocations
(`placement.buddy_frames`) take, as Boolean conditions on the one-hot frame state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import z3

from checker import extents as ex
from checker import model as m
from checker.encode import and_, ite, neg, or_

if TYPE_CHECKING:
    from checker.encode_page import PageEncoding

__all__ = ["buddies", "policy_block", "policy_frames"]


def buddies(e: PageEncoding, d: int | None, i: int) -> list[tuple[int, int, z3.BoolRef]]:
    """NOTE(buddy-encoding): the pool's buddies (maximal free naturally aligned blocks,
    placement.buddy_block) as (order, start, is-a-buddy) in the policy's preference order.
    A block is free when all its frames are in the pool; it is a buddy when it is free and
    its parent block is not (or it has max_order), which is exactly the tiling
    `extents.buddies` computes. The pool is the free heap (d None) or d's unused static
    memory."""
    key = (d, i)
    got = e._buddy_cache.get(key)
    if got is not None:
        return got
    fs = list(range(e.nheap)) if d is None else e.pool_frames(d)
    pfns = sorted(e.frames[f] for f in fs)
    ext = ex.from_frames(pfns)
    maxo = e.model.hypervisor.max_order
    free_of: dict[tuple[int, int], z3.BoolRef] = {}
    for o in range(maxo + 1):
        for b in ex.aligned_blocks(ext, o):
            if o == 0:
                f = e.index[b]
                free_of[(0, b)] = e.free(f, i) if d is None else e.pool(d, f, i)
            else:
                half = 1 << (o - 1)
                free_of[(o, b)] = and_(free_of[(o - 1, b)], free_of[(o - 1, b + half)])
    out: list[tuple[int, int, z3.BoolRef]] = []
    for (o, b), fb in free_of.items():
        parent = (o + 1, b & ~((1 << (o + 1)) - 1))
        bud = fb if o == maxo or parent not in free_of else and_(fb, neg(free_of[parent]))
        out.append((o, b, bud))
    down = e.policy() is m.Placement.TOP_DOWN
    if down:
        out.sort(key=lambda x: (-x[1].bit_length(), x[0], -x[1]))
    else:
        out.sort(key=lambda x: (x[1].bit_length(), x[0], x[1]))
    e._buddy_cache[key] = out
    return out


def policy_block(e: PageEncoding, order: int, i: int) -> dict[int, z3.BoolRef]:
    """Block start -> "the policy allocates this block" (placement.buddy_block)."""
    down = e.policy() is m.Placement.TOP_DOWN
    seen = z3.BoolVal(False)
    out: dict[int, z3.BoolRef] = {}
    for o, b, bud in buddies(e, None, i):
        if o < order:
            continue
        chosen = and_(bud, neg(seen))
        seen = or_(seen, bud)
        c = b + (1 << o) - (1 << order) if down else b
        out[c] = or_(out[c], chosen) if c in out else chosen
    return out


def policy_frames(e: PageEncoding, d: int | None, n: int, i: int) -> dict[int, z3.BoolRef]:
    """Frame index -> "the policy hands out this frame" for n single-page allocations
    (placement.buddy_frames): buddies in preference order, the top (top-down) or bottom
    (bottom-up) frames of each until n are taken."""
    down = e.policy() is m.Placement.TOP_DOWN
    w = max(n, 1).bit_length() + 1
    rem: z3.BitVecRef = z3.BitVecVal(n, w)
    taken: dict[int, list[z3.BoolRef]] = {}
    for o, b, bud in buddies(e, d, i):
        size = 1 << o
        for pos in range(min(size, n)):
            p = b + size - 1 - pos if down else b + pos
            taken.setdefault(e.index[p], []).append(
                and_(bud, z3.ULT(z3.BitVecVal(pos, w), rem)))
        cap = z3.BitVecVal(min(size, n), w)
        step = ite(bud, ite(z3.ULT(cap, rem), cap, rem), z3.BitVecVal(0, w))
        rem = rem - step
    return {f: or_(bs) for f, bs in taken.items()}
