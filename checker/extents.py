"""Sets of page frames as sorted, merged tuples of extents, and p2m runs.

A frame set is a tuple of `(start, count)` pairs, sorted by start, with `count > 0` and no two
extents touching or overlapping (adjacent runs are merged). 2 GiB of 4 KiB pages is therefore a
handful of integers, and every operation here costs O(number of extents) (plus the size of the
answer where the answer is a list), never O(number of frames). Frame numbers are plain Python
ints, so 64-bit (and larger) values need no special care.

A p2m (guest IPA -> machine frame) is a tuple of `(ipa, mfn, count)` runs sorted by ipa, with
`count > 0`, no two runs overlapping in IPA, and two runs merged when they continue each other
in both IPA and machine address.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator

Extent = tuple[int, int]
Extents = tuple[Extent, ...]
Run = tuple[int, int, int]
P2m = tuple[Run, ...]

EMPTY: Extents = ()


def normalize(pairs: Iterable[Extent]) -> Extents:
    """Sort, drop empty extents and merge overlapping or touching ones."""
    items = sorted(p for p in pairs if p[1] != 0)
    out: list[list[int]] = []
    for start, cnt in items:
        if cnt < 0:
            raise ValueError(f"negative extent count {cnt}")
        if out and start <= out[-1][0] + out[-1][1]:
            last = out[-1]
            last[1] = max(last[1], start + cnt - last[0])
        else:
            out.append([start, cnt])
    return tuple((s, c) for s, c in out)


def is_normal(ext: object) -> bool:
    """True when `ext` is a well-formed frame set (used to validate input)."""
    if not isinstance(ext, tuple):
        return False
    prev_end: int | None = None
    for item in ext:
        if not (isinstance(item, tuple) and len(item) == 2):
            return False
        start, cnt = item
        if type(start) is not int or type(cnt) is not int or start < 0 or cnt <= 0:
            return False
        if prev_end is not None and start <= prev_end:
            return False
        prev_end = start + cnt
    return True


def single(start: int, cnt: int) -> Extents:
    return ((start, cnt),) if cnt > 0 else EMPTY


def from_frames(frames: Iterable[int]) -> Extents:
    return normalize((f, 1) for f in frames)


def count(ext: Extents) -> int:
    return sum(c for _, c in ext)


def frames(ext: Extents) -> Iterator[int]:
    """Every frame in ascending order (only for sets known to be small)."""
    for start, cnt in ext:
        yield from range(start, start + cnt)


def union(a: Extents, b: Extents) -> Extents:
    if not a:
        return b
    if not b:
        return a
    out: list[Extent] = []
    i = j = 0
    cur_s = cur_e = -1
    while i < len(a) or j < len(b):
        if j >= len(b) or (i < len(a) and a[i][0] <= b[j][0]):
            s, c = a[i]
            i += 1
        else:
            s, c = b[j]
            j += 1
        if cur_e >= s:
            cur_e = max(cur_e, s + c)
        else:
            if cur_e >= 0:
                out.append((cur_s, cur_e - cur_s))
            cur_s, cur_e = s, s + c
    out.append((cur_s, cur_e - cur_s))
    return tuple(out)


def difference(a: Extents, b: Extents) -> Extents:
    """Frames of `a` that are not in `b`."""
    if not a or not b:
        return a
    out: list[Extent] = []
    j = 0
    nb = len(b)
    for s, c in a:
        e = s + c
        while j < nb and b[j][0] + b[j][1] <= s:
            j += 1
        k = j
        while k < nb and b[k][0] < e:
            bs, bc = b[k]
            if bs > s:
                out.append((s, bs - s))
            s = max(s, bs + bc)
            if s >= e:
                break
            k += 1
        if s < e:
            out.append((s, e - s))
    return tuple(out)


def intersection(a: Extents, b: Extents) -> Extents:
    if not a or not b:
        return EMPTY
    out: list[Extent] = []
    i = j = 0
    while i < len(a) and j < len(b):
        s = max(a[i][0], b[j][0])
        ea = a[i][0] + a[i][1]
        eb = b[j][0] + b[j][1]
        e = min(ea, eb)
        if s < e:
            out.append((s, e - s))
        if ea <= eb:
            i += 1
        else:
            j += 1
    return tuple(out)


def contains(ext: Extents, frame: int) -> bool:
    i = bisect_right(ext, (frame, 1 << 200)) - 1
    return i >= 0 and frame < ext[i][0] + ext[i][1]


def contains_range(ext: Extents, start: int, cnt: int) -> bool:
    """True when every frame of [start, start + cnt) is in the set (cnt > 0)."""
    i = bisect_right(ext, (start, 1 << 200)) - 1
    return i >= 0 and start + cnt <= ext[i][0] + ext[i][1]


def overlaps(a: Extents, b: Extents) -> bool:
    return bool(intersection(a, b))


def subset(a: Extents, b: Extents) -> bool:
    return not difference(a, b)


def lowest(ext: Extents, n: int) -> Extents:
    """The n lowest frames (all of them if there are fewer)."""
    out: list[Extent] = []
    for s, c in ext:
        if n <= 0:
            break
        take = min(c, n)
        out.append((s, take))
        n -= take
    return tuple(out)


def highest(ext: Extents, n: int) -> Extents:
    """The n highest frames (all of them if there are fewer)."""
    out: list[Extent] = []
    for s, c in reversed(ext):
        if n <= 0:
            break
        take = min(c, n)
        out.append((s + c - take, take))
        n -= take
    out.reverse()
    return tuple(out)


def nth(ext: Extents, index: int) -> int:
    """The frame of rank `index` (0-based, ascending)."""
    for s, c in ext:
        if index < c:
            return s + index
        index -= c
    raise IndexError("frame rank out of range")


def rank(ext: Extents, frame: int) -> int:
    """How many frames of the set are below `frame`."""
    r = 0
    for s, c in ext:
        if frame < s:
            break
        r += min(c, frame - s)
    return r


def _aligned_range(s: int, c: int, size: int) -> range:
    first = -(-s // size) * size
    last = (s + c) // size * size  # exclusive end of the last whole block's start range
    return range(first, last, size) if first < last else range(0)


def count_aligned(ext: Extents, order: int) -> int:
    """How many naturally aligned blocks of 2**order frames lie wholly inside the set."""
    size = 1 << order
    return sum(len(_aligned_range(s, c, size)) for s, c in ext)


def aligned_blocks(ext: Extents, order: int) -> Iterator[int]:
    """Starts of the naturally aligned blocks of 2**order frames inside the set, ascending."""
    size = 1 << order
    for s, c in ext:
        yield from _aligned_range(s, c, size)


def aligned_blocks_desc(ext: Extents, order: int) -> Iterator[int]:
    size = 1 << order
    for s, c in reversed(ext):
        yield from reversed(_aligned_range(s, c, size))


def buddies(ext: Extents, max_order: int) -> list[tuple[int, int]]:
    """The maximal naturally aligned blocks `(start, order)` that tile the set, ascending.

    This is how a buddy allocator holds the set as free lists: every run is cut into the largest
    aligned power-of-two blocks (never above `max_order`). O(extents x bits).
    """
    out: list[tuple[int, int]] = []
    for s, c in ext:
        e = s + c
        while s < e:
            order = (s & -s).bit_length() - 1 if s else max_order
            order = min(order, max_order)
            while s + (1 << order) > e:
                order -= 1
            out.append((s, order))
            s += 1 << order
    return out


def spread(ext: Extents, order: int, n: int, descending: bool = False) -> Extents:
    """n frames placed to break as many aligned 2**order blocks as possible.

    One frame (the lowest, or with `descending` the highest) in each aligned block of that
    order that lies wholly inside the set, taking blocks from the low end (high end); when n
    exceeds the number of such blocks the rest are the lowest (highest) frames not yet taken.
    O(extents + n).
    """
    blocks = aligned_blocks_desc(ext, order) if descending else aligned_blocks(ext, order)
    picked: list[int] = []
    size = 1 << order
    for b in blocks:
        if len(picked) >= n:
            break
        picked.append(b + size - 1 if descending else b)
    chosen = from_frames(picked)
    if len(picked) < n:
        rest = difference(ext, chosen)
        more = n - len(picked)
        chosen = union(chosen, highest(rest, more) if descending else lowest(rest, more))
    return chosen


def shift(ext: Extents, delta: int) -> Extents:
    return tuple((s + delta, c) for s, c in ext)


# ---- p2m runs -------------------------------------------------------------------------------


def p2m_normalize(runs: Iterable[Run]) -> P2m:
    items = sorted(r for r in runs if r[2] > 0)
    out: list[list[int]] = []
    for ipa, mfn, cnt in items:
        if out:
            li, lm, lc = out[-1]
            if ipa < li + lc:
                raise ValueError(f"p2m runs overlap at IPA frame {ipa:#x}")
            if ipa == li + lc and mfn == lm + lc:
                out[-1][2] = lc + cnt
                continue
        out.append([ipa, mfn, cnt])
    return tuple((i, m, c) for i, m, c in out)


def p2m_ipas(p2m: P2m) -> Extents:
    return normalize((i, c) for i, _, c in p2m)


def p2m_mfns(p2m: P2m) -> Extents:
    return normalize((m, c) for _, m, c in p2m)


def p2m_lookup(p2m: P2m, ipa: int) -> int | None:
    for i, m, c in p2m:
        if i <= ipa < i + c:
            return m + ipa - i
        if i > ipa:
            break
    return None


def p2m_remove(p2m: P2m, ipa: int, cnt: int) -> tuple[P2m, Extents]:
    """Unmap IPAs [ipa, ipa + cnt); returns the new p2m and the machine frames unmapped."""
    end = ipa + cnt
    out: list[Run] = []
    freed: list[Extent] = []
    for i, m, c in p2m:
        e = i + c
        if e <= ipa or i >= end:
            out.append((i, m, c))
            continue
        if i < ipa:
            out.append((i, m, ipa - i))
        lo, hi = max(i, ipa), min(e, end)
        freed.append((m + lo - i, hi - lo))
        if e > end:
            out.append((end, m + end - i, e - end))
    return tuple(out), normalize(freed)


def p2m_add(p2m: P2m, ipa: int, mfns: Extents) -> P2m:
    """Map the frames of `mfns` (ascending) at IPAs ipa, ipa + 1, ... (those IPAs are unmapped)."""
    runs: list[Run] = list(p2m)
    for s, c in mfns:
        runs.append((ipa, s, c))
        ipa += c
    return p2m_normalize(runs)


def p2m_identity_mismatch(p2m: P2m) -> Run | None:
    """The first run whose IPA differs from its machine frame, if any."""
    for run in p2m:
        if run[0] != run[1]:
            return run
    return None


def zip_runs(ipas: Extents, mfns: Extents) -> P2m:
    """Map the frames of `mfns` in ascending order onto the IPAs of `ipas` in ascending order."""
    out: list[Run] = []
    j = 0
    m_s, m_c = (mfns[0] if mfns else (0, 0))
    for i_s, i_c in ipas:
        while i_c > 0 and j < len(mfns):
            take = min(i_c, m_c)
            out.append((i_s, m_s, take))
            i_s += take
            i_c -= take
            m_s += take
            m_c -= take
            if m_c == 0:
                j += 1
                if j < len(mfns):
                    m_s, m_c = mfns[j]
    return p2m_normalize(out)
