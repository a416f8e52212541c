"""How an operation's nondeterministic choices are enumerated (successors) or checked (apply)."""

from __future__ import annotations

from checker import extents as ex
from checker import placement as pl
from checker.extents import Extents
from checker.model import (
    DirectMap,
    RambaseMode,
)
from checker.semantics_state import StateBase
from checker.semantics_types import (
    D_DIRECT,
    D_RAM,
    DOM0,
    FREE,
    ChoiceValue,
    NotEnabled,
    View,
)


class Choosing(StateBase):
    """Choices of an operation: every one (rec None) or the recorded one checked (apply)."""

    def _frames_hints(self, st: View) -> list[Extents]:
        """Frames an adversary would take first (candidates only): the holes of 1:1 domains."""
        hints: list[Extents] = []
        for d, info in enumerate(self.doms):
            dom = st[DOM0 + d]
            if dom is not None and dom[D_DIRECT]:
                hints.append(ex.difference(self.ram_range(dom, d), ex.p2m_ipas(dom[D_RAM])))
            elif (dom is None and info.direct_decl is not DirectMap.NONE and not info.static
                  and info.rambase_mode is RambaseMode.FIXED):
                hints.append(ex.single(info.rambase, 1 << info.order))
        return hints

    def _pick_frames(
        self, st: View, pool: Extents, n: int, rec: dict[str, ChoiceValue] | None,
        name: str, guest: bool,
    ) -> list[Extents]:
        """Frame sets of size n from `pool` to try; with `rec`, the recorded one, validated."""
        mode = self.guest_mode if guest else self.placement
        if rec is not None:
            if name not in rec:
                if ex.count(pool) >= n:
                    raise NotEnabled(f"choice {name!r} is missing")
                return []
            v = rec.get(name)
            if not isinstance(v, tuple) or not ex.is_normal(v):
                raise NotEnabled(f"choice {name!r} must be a frame set")
            if ex.count(v) != n or not ex.subset(v, pool):
                raise NotEnabled(f"choice {name!r}: not {n} available frames")
            if mode in (pl.TOP_DOWN, pl.BOTTOM_UP):
                want = pl.frame_choices(pool, n, mode, self.max_order)
                if [v] != want:
                    raise NotEnabled(f"choice {name!r}: the {mode} policy takes other frames")
            return [v]
        if mode == pl.EXACT:
            key = (pool, n)
            got = self._subset_cache.get(key)
            if got is None:
                if len(self._subset_cache) > 200_000:
                    self._subset_cache.clear()
                got = pl.frame_choices(pool, n, mode, self.max_order)
                self._subset_cache[key] = got
            return got
        hints = self._frames_hints(st) if mode == pl.CANDIDATES and not guest else []
        return pl.frame_choices(pool, n, mode, self.max_order, self.direct_orders, hints)

    def _pick_block(self, st: View, order: int, rec: dict[str, ChoiceValue] | None,
                    d: int) -> list[int]:
        free: Extents = st[FREE]
        if rec is not None:
            if "block" not in rec:
                if ex.count_aligned(free, order):
                    raise NotEnabled("choice 'block' is missing")
                return []
            v = rec.get("block")
            if type(v) is not int:
                raise NotEnabled("choice 'block' must be a frame number")
            size = 1 << order
            if v % size or not ex.contains_range(free, v, size):
                raise NotEnabled(f"block {v:#x} is not a free aligned block of order {order}")
            if self.placement in (pl.TOP_DOWN, pl.BOTTOM_UP) and pl.block_choices(
                    free, order, self.placement, self.max_order) != [v]:
                raise NotEnabled(f"the {self.placement} policy allocates another block")
            return [v]
        if self.placement == pl.EXACT:
            key = (free, order)
            got = self._block_cache.get(key)
            if got is None:
                if len(self._block_cache) > 200_000:
                    self._block_cache.clear()
                got = pl.block_choices(free, order, pl.EXACT, self.max_order)
                self._block_cache[key] = got
            return got
        hints = [
            i.rambase for i in self.doms
            if i.rambase_mode is RambaseMode.FIXED and i.direct_decl is not DirectMap.NONE
        ]
        return pl.block_choices(free, order, self.placement, self.max_order, hints)

    def _pick_ipa(self, ipas: Extents, n: int, rec: dict[str, ChoiceValue] | None,
                  name: str = "ipa") -> list[int]:
        if rec is not None:
            if name not in rec:
                if pl.run_choices(ipas, n, False):
                    raise NotEnabled(f"choice {name!r} is missing")
                return []
            v = rec.get(name)
            if type(v) is not int:
                raise NotEnabled(f"choice {name!r} must be a frame number")
            if not ex.contains_range(ipas, v, n):
                raise NotEnabled(f"choice {name!r}: IPA frame {v:#x} is not eligible")
            return [v]
        return pl.run_choices(ipas, n, self.guest_mode == pl.EXACT)
