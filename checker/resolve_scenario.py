"""The scenario (given or the default `loop`) and the properties (built-in or invariants)."""

from __future__ import annotations

from checker import ast
from checker import model as m
from checker.diagnostics import Note, Span
from checker.resolve_domains import Domains
from checker.resolve_expr import TYPE_NAMES, Expr
from checker.resolve_host import suggest

BUILTINS = {k.value: k for k in m.PropertyKind if k is not m.PropertyKind.INVARIANT}


class Scenario:
    """The scenario and the properties of a model, over its resolved domains."""

    def __init__(self, d: Domains) -> None:
        self.d = d
        self.r = d.r

    def op(self, st: ast.OpStmt) -> m.Op | None:
        d = self.d.dom(st.domain)
        peer = self.d.dom(st.peer) if st.peer is not None else None
        if d is None or (st.peer is not None and peer is None) or d >= len(self.d.result):
            return None
        dom = self.d.result[d]
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
        if kind is m.OpKind.GRANT and peer is not None and not self.d.related(d, peer):
            other = self.d.result[peer].name
            self.r.err(f"`grant {dom.name} -> {other}`: `{dom.name}` is not a frontend of "
                       f"`{other}`", st.span,
                       Note(f"declare `frontend KIND -> {other}` in `{dom.name}`", dom.span))
        if kind is m.OpKind.UNMAP and not self.d.serves(d):
            self.r.err(f"`unmap {dom.name}`: no domain is a frontend of `{dom.name}`, so it never "
                       "maps a grant", st.span)
        if kind is m.OpKind.DMA:
            if not dom.dma_capable:
                self.r.err(f"`dma {dom.name} {st.buffer}`: `{dom.name}` has no DMA-capable "
                           "passthrough device", st.span,
                           Note("pass through an `mmio ... dma` region", dom.span))
            elif st.buffer == "grant" and not self.d.serves(d):
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
        for d in self.d.result:
            ops += [m.Op(m.OpKind.CREATE, d.index), m.Op(m.OpKind.DESTROY, d.index),
                    m.Op(m.OpKind.BALLOON_OUT, d.index, 1), m.Op(m.OpKind.BALLOON_IN, d.index, 1)]
        for d in self.d.result:
            for peer in dict.fromkeys(fe.backend for fe in d.frontends):
                if peer in self.d.index:
                    ops.append(m.Op(m.OpKind.GRANT, d.index, peer=self.d.index[peer]))
        for d in self.d.result:
            if self.d.serves(d.index):
                ops.append(m.Op(m.OpKind.UNMAP, d.index))
        for d in self.d.result:
            if d.dma_capable:
                ops.append(m.Op(m.OpKind.DMA, d.index, buffer="ram"))
                if self.d.serves(d.index):
                    ops.append(m.Op(m.OpKind.DMA, d.index, buffer="grant"))
        return m.Scenario((m.Loop(tuple(ops)),) if ops else ())

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
                expr, ty = Expr(self.r).check(d.expr, {})
                if ty not in ("bool", "?"):
                    self.r.err(f"invariant `{label.text}` is {TYPE_NAMES[ty]}, not a truth value",
                               d.expr.span)
                out.append(m.Property(label.text, m.PropertyKind.INVARIANT, (), expr, d.span))
                continue
            kind = BUILTINS.get(d.builtin.text)
            if kind is None:
                self.r.err(f"unknown property `{d.builtin.text}`", d.builtin.span,
                           *suggest(d.builtin.text, {k: None for k in BUILTINS}),
                           Note("built-in properties: " + ", ".join(BUILTINS)))
                continue
            doms: list[int] = []
            for n in d.domains or ():
                i = self.d.dom(n)
                if i is not None and i not in doms:
                    doms.append(i)
            out.append(m.Property(label.text, kind, tuple(doms), None, d.span))
        return tuple(out)
