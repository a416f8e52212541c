"""AST to model: includes, names, units and validation.

`load_model(path)` is the entry point every engine and command uses. It reads the file and its
include closure (each include resolved relative to the including file), merges the declarations
in textual order (an include is expanded where it stands), resolves every name, converts sizes
to bytes and pages, and validates. Every error found is reported at once in one CheckerError;
warnings never stop a load (`load_model_with_warnings` returns them).

`Model.sources` lists the root path as given, then each included file as the including file's
directory joined with the include string, normalised (`os.path.normpath`); a file reached
twice is loaded once. These paths are openable from the current directory.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from checker import ast
from checker import model as m
from checker.diagnostics import CheckerError, Diagnostic, Note, Span
from checker.parse import parse_text
from checker.source import read

DEFAULT_PAGE_SIZE = 4096
DEFAULT_MAX_ORDER = 18  # Arm CONFIG_PAGEALLOC_MAX_ORDER since Xen 4.7 (4.5 used 20)
LIMIT = 1 << 64
BUILTINS = {k.value: k for k in m.PropertyKind if k is not m.PropertyKind.INVARIANT}


@dataclass
class Loaded:
    """The parsed include closure: files in load order, items in merged (textual) order."""

    sources: list[str] = field(default_factory=list)
    files: list[ast.File] = field(default_factory=list)
    items: list[ast.Item] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)


def _chain_notes(chain: list[Span]) -> tuple[Note, ...]:
    return tuple(Note("included from here", s) for s in reversed(chain))


def _with_chain(exc: CheckerError, chain: list[Span]) -> CheckerError:
    if not chain:
        return exc
    notes = _chain_notes(chain)
    diags = [Diagnostic(d.message, d.span, d.notes + notes, d.severity) for d in exc.diagnostics]
    return CheckerError(diags, exc.exit_code)


def load_files(path: str, text: str | None = None) -> Loaded:
    """Read and parse `path` (or `text` for it) and, recursively, everything it includes."""
    out = Loaded()
    errors: list[Diagnostic] = []
    seen: set[str] = set()

    def visit(p: str, chain: list[Span], stack: list[tuple[str, str]], body: str | None) -> None:
        key = os.path.realpath(p) if p != "<stdin>" else p
        on_stack = [s for s in stack if s[0] == key]
        if on_stack and chain:
            cycle = " -> ".join([s[1] for s in stack[stack.index(on_stack[0]):]] + [p])
            errors.append(
                Diagnostic(f"include cycle: {cycle}", chain[-1], _chain_notes(chain[:-1]))
            )
            return
        if key in seen:
            return
        seen.add(key)
        try:
            if body is None:
                src = read(p, chain[-1] if chain else None)
                body = src.text
            f = parse_text(p, body)
        except CheckerError as exc:
            if chain:
                note_chain = chain[:-1] if exc.diagnostics and exc.diagnostics[0].span == chain[-1] else chain
                exc = _with_chain(exc, note_chain)
            errors.extend(exc.diagnostics)
            return
        out.sources.append(p)
        out.files.append(f)
        out.texts[p] = body
        for item in f.items:
            if isinstance(item, ast.Include):
                target = item.path
                if not os.path.isabs(target):
                    target = os.path.normpath(os.path.join(os.path.dirname(p), target))
                if not item.path:
                    errors.append(Diagnostic("empty include path", item.span, _chain_notes(chain)))
                    continue
                visit(target, chain + [item.span], stack + [(key, p)], None)
            else:
                out.items.append(item)

    visit(path, [], [], text)
    if errors:
        raise CheckerError(errors)
    return out


def load_model_with_warnings(
    path: str, text: str | None = None
) -> tuple[m.Model, tuple[Diagnostic, ...]]:
    """The model of `path` and the warnings found while validating it."""
    loaded = load_files(path, text)
    r = _Resolver(path, loaded)
    model = r.run()
    if r.errors:
        raise CheckerError(r.errors)
    assert model is not None
    return model, tuple(r.warnings)


def load_model(path: str) -> m.Model:
    """Load, resolve and validate the model in `path`; raises CheckerError (exit 2)."""
    return load_model_with_warnings(path)[0]


# ---- helpers -----------------------------------------------------------------------------------


def human(n: int) -> str:
    """A size in binary units: 4K, 256M, 2032M, 1.5G is shown as 1536M."""
    for unit, shift in (("T", 40), ("G", 30), ("M", 20), ("K", 10)):
        if n and n % (1 << shift) == 0:
            return f"{n >> shift}{unit}"
    return str(n)


def _suggest(name: str, candidates: Mapping[str, Span | None]) -> tuple[Note, ...]:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    if close:
        return (Note(f"did you mean `{close[0]}`?", candidates[close[0]]),)
    return ()


def _union_contains(banks: Iterable[m.Region], lo: int, hi: int) -> bool:
    """Whether [lo, hi) lies inside the union of `banks` (adjacent banks merge)."""
    pos = lo
    for b in sorted(banks, key=lambda r: r.base):
        if b.base <= pos < b.end:
            pos = b.end
        if pos >= hi:
            return True
    return pos >= hi


# ---- the resolver ------------------------------------------------------------------------------


class _Resolver:
    def __init__(self, path: str, loaded: Loaded) -> None:
        self.path = path
        self.loaded = loaded
        self.errors: list[Diagnostic] = []
        self.warnings: list[Diagnostic] = []
        self.page = DEFAULT_PAGE_SIZE
        self.regions: dict[str, m.Region] = {}  # platform and hypervisor regions by name
        self.domains: list[m.Domain] = []
        self.domain_spans: dict[str, Span] = {}
        self.domain_index: dict[str, int] = {}
        self.have_hypervisor = True

    def err(self, message: str, span: Span | None, *notes: Note) -> None:
        self.errors.append(Diagnostic(message, span, tuple(notes)))

    def warn(self, message: str, span: Span | None, *notes: Note) -> None:
        self.warnings.append(Diagnostic(message, span, tuple(notes), "warning"))

    def root_span(self) -> Span:
        return Span(self.path, 1, 1, 1, 1)

    def one(self, items: list[ast.Item], kind: type, what: str) -> ast.Item | None:
        decls = [i for i in items if isinstance(i, kind)]
        if not decls:
            self.err(
                f"the model declares no {what}",
                self.root_span(),
                Note(f"a model needs exactly one `{what}`, in this file or one it includes"),
            )
            return None
        for extra in decls[1:]:
            self.err(
                f"a second {what} is declared", extra.span,
                Note(f"the first {what} is declared here", decls[0].span),
                Note(f"a model has exactly one {what}"),
            )
        return decls[0]

    def run(self) -> m.Model | None:
        items = self.loaded.items
        pdecl = self.one(items, ast.PlatformDecl, "platform")
        hdecl = self.one(items, ast.HypervisorDecl, "hypervisor")
        if isinstance(pdecl, ast.PlatformDecl):
            platform = self.platform(pdecl)
        else:
            platform = m.Platform("?", self.page, (), (), ())
        if isinstance(hdecl, ast.HypervisorDecl):
            hyp = self.hypervisor(hdecl, platform)
        else:
            self.have_hypervisor = False
            hyp = m.Hypervisor("?", (), (), DEFAULT_MAX_ORDER, m.Placement.ANY,
                               m.BalloonMode.KEEP_OWNED)
        ddecls = [i for i in items if isinstance(i, ast.DomainDecl)]
        if not ddecls:
            self.err("the model declares no domain", self.root_span(),
                     Note("a model needs at least one `domain NAME { ... }`"))
        dres = _Domains(self, platform, hyp)
        domains = dres.domains(ddecls)
        scen = [i for i in items if isinstance(i, ast.ScenarioDecl)]
        for extra in scen[1:]:
            self.err("a second scenario is declared", extra.span,
                     Note("the first scenario is declared here", scen[0].span))
        scenario = dres.scenario(scen[0]) if scen else dres.default_scenario()
        props = dres.properties(
            [i for i in items if isinstance(i, (ast.PropertyDecl, ast.InvariantDecl))]
        )
        if self.errors:
            return None
        return m.Model(
            self.path, tuple(self.loaded.sources), platform, hyp, tuple(domains), scenario, props
        )

    # -- regions ---------------------------------------------------------------------------------
    def num(self, n: ast.Num) -> int:
        return n.value

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
            if r.size and not _union_contains(ram, r.base, r.end):
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
    def hypervisor(self, d: ast.HypervisorDecl, platform: m.Platform) -> m.Hypervisor:
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
                reg = platform.region(name)
                if reg is None:
                    cands = {r.name: r.span for r in platform.mmio}
                    self.err(f"unknown platform region `{name}`", st.region.span,
                             *_suggest(name, cands))
                elif reg.kind is not m.RegionKind.MMIO:
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


# ---- domains, scenario, properties -------------------------------------------------------------

_DOMAIN_FIELDS = {"alive": "bool", "id": "int", "rambase": "int", "memory": "int",
                  "direct": "bool", "ram": "interval"}
_MAPPING_FIELDS = {"ipa": "int", "pa": "int", "size": "int"}
_TYPE_NAMES = {"int": "a number", "bool": "a truth value", "interval": "an interval",
               "domain": "a domain", "mapping": "a mapping", "?": "?"}


class _Domains:
    """Domains (after the platform and hypervisor), then the scenario and the properties."""

    def __init__(self, r: _Resolver, platform: m.Platform, hyp: m.Hypervisor) -> None:
        self.r = r
        self.platform = platform
        self.hyp = hyp
        self.decls: dict[str, ast.DomainDecl] = {}
        self.name_spans: dict[str, Span] = {}
        self.index: dict[str, int] = {}
        self.result: list[m.Domain] = []
        self.static_owner: list[tuple[m.Region, str]] = []
        self.passed: dict[str, tuple[str, Span]] = {}
        self.backend_spans: dict[tuple[str, str], Span] = {}

    # -- domains ---------------------------------------------------------------------------------
    def domains(self, decls: list[ast.DomainDecl]) -> list[m.Domain]:
        for d in decls:
            for n in d.names:
                if n.text in self.name_spans:
                    self.r.err(f"duplicate domain name `{n.text}`", n.span,
                               Note(f"`{n.text}` is first declared here", self.name_spans[n.text]))
                    continue
                self.name_spans[n.text] = n.span
                self.decls[n.text] = d
                self.index[n.text] = len(self.index)
        group = 0
        seen: set[str] = set()
        for d in decls:
            sym: int | None = None
            if len(d.names) > 1:
                sym, group = group, group + 1
            for n in d.names:
                if self.decls.get(n.text) is not d or n.text in seen:
                    continue
                seen.add(n.text)
                self.result.append(self.domain(d, n, sym))
        for dom in self.result:
            for fe in dom.frontends:
                self.check_frontend(dom, fe)
        return self.result

    def once(self, body: tuple[ast.DomainStmt, ...], kind: type, what: str) -> ast.DomainStmt | None:
        found = [s for s in body if isinstance(s, kind)]
        for extra in found[1:]:
            self.r.err(f"{what} is given twice", extra.span,
                       Note(f"the first {what} statement is here", found[0].span))
        return found[0] if found else None

    def domain(self, d: ast.DomainDecl, n: ast.Name, sym: int | None) -> m.Domain:
        r, page, name = self.r, self.r.page, n.text
        body = d.body
        statics: list[m.Region] = []
        for st in body:
            if isinstance(st, ast.RegionStmt):
                what = f"static memory of `{name}`"
                reg = r.region(st, m.RegionKind.STATIC, f"{name}.static{len(statics)}", what)
                statics.append(reg)
                self.check_static(reg, name)
        mem_st = self.once(body, ast.Memory, "memory")
        total_static = sum(s.size for s in statics)
        memory = 0
        if isinstance(mem_st, ast.Memory):
            memory = mem_st.size.value
            if memory == 0:
                r.err(f"domain `{name}` has memory zero", mem_st.size.span)
            elif memory % page:
                r.err(f"the memory of `{name}` ({mem_st.size.text}) is not a multiple of the "
                      "page size", mem_st.size.span, Note(f"the page size is {human(page)}"))
            if statics and memory != total_static:
                r.err(f"the memory of `{name}` ({human(memory)}) differs from its static memory "
                      f"({human(total_static)})", mem_st.size.span,
                      Note("a domain with static_mem gets exactly its static memory"))
        elif statics:
            memory = total_static
        else:
            r.err(f"domain `{name}` declares no memory", n.span,
                  Note("add `memory SIZE`, e.g. `memory 256M`"))
        dm_st = self.once(body, ast.DirectMapStmt, "direct_map")
        direct, hook = m.DirectMap.NONE, None
        if isinstance(dm_st, ast.DirectMapStmt):
            direct = {"always": m.DirectMap.ALWAYS, "static": m.DirectMap.STATIC,
                      "hook": m.DirectMap.HOOK}[dm_st.mode]
            if dm_st.hook_id is not None:
                hook = dm_st.hook_id.value
                if hook < 1:
                    r.err(f"`direct_map when id == {dm_st.hook_id.text}` can never hold",
                          dm_st.hook_id.span, Note("domain ids handed to guests start at 1"))
            if direct is m.DirectMap.STATIC and not statics:
                r.err(f"`direct_map static` but domain `{name}` has no static_mem", dm_st.span,
                      Note("add `static_mem at ADDRESS size SIZE`"))
        rb_st = self.once(body, ast.RambaseStmt, "rambase")
        mode, rambase = self.rambase(name, n, rb_st, direct, statics, memory)
        sw = self.once(body, ast.Swiotlb, "swiotlb")
        backends: list[str] = []
        for st in body:
            if isinstance(st, ast.BackendStmt):
                if st.kind.text in backends:
                    r.err(f"`{name}` is declared a `{st.kind.text}` backend twice", st.span)
                backends.append(st.kind.text)
        fes = [st for st in body if isinstance(st, ast.FrontendStmt)]
        for st in fes:
            self.backend_spans[(name, st.backend.text)] = st.backend.span
        frontends = tuple(m.Frontend(st.kind.text, st.backend.text, st.span) for st in fes)
        passthrough = self.passthrough(name, body)
        return m.Domain(
            index=len(self.result), name=name, memory=memory, pages=memory // page,
            direct_map=direct, hook_id=hook, rambase_mode=mode, rambase=rambase,
            static_mem=tuple(statics), swiotlb=isinstance(sw, ast.Swiotlb) and sw.on,
            backends=tuple(backends), frontends=frontends, passthrough=passthrough,
            symmetry_group=sym, span=n.span,
        )

    def check_static(self, reg: m.Region, owner: str) -> None:
        if reg.size and not _union_contains(self.platform.ram, reg.base, reg.end):
            self.r.err(f"static memory [{reg.base:#x}, {reg.end:#x}) of `{owner}` is not inside "
                       "host RAM", reg.span)
        for res in self.platform.reserved:
            if reg.overlaps(res):
                self.r.err(f"static memory of `{owner}` overlaps reserved region `{res.name}`",
                           reg.span, Note(f"`{res.name}` is declared here", res.span))
        for other, who in self.static_owner:
            if reg.overlaps(other):
                self.r.err(f"static memory of `{owner}` overlaps static memory of `{who}`",
                           reg.span, Note("the other static memory is declared here", other.span))
        self.static_owner.append((reg, owner))

    def rambase(
        self, name: str, n: ast.Name, st: ast.DomainStmt | None, direct: m.DirectMap,
        statics: list[m.Region], memory: int,
    ) -> tuple[m.RambaseMode, int | None]:
        r = self.r
        if not isinstance(st, ast.RambaseStmt):
            if direct is m.DirectMap.STATIC:
                return m.RambaseMode.STATIC, None
            if not self.hyp.guest_ram:
                if not r.have_hypervisor:
                    return m.RambaseMode.LAYOUT, None
                r.err(f"domain `{name}` has no rambase and the hypervisor declares no guest_ram "
                      "window", n.span,
                      Note("add `rambase fixed ADDRESS` or a hypervisor `guest_ram` window"))
                return m.RambaseMode.LAYOUT, None
            return m.RambaseMode.LAYOUT, self.hyp.guest_ram[0].base
        if st.mode == "static":
            if not statics:
                r.err(f"`rambase static` but domain `{name}` has no static_mem", st.span,
                      Note("add `static_mem at ADDRESS size SIZE`"))
            return m.RambaseMode.STATIC, None
        if st.mode == "allocated":
            if direct is m.DirectMap.NONE:
                r.err(f"`rambase allocated` needs a direct-mapped domain; `{name}` is not",
                      st.span, Note("only a 1:1 domain gets its RAM as one block"))
            return m.RambaseMode.ALLOCATED, None
        assert st.address is not None
        base = st.address.value
        if base % r.page:
            r.err(f"rambase {st.address.text} is not page-aligned", st.address.span,
                  Note(f"the page size is {human(r.page)}"))
        if base + memory > LIMIT:
            r.err(f"the RAM of `{name}` at {base:#x} ends past 64 bits", st.address.span)
        elif direct is not m.DirectMap.NONE and not _union_contains(
            self.platform.ram, base, base + 1
        ):
            # NOTE(rambase-in-ram): only the base is checked here; RAM that starts in a bank and
            # runs past it is a finding of `ram_in_host_ram`, not a load error.
            banks = ", ".join(f"`{b.name}` [{b.base:#x}, {b.end:#x})" for b in self.platform.ram)
            r.err(f"domain `{name}` is direct-mapped but its fixed rambase {st.address.text} is "
                  "outside host RAM", st.address.span,
                  Note(f"host RAM: {banks or 'none'}"))
        return m.RambaseMode.FIXED, base

    def passthrough(self, name: str, body: tuple[ast.DomainStmt, ...]) -> tuple[m.Region, ...]:
        out: list[m.Region] = []
        for st in body:
            if not isinstance(st, ast.Passthrough):
                continue
            for rn in st.regions:
                reg = self.platform.region(rn.text)
                if reg is None:
                    other = self.r.regions.get(rn.text)
                    if other is not None:
                        self.r.err(f"cannot pass through `{rn.text}`: it is a hypervisor "
                                   f"{other.kind.value} region, not platform MMIO", rn.span,
                                   Note(f"`{rn.text}` is declared here", other.span))
                        continue
                    cands = {x.name: x.span for x in self.platform.mmio}
                    self.r.err(f"unknown platform region `{rn.text}`", rn.span,
                               *_suggest(rn.text, cands))
                    continue
                if reg.kind is not m.RegionKind.MMIO:
                    self.r.err(f"cannot pass through `{rn.text}`: it is a {reg.kind.value} "
                               "region, not MMIO", rn.span,
                               Note(f"`{rn.text}` is declared here", reg.span))
                    continue
                if any(x.name == reg.name for x in out):
                    self.r.err(f"`{rn.text}` is passed through to `{name}` twice", rn.span)
                    continue
                if rn.text in self.passed and self.passed[rn.text][0] != name:
                    who, where = self.passed[rn.text]
                    self.r.warn(f"`{rn.text}` is passed through to both `{who}` and `{name}`",
                                rn.span, Note(f"passed through to `{who}` here", where))
                else:
                    self.passed[rn.text] = (name, rn.span)
                for w in self.hyp.windows:
                    if reg.overlaps(w):
                        self.r.warn(f"passthrough `{rn.text}` [{reg.base:#x}, {reg.end:#x}) "
                                    f"overlaps hypervisor window `{w.name}` in the IPA space of "
                                    f"`{name}`", rn.span, Note(f"`{w.name}` is declared here",
                                                               w.span))
                out.append(reg)
        return tuple(out)

    def check_frontend(self, dom: m.Domain, fe: m.Frontend) -> None:
        span = self.backend_spans.get((dom.name, fe.backend), fe.span)
        if fe.backend not in self.index:
            self.r.err(f"unknown domain `{fe.backend}`", span,
                       *_suggest(fe.backend, self.name_spans))
            return
        if fe.backend == dom.name:
            self.r.err(f"domain `{dom.name}` cannot be a frontend of itself", fe.span)
            return
        back = self.result[self.index[fe.backend]]
        if fe.kind not in back.backends:
            self.r.err(f"`{dom.name}` is a `{fe.kind}` frontend of `{back.name}`, which is not "
                       f"a `{fe.kind}` backend", fe.span,
                       Note(f"`{back.name}` is declared here; add `backend {fe.kind}`",
                            back.span))

    # -- scenario --------------------------------------------------------------------------------
    def dom(self, n: ast.Name) -> int | None:
        if n.text in self.index:
            return self.index[n.text]
        self.r.err(f"unknown domain `{n.text}`", n.span, *_suggest(n.text, self.name_spans))
        return None

    def related(self, front: int, back: int) -> bool:
        return any(fe.backend == self.result[back].name for fe in self.result[front].frontends)

    def serves(self, back: int) -> bool:
        name = self.result[back].name
        return any(fe.backend == name for d in self.result for fe in d.frontends)

    def op(self, st: ast.OpStmt) -> m.Op | None:
        d = self.dom(st.domain)
        peer = self.dom(st.peer) if st.peer is not None else None
        if d is None or (st.peer is not None and peer is None) or d >= len(self.result):
            return None
        dom = self.result[d]
        kind = m.OpKind(st.kind)
        pages = 1
        if st.count is not None:
            pages = st.count.value
            if pages < 1:
                self.r.err(f"`{st.kind}` of {st.count.text} pages does nothing", st.count.span,
                           Note("the page count must be at least 1"))
            elif dom.pages and pages > dom.pages:
                self.r.err(f"`{st.kind} {dom.name} {st.count.text}` can never happen: "
                           f"`{dom.name}` has {dom.pages} pages", st.count.span)
        if kind is m.OpKind.GRANT and peer is not None and not self.related(d, peer):
            other = self.result[peer].name
            self.r.err(f"`grant {dom.name} -> {other}`: `{dom.name}` is not a frontend of "
                       f"`{other}`", st.span,
                       Note(f"declare `frontend KIND -> {other}` in `{dom.name}`", dom.span))
        if kind is m.OpKind.UNMAP and not self.serves(d):
            self.r.err(f"`unmap {dom.name}`: no domain is a frontend of `{dom.name}`, so it never "
                       "maps a grant", st.span)
        if kind is m.OpKind.DMA:
            if not dom.dma_capable:
                self.r.err(f"`dma {dom.name} {st.buffer}`: `{dom.name}` has no DMA-capable "
                           "passthrough device", st.span,
                           Note("pass through an `mmio ... dma` region", dom.span))
            elif st.buffer == "grant" and not self.serves(d):
                self.r.err(f"`dma {dom.name} grant`: no domain is a frontend of `{dom.name}`, so "
                           "it never maps a grant", st.span)
        return m.Op(kind, d, pages, peer, st.buffer, st.span)

    def alternatives(self, sts: tuple[ast.OpStmt, ...]) -> tuple[m.Op, ...]:
        return tuple(o for o in (self.op(s) for s in sts) if o is not None)

    def scenario(self, sc: ast.ScenarioDecl) -> m.Scenario:
        out: list[m.Statement] = []
        for st in sc.body:
            if isinstance(st, ast.OpStmt):
                o = self.op(st)
                if o is not None:
                    out.append(m.Step(o, st.span))
            elif isinstance(st, ast.ChooseStmt):
                if st.times.value < 1:
                    self.r.err(f"`choose up to {st.times.text}` never chooses anything",
                               st.times.span, Note("N must be at least 1"))
                out.append(m.Choose(self.alternatives(st.alternatives), st.times.value, st.span))
            else:
                out.append(m.Loop(self.alternatives(st.alternatives), st.span))
        return m.Scenario(tuple(out), sc.span)

    def default_scenario(self) -> m.Scenario:
        """`loop` over every operation the declarations make meaningful (docs/language.md)."""
        ops: list[m.Op] = []
        for d in self.result:
            ops += [m.Op(m.OpKind.CREATE, d.index), m.Op(m.OpKind.DESTROY, d.index),
                    m.Op(m.OpKind.BALLOON_OUT, d.index, 1), m.Op(m.OpKind.BALLOON_IN, d.index, 1)]
        for d in self.result:
            for peer in dict.fromkeys(fe.backend for fe in d.frontends):
                if peer in self.index:
                    ops.append(m.Op(m.OpKind.GRANT, d.index, peer=self.index[peer]))
        for d in self.result:
            if self.serves(d.index):
                ops.append(m.Op(m.OpKind.UNMAP, d.index))
        for d in self.result:
            if d.dma_capable:
                ops.append(m.Op(m.OpKind.DMA, d.index, buffer="ram"))
                if self.serves(d.index):
                    ops.append(m.Op(m.OpKind.DMA, d.index, buffer="grant"))
        return m.Scenario((m.Loop(tuple(ops)),) if ops else ())

    # -- properties ------------------------------------------------------------------------------
    def properties(
        self, decls: list[ast.PropertyDecl | ast.InvariantDecl]
    ) -> tuple[m.Property, ...]:
        if not decls:
            return tuple(m.Property(k.value, k, ()) for k in BUILTINS.values())
        out: list[m.Property] = []
        labels: dict[str, Span] = {}
        for d in decls:
            label = d.name if isinstance(d, ast.InvariantDecl) else (d.label or d.builtin)
            if label.text in labels:
                self.r.err(f"duplicate property name `{label.text}`", label.span,
                           Note(f"`{label.text}` is first declared here", labels[label.text]))
                continue
            labels[label.text] = label.span
            if isinstance(d, ast.InvariantDecl):
                expr, ty = _Expr(self).check(d.expr, {})
                if ty not in ("bool", "?"):
                    self.r.err(f"invariant `{label.text}` is {_TYPE_NAMES[ty]}, not a truth value",
                               d.expr.span)
                out.append(m.Property(label.text, m.PropertyKind.INVARIANT, (), expr, d.span))
                continue
            kind = BUILTINS.get(d.builtin.text)
            if kind is None:
                self.r.err(f"unknown property `{d.builtin.text}`", d.builtin.span,
                           *_suggest(d.builtin.text, {k: None for k in BUILTINS}),
                           Note("built-in properties: " + ", ".join(BUILTINS)))
                continue
            doms: list[int] = []
            for n in d.domains or ():
                i = self.dom(n)
                if i is not None and i not in doms:
                    doms.append(i)
            out.append(m.Property(label.text, kind, tuple(doms), None, d.span))
        return tuple(out)


class _Expr:
    """Type-checks an invariant and turns it into model expressions (see docs/language.md)."""

    def __init__(self, d: _Domains) -> None:
        self.d = d
        self.r = d.r

    def want(self, e: ast.Expr, env: dict[str, str], ty: str, ctx: str) -> m.Expr:
        out, got = self.check(e, env)
        if got not in (ty, "?"):
            self.r.err(f"{ctx} needs {_TYPE_NAMES[ty]}, but this is {_TYPE_NAMES[got]}", e.span)
        return out

    def typed(self, result: m.Expr, ty: str, before: int) -> tuple[m.Expr, str]:
        """`ty`, or "?" when an operand was wrong (so one mistake gives one error)."""
        return result, ("?" if len(self.r.errors) > before else ty)

    def check(self, e: ast.Expr, env: dict[str, str]) -> tuple[m.Expr, str]:
        if isinstance(e, ast.Num):
            return m.Num(e.value, e.span), "int"
        if isinstance(e, ast.Paren):
            return self.check(e.inner, env)
        if isinstance(e, ast.Var):
            name = e.name.text
            if name not in env:
                hint = Note("variables are introduced by `forall X in ...:` or `exists X in ...:`")
                self.r.err(f"unknown variable `{name}`", e.span, hint)
                return m.Var(name, e.span), "?"
            return m.Var(name, e.span), env[name]
        if isinstance(e, ast.Attr):
            obj, ty = self.check(e.obj, env)
            fields = {"domain": _DOMAIN_FIELDS, "mapping": _MAPPING_FIELDS}.get(ty)
            if ty == "?":
                return m.Attr(obj, e.attr.text, e.span), "?"
            if fields is None:
                self.r.err(f"`.{e.attr.text}` needs a domain or a mapping, but this is "
                           f"{_TYPE_NAMES[ty]}", e.obj.span)
                return m.Attr(obj, e.attr.text, e.span), "?"
            if e.attr.text not in fields:
                self.r.err(f"a {ty} has no field `{e.attr.text}`", e.attr.span,
                           Note(f"{ty} fields: " + ", ".join(fields)))
                return m.Attr(obj, e.attr.text, e.span), "?"
            return m.Attr(obj, e.attr.text, e.span), fields[e.attr.text]
        if isinstance(e, ast.RegionRef):
            reg = self.r.regions.get(e.name.text)
            if reg is None:
                self.r.err(f"unknown region `{e.name.text}`", e.name.span,
                           *_suggest(e.name.text, {k: v.span for k, v in self.r.regions.items()}))
                return m.Num(0, e.span), "?"
            return m.RegionRef(reg, e.span), "interval"
        before = len(self.r.errors)
        if isinstance(e, ast.Interval):
            lo = self.want(e.lo, env, "int", "an interval bound")
            hi = self.want(e.hi, env, "int", "an interval bound")
            return self.typed(m.Interval(lo, hi, e.span), "interval", before)
        if isinstance(e, ast.Not):
            operand = self.want(e.operand, env, "bool", "`not`")
            return self.typed(m.Not(operand, e.span), "bool", before)
        if isinstance(e, ast.Quant):
            inner = dict(env)
            of = None
            if e.over == "mappings":
                assert e.of is not None
                of = e.of.text
                if env.get(of) != "domain":
                    self.r.err(f"`mappings({of})` needs a domain variable", e.of.span)
                inner[e.var.text] = "mapping"
            else:
                inner[e.var.text] = "domain"
            body = self.want(e.body, inner, "bool", f"the body of `{e.kind}`")
            return self.typed(m.Quant(e.kind, e.var.text, e.over, of, body, e.span), "bool",
                              before)
        assert isinstance(e, ast.BinOp)
        op = e.op
        if op in ("+", "-", "*"):
            a = self.want(e.left, env, "int", f"`{op}`")
            b = self.want(e.right, env, "int", f"`{op}`")
            return self.typed(m.BinOp(op, a, b, e.span), "int", before)
        if op in ("and", "or", "implies"):
            a = self.want(e.left, env, "bool", f"`{op}`")
            b = self.want(e.right, env, "bool", f"`{op}`")
            return self.typed(m.BinOp(op, a, b, e.span), "bool", before)
        if op in ("overlaps", "within"):
            a = self.want(e.left, env, "interval", f"`{op}`")
            b = self.want(e.right, env, "interval", f"`{op}`")
            return self.typed(m.BinOp(op, a, b, e.span), "bool", before)
        if op in ("==", "!="):
            a, ta = self.check(e.left, env)
            b, tb = self.check(e.right, env)
            if "?" not in (ta, tb) and (ta != tb or ta not in ("int", "bool")):
                self.r.err(f"`{op}` compares two numbers or two truth values, not "
                           f"{_TYPE_NAMES[ta]} and {_TYPE_NAMES[tb]}", e.span)
            return self.typed(m.BinOp(op, a, b, e.span), "bool", before)
        a = self.want(e.left, env, "int", f"`{op}`")
        b = self.want(e.right, env, "int", f"`{op}`")
        return self.typed(m.BinOp(op, a, b, e.span), "bool", before)
