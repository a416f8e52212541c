"""The resolved, typed model: what every engine consumes.

Produced by `checker.resolve` from the AST. All sizes are in bytes *and* pages, all names are
resolved to indices, all includes are merged. Nothing here refers to lark. Spans locate each
declaration for diagnostics and reports; they never take part in equality or hashing.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from checker.diagnostics import Span

NO_SPAN = Span("<builtin>", 0, 0, 0, 0)


class RegionKind(enum.Enum):
    RAM = "ram"
    MMIO = "mmio"
    RESERVED = "reserved"
    WINDOW = "window"
    GUEST_RAM = "guest_ram"
    STATIC = "static_mem"


@dataclass(frozen=True)
class Region:
    """A half-open physical or guest-physical interval [base, base + size)."""

    name: str
    kind: RegionKind
    base: int
    size: int
    dma: bool = False
    span: Span = field(default=NO_SPAN, compare=False)

    @property
    def end(self) -> int:
        return self.base + self.size

    def overlaps(self, other: Region) -> bool:
        return self.base < other.end and other.base < self.end


class Placement(enum.Enum):
    ANY = "any"
    TOP_DOWN = "top-down"
    BOTTOM_UP = "bottom-up"


class BalloonMode(enum.Enum):
    RELEASE_ANY = "release_any"  # 2015 proposal: frame freed; balloon-in takes any free frame
    RELEASE_SAME = "release_same"  # middle fix: frame freed; balloon-in must get the same frame
    KEEP_OWNED = "keep_owned"  # Xen >= 4.7: frame stays owned; balloon-in maps gfn == mfn


class DirectMap(enum.Enum):
    NONE = "none"
    ALWAYS = "always"
    STATIC = "static"
    HOOK = "hook"  # 1:1 only when the domain id equals Domain.hook_id


class RambaseMode(enum.Enum):
    LAYOUT = "layout"  # first guest_ram window of the hypervisor
    FIXED = "fixed"
    ALLOCATED = "allocated"
    STATIC = "static"


@dataclass(frozen=True)
class Platform:
    name: str
    page_size: int
    ram: tuple[Region, ...]
    mmio: tuple[Region, ...]
    reserved: tuple[Region, ...]
    span: Span = field(default=NO_SPAN, compare=False)

    def region(self, name: str) -> Region | None:
        for r in self.ram + self.mmio + self.reserved:
            if r.name == name:
                return r
        return None


@dataclass(frozen=True)
class Hypervisor:
    name: str
    windows: tuple[Region, ...]
    guest_ram: tuple[Region, ...]
    max_order: int
    placement: Placement
    balloon: BalloonMode
    host_windows: tuple[str, ...] = ()
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True)
class Frontend:
    kind: str
    backend: str  # domain name
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True)
class Domain:
    index: int  # position in Model.domains
    name: str
    memory: int  # bytes
    pages: int  # memory // page_size
    direct_map: DirectMap
    hook_id: int | None
    rambase_mode: RambaseMode
    rambase: int | None  # FIXED: the address; LAYOUT: guest_ram[0].base; otherwise None
    static_mem: tuple[Region, ...]
    swiotlb: bool
    backends: tuple[str, ...]
    frontends: tuple[Frontend, ...]
    passthrough: tuple[Region, ...]  # platform MMIO regions, mapped IPA == PA
    symmetry_group: int | None  # domains declared together share a group number
    span: Span = field(default=NO_SPAN, compare=False)

    @property
    def wants_direct_map(self) -> bool:
        return self.direct_map is not DirectMap.NONE

    @property
    def dma_capable(self) -> bool:
        return any(r.dma for r in self.passthrough)


class OpKind(enum.Enum):
    CREATE = "create"
    DESTROY = "destroy"
    BALLOON_OUT = "balloon_out"
    BALLOON_IN = "balloon_in"
    GRANT = "grant"
    UNMAP = "unmap"
    DMA = "dma"


@dataclass(frozen=True)
class Op:
    """One operation of the scenario. `domain` is the acting domain's index.

    GRANT: domain = frontend, peer = backend. DMA: buffer is "ram" or "grant".
    BALLOON_*: pages = N.
    """

    kind: OpKind
    domain: int
    pages: int = 1
    peer: int | None = None
    buffer: str | None = None
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True)
class Step:
    op: Op
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True)
class Choose:
    alternatives: tuple[Op, ...]
    max_times: int  # 0..max_times repetitions
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True)
class Loop:
    alternatives: tuple[Op, ...]
    span: Span = field(default=NO_SPAN, compare=False)


Statement = Step | Choose | Loop


@dataclass(frozen=True)
class Scenario:
    statements: tuple[Statement, ...]
    span: Span = field(default=NO_SPAN, compare=False)


# ---- user invariants: a small expression language -------------------------------------------


@dataclass(frozen=True)
class Num:
    value: int
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True)
class Var:
    name: str
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True)
class Attr:
    """`obj.name`: domain fields alive/id/rambase/memory/direct/ram, mapping fields ipa/pa/size."""

    obj: Expr
    name: str
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True)
class RegionRef:
    """`region(NAME)`: the interval of a platform or hypervisor region (resolved)."""

    region: Region
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True)
class Interval:
    lo: Expr
    hi: Expr
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True)
class BinOp:
    """op in + - * == != < <= > >= and or implies overlaps within."""

    op: str
    left: Expr
    right: Expr
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True)
class Not:
    operand: Expr
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True)
class Quant:
    """forall/exists VAR in domains: BODY, or in mappings(OF): BODY (OF a domain variable)."""

    kind: str  # "forall" | "exists"
    var: str
    over: str  # "domains" | "mappings"
    of: str | None  # the domain variable for "mappings"
    body: Expr
    span: Span = field(default=NO_SPAN, compare=False)


Expr = Num | Var | Attr | RegionRef | Interval | BinOp | Not | Quant


class PropertyKind(enum.Enum):
    IPA_EQ_PA = "ipa_eq_pa"
    NO_IPA_OVERLAP = "no_ipa_overlap"
    DMA_REACHES_INTENDED = "dma_reaches_intended"
    CREATE_SUCCEEDS = "create_succeeds"
    BALLOON_IN_SUCCEEDS = "balloon_in_succeeds"
    NO_FRAME_SHARED = "no_frame_shared"
    RAM_IN_HOST_RAM = "ram_in_host_ram"
    INVARIANT = "invariant"


@dataclass(frozen=True)
class Property:
    name: str  # the label the user sees (built-in name if no label)
    kind: PropertyKind
    domains: tuple[int, ...]  # restriction; () = every domain
    expr: Expr | None = None  # INVARIANT only
    span: Span = field(default=NO_SPAN, compare=False)

    def covers(self, domain: int) -> bool:
        return not self.domains or domain in self.domains


@dataclass(frozen=True)
class Model:
    path: str  # as given by the user
    sources: tuple[str, ...]  # the file and its include closure, in load order
    platform: Platform
    hypervisor: Hypervisor
    domains: tuple[Domain, ...]
    scenario: Scenario
    properties: tuple[Property, ...]

    @property
    def page_size(self) -> int:
        return self.platform.page_size

    def domain(self, name: str) -> Domain:
        for d in self.domains:
            if d.name == name:
                return d
        raise KeyError(name)

    def property(self, name: str) -> Property:
        for p in self.properties:
            if p.name == name:
                return p
        raise KeyError(name)
