"""The extent-level buddy policy (checker/encode_extent_policy.py) against the reference
allocator (placement.buddy_block) on random free heaps."""

from __future__ import annotations

import random

import pytest
import z3
from modelkit import PAGE, domain, model, ram

from checker import extents as ex
from checker import placement as pl
from checker.encode_extent import EXTENTS, ExtentEncoding
from checker.encode_extent_policy import (
    policy_block,
    policy_frames,
    policy_over,
    reference_bound,
    zone_lt,
)
from checker.model import Op, OpKind, Placement, Step


def test_zone_lt_is_bit_length_order() -> None:
    rng = random.Random(5)
    for _ in range(300):
        x, y = rng.randrange(1 << 12), rng.randrange(1 << 12)
        got = z3.simplify(zone_lt(z3.BitVecVal(x, 16), z3.BitVecVal(y, 16)))
        assert z3.is_true(got) == (x.bit_length() < y.bit_length()), (x, y)


def _random_case(rng: random.Random, small: bool = False
                 ) -> tuple[ExtentEncoding, list[list[tuple[int, int]]], ex.Extents]:
    """A heap of one or two banks (frames somewhere in 0..4095), up to 3 domains owning up
    to EXTENTS disjoint extents each, and the free heap that leaves. `small`: banks of at
    most 80 frames, so that few buddies are free, some of them several blocks of max_order
    in one interval."""
    banks = []
    lo = rng.randrange(0, 1024)
    for _ in range(rng.choice((1, 2))):
        size = rng.randrange(8, 80 if small else 900)
        banks.append((lo, size))
        lo += size + rng.randrange(1, 300)
    placement = rng.choice((Placement.TOP_DOWN, Placement.BOTTOM_UP))
    doms = [domain(j, f"d{j}", 64 * PAGE) for j in range(3)]
    mdl = model(doms, [Step(Op(OpKind.CREATE, 0))], [],
                ram=[ram(f"b{j}", s * PAGE, c * PAGE) for j, (s, c) in enumerate(banks)],
                max_order=rng.randrange(2, 5 if small else 9), placement=placement)
    enc = ExtentEncoding(mdl, set())
    free = ex.normalize(enc.heap)
    owned: list[list[tuple[int, int]]] = []
    for _d in range(3):
        mine: list[tuple[int, int]] = []
        for _x in range(rng.randrange(0, EXTENTS + 1)):
            if not free:
                break
            s, c = rng.choice(free)
            a = rng.randrange(s, s + c)
            n = rng.randrange(1, min(s + c - a, 40) + 1)
            mine.append((a, n))
            free = ex.difference(free, ex.single(a, n))
        owned.append(mine)
    return enc, owned, free


def _owning(enc: ExtentEncoding, owned: list[list[tuple[int, int]]]) -> z3.Solver:
    """A solver with state 0's extents fixed to `owned` (unused slots (0, 0))."""
    solver = z3.Solver()
    for d, mine in enumerate(owned):
        for x in range(enc.nx[d]):
            s, c = mine[x] if x < len(mine) else (0, 0)
            solver.add(enc.var(("os", d, x), 0) == s, enc.var(("ol", d, x), 0) == c)
    return solver


@pytest.mark.parametrize("seed", range(40))
def test_policy_block_is_the_reference_buddy_block(seed: int) -> None:
    rng = random.Random(seed)
    enc, owned, free = _random_case(rng)
    top_down = enc.model.hypervisor.placement is Placement.TOP_DOWN
    M = enc.model.hypervisor.max_order
    for order in sorted({0, 1, rng.randrange(0, M + 1), M, M + 1}):
        if order > M:
            continue
        solver = _owning(enc, owned)
        exists, pinned, block = policy_block(enc, order, top_down, 0, ("t",))
        want = pl.buddy_block(free, order, M, top_down)
        solver.push()
        solver.add(exists)
        got = solver.check()
        solver.pop()
        assert (got == z3.sat) == (want is not None), (order, free)
        if want is None:
            continue
        solver.add(exists, pinned)
        assert solver.check() == z3.sat
        val = solver.model().eval(block, model_completion=True).as_long()
        assert val == want, (order, free, val, want)
        solver.add(block != val)
        assert solver.check() == z3.unsat, "the policy's block is not unique"


def _sized_case(seed: int, slot_choices: tuple[int, ...], beyond: bool, small: bool = False
                ) -> tuple[ExtentEncoding, list[list[tuple[int, int]]], ex.Extents, bool, int,
                           int, list[int]]:
    """A random heap (`_random_case`: encoding, owned and free frames), its policy's
    direction and max order, a slot count
    drawn from `slot_choices`, and the request sizes to try: 1, 2, one at random, every free
    frame and, if `beyond`, one more."""
    rng = random.Random(seed)
    enc, owned, free = _random_case(rng, small)
    top_down = enc.model.hypervisor.placement is Placement.TOP_DOWN
    total = ex.count(free)
    slots = rng.choice(slot_choices)
    sizes = {1, 2, rng.randrange(1, total + 2), total} | ({total + 1} if beyond else set())
    M = enc.model.hypervisor.max_order
    return enc, owned, free, top_down, M, slots, sorted(sizes - {0})


