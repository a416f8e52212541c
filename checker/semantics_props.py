"""Property verdicts on states, memoised per component (NOTE(findings) in evaluate.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from checker import evaluate
from checker.model import (
    Property,
    PropertyKind,
)
from checker.semantics_state import StateBase
from checker.semantics_types import (
    DMA_BAD,
    FAILED,
    MEMO_LIMIT,
    SD0,
    State,
)

if TYPE_CHECKING:
    from checker.semantics import Semantics


class Properties(StateBase):
    """Whether a state violates a property, and the witness when it does."""

    def _whole(self) -> Semantics:
        """NOTE(semantics-parts): evaluate.py takes the whole `Semantics`, which this part is."""
        return cast("Semantics", self)

    def _covered(self, prop: Property) -> tuple[int, ...]:
        key = ("covered", prop.name, prop.kind, prop.domains)
        got = self._fmemo.get(key)
        if got is None:
            got = self._fmemo[key] = tuple(d for d in range(self.ndom) if prop.covers(d))
        covered: tuple[int, ...] = got
        return covered

    def _finding(self, kind: PropertyKind, d: int, slot_id: int) -> Any:
        """The memoised finding of a per-component check (NOTE(findings))."""
        key = (kind, d, slot_id)
        memo = self._fmemo
        if key in memo:
            return memo[key]
        value = self._vals[slot_id]
        if kind in evaluate.PER_DOMAIN:
            f = evaluate.dom_finding(self._whole(), kind, value, d)
        elif kind is PropertyKind.DMA_REACHES_INTENDED:
            f = evaluate.dma_finding(value, d)
        else:
            f = evaluate.failed_finding(kind, value, d)
        if len(memo) >= MEMO_LIMIT:
            memo.clear()
        memo[key] = f
        return f

    def violation(self, state: State, prop: Property) -> str | None:
        """None when the property holds in the state, else a witness (page, IPA, PA, region)."""
        kind = prop.kind
        if kind is PropertyKind.INVARIANT:
            return evaluate.violation(self._whole(), self.view(state), prop)
        covered = self._covered(prop)
        if kind in evaluate.PER_DOMAIN:
            slots = [SD0 + d for d in covered]
        elif kind is PropertyKind.DMA_REACHES_INTENDED:
            slots = [DMA_BAD] * len(covered)
        else:
            slots = [FAILED] * len(covered)
        for d, slot in zip(covered, slots):
            f = self._finding(kind, d, state[slot])
            if f is not None:
                return evaluate.witness(self._whole(), self.view(state), kind, d, f)
        if kind is PropertyKind.NO_FRAME_SHARED:
            memo = self._fmemo
            for d in covered:
                a = state[SD0 + d]
                if a == 0:
                    continue
                for e in range(self.ndom):
                    b = state[SD0 + e]
                    if e == d or b == 0:
                        continue
                    key = ("pair", a, b)
                    if key in memo:
                        f = memo[key]
                    else:
                        f = memo[key] = evaluate.pair_finding(self._whole(), self._vals[a], self._vals[b])
                    if f is not None:
                        return evaluate.witness(self._whole(), self.view(state), kind, d, f, other=e)
        return None
