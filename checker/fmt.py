"""The canonical form of a .m11 file.

Blocks are indented by 4 spaces, one statement per line, one space between tokens (none inside
`( )`, `[ )`, before `,` `:` `)` or around `.`), the alternatives of `choose` / `loop` one per
line with a leading `| `. Numbers, names and strings are printed as written. Comments stay
where they were: a comment on a line of its own stays on a line of its own before the statement
that follows it; a comment after code stays after that code, and the comments of consecutive
lines are aligned two spaces after the longest code among them. Blank
lines between statements are kept, at most one in a row, never first or last in a block.

The printer emits exactly the tokens of the source, in order, so `parse(format(x)) == parse(x)`;
`format(format(x)) == format(x)` because the layout depends only on the tokens, the comments
and where the blank lines are.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

from checker import ast
from checker.diagnostics import Span
from checker.parse import parse_text

INDENT = "    "
_BlockStmt = ast.PlatformStmt | ast.HypervisorStmt | ast.DomainStmt | ast.ScenarioStmt


@dataclass
class _Unit:
    """One output line of code: its depth, text, and the source lines it came from."""

    depth: int
    text: str
    first: int
    last: int
    opens: bool = False
    closes: bool = False


def expr(e: ast.Expr) -> str:
    """An expression as tokens separated canonically; parentheses only where the user put them."""
    if isinstance(e, ast.Num):
        return e.text
    if isinstance(e, ast.Var):
        return e.name.text
    if isinstance(e, ast.Attr):
        return f"{expr(e.obj)}.{e.attr.text}"
    if isinstance(e, ast.RegionRef):
        return f"region({e.name.text})"
    if isinstance(e, ast.Interval):
        return f"[{expr(e.lo)}, {expr(e.hi)})"
    if isinstance(e, ast.BinOp):
        return f"{expr(e.left)} {e.op} {expr(e.right)}"
    if isinstance(e, ast.Not):
        return f"not {expr(e.operand)}"
    if isinstance(e, ast.Quant):
        over = "domains" if e.of is None else f"mappings({e.of.text})"
        return f"{e.kind} {e.var.text} in {over}: {expr(e.body)}"
    return f"({expr(e.inner)})"


def _region(st: ast.RegionStmt) -> str:
    name = f" {st.name.text}" if st.name is not None else ""
    flag = " dma" if st.dma else ""
    return f"{st.kind}{name} at {st.base.text} size {st.size.text}{flag}"


def op_text(o: ast.OpStmt) -> str:
    if o.kind == "grant":
        assert o.peer is not None
        return f"grant {o.domain.text} -> {o.peer.text}"
    if o.kind == "dma":
        return f"dma {o.domain.text} {o.buffer}"
    if o.count is not None:
        return f"{o.kind} {o.domain.text} {o.count.text}"
    return f"{o.kind} {o.domain.text}"


def statement(st: object) -> str:
    """One statement of a platform, hypervisor or domain block, or a top-level one-liner."""
    if isinstance(st, ast.RegionStmt):
        return _region(st)
    if isinstance(st, ast.PageSize):
        return f"page_size {st.size.text}"
    if isinstance(st, ast.NoteStmt):
        return f'note "{st.text}"'
    if isinstance(st, ast.Include):
        return f'include "{st.path}"'
    if isinstance(st, ast.HostWindow):
        return f"host_window {st.region.text}"
    if isinstance(st, ast.Allocator):
        out = "allocator buddy"
        if st.max_order is not None:
            out += f" max_order {st.max_order.text}"
        if st.placement is not None:
            out += f" placement {st.placement.text}"
        return out
    if isinstance(st, ast.BalloonStmt):
        return f"balloon {st.mode.text}"
    if isinstance(st, ast.Memory):
        return f"memory {st.size.text}"
    if isinstance(st, ast.DirectMapStmt):
        if st.mode == "hook":
            assert st.hook_id is not None
            return f"direct_map when id == {st.hook_id.text}"
        return "direct_map static" if st.mode == "static" else "direct_map"
    if isinstance(st, ast.RambaseStmt):
        if st.address is not None:
            return f"rambase fixed {st.address.text}"
        return f"rambase {st.mode}"
    if isinstance(st, ast.Swiotlb):
        return f"swiotlb {'on' if st.on else 'off'}"
    if isinstance(st, ast.BackendStmt):
        return f"backend {st.kind.text}"
    if isinstance(st, ast.FrontendStmt):
        return f"frontend {st.kind.text} -> {st.backend.text}"
    if isinstance(st, ast.Passthrough):
        return "passthrough " + ", ".join(n.text for n in st.regions)
    if isinstance(st, ast.OpStmt):
        return op_text(st)
    if isinstance(st, ast.PropertyDecl):
        if st.label is None:
            return f"property {st.builtin.text}"
        out = f"property {st.label.text}: {st.builtin.text}"
        if st.domains is not None:
            out += "(" + ", ".join(n.text for n in st.domains) + ")"
        return out
    if isinstance(st, ast.InvariantDecl):
        return f"invariant {st.name.text}: {expr(st.expr)}"
    raise TypeError(f"not a statement: {type(st).__name__}")


class _Printer:
    def __init__(self) -> None:
        self.units: list[_Unit] = []

    def line(self, depth: int, text: str, span: Span) -> None:
        self.units.append(_Unit(depth, text, span.line, span.end_line))

    def block(self, depth: int, header: str, first: int, head_last: int,
              body: Sequence[_BlockStmt], close_line: int) -> None:
        self.units.append(_Unit(depth, header + " {", first, head_last, opens=True))
        for st in body:
            self.stmt(depth + 1, st)
        self.units.append(_Unit(depth, "}", close_line, close_line, closes=True))

    def alternatives(self, depth: int, header: str, node: ast.ChooseStmt | ast.LoopStmt) -> None:
        self.units.append(_Unit(depth, header + " {", node.span.line, node.span.line, opens=True))
        for i, o in enumerate(node.alternatives):
            self.line(depth + 1, ("| " if i else "") + op_text(o), o.span)
        self.units.append(
            _Unit(depth, "}", node.span.end_line, node.span.end_line, closes=True)
        )

    def stmt(self, depth: int, st: _BlockStmt) -> None:
        if isinstance(st, ast.ChooseStmt):
            self.alternatives(depth, f"choose up to {st.times.text}", st)
        elif isinstance(st, ast.LoopStmt):
            self.alternatives(depth, "loop", st)
        else:
            self.line(depth, statement(st), st.span)

    def item(self, it: ast.Item) -> None:
        if isinstance(it, ast.PlatformDecl):
            self.block(0, f"platform {it.name.text}", it.span.line, it.name.span.end_line,
                       it.body, it.span.end_line)
        elif isinstance(it, ast.HypervisorDecl):
            head, head_end = f"hypervisor {it.name.text}", it.name.span
            if it.base is not None:
                head, head_end = f"{head} extends {it.base.text}", it.base.span
            self.block(0, head, it.span.line, head_end.end_line, it.body, it.span.end_line)
        elif isinstance(it, ast.DomainDecl):
            names = ", ".join(n.text for n in it.names)
            self.block(0, f"domain {names}", it.span.line, it.names[-1].span.end_line, it.body,
                       it.span.end_line)
        elif isinstance(it, ast.ScenarioDecl):
            self.block(0, "scenario", it.span.line, it.span.line, it.body, it.span.end_line)
        else:
            self.line(0, statement(it), it.span)


def _blank_between(lines: list[str], after: int, before: int) -> bool:
    """Whether some source line strictly between lines `after` and `before` (1-based) is blank."""
    return any(not lines[i - 1].strip() for i in range(after + 1, before) if 0 < i <= len(lines))


def layout(f: ast.File, text: str) -> str:
    p = _Printer()
    for it in f.items:
        p.item(it)
    units = p.units
    firsts = [u.first for u in units]
    before: dict[int, list[ast.Comment]] = {}
    after: dict[int, list[ast.Comment]] = {}
    for c in f.comments:
        if c.trailing and units:
            i = max(0, bisect.bisect_right(firsts, c.line) - 1)
            after.setdefault(i, []).append(c)
        else:
            before.setdefault(bisect.bisect_right(firsts, c.line), []).append(c)
    src = text.splitlines()
    out: list[tuple[str, str | None]] = []  # (code, trailing comment)
    prev_last: int | None = None
    prev_opens = False

    def emit(code: str, note: str | None, first: int, last: int, closes: bool,
             opens: bool) -> None:
        nonlocal prev_last, prev_opens
        if (prev_last is not None and not prev_opens and not closes
                and _blank_between(src, prev_last, first)):
            out.append(("", None))
        out.append((code, note))
        prev_last, prev_opens = max(last, prev_last or 0), opens

    for i in range(len(units) + 1):
        u = units[i] if i < len(units) else None
        depth = 0 if u is None else u.depth + (1 if u.closes else 0)
        for c in before.get(i, []):
            emit(INDENT * depth + c.text, None, c.line, c.line, False, False)
        if u is None:
            break
        trailing = after.get(i, [])
        note = "  ".join(c.text for c in trailing) if trailing else None
        last = max([u.last] + [c.line for c in trailing])
        emit(INDENT * u.depth + u.text, note, u.first, last, u.closes, u.opens)
    return "".join(line + "\n" for line in _align(out))


def _depth(code: str) -> int:
    return len(code) - len(code.lstrip(" "))


def _align(lines: list[tuple[str, str | None]]) -> list[str]:
    """Trailing comments of consecutive lines start in one column, two spaces after the
    longest code of the run; a line without one, or at another depth, ends the run."""
    result: list[str] = []
    i = 0
    while i < len(lines):
        if lines[i][1] is None:
            result.append(lines[i][0])
            i += 1
            continue
        j = i
        depth = _depth(lines[i][0])
        while j < len(lines) and lines[j][1] is not None and _depth(lines[j][0]) == depth:
            j += 1
        width = max(len(code) for code, _ in lines[i:j]) + 2
        result += [code.ljust(width) + (note or "") for code, note in lines[i:j]]
        i = j
    return result


def format_text(path: str, text: str) -> str:
    """The canonical form of `text` (raises CheckerError if it does not parse)."""
    return layout(parse_text(path, text), text)
