"""The vocabulary of the reference semantics: view slots, domain fields, actions, limits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, NamedTuple

from checker.extents import Extents, P2m
from checker.model import (
    DirectMap,
    Op,
    RambaseMode,
)

State = tuple[int, ...]
View = tuple[Any, ...]
DomState = tuple[int, bool, int, P2m, Extents, tuple[tuple[int, int, int], ...]]  # see D_*
ChoiceValue = int | Extents
Choices = tuple[tuple[str, ChoiceValue], ...]

PC, COUNT, NEXT_ID, FAILED, DMA_BAD, FREE, DOM0 = range(7)  # slots of a view
SD0 = 5  # slot of domain 0 in a state (a state has no `free` slot)
D_ID: Final = 0  # fields of an alive domain's component
D_DIRECT: Final = 1
D_RAMBASE: Final = 2
D_RAM: Final = 3
D_OWNED: Final = 4
D_GRANTS: Final = 5

EXACT_HEAP_FRAMES = 64  # `auto` enumerates exactly up to this many heap frames ...
EXACT_MAX_SUBSETS = 1 << 16  # ... when no frame request has more subsets than this
MEMO_LIMIT = 1 << 20  # memoised effects kept before the table is emptied
GUEST_RAM0_BASE = 0x40000000  # xen/include/public/arch-arm.h, the default rambase


class NotEnabled(Exception):
    """`apply` was given an action the state does not allow."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Action(NamedTuple):
    op_index: int
    op: Op
    choices: Choices


Effect = tuple[Action, tuple[tuple[int, int], ...]]


@dataclass(frozen=True)
class DomInfo:
    """What the semantics needs from a domain declaration, in frames."""

    index: int
    name: str
    pages: int
    order: int  # ceil(log2(pages)): the buddy order of a 1:1 block
    direct_decl: DirectMap
    hook_id: int | None
    rambase_mode: RambaseMode
    rambase: int  # frame the guest is told its RAM starts at (fixed / layout / static)
    static: Extents  # its static memory (never in the heap)
    dma_capable: bool
    swiotlb: bool


def _ceil_log2(n: int) -> int:
    return max(0, (n - 1).bit_length())

