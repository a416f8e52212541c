"""Frame sets as extents, checked against plain Python sets (and at 64-bit addresses)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from checker import extents as ex

frames_st = st.sets(st.integers(min_value=0, max_value=80), max_size=40)
TOP = 1 << 52  # frame numbers of 64-bit addresses with 4 KiB pages go up to 2**52


def E(frames: set[int]) -> ex.Extents:
    return ex.from_frames(frames)


def S(ext: ex.Extents) -> set[int]:
    return set(ex.frames(ext))


@given(frames_st)
def test_from_frames_is_normal_and_exact(a: set[int]) -> None:
    e = E(a)
    assert ex.is_normal(e)
    assert S(e) == a
    assert ex.count(e) == len(a)


@given(frames_st, frames_st)
def test_set_algebra(a: set[int], b: set[int]) -> None:
    ea, eb = E(a), E(b)
    for got, want in (
        (ex.union(ea, eb), a | b),
        (ex.difference(ea, eb), a - b),
        (ex.intersection(ea, eb), a & b),
    ):
        assert ex.is_normal(got)
        assert S(got) == want
    assert ex.subset(ea, eb) == (a <= b)
    assert ex.overlaps(ea, eb) == bool(a & b)


@given(frames_st, st.integers(min_value=0, max_value=90), st.integers(min_value=1, max_value=6))
def test_contains(a: set[int], f: int, n: int) -> None:
    e = E(a)
    assert ex.contains(e, f) == (f in a)
    assert ex.contains_range(e, f, n) == all(f + i in a for i in range(n))


@given(frames_st, st.integers(min_value=0, max_value=45))
def test_lowest_highest_nth_rank(a: set[int], n: int) -> None:
    e = E(a)
    srt = sorted(a)
    assert S(ex.lowest(e, n)) == set(srt[:n])
    assert S(ex.highest(e, n)) == set(srt[max(0, len(srt) - n):] if n else [])
    for i, f in enumerate(srt):
        assert ex.nth(e, i) == f
        assert ex.rank(e, f) == i


@given(frames_st, st.integers(min_value=0, max_value=4))
def test_aligned_blocks(a: set[int], order: int) -> None:
    e = E(a)
    size = 1 << order
    want = [b for b in range(0, 96, size) if all(b + i in a for i in range(size))]
    assert list(ex.aligned_blocks(e, order)) == want
    assert list(ex.aligned_blocks_desc(e, order)) == want[::-1]
    assert ex.count_aligned(e, order) == len(want)


@given(frames_st, st.integers(min_value=0, max_value=6))
def test_buddies_tile_the_set(a: set[int], max_order: int) -> None:
    e = E(a)
    covered: set[int] = set()
    for start, order in ex.buddies(e, max_order):
        assert order <= max_order and start % (1 << order) == 0
        block = set(range(start, start + (1 << order)))
        assert not block & covered
        covered |= block
    assert covered == a


@given(frames_st, st.integers(min_value=0, max_value=3), st.integers(min_value=0, max_value=12))
def test_spread_hits_distinct_blocks(a: set[int], order: int, n: int) -> None:
    e = E(a)
    got = ex.spread(e, order, n)
    assert S(got) <= a and ex.count(got) == min(n, len(a))
    whole = list(ex.aligned_blocks(e, order))
    hit = {f >> order for f in S(got)}
    assert len(hit & {b >> order for b in whole}) == min(n, len(whole))


@given(st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40), st.integers(1, 5)), max_size=6))
def test_p2m_remove_add(runs: list[tuple[int, int, int]]) -> None:
    mapping: dict[int, int] = {}
    for i, m, c in runs:
        if any(i + k in mapping for k in range(c)):
            continue
        for k in range(c):
            mapping[i + k] = m + k
    p2m = ex.p2m_normalize((i, m, 1) for i, m in mapping.items())
    assert {i + k: m + k for i, m, c in p2m for k in range(c)} == mapping
    assert S(ex.p2m_ipas(p2m)) == set(mapping)
    for ipa in list(mapping)[:3]:
        left, freed = ex.p2m_remove(p2m, ipa, 1)
        assert S(freed) == {mapping[ipa]}
        assert ex.p2m_lookup(left, ipa) is None
        assert ex.p2m_add(left, ipa, freed) == p2m


def test_zip_runs() -> None:
    got = ex.zip_runs(((10, 3), (20, 2)), ((100, 1), (200, 4)))
    assert got == ((10, 100, 1), (11, 200, 2), (20, 202, 2))


def test_64bit_edges() -> None:
    # The last frames below 2**64 with 4 KiB pages, and a set reaching exactly 2**52.
    hi = ex.single(TOP - 8, 8)
    lo = ex.single(0, 8)
    both = ex.union(hi, lo)
    assert both == ((0, 8), (TOP - 8, 8))
    assert ex.count(both) == 16
    assert ex.contains(both, TOP - 1) and not ex.contains(both, TOP)
    assert ex.difference(both, ex.single(TOP - 4, 100)) == ((0, 8), (TOP - 8, 4))
    assert list(ex.aligned_blocks(both, 3)) == [0, TOP - 8]
    assert ex.highest(both, 2) == ((TOP - 2, 2),)
    assert ex.buddies(hi, 40) == [(TOP - 8, 3)]
    assert ex.nth(both, 15) == TOP - 1


@settings(max_examples=25)
@given(st.integers(min_value=1, max_value=1 << 20))
def test_real_sizes_stay_small(k: int) -> None:
    # 2 GiB of 4 KiB pages with every k-th run of 16 pages taken: still a few extents.
    heap = ex.single(0x80000, 0x80000)
    taken = ex.normalize((0x80000 + (k * j) % 0x80000, 16) for j in range(8))
    free = ex.difference(heap, taken)
    assert len(free) <= 9
    assert ex.count(free) + ex.count(ex.intersection(heap, taken)) == 0x80000


def test_normalize_merges_touching_and_rejects_negative() -> None:
    assert ex.normalize([(5, 2), (0, 5), (7, 0), (9, 1)]) == ((0, 7), (9, 1))
    assert not ex.is_normal(((0, 2), (2, 1)))
    try:
        ex.normalize([(1, -1)])
    except ValueError:
        pass
    else:
        raise AssertionError("negative count accepted")
