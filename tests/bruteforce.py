"""An independent enumerator for the benchmark family frag-balloon(F, K, R, mode).

Written directly from the benchmark definition (frag-balloon.md in the shared benchmark folder),
in plain Python over page arrays, without importing anything from `checker`: it is the oracle
the engines are compared with. Breadth-first search over every reachable state; per property,
the verdict and the length of a shortest violating trace (and one such trace).

A state is one `bytes` object (cheap to hash), laid out as

    owner[0..F)   0 = free, 1 = domd, 1 + i = u_i (i = 1..K)
    p2m[0..S)     a frame number, or HOLE
    alive, base, create_failed   domd
    u_alive[0..K)

which is exactly the variable set of the definition (nothing that can differ is added).

Usage: python tests/bruteforce.py SIZE MODE  (sizes as in the definition: tiny, small, ...).
"""

from __future__ import annotations

import itertools
import sys
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

HOLE = 255
FREE = 0
DOMD = 1

PROPERTIES = ("ipa_eq_pa", "domd_create_never_fails", "no_frame_shared")

# name -> (F, K, R), as in the "Suggested sizes" table of the definition.
SIZES: dict[str, tuple[int, int, int]] = {
    "tiny": (8, 1, 2),
    "small": (16, 2, 2),
    "medium": (32, 2, 2),
    "large": (32, 3, 3),
    "wide": (32, 1, 3),
    "small-r3": (16, 2, 3),
    "huge": (64, 3, 4),
}


@dataclass(frozen=True)
class Family:
    """One instance frag-balloon(F, K, R, mode) and its transition relation."""

    F: int
    K: int
    R: int
    mode: str  # "naive" | "fixed"

    def __post_init__(self) -> None:
        if self.F < 8 or self.F & (self.F - 1):
            raise ValueError(f"F must be a power of two >= 8, got {self.F}")
        if self.F > 128:
            raise ValueError("F > 128 does not fit the one-byte frame encoding")
        if self.K < 1 or self.R < 1:
            raise ValueError("K and R must be >= 1")
        if self.mode not in ("naive", "fixed"):
            raise ValueError(f"mode must be naive or fixed, got {self.mode!r}")

    @property
    def S(self) -> int:
        return self.F // 4

    # offsets into the state bytes
    @property
    def _p2m(self) -> int:
        return self.F

    @property
    def _alive(self) -> int:
        return self.F + self.S

    @property
    def _base(self) -> int:
        return self.F + self.S + 1

    @property
    def _failed(self) -> int:
        return self.F + self.S + 2

    @property
    def _ualive(self) -> int:
        return self.F + self.S + 3

    def initial(self) -> bytes:
        return bytes([FREE] * self.F + [HOLE] * self.S + [0, 0, 0] + [0] * self.K)

    def decode(self, s: bytes) -> dict[str, object]:
        """A readable view of a state (for traces and tests)."""
        F, S = self.F, self.S
        return {
            "owner": list(s[:F]),
            "p2m": [None if x == HOLE else x for x in s[F : F + S]],
            "alive": bool(s[self._alive]),
            "base": s[self._base],
            "create_failed": bool(s[self._failed]),
            "u_alive": [bool(x) for x in s[self._ualive :]],
        }

    def successors(self, s: bytes) -> Iterator[tuple[str, bytes]]:
        F, S, K, R = self.F, self.S, self.K, self.R
        owner = s[:F]
        p2m = s[F : F + S]
        alive = s[self._alive]
        base = s[self._base]
        failed = s[self._failed]
        free = [f for f in range(F) if owner[f] == FREE]
        tail_u = s[self._ualive :]

        def pack(own: bytes | bytearray, pm: bytes | bytearray, a: int, b: int, fl: int,
                 ua: bytes | bytearray) -> bytes:
            return bytes(own) + bytes(pm) + bytes((a, b, fl)) + bytes(ua)

        # domd
        if not alive and not failed:
            blocks = [b for b in range(0, F, S) if all(owner[b + o] == FREE for o in range(S))]
            if blocks:
                for b in blocks:
                    own = bytearray(owner)
                    own[b : b + S] = bytes([DOMD]) * S
                    yield f"create_domd(b={b})", pack(own, bytes(range(b, b + S)), 1, b, 0, tail_u)
            else:
                yield "create_domd(failed)", pack(owner, p2m, 0, base, 1, tail_u)
        if alive:
            own = bytearray(owner)
            for m in p2m:
                if m != HOLE:
                    own[m] = FREE
            yield "destroy_domd", pack(own, bytes([HOLE]) * S, 0, 0, failed, tail_u)
            for o in range(S):
                m = p2m[o]
                if m != HOLE:
                    own = bytearray(owner)
                    own[m] = FREE
                    pm = bytearray(p2m)
                    pm[o] = HOLE
                    yield f"balloon_out_domd(o={o})", pack(own, pm, 1, base, failed, tail_u)
            for o in range(S):
                if p2m[o] != HOLE:
                    continue
                if self.mode == "naive":
                    targets = free
                else:
                    targets = [base + o] if owner[base + o] == FREE else []
                for m in targets:
                    own = bytearray(owner)
                    own[m] = DOMD
                    pm = bytearray(p2m)
                    pm[o] = m
                    yield f"balloon_in_domd(o={o},m={m})", pack(own, pm, 1, base, failed, tail_u)

        # ordinary domains u1..uK (owner code 1 + i)
        for i in range(1, K + 1):
            code = 1 + i
            ualive = tail_u[i - 1]
            mine = [f for f in range(F) if owner[f] == code]
            if not ualive:
                if len(free) >= R:
                    ua = bytearray(tail_u)
                    ua[i - 1] = 1
                    for subset in itertools.combinations(free, R):
                        own = bytearray(owner)
                        for f in subset:
                            own[f] = code
                        label = f"create_u{i}({','.join(map(str, subset))})"
                        yield label, pack(own, p2m, alive, base, failed, ua)
                continue
            own = bytearray(owner)
            for f in mine:
                own[f] = FREE
            ua = bytearray(tail_u)
            ua[i - 1] = 0
            yield f"destroy_u{i}", pack(own, p2m, alive, base, failed, ua)
            for f in mine:
                own = bytearray(owner)
                own[f] = FREE
                yield f"balloon_out_u{i}({f})", pack(own, p2m, alive, base, failed, tail_u)
            if len(mine) < R:
                for f in free:
                    own = bytearray(owner)
                    own[f] = code
                    yield f"balloon_in_u{i}({f})", pack(own, p2m, alive, base, failed, tail_u)

    def violates(self, s: bytes, prop: str) -> bool:
        F, S = self.F, self.S
        p2m = s[F : F + S]
        if prop == "ipa_eq_pa":
            if not s[self._alive]:
                return False
            base = s[self._base]
            return any(m != HOLE and m != base + o for o, m in enumerate(p2m))
        if prop == "domd_create_never_fails":
            return bool(s[self._failed])
        if prop == "no_frame_shared":
            frames = [m for m in p2m if m != HOLE]
            if len(set(frames)) != len(frames):
                return True
            return any(s[m] != DOMD for m in frames)
        raise KeyError(prop)


