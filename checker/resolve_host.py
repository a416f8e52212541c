"""The host side of a model: regions, the platform and the hypervisor, and shared helpers.

`Host` collects every diagnostic of one load (errors and warnings); the domain, scenario and
invariant resolvers report through it. Regions are checked for size, page alignment and the
64-bit limit; platform regions for overlaps; hypervisor host windows against platform MMIO.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

from checker import ast
from checker import model as m
from checker.diagnostics import Diagnostic, Note, Span

DEFAULT_PAGE_SIZE = 4096
DEFAULT_MAX_ORDER = 18  # Arm CONFIG_PAGEALLOC_MAX_ORDER since Xen 4.7 (4.5 used 20)
LIMIT = 1 << 64



def human(n: int) -> str:
    """A size in binary units: 4K, 256M, 2032M, 1.5G is shown as 1536M."""
    for unit, shift in (("T", 40), ("G", 30), ("M", 20), ("K", 10)):
        if n and n % (1 << shift) == 0:
            return f"{n >> shift}{unit}"
    return str(n)


def suggest(name: str, candidates: Mapping[str, Span | None]) -> tuple[Note, ...]:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    if close:
        return (Note(f"did you mean `{close[0]}`?", candidates[close[0]]),)
    return ()


def union_contains(banks: Iterable[m.Region], lo: int, hi: int) -> bool:
    """Whether [lo, hi) lies inside the union of `banks` (adjacent banks merge)."""
    pos = lo
    for b in sorted(banks, key=lambda r: r.base):
        if b.base <= pos < b.end:
            pos = b.end
        if pos >= hi:
            return True
    return pos >= hi


class Host:
    """The diagnostics of one load, the page size, and the platform and hypervisor regions."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.errors: list[Diagnostic] = []
        self.warnings: list[Diagnostic] = []
        self.page = DEFAULT_PAGE_SIZE
        self.regions: dict[str, m.Region] = {}  # platform and hypervisor regions by name
        self.have_hypervisor = True

    def err(self, message: str, span: Span | None, *notes: Note) -> None:
        self.errors.append(Diagnostic(message, span, tuple(notes)))

    def warn(self, message: str, span: Span | None, *notes: Note) -> None:
        self.warnings.append(Diagnostic(message, span, tuple(notes), "warning"))

    def root_span(self) -> Span:
        return Span(self.path, 1, 1, 1, 1)

    # -- regions ---------------------------------------------------------------------------------
    def region(self, st: ast.RegionStmt, kind: m.RegionKind, name: str, what: str) -> m.Region:
        base, size = st.base.value, st.size.value
        page = self.page
        if size == 0:
            self.err(f"{what} has size zero", st.size.span)
        elif size % page:
            self.err(
                f"the size of {what} ({st.size.text}) is not a multiple of the page size",
                st.size.span, Note(f"the page size is {human(page)} ({page:#x})"),
            )
        if base % page:
            self.err(
                f"{what} is not page-aligned: {st.base.text} is not a multiple of {human(page)}",
                st.base.span, Note(f"the page size is {human(page)} ({page:#x})"),
            )
        if base + size > LIMIT:
            self.err(
                f"{what} ends past 64 bits: {base:#x} + {size:#x} = {base + size:#x}",
                st.span, Note("the end of a region may be at most 2^64"),
            )
        return m.Region(name, kind, base, size, st.dma, st.span)

    def named_region(self, st: ast.RegionStmt, kind: m.RegionKind, what: str) -> m.Region:
        assert st.name is not None
        name = st.name.text
        reg = self.region(st, kind, name, f"{what} `{name}`")
        if name in self.regions:
            self.err(
                f"duplicate region name `{name}`", st.name.span,
                Note(f"`{name}` is first declared here", self.regions[name].span),
            )
        else:
            self.regions[name] = reg
        return reg

    # -- platform --------------------------------------------------------------------------------
    def platform(self, d: ast.PlatformDecl) -> m.Platform:
        sizes = [s for s in d.body if isinstance(s, ast.PageSize)]
        for extra in sizes[1:]:
            self.err("page_size is given twice", extra.span,
                     Note("the first page_size is here", sizes[0].span))
        if sizes:
            ps = sizes[0].size.value
            if ps == 0 or ps & (ps - 1):
                self.err(f"the page size {sizes[0].size.text} is not a power of two",
                         sizes[0].size.span)
            else:
                self.page = ps
        ram: list[m.Region] = []
        mmio: list[m.Region] = []
        reserved: list[m.Region] = []
        kinds = {
            "ram": (m.RegionKind.RAM, "RAM bank", ram),
            "mmio": (m.RegionKind.MMIO, "MMIO region", mmio),
            "reserved": (m.RegionKind.RESERVED, "reserved region", reserved),
        }
        for st in d.body:
            if isinstance(st, ast.RegionStmt):
                kind, what, dest = kinds[st.kind]
                dest.append(self.named_region(st, kind, what))
        for i, a in enumerate(ram):
            for b in ram[:i]:
                if a.overlaps(b):
                    self.err(f"RAM bank `{a.name}` overlaps RAM bank `{b.name}`", a.span,
                             Note(f"`{b.name}` is [{b.base:#x}, {b.end:#x})", b.span))
        for r in mmio:
            for b in ram:
                if r.overlaps(b):
                    self.err(f"MMIO region `{r.name}` overlaps RAM bank `{b.name}`", r.span,
                             Note(f"`{b.name}` is [{b.base:#x}, {b.end:#x})", b.span))
        for i, r in enumerate(reserved):
            if r.size and not union_contains(ram, r.base, r.end):
                self.err(f"reserved region `{r.name}` is not inside host RAM", r.span,
                         Note("reserved memory is carved out of a RAM bank"))
            for b in reserved[:i]:
                if r.overlaps(b):
                    self.err(f"reserved region `{r.name}` overlaps `{b.name}`", r.span,
                             Note(f"`{b.name}` is declared here", b.span))
        if not ram:
            self.err(f"platform `{d.name.text}` has no RAM bank", d.name.span)
        return m.Platform(d.name.text, self.page, tuple(ram), tuple(mmio), tuple(reserved),
                          d.span)

    # -- hypervisor ------------------------------------------------------------------------------
    def hypervisor(self, d: ast.HypervisorDecl, platform: m.Platform | None) -> m.Hypervisor:
        """The hypervisor; without a platform (a fragment) host windows are not looked up."""
        windows: list[m.Region] = []
        guest_ram: list[m.Region] = []
        host: list[str] = []
        for st in d.body:
            if isinstance(st, ast.RegionStmt):
                if st.kind == "window":
                    windows.append(self.named_region(st, m.RegionKind.WINDOW, "window"))
                else:
                    guest_ram.append(
                        self.named_region(st, m.RegionKind.GUEST_RAM, "guest RAM window")
                    )
            elif isinstance(st, ast.HostWindow):
                name = st.region.text
                reg = platform.region(name) if platform is not None else None
                if platform is not None and reg is None:
                    cands = {r.name: r.span for r in platform.mmio}
                    self.err(f"unknown platform region `{name}`", st.region.span,
                             *suggest(name, cands))
                elif reg is not None and reg.kind is not m.RegionKind.MMIO:
                    self.err(f"host_window `{name}` is a {reg.kind.value} region, not MMIO",
                             st.region.span, Note(f"`{name}` is declared here", reg.span))
                elif name in host:
                    self.err(f"host_window `{name}` is given twice", st.span)
                else:
                    host.append(name)
        allocs = [s for s in d.body if isinstance(s, ast.Allocator)]
        for extra in allocs[1:]:
            self.err("allocator is given twice", extra.span,
                     Note("the first allocator is here", allocs[0].span))
        order, placement = DEFAULT_MAX_ORDER, m.Placement.ANY
        if allocs:
            a = allocs[0]
            if a.max_order is not None:
                order = a.max_order.value
                if order > 63:
                    self.err(f"max_order {a.max_order.text} is too large (at most 63)",
                             a.max_order.span)
            if a.placement is not None:
                placement = m.Placement(a.placement.text)
        balloons = [s for s in d.body if isinstance(s, ast.BalloonStmt)]
        for again in balloons[1:]:
            self.err("balloon is given twice", again.span,
                     Note("the first balloon statement is here", balloons[0].span))
        mode = m.BalloonMode(balloons[0].mode.text) if balloons else m.BalloonMode.KEEP_OWNED
        return m.Hypervisor(d.name.text, tuple(windows), tuple(guest_ram), order, placement,
                            mode, tuple(host), d.span)
