"""What a step did, in words: the lines a trace prints under each action."""

from __future__ import annotations

from collections.abc import Sequence

from checker import extents as ex
from checker.extents import Extents
from checker.semantics_state import StateBase
from checker.semantics_types import (
    D_DIRECT,
    D_GRANTS,
    D_ID,
    D_OWNED,
    D_RAMBASE,
    DMA_BAD,
    DOM0,
    FAILED,
    Action,
    State,
)


class Describing(StateBase):
    """Steps described in words, addresses in bytes."""

    def _pa(self, ext: Extents) -> str:
        sh = self.shift
        parts = [f"[{s << sh:#x}, {(s + c) << sh:#x})" for s, c in ext[:4]]
        more = f" and {len(ext) - 4} more extents" if len(ext) > 4 else ""
        return ", ".join(parts) + more + f" ({ex.count(ext)} pages)"

    def _runs(self, runs: Sequence[tuple[int, int, int]]) -> list[str]:
        sh = self.shift
        return [
            f"IPA [{i << sh:#x}, {(i + c) << sh:#x}) -> PA [{m << sh:#x}, {(m + c) << sh:#x})"
            for i, m, c in runs
        ]

    def describe(self, before: State, action: Action, after: State) -> tuple[str, ...]:
        """What the step changed: allocations, mappings, frees, failures (addresses in hex)."""
        out: list[str] = []
        sh = self.shift
        vb, va = self.view(before), self.view(after)
        for d, info in enumerate(self.doms):
            b, a = vb[DOM0 + d], va[DOM0 + d]
            name = info.name
            if b is None and a is None:
                continue
            if b is None:
                kind = "1:1" if a[D_DIRECT] else "not 1:1"
                ident = f"id {a[D_ID]}, " if self.track_ids else ""
                out.append(f"created {name} ({ident}{kind}, rambase {a[D_RAMBASE] << sh:#x})")
                out.append(f"allocated PA {self._pa(a[D_OWNED])} to {name}")
                out.extend(f"mapped {name} {r}" for r in self._runs(self.p2m(a, d)))
                continue
            if a is None:
                out.append(f"destroyed {name}; PA {self._pa(b[D_OWNED])} released")
                continue
            gained = ex.difference(a[D_OWNED], b[D_OWNED])
            lost = ex.difference(b[D_OWNED], a[D_OWNED])
            if gained:
                out.append(f"allocated PA {self._pa(gained)} to {name}")
            if lost:
                out.append(f"freed PA {self._pa(lost)} from {name}")
            pb, pa = self.p2m(b, d), self.p2m(a, d)
            if pb != pa:
                old, new = set(pb), set(pa)
                out.extend(f"unmapped {name} {r}" for r in self._runs(sorted(old - new)))
                out.extend(f"mapped {name} {r}" for r in self._runs(sorted(new - old)))
            gb, ga = set(b[D_GRANTS]), set(a[D_GRANTS])
            for i, m, f in sorted(ga - gb):
                out.append(f"{name} maps {self.doms[f].name}'s granted PA {m << sh:#x} "
                           f"at IPA {i << sh:#x}")
            for i, m, f in sorted(gb - ga):
                out.append(f"{name} unmaps the grant of PA {m << sh:#x} at IPA {i << sh:#x}")
        for op, d in va[FAILED]:
            if (op, d) not in vb[FAILED]:
                out.append(f"{op} {self.doms[d].name} FAILED (recorded)")
        if va[DMA_BAD] is not None and vb[DMA_BAD] is None:
            d, ipa, want, got = va[DMA_BAD]
            out.append(f"DMA of {self.doms[d].name} to IPA {ipa << sh:#x} reached PA "
                       f"{got << sh:#x} instead of PA {want << sh:#x}")
        if not out:
            out.append("no change to memory")
        return tuple(out)