@dataclass
class Result:
    states: int
    transitions: int
    depth: int  # BFS depth of the deepest state
    seconds: float
    # property -> None (holds) or the shortest violating trace (a list of action labels)
    violations: dict[str, list[str] | None] = field(default_factory=dict)

    def verdict(self, prop: str) -> str:
        return "holds" if self.violations[prop] is None else "violated"

    def shortest(self, prop: str) -> int | None:
        trace = self.violations[prop]
        return None if trace is None else len(trace)


def explore(fam: Family, properties: tuple[str, ...] = PROPERTIES,
            traces: bool = True) -> Result:
    """BFS over every reachable state (no property stops the search, no reduction).

    With `traces`, parent pointers are kept so that each property's first violation (found at
    the smallest BFS depth, hence a shortest trace) can be rebuilt; without them only the
    length is known and the trace is a list of placeholders of that length.
    """
    t0 = time.perf_counter()
    init = fam.initial()
    parent: dict[bytes, tuple[bytes, str] | None] = {init: None}
    seen: set[bytes] = set() if traces else {init}
    first: dict[str, tuple[bytes, int]] = {}
    transitions = 0
    frontier = deque([init])
    depth = 0

    def check(s: bytes, d: int) -> None:
        for p in properties:
            if p not in first and fam.violates(s, p):
                first[p] = (s, d)

    check(init, 0)
    while frontier:
        nxt: deque[bytes] = deque()
        for s in frontier:
            for label, t in fam.successors(s):
                transitions += 1
                if traces:
                    if t in parent:
                        continue
                    parent[t] = (s, label)
                else:
                    if t in seen:
                        continue
                    seen.add(t)
                check(t, depth + 1)
                nxt.append(t)
        if nxt:
            depth += 1
        frontier = nxt

    violations: dict[str, list[str] | None] = {}
    for p in properties:
        if p not in first:
            violations[p] = None
            continue
        s, d = first[p]
        if not traces:
            violations[p] = ["?"] * d
            continue
        trace: list[str] = []
        link = parent[s]
        while link is not None:
            s, label = link
            trace.append(label)
            link = parent[s]
        trace.reverse()
        violations[p] = trace
    n = len(parent) if traces else len(seen)
    return Result(n, transitions, depth, time.perf_counter() - t0, violations)


def family(size: str, mode: str) -> Family:
    F, K, R = SIZES[size]
    return Family(F, K, R, mode)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in SIZES:
        print(f"usage: bruteforce.py {{{'|'.join(SIZES)}}} naive|fixed", file=sys.stderr)
        return 2
    fam = family(argv[0], argv[1])
    res = explore(fam, traces=fam.F <= 16)
    print(f"frag-balloon {argv[0]} {argv[1]} (F={fam.F} K={fam.K} R={fam.R}): "
          f"{res.states} states, {res.transitions} transitions, depth {res.depth}, "
          f"{res.seconds:.1f} s")
    for p in PROPERTIES:
        trace = res.violations[p]
        if trace is None:
            print(f"  {p}: holds")
        else:
            print(f"  {p}: violated, shortest {len(trace)}: {' ; '.join(trace)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
