"""The syntax tree of one .m11 file: frozen dataclasses, close to the source.

Every node carries a `span` that never takes part in equality or hashing, so two parses of the
same text (or of its formatted form) compare equal. Numbers keep the text the user wrote (`fmt`
prints it back) next to their value. Nothing here is resolved: names are plain `Name`s.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from checker.diagnostics import Span

NOWHERE = Span("<ast>", 0, 0, 0, 0)


@dataclass(frozen=True)
class Name:
    text: str
    span: Span = field(default=NOWHERE, compare=False)


@dataclass(frozen=True)
class Num:
    value: int
    text: str  # as written: `0x8000_0000`, `256M`
    span: Span = field(default=NOWHERE, compare=False)


@dataclass(frozen=True)
class Include:
    path: str  # without the quotes
    span: Span = field(default=NOWHERE, compare=False)


@dataclass(frozen=True)
class NoteStmt:
    text: str  # without the quotes
    span: Span = field(default=NOWHERE, compare=False)


@dataclass(frozen=True)
class RegionStmt:
    """`KIND NAME at BASE size SIZE [dma]`; `static_mem at BASE size SIZE` has no name."""

    kind: str  # ram | mmio | reserved | window | guest_ram | static_mem
    name: Name | None
    base: Num
    size: Num
    dma: bool = False
    span: Span = field(default=NOWHERE, compare=False)


# ---- platform ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageSize:
    size: Num
    span: Span = field(default=NOWHERE, compare=False)


PlatformStmt = PageSize | RegionStmt | NoteStmt


@dataclass(frozen=True)
class PlatformDecl:
    name: Name
    body: tuple[PlatformStmt, ...]
    span: Span = field(default=NOWHERE, compare=False)


# ---- hypervisor --------------------------------------------------------------------------------


@dataclass(frozen=True)
class HostWindow:
    region: Name
    span: Span = field(default=NOWHERE, compare=False)


@dataclass(frozen=True)
class Allocator:
    max_order: Num | None
    placement: Name | None  # any | top-down | bottom-up
    span: Span = field(default=NOWHERE, compare=False)


@dataclass(frozen=True)
class BalloonStmt:
    mode: Name  # release_any | release_same | keep_owned
    span: Span = field(default=NOWHERE, compare=False)


HypervisorStmt = RegionStmt | HostWindow | Allocator | BalloonStmt | NoteStmt


@dataclass(frozen=True)
class HypervisorDecl:
    """`hypervisor NAME [extends BASE] { ... }`; `base` None when it extends nothing."""

    name: Name
    body: tuple[HypervisorStmt, ...]
    base: Name | None = None
    span: Span = field(default=NOWHERE, compare=False)


# ---- domains -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Memory:
    size: Num
    span: Span = field(default=NOWHERE, compare=False)


@dataclass(frozen=True)
class DirectMapStmt:
    mode: str  # always | static | hook
    hook_id: Num | None = None
    span: Span = field(default=NOWHERE, compare=False)


@dataclass(frozen=True)
class RambaseStmt:
    mode: str  # fixed | allocated | static
    address: Num | None = None
    span: Span = field(default=NOWHERE, compare=False)


@dataclass(frozen=True)
class Swiotlb:
    on: bool
    span: Span = field(default=NOWHERE, compare=False)


@dataclass(frozen=True)
class BackendStmt:
    kind: Name
    span: Span = field(default=NOWHERE, compare=False)


@dataclass(frozen=True)
class FrontendStmt:
    kind: Name
    backend: Name
    span: Span = field(default=NOWHERE, compare=False)


@dataclass(frozen=True)
class Passthrough:
    regions: tuple[Name, ...]
    span: Span = field(default=NOWHERE, compare=False)


DomainStmt = (
    Memory
    | DirectMapStmt
    | RambaseStmt
    | RegionStmt
    | Swiotlb
    | BackendStmt
    | FrontendStmt
    | Passthrough
    | NoteStmt
)


@dataclass(frozen=True)
class DomainDecl:
    names: tuple[Name, ...]
    body: tuple[DomainStmt, ...]
    span: Span = field(default=NOWHERE, compare=False)


# ---- scenario ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpStmt:
    """create/destroy/unmap D; balloon_out/balloon_in D N; grant F -> B; dma D ram|grant."""

    kind: str
    domain: Name
    count: Num | None = None
    peer: Name | None = None
    buffer: str | None = None
    span: Span = field(default=NOWHERE, compare=False)


@dataclass(frozen=True)
class ChooseStmt:
    times: Num
    alternatives: tuple[OpStmt, ...]
    span: Span = field(default=NOWHERE, compare=False)


@dataclass(frozen=True)
class LoopStmt:
    alternatives: tuple[OpStmt, ...]
    span: Span = field(default=NOWHERE, compare=False)


ScenarioStmt = OpStmt | ChooseStmt | LoopStmt


@dataclass(frozen=True)
class ScenarioDecl:
    body: tuple[ScenarioStmt, ...]
    span: Span = field(default=NOWHERE, compare=False)


# ---- properties and invariant expressions ------------------------------------------------------


@dataclass(frozen=True)
class PropertyDecl:
    """`property B`, `property L: B`, `property L: B(D, ...)` (domains None: no list)."""

    label: Name | None
    builtin: Name
    domains: tuple[Name, ...] | None = None
    span: Span = field(default=NOWHERE, compare=False)


@dataclass(frozen=True)
class Var:
    name: Name
    span: Span = field(default=NOWHERE, compare=False)


@dataclass(frozen=True)
class Attr:
    obj: Expr
    attr: Name
    span: Span = field(default=NOWHERE, compare=False)


@dataclass(frozen=True)
class RegionRef:
    name: Name
    span: Span = field(default=NOWHERE, compare=False)


@dataclass(frozen=True)
class Interval:
    lo: Expr
    hi: Expr
    span: Span = field(default=NOWHERE, compare=False)


@dataclass(frozen=True)
class BinOp:
    op: str  # + - * == != < <= > >= overlaps within and or implies
    left: Expr
    right: Expr
    span: Span = field(default=NOWHERE, compare=False)


@dataclass(frozen=True)
class Not:
    operand: Expr
    span: Span = field(default=NOWHERE, compare=False)


@dataclass(frozen=True)
class Quant:
    kind: str  # forall | exists
    var: Name
    over: str  # domains | mappings
    of: Name | None
    body: Expr
    span: Span = field(default=NOWHERE, compare=False)


@dataclass(frozen=True)
class Paren:
    inner: Expr
    span: Span = field(default=NOWHERE, compare=False)


Expr = Num | Var | Attr | RegionRef | Interval | BinOp | Not | Quant | Paren


@dataclass(frozen=True)
class InvariantDecl:
    name: Name
    expr: Expr
    span: Span = field(default=NOWHERE, compare=False)


Item = (
    Include
    | NoteStmt
    | PlatformDecl
    | HypervisorDecl
    | DomainDecl
    | ScenarioDecl
    | PropertyDecl
    | InvariantDecl
)


@dataclass(frozen=True)
class Comment:
    """A `#` comment; `trailing` when code precedes it on its line. Not part of `File` equality."""

    text: str
    line: int
    col: int
    trailing: bool


@dataclass(frozen=True)
class File:
    path: str = field(compare=False)
    items: tuple[Item, ...] = ()
    comments: tuple[Comment, ...] = field(default=(), compare=False)
    span: Span = field(default=NOWHERE, compare=False)
