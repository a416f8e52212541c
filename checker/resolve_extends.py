"""The model's one hypervisor: `extends` chains resolved into a single declaration.

The rule (docs/language.md, "Deriving a hypervisor"):
- hypervisor names are unique in the include closure;
- `hypervisor D extends B` needs a hypervisor B declared somewhere in the closure (before or
  after D, in any file), and following `extends` from D never comes back to D;
- a hypervisor that another declaration extends is a *base* and is not counted; the others are
  *effective*: a model has exactly one, a fragment at most one.

The effective declaration is returned with its base's statements (resolved the same way) and
its own applied on top (`derive`), so `Host.hypervisor` validates it like any other.
"""

from __future__ import annotations

from collections.abc import Sequence

from checker import ast
from checker.diagnostics import Note
from checker.resolve_host import Host, suggest

_REPLACED_WHOLE = (ast.Allocator, ast.BalloonStmt)


def _same(a: ast.HypervisorStmt, b: ast.HypervisorStmt) -> bool:
    """Whether statement `b` of a derived hypervisor replaces statement `a` of its base."""
    if isinstance(a, ast.RegionStmt) and isinstance(b, ast.RegionStmt):
        assert a.name is not None and b.name is not None
        return a.kind == b.kind and a.name.text == b.name.text
    if isinstance(a, ast.HostWindow) and isinstance(b, ast.HostWindow):
        return a.region.text == b.region.text
    return isinstance(b, _REPLACED_WHOLE) and type(a) is type(b)


def derive(base: Sequence[ast.HypervisorStmt],
           own: Sequence[ast.HypervisorStmt]) -> tuple[ast.HypervisorStmt, ...]:
    """The base's statements with `own` applied: a statement replaces, where it stood, the
    base's statement of the same kind (`window`/`guest_ram`/`host_window`: and the same name;
    `allocator`, `balloon`: every one); anything else is appended. Only base statements are
    replaced, so a statement given twice in `own` stays twice (and is reported as such)."""
    out: list[tuple[ast.HypervisorStmt, bool]] = [(st, True) for st in base]  # (stmt, from base)
    for st in own:
        hits = [i for i, (b, inherited) in enumerate(out) if inherited and _same(b, st)]
        if not hits:
            out.append((st, False))
            continue
        out[hits[0]] = (st, False)
        for i in reversed(hits[1:]):
            del out[i]
    return tuple(st for st, _ in out)


def _cycles(r: Host, by_name: dict[str, ast.HypervisorDecl],
            order: list[ast.HypervisorDecl]) -> set[str]:
    """Report every `extends` cycle once; the names of the hypervisors on one."""
    on_cycle: set[str] = set()
    for start in order:
        path: list[str] = []
        cur: ast.HypervisorDecl | None = start
        while cur is not None and cur.name.text not in path and cur.name.text not in on_cycle:
            path.append(cur.name.text)
            cur = by_name.get(cur.base.text) if cur.base is not None else None
        if cur is None or cur.name.text in on_cycle:
            continue
        members = path[path.index(cur.name.text):]
        on_cycle.update(members)
        first = min(members, key=lambda n: order.index(by_name[n]))
        k = members.index(first)
        ring = members[k:] + members[:k]
        decls = [by_name[n] for n in ring]
        head = decls[0].base
        assert head is not None
        notes = [Note(f"`{d.name.text}` extends `{d.base.text}` here", d.base.span)
                 for d in decls[1:] if d.base is not None]
        r.err("hypervisor extends cycle: " + " -> ".join(ring + [first]), head.span, *notes,
              Note("a hypervisor cannot be its own base"))
    return on_cycle


def effective_hypervisor(r: Host, items: Sequence[ast.Item],
                         required: bool) -> ast.HypervisorDecl | None:
    """The model's hypervisor with its bases applied; None if there is none or it is unusable
    (every error is reported through `r`)."""
    decls = [i for i in items if isinstance(i, ast.HypervisorDecl)]
    if not decls:
        if required:
            r.err("the model declares no hypervisor", r.root_span(),
                  Note("a model needs exactly one `hypervisor`, in this file or one it includes"))
        return None
    by_name: dict[str, ast.HypervisorDecl] = {}
    for d in decls:
        first = by_name.setdefault(d.name.text, d)
        if first is not d:
            r.err(f"hypervisor `{d.name.text}` is declared twice", d.name.span,
                  Note(f"`{d.name.text}` is first declared here", first.name.span),
                  Note("`extends` names a hypervisor, so hypervisor names are unique"))
    order = list(by_name.values())
    unknown: set[str] = set()
    for d in order:
        if d.base is not None and d.base.text not in by_name:
            cands = {n: h.name.span for n, h in by_name.items() if n != d.name.text}
            r.err(f"unknown hypervisor `{d.base.text}` to extend", d.base.span,
                  *suggest(d.base.text, cands),
                  Note("the base must be declared in this file or one it includes"))
            unknown.add(d.name.text)
    broken = unknown | _cycles(r, by_name, order)
    bases = {d.base.text for d in order if d.base is not None}
    counted = [d for d in order if d.name.text not in bases]
    # A hypervisor with an unknown base most likely meant to extend one of the others: that it
    # is counted beside them is not reported a second time.
    extras = counted[1:] if not unknown else []
    for extra in extras:
        notes = [Note("the first hypervisor is declared here", counted[0].span),
                 Note("a model has exactly one hypervisor; one that another extends is not "
                      "counted")]
        if extra.base is not None and counted[0].base is not None and (
                extra.base.text == counted[0].base.text):
            notes.append(Note(f"both extend `{extra.base.text}`: derive one from the other, or "
                              "keep one of them"))
        r.err("a second hypervisor is declared", extra.span, *notes)
    if not counted:
        return None  # every hypervisor is on a cycle, reported above
    return _resolved(counted[0], by_name, broken)


def _resolved(d: ast.HypervisorDecl, by_name: dict[str, ast.HypervisorDecl],
              broken: set[str]) -> ast.HypervisorDecl | None:
    chain = [d]
    while chain[-1].base is not None:
        if chain[-1].name.text in broken:
            return None
        nxt = by_name[chain[-1].base.text]  # known: an unknown base is in `broken`
        if nxt in chain or nxt.name.text in broken:
            return None
        chain.append(nxt)
    body: tuple[ast.HypervisorStmt, ...] = ()
    for h in reversed(chain):
        body = derive(body, h.body)
    return ast.HypervisorDecl(d.name, body, d.base, d.span)