@pytest.mark.parametrize("seed, small", [(s, False) for s in range(30)] +
                         [(s, True) for s in range(30)])
def test_policy_frames_are_the_reference_buddy_frames(seed: int, small: bool) -> None:
    """Small heaps reach the end of the buddies within the slots (a slot with none left ends
    the chain) and hold several blocks of max_order in one interval
    (NOTE(max-order-copies))."""
    enc, owned, free, top_down, M, slots, sizes = _sized_case(
        1000 + seed, (6, 8) if small else (2, 4, 6), beyond=True, small=small)
    for n in sizes:
        solver = _owning(enc, owned)
        fits, over, exts = policy_frames(enc, n, top_down, 0, slots)
        want = pl.buddy_frames(free, n, M, top_down)

        def sat(x: z3.BoolRef, solver: z3.Solver = solver) -> bool:
            solver.push()
            solver.add(x)
            r = solver.check()
            solver.pop()
            assert r != z3.unknown
            return bool(r == z3.sat)
        order = sorted(ex.buddies(free, M), key=(lambda b: (-b[0].bit_length(), b[1], -b[0]))
                       if top_down else (lambda b: (b[0].bit_length(), b[1], b[0])))
        if want is None:  # fewer than n free frames
            assert not sat(fits), (n, free)
            assert not sat(over), (n, free)
            continue
        used, got = 0, 0  # how many buddies the reference consumes
        for _s, bo in order:
            if got >= n:
                break
            got += 1 << bo
            used += 1
        assert sat(fits) == (used <= slots), (n, used, slots)
        assert sat(over) == (used > slots), (n, used, slots)
        if used <= slots:
            solver.add(fits)
            assert solver.check() == z3.sat
            mdl = solver.model()
            val = ex.normalize((mdl.eval(s, model_completion=True).as_long(),
                                mdl.eval(c, model_completion=True).as_long()) for s, c in exts)
            assert val == want, (n, val, want)
            solver.add(z3.Or([z3.Or(s != mdl.eval(s, model_completion=True),
                                    c != mdl.eval(c, model_completion=True)) for s, c in exts]))
            assert solver.check() == z3.unsat, "the policy's frames are not unique"


@pytest.mark.parametrize("seed", range(8))
def test_policy_over_follows_from_over(seed: int) -> None:
    """NOTE(relaxed-policy): wherever the policy's buddies outnumber the slots (`over`),
    `policy_over` holds too, and it does not where every buddy fits in the slots."""
    enc, owned, free, top_down, M, slots, sizes = _sized_case(2000 + seed, (1, 2, 4), beyond=False)
    for n in sizes:
        solver = _owning(enc, owned)
        _fits, over, _exts = policy_frames(enc, n, top_down, 0, slots)
        loose = policy_over(enc, n, top_down, 0, slots)
        solver.add(over != loose)
        solver.add(z3.Or(over, len(ex.buddies(free, M)) <= slots))
        assert solver.check() == z3.unsat, (n, slots, free)


@pytest.mark.parametrize("seed", range(3))
def test_every_exact_step_is_a_relaxed_step(seed: int) -> None:
    """NOTE(relaxed-policy): along random runs, the successor the exact relation gives for
    each branch is one the relaxed relation allows under the same branch."""
    from checker.encode_unroll import Unrolling
    from checker.model import Choose, DirectMap, RambaseMode

    rng = random.Random(3000 + seed)
    doms = [domain(0, "d", 8 * PAGE, direct_map=DirectMap.ALWAYS,
                   rambase_mode=RambaseMode.ALLOCATED),
            domain(1, "u", rng.choice((5, 12)) * PAGE), domain(2, "v", PAGE)]
    ops = (Op(OpKind.CREATE, 0), Op(OpKind.CREATE, 1), Op(OpKind.CREATE, 2),
           Op(OpKind.BALLOON_OUT, 0, pages=1), Op(OpKind.BALLOON_IN, 0, pages=1),
           Op(OpKind.DESTROY, 1))
    mdl = model(doms, [Choose(ops, 5)], [], ram=[ram("r", 0x8000_0000, 40 * PAGE)],
                max_order=4, placement=rng.choice((Placement.TOP_DOWN, Placement.BOTTOM_UP)))
    enc = ExtentEncoding(mdl, set())
    run = Unrolling(enc)
    assert run.relaxed_template is not None and run.relaxed
    now = [(enc.var(k, 0), v) for (k, _s), (_x, v) in zip(run.state, enc.initial_values(0))]
    assert all(a.eq(x) for (a, _), (x, _v) in zip(now, enc.initial_values(0)))
    for _step in range(5):
        nexts = []
        for b in range(len(run.branches)):
            s = z3.Solver()
            s.add(*[a == v for a, v in now], run.template, run.ind(0, b))
            if s.check() != z3.sat:
                continue
            mo = s.model()
            after = [(enc.var(k, 0), mo.eval(enc.var(k, 1), model_completion=True))
                     for k, _s in run.state]
            r = z3.Solver()
            r.add(*[a == v for a, v in now], run.relaxed_template, run.ind(0, b))
            r.add(*[enc.var(k, 1) == v for (k, _s), (_a, v) in zip(run.state, after)])
            assert r.check() == z3.sat, (run.branches[b].label, run.branches[b].outcome)
            nexts.append(after)
        if not nexts:
            break
        now = rng.choice(nexts)


