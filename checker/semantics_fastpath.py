"""NOTE(alloc-fast-path): memoised halves of creates and balloon_ins that take any free frames."""

from __future__ import annotations

from checker import extents as ex
from checker import placement as pl
from checker.extents import Extents
from checker.model import (
    BalloonMode,
    DirectMap,
)
from checker.semantics_ops import Operations
from checker.semantics_types import (
    D_DIRECT,
    D_OWNED,
    D_RAM,
    MEMO_LIMIT,
    Action,
    Choices,
    DomState,
)


class AllocFastPath(Operations):
    """The memoised halves of allocations from the free heap (NOTE(alloc-fast-path))."""

    def _template(self, oi: int, dom_id: int) -> tuple[bool, list[int]] | None:
        """NOTE(alloc-fast-path): for a balloon_in whose frames come from the free heap,
        `(same, runs)`: `same` for release_same (frame == IPA), the IPA runs it may fill
        ([-1] for a domain that is not 1:1, [] when none); None for the general path."""
        key = (oi, dom_id)
        if key in self._tpl:
            return self._tpl[key]
        dom = self._vals[dom_id]
        op = self.ops[oi]
        d = op.domain
        tpl: tuple[bool, list[int]] | None
        if not dom[D_DIRECT]:
            tpl = (False, [-1] if ex.count(self.ballooned(dom, d)) >= op.pages else [])
        elif self.balloon is BalloonMode.RELEASE_ANY:
            tpl = (False, self._pick_ipa(self.ballooned(dom, d), op.pages, None))
        elif self.balloon is BalloonMode.RELEASE_SAME and not self.obs_balloon_in[d]:
            tpl = (True, self._pick_ipa(self.ballooned(dom, d), op.pages, None))
        else:
            tpl = None
        self._tpl[key] = tpl
        return tpl

    def _fits(self, free: int, ipa: int, n: int) -> bool:
        key = (free, ipa, n)
        got = self._fits_memo.get(key)
        if got is None:
            if len(self._fits_memo) >= MEMO_LIMIT:
                self._fits_memo.clear()
            got = self._fits_memo[key] = ex.contains_range(self._vals[free], ipa, n)
        return got

    def _create_template(self, oi: int, nid: int, failed: int) -> bool | None:
        """NOTE(alloc-fast-path) for the create of a domain that is not 1:1: None when not
        enabled (failure recorded), False when the general path must decide (it would be 1:1
        with this id), True when its frames are any n free frames."""
        d = self.ops[oi].domain
        if ("create", d) in self._vals[failed]:
            return None
        info = self.doms[d]
        return not (info.direct_decl is DirectMap.HOOK and nid == info.hook_id)

    def _newborn(self, oi: int, nid: int, fs_id: int, fs: Extents) -> tuple[Action, int]:
        d = self.ops[oi].domain
        action = Action(oi, self.ops[oi], (("frames", fs),))
        if len(self._born) >= MEMO_LIMIT:
            self._born.clear()
        got = self._born[(oi, nid, fs_id)] = (
            action, self._intern((nid, False, self.doms[d].rambase, (), fs, ())))
        return got

    def _options(self, free: int, n: int) -> list[tuple[int, Extents]]:
        key = (free, n)
        got = self._opts.get(key)
        if got is None:
            if len(self._opts) >= MEMO_LIMIT:
                self._opts.clear()
            sets = pl.frame_choices(self._vals[free], n, self.placement, self.max_order)
            got = self._opts[key] = [(self._intern(fs), fs) for fs in sets]
        return got

    def _grown(self, oi: int, dom_id: int, ipa: int, fs_id: int,
               fs: Extents, same: bool) -> tuple[Action, int]:
        """The action and new domain of a balloon_in taking frames `fs` (at `ipa` if 1:1)."""
        dom = self._vals[dom_id]
        op = self.ops[oi]
        owned = ex.union(dom[D_OWNED], fs)
        nd: DomState
        if ipa < 0:
            action = Action(oi, op, (("frames", fs),))
            nd = (dom[0], False, dom[2], (), owned, dom[5])
        else:
            choices: Choices = (("ipa", ipa),) if same else (("ipa", ipa), ("frames", fs))
            action = Action(oi, op, choices)
            nd = (dom[0], True, dom[2], ex.p2m_add(dom[D_RAM], ipa, fs), owned, dom[5])
        if len(self._grow) >= MEMO_LIMIT:
            self._grow.clear()
        got = self._grow[(oi, dom_id, ipa, fs_id)] = (action, self._intern(nd))
        return got
