"""The reference semantics against the independent frag-balloon enumerator (tests/bruteforce.py).

Every reachable state of the semantics is mapped to the enumerator's page-array encoding; the
two reachable sets must be equal (not only equally large), and so must the verdicts and the
shortest violation lengths. `candidates` placement is compared with `exact` on scaled-down
models: same verdicts and shortest lengths.
"""

from __future__ import annotations

from collections import deque

import pytest

from checker import placement as pl
from checker.extents import frames
from checker.semantics import Semantics, State
from tests import bruteforce as bf
from tests import modelkit as mk
from tests.test_semantics import bfs

HOLE = bf.HOLE


def to_bytes(sem: Semantics, fam: bf.Family, state: State) -> bytes:
    """The enumerator's encoding of one of our states (frames relative to the bank base)."""
    base = mk.FRAG_BASE >> 12
    view = sem.view(state)
    owner = [bf.FREE] * fam.F
    doms = view[6:]
    for d, dom in enumerate(doms):
        if dom is not None:
            for f in frames(dom[4]):
                owner[f - base] = 1 + d
    p2m = [HOLE] * fam.S
    domd = doms[0]
    alive = int(domd is not None)
    rambase = 0
    if domd is not None:
        rambase = domd[2] - base
        for ipa, mfn, cnt in domd[3]:
            for k in range(cnt):
                p2m[ipa - domd[2] + k] = mfn - base + k
    failed = int(("create", 0) in view[3])
    ualive = [int(dom is not None) for dom in doms[1:]]
    return bytes(owner + p2m + [alive, rambase, failed] + ualive)


def reachable(sem: Semantics) -> set[State]:
    init = sem.initial()
    seen = {init}
    todo = deque([init])
    while todo:
        s = todo.popleft()
        for _a, t in sem.successors(s):
            if t not in seen:
                seen.add(t)
                todo.append(t)
    return seen


def oracle_states(fam: bf.Family) -> set[bytes]:
    init = fam.initial()
    seen = {init}
    todo = [init]
    while todo:
        s = todo.pop()
        for _label, t in fam.successors(s):
            if t not in seen:
                seen.add(t)
                todo.append(t)
    return seen


CASES = [(8, 1, 2), (8, 2, 1), (8, 1, 3)]


@pytest.mark.parametrize("mode", ["naive", "fixed"])
@pytest.mark.parametrize("F,K,R", CASES)
def test_same_reachable_states(F: int, K: int, R: int, mode: str) -> None:
    fam = bf.Family(F, K, R, mode)
    sem = Semantics(mk.frag_balloon(F, K, R, mode), placement="exact", symmetry=False)
    ours = reachable(sem)
    mapped = {to_bytes(sem, fam, s) for s in ours}
    assert len(mapped) == len(ours)  # the mapping is one-to-one
    assert mapped == oracle_states(fam)


@pytest.mark.parametrize("F,K,R,mode", [
    (8, 1, 2, "naive"), (8, 1, 2, "fixed"), (8, 2, 2, "fixed"), (8, 1, 4, "fixed"),
    (8, 1, 4, "naive"),
])
def test_same_verdicts_and_shortest_lengths(F: int, K: int, R: int, mode: str) -> None:
    fam = bf.Family(F, K, R, mode)
    want = bf.explore(fam)
    sem = Semantics(mk.frag_balloon(F, K, R, mode), placement="exact")
    got = bfs(sem, reduce=True)
    assert got.orbit_total == want.states
    for p in bf.PROPERTIES:
        assert got.shortest.get(p) == want.shortest(p), p


@pytest.mark.parametrize("F,K,R,mode", [
    (8, 2, 2, "fixed"), (8, 1, 4, "fixed"), (8, 1, 4, "naive"), (8, 1, 2, "naive"),
])
def test_candidates_agree_with_exact(F: int, K: int, R: int, mode: str,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    m = mk.frag_balloon(F, K, R, mode)
    exact = bfs(Semantics(m, placement="exact"), reduce=True)
    # Make candidates abbreviate at this size: at most 4 choices are enumerated in full.
    monkeypatch.setattr(pl, "CANDIDATE_ALL", 4)
    sem = Semantics(m, placement="candidates")
    assert not sem.exact
    cand = bfs(sem, reduce=True)
    assert cand.states < exact.states  # it did leave placements out
    for p in bf.PROPERTIES:
        assert cand.shortest.get(p) == exact.shortest.get(p), p
