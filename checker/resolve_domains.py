"""Domains: memory, direct mapping, rambase, static memory, passthrough, backends and frontends.

Resolved after the platform and hypervisor (`resolve_host.Host`), in declaration order; the
index of a domain is its position. The scenario and properties refer to domains through
`Domains.dom`.
"""

from __future__ import annotations

from checker import ast
from checker import model as m
from checker.diagnostics import Note, Span
from checker.resolve_host import LIMIT, Host, human, suggest, union_contains


class Domains:
    """Resolves the domain declarations against the platform and the hypervisor."""

    def __init__(self, r: Host, platform: m.Platform, hyp: m.Hypervisor) -> None:
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
        if reg.size and not union_contains(self.platform.ram, reg.base, reg.end):
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
        elif direct is not m.DirectMap.NONE and not union_contains(
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
                               *suggest(rn.text, cands))
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
                       *suggest(fe.backend, self.name_spans))
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

    # -- lookups for the scenario and the properties ---------------------------------------------
    def dom(self, n: ast.Name) -> int | None:
        """The index of the domain `n` names; an unknown name is reported."""
        if n.text in self.index:
            return self.index[n.text]
        self.r.err(f"unknown domain `{n.text}`", n.span, *suggest(n.text, self.name_spans))
        return None

    def related(self, front: int, back: int) -> bool:
        """Whether domain `front` is a frontend of domain `back`."""
        return any(fe.backend == self.result[back].name for fe in self.result[front].frontends)

    def serves(self, back: int) -> bool:
        """Whether some domain is a frontend of domain `back`."""
        name = self.result[back].name
        return any(fe.backend == name for d in self.result for fe in d.frontends)