@pytest.mark.parametrize("seed", range(25))
def test_reference_bound_rules_out_the_cut(seed: int) -> None:
    """NOTE(reference-heap): a heap G in one zone, and a heap F that is G plus frames its
    owners gave back; wherever `reference_bound(G)` holds of F, the reference allocator takes
    n frames of F from at most `slots` buddies, and the policy's `over` is false. With F = G
    the bound holds wherever it exists."""
    rng = random.Random(4000 + seed)
    lo = 1024 + rng.randrange(0, 64)  # every frame below 2048: one zone
    banks = [(lo, rng.randrange(64, 400))]
    if rng.random() < 0.5:
        s2 = lo + banks[0][1] + rng.randrange(1, 100)
        banks.append((s2, rng.randrange(8, 2048 - s2)))
    top_down = rng.random() < 0.5
    doms = [domain(j, f"d{j}", 64 * PAGE) for j in range(3)]
    mdl = model(doms, [Step(Op(OpKind.CREATE, 0))], [],
                ram=[ram(f"b{j}", s * PAGE, c * PAGE) for j, (s, c) in enumerate(banks)],
                max_order=rng.randrange(2, 9),
                placement=Placement.TOP_DOWN if top_down else Placement.BOTTOM_UP)
    enc = ExtentEncoding(mdl, set())
    M = enc.model.hypervisor.max_order
    free = ex.normalize(enc.heap)
    owned: list[list[tuple[int, int]]] = []
    for _d in range(3):
        mine: list[tuple[int, int]] = []
        for _x in range(rng.randrange(1, EXTENTS + 1)):
            s, c = rng.choice(free)
            a = rng.randrange(s, s + c)
            n = rng.randrange(1, min(s + c - a, 60) + 1)
            mine.append((a, n))
            free = ex.difference(free, ex.single(a, n))
            if not free:
                break
        owned.append(mine)
    ref = free
    # F: the owners give back frames at the ends of their extents
    later = [list(mine) for mine in owned]
    for _ in range(rng.randrange(0, 6)):
        mine = rng.choice(later)
        x = rng.randrange(len(mine)) if mine else None
        if x is None or mine[x][1] == 0:
            continue
        s, c = mine[x]
        mine[x] = (s + 1, c - 1) if rng.random() < 0.5 else (s, c - 1)
        if mine[x][1] == 0:
            mine[x] = (0, 0)
    now = ex.difference(ex.normalize(enc.heap),
                        ex.normalize(p for mine in later for p in mine))
    checked = 0
    for slots in (1, 2, 4, 7):
        for n in sorted({1, rng.randrange(1, ex.count(ref) + 1), ex.count(ref)} - {0}):
            cond = reference_bound(enc, ref, n, slots)
            if cond is None:
                continue
            assert z3.is_true(z3.simplify(z3.substitute(cond, *[
                (v, z3.BitVecVal(x, enc.W)) for d, mine in enumerate(owned)
                for j in range(enc.nx[d])
                for v, x in zip(enc.ext(d, j, 0), mine[j] if j < len(mine) else (0, 0))])))
            solver = _owning(enc, later)
            solver.add(cond)
            if solver.check() == z3.unsat:
                continue
            checked += 1
            order = sorted(ex.buddies(now, M), key=lambda b: (b[1], -b[0] if top_down else b[0]))
            used, got = 0, 0
            for _s, bo in order:
                if got >= n:
                    break
                got += 1 << bo
                used += 1
            assert got >= n and used <= slots, (ref, now, n, slots)
            _fits, over, _exts = policy_frames(enc, n, top_down, 0, slots)
            solver.add(over)
            assert solver.check() == z3.unsat, (ref, now, n, slots)
    assert checked > 0
