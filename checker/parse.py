"""Text to AST: the lark LALR parser for spec/memory11.lark and a small Transformer.

`parse_text(path, text)` returns an `ast.File` or raises `CheckerError` with a friendly message
(`syntax_error` below). Comments are collected by a lexer callback so `fmt` can put them
back; they are not part of the tree.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import tempfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import lark
from lark import Lark, Token, Transformer, v_args
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)

from checker import ast
from checker.diagnostics import CheckerError, Note, Span, error
from checker.source import Source

GRAMMAR_PATH = Path(__file__).resolve().parent.parent / "spec" / "memory11.lark"

UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
MAX_U64 = (1 << 64) - 1
_NUMBER = re.compile(
    r"(?:0[xX](?P<hex>[0-9A-Fa-f](?:_?[0-9A-Fa-f])*)|(?P<dec>[0-9](?:_?[0-9])*))(?P<unit>[KMGT])?"
)


# NOTE(parser-cache): building the LALR tables from spec/memory11.lark takes ~0.1 s, most of a
# `checker check`. The built parser is saved (`Lark.save`) to a per-user cache directory
# (`$XDG_CACHE_HOME/memory11`, else `~/.cache/memory11`), in a file named by the sha256 of the
# grammar text, the parser options and the lark and Python versions, written to a temporary
# file and moved into place (`os.replace`), so a reader sees no file or a whole one. The
# grammar file stays the one source of the syntax: a changed grammar is a new key. A cache that
# cannot be read, loaded or written is ignored and the parser is built as before; the loaded
# parser is the saved one, so errors and trees are the same either way.
_OPTIONS: dict[str, Any] = {
    "parser": "lalr",
    "lexer": "contextual",
    "propagate_positions": True,
    "maybe_placeholders": False,
}
_CACHE_FORMAT = "1"


def parser_cache_dir() -> Path | None:
    """Where built parsers are kept, or None when there is no home to put them in."""
    base = os.environ.get("XDG_CACHE_HOME")
    if base and os.path.isabs(base):
        return Path(base) / "memory11"
    try:
        return Path.home() / ".cache" / "memory11"
    except (RuntimeError, KeyError, OSError):
        return None


def _cache_file(grammar: str) -> Path | None:
    directory = parser_cache_dir()
    if directory is None:
        return None
    key = "\n".join([_CACHE_FORMAT, lark.__version__, repr(sys.version_info[:2]),
                     repr(sorted(_OPTIONS.items())), grammar])
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return directory / f"parser-{digest}.lark.pickle"


def _load_cached(path: Path, callbacks: dict[str, Any]) -> Lark | None:
    try:
        with path.open("rb") as fh:
            inst: Lark = Lark.__new__(Lark)
            return inst._load(fh, lexer_callbacks=callbacks)
    except Exception:  # noqa: BLE001 (a missing, partial or foreign file: build instead)
        return None


def _save_cached(path: Path, built: Lark) -> None:
    tmp: str | None = None
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            built.save(fh, exclude_options=("lexer_callbacks",))
        os.replace(tmp, path)
        tmp = None
    except Exception:  # noqa: BLE001, S110 (read-only, full disk: the next run builds again)
        pass
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _build(callbacks: dict[str, Any]) -> Lark:
    grammar = GRAMMAR_PATH.read_text(encoding="utf-8")
    path = _cache_file(grammar)
    if path is not None:
        cached = _load_cached(path, callbacks)
        if cached is not None:
            return cached
    built = Lark(grammar, lexer_callbacks=callbacks, **_OPTIONS)
    if path is not None:
        _save_cached(path, built)
    return built


class _Parser:
    """One lazily built LALR parser per process (NOTE(parser-cache)); comments go to
    `self.comments`."""

    def __init__(self) -> None:
        self.comments: list[Token] = []
        self.lark = _build({"COMMENT": self.comments.append})

    def terminal_text(self, name: str) -> str:
        """How to show terminal `name` to a user: `ram`, `}`, a name, a number..."""
        special = {
            "NAME": "a name",
            "NUMBER": "a number",
            "STRING": 'a string "..."',
            "$END": "end of file",
        }
        if name in special:
            return special[name]
        try:
            term = self.lark.get_terminal(name)
        except KeyError:
            return name
        return f"`{term.pattern.value}`"


_PARSER: _Parser | None = None


def parser() -> _Parser:
    global _PARSER
    if _PARSER is None:
        _PARSER = _Parser()
    return _PARSER


def number_value(text: str, span: Span) -> int:
    """The value of a NUMBER token, or a CheckerError at its position."""
    m = _NUMBER.fullmatch(text)
    if m is None:
        hint = "expected a decimal or 0x hexadecimal number, optionally followed by K, M, G or T"
        if re.fullmatch(r"(?:0[xX][0-9A-Fa-f_]+|[0-9_]+)[kmgt]", text):
            hint = "unit suffixes are upper case: K, M, G, T"
        elif re.fullmatch(r"0[xX]", text):
            hint = "a hexadecimal number needs digits after 0x"
        elif "__" in text or text.endswith("_") or "x_" in text.lower():
            hint = "an underscore may only separate two digits"
        raise error(f"bad numeric literal `{text}`: {hint}", span)
    digits = m.group("hex") or m.group("dec")
    value = int(digits.replace("_", ""), 16 if m.group("hex") else 10)
    if m.group("unit"):
        value *= UNITS[m.group("unit")]
    if value > MAX_U64:
        raise error(f"`{text}` does not fit in 64 bits (it is {value:#x})", span)
    return value


def _tok_span(path: str, tok: Token) -> Span:
    return Span(path, tok.line or 0, tok.column or 0, tok.end_line or 0, tok.end_column or 0)


@v_args(meta=True)
class _ToAst(Transformer[Token, Any]):
    """lark tree -> ast nodes. Methods are named after grammar rules and aliases."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    # -- helpers ---------------------------------------------------------------------------------
    def _span(self, meta: Any) -> Span:
        if getattr(meta, "empty", True):
            return ast.NOWHERE
        return Span(self.path, meta.line, meta.column, meta.end_line, meta.end_column)

    def _name(self, tok: Token) -> ast.Name:
        return ast.Name(str(tok), _tok_span(self.path, tok))

    def _num(self, tok: Token) -> ast.Num:
        span = _tok_span(self.path, tok)
        return ast.Num(number_value(str(tok), span), str(tok), span)

    def _region(self, kind: str, meta: Any, c: list[Any], dma: bool = False) -> ast.RegionStmt:
        return ast.RegionStmt(
            kind, self._name(c[0]), self._num(c[1]), self._num(c[2]), dma, self._span(meta)
        )

    # -- top level -------------------------------------------------------------------------------
    def start(self, meta: Any, c: list[Any]) -> tuple[Any, ...]:
        return tuple(c)

    def include(self, meta: Any, c: list[Token]) -> ast.Include:
        return ast.Include(str(c[0])[1:-1], self._span(meta))

    def note(self, meta: Any, c: list[Token]) -> ast.NoteStmt:
        return ast.NoteStmt(str(c[0])[1:-1], self._span(meta))

    # -- platform --------------------------------------------------------------------------------
    def platform(self, meta: Any, c: list[Any]) -> ast.PlatformDecl:
        return ast.PlatformDecl(self._name(c[0]), tuple(c[1:]), self._span(meta))

    def page_size(self, meta: Any, c: list[Token]) -> ast.PageSize:
        return ast.PageSize(self._num(c[0]), self._span(meta))

    def ram(self, meta: Any, c: list[Any]) -> ast.RegionStmt:
        return self._region("ram", meta, c)

    def mmio(self, meta: Any, c: list[Any]) -> ast.RegionStmt:
        return self._region("mmio", meta, c, dma=len(c) > 3)

    def dma_flag(self, meta: Any, c: list[Any]) -> str:
        return "dma"

    def reserved(self, meta: Any, c: list[Any]) -> ast.RegionStmt:
        return self._region("reserved", meta, c)

    # -- hypervisor ------------------------------------------------------------------------------
    def hypervisor(self, meta: Any, c: list[Any]) -> ast.HypervisorDecl:
        base = c[1] if len(c) > 1 and isinstance(c[1], ast.Name) else None
        body = tuple(c[2:] if base is not None else c[1:])
        return ast.HypervisorDecl(self._name(c[0]), body, base, self._span(meta))

    def hyp_extends(self, meta: Any, c: list[Token]) -> ast.Name:
        return self._name(c[0])

    def window(self, meta: Any, c: list[Any]) -> ast.RegionStmt:
        return self._region("window", meta, c)

    def guest_ram(self, meta: Any, c: list[Any]) -> ast.RegionStmt:
        return self._region("guest_ram", meta, c)

    def host_window(self, meta: Any, c: list[Token]) -> ast.HostWindow:
        return ast.HostWindow(self._name(c[0]), self._span(meta))

    def allocator(self, meta: Any, c: list[Any]) -> ast.Allocator:
        order = next((x for x in c if isinstance(x, ast.Num)), None)
        place = next((x for x in c if isinstance(x, ast.Name)), None)
        return ast.Allocator(order, place, self._span(meta))

    def max_order(self, meta: Any, c: list[Token]) -> ast.Num:
        return self._num(c[0])

    def placement(self, meta: Any, c: list[Any]) -> ast.Name:
        assert isinstance(c[0], ast.Name)
        return c[0]

    def _keyword(self, meta: Any, c: list[Token]) -> ast.Name:
        return self._name(c[0])

    placement_kind = _keyword
    balloon_mode = _keyword
    on_off = _keyword
    dma_buffer = _keyword
    quant_kind = _keyword
    cmp_op = _keyword
    add_op = _keyword

    def balloon(self, meta: Any, c: list[Any]) -> ast.BalloonStmt:
        return ast.BalloonStmt(c[0], self._span(meta))

    # -- domains ---------------------------------------------------------------------------------
    def domain(self, meta: Any, c: list[Any]) -> ast.DomainDecl:
        names = tuple(self._name(x) for x in c if isinstance(x, Token))
        body = tuple(x for x in c if not isinstance(x, Token))
        return ast.DomainDecl(names, body, self._span(meta))

    def memory(self, meta: Any, c: list[Token]) -> ast.Memory:
        return ast.Memory(self._num(c[0]), self._span(meta))

    def direct_map_always(self, meta: Any, c: list[Any]) -> ast.DirectMapStmt:
        return ast.DirectMapStmt("always", None, self._span(meta))

    def direct_map_static(self, meta: Any, c: list[Any]) -> ast.DirectMapStmt:
        return ast.DirectMapStmt("static", None, self._span(meta))

    def direct_map_hook(self, meta: Any, c: list[Token]) -> ast.DirectMapStmt:
        return ast.DirectMapStmt("hook", self._num(c[0]), self._span(meta))

    def rambase_fixed(self, meta: Any, c: list[Token]) -> ast.RambaseStmt:
        return ast.RambaseStmt("fixed", self._num(c[0]), self._span(meta))

    def rambase_allocated(self, meta: Any, c: list[Any]) -> ast.RambaseStmt:
        return ast.RambaseStmt("allocated", None, self._span(meta))

    def rambase_static(self, meta: Any, c: list[Any]) -> ast.RambaseStmt:
        return ast.RambaseStmt("static", None, self._span(meta))

    def static_mem(self, meta: Any, c: list[Token]) -> ast.RegionStmt:
        return ast.RegionStmt(
            "static_mem", None, self._num(c[0]), self._num(c[1]), False, self._span(meta)
        )

    def swiotlb(self, meta: Any, c: list[ast.Name]) -> ast.Swiotlb:
        return ast.Swiotlb(c[0].text == "on", self._span(meta))

    def backend(self, meta: Any, c: list[Token]) -> ast.BackendStmt:
        return ast.BackendStmt(self._name(c[0]), self._span(meta))

    def frontend(self, meta: Any, c: list[Token]) -> ast.FrontendStmt:
        return ast.FrontendStmt(self._name(c[0]), self._name(c[1]), self._span(meta))

    def passthrough(self, meta: Any, c: list[Token]) -> ast.Passthrough:
        return ast.Passthrough(tuple(self._name(x) for x in c), self._span(meta))

    # -- scenario --------------------------------------------------------------------------------
    def scenario(self, meta: Any, c: list[Any]) -> ast.ScenarioDecl:
        return ast.ScenarioDecl(tuple(c), self._span(meta))

    def choose(self, meta: Any, c: list[Any]) -> ast.ChooseStmt:
        return ast.ChooseStmt(self._num(c[0]), tuple(c[1:]), self._span(meta))

    def loop(self, meta: Any, c: list[Any]) -> ast.LoopStmt:
        return ast.LoopStmt(tuple(c), self._span(meta))

    def create(self, meta: Any, c: list[Token]) -> ast.OpStmt:
        return ast.OpStmt("create", self._name(c[0]), span=self._span(meta))

    def destroy(self, meta: Any, c: list[Token]) -> ast.OpStmt:
        return ast.OpStmt("destroy", self._name(c[0]), span=self._span(meta))

    def unmap(self, meta: Any, c: list[Token]) -> ast.OpStmt:
        return ast.OpStmt("unmap", self._name(c[0]), span=self._span(meta))

    def balloon_out(self, meta: Any, c: list[Token]) -> ast.OpStmt:
        return ast.OpStmt("balloon_out", self._name(c[0]), self._num(c[1]), span=self._span(meta))

    def balloon_in(self, meta: Any, c: list[Token]) -> ast.OpStmt:
        return ast.OpStmt("balloon_in", self._name(c[0]), self._num(c[1]), span=self._span(meta))

    def grant(self, meta: Any, c: list[Token]) -> ast.OpStmt:
        return ast.OpStmt(
            "grant", self._name(c[0]), peer=self._name(c[1]), span=self._span(meta)
        )

    def dma(self, meta: Any, c: list[Any]) -> ast.OpStmt:
        return ast.OpStmt("dma", self._name(c[0]), buffer=c[1].text, span=self._span(meta))

    # -- properties ------------------------------------------------------------------------------
    def property_plain(self, meta: Any, c: list[Token]) -> ast.PropertyDecl:
        return ast.PropertyDecl(None, self._name(c[0]), None, self._span(meta))

    def property_labelled(self, meta: Any, c: list[Token]) -> ast.PropertyDecl:
        return ast.PropertyDecl(self._name(c[0]), self._name(c[1]), None, self._span(meta))

    def property_restricted(self, meta: Any, c: list[Token]) -> ast.PropertyDecl:
        doms = tuple(self._name(x) for x in c[2:])
        return ast.PropertyDecl(self._name(c[0]), self._name(c[1]), doms, self._span(meta))

    def invariant(self, meta: Any, c: list[Any]) -> ast.InvariantDecl:
        return ast.InvariantDecl(self._name(c[0]), c[1], self._span(meta))

    # -- expressions -----------------------------------------------------------------------------
    def quant_domains(self, meta: Any, c: list[Any]) -> ast.Quant:
        return ast.Quant(c[0].text, self._name(c[1]), "domains", None, c[2], self._span(meta))

    def quant_mappings(self, meta: Any, c: list[Any]) -> ast.Quant:
        var, of = self._name(c[1]), self._name(c[2])
        return ast.Quant(c[0].text, var, "mappings", of, c[3], self._span(meta))

    def _binary(self, op: str, meta: Any, c: list[Any]) -> ast.BinOp:
        return ast.BinOp(op, c[0], c[1], self._span(meta))

    def implies(self, meta: Any, c: list[Any]) -> ast.BinOp:
        return self._binary("implies", meta, c)

    def or_expr(self, meta: Any, c: list[Any]) -> ast.BinOp:
        return self._binary("or", meta, c)

    def and_expr(self, meta: Any, c: list[Any]) -> ast.BinOp:
        return self._binary("and", meta, c)

    def mul(self, meta: Any, c: list[Any]) -> ast.BinOp:
        return self._binary("*", meta, c)

    def comparison(self, meta: Any, c: list[Any]) -> ast.BinOp:
        return ast.BinOp(c[1].text, c[0], c[2], self._span(meta))

    arith = comparison

    def not_(self, meta: Any, c: list[Any]) -> ast.Not:
        return ast.Not(c[0], self._span(meta))

    def attr(self, meta: Any, c: list[Any]) -> ast.Attr:
        return ast.Attr(c[0], self._name(c[1]), self._span(meta))

    def num(self, meta: Any, c: list[Token]) -> ast.Num:
        return self._num(c[0])

    def var(self, meta: Any, c: list[Token]) -> ast.Var:
        return ast.Var(self._name(c[0]), self._span(meta))

    def region_ref(self, meta: Any, c: list[Token]) -> ast.RegionRef:
        return ast.RegionRef(self._name(c[0]), self._span(meta))

    def interval(self, meta: Any, c: list[Any]) -> ast.Interval:
        return ast.Interval(c[0], c[1], self._span(meta))

    def paren(self, meta: Any, c: list[Any]) -> ast.Paren:
        return ast.Paren(c[0], self._span(meta))


def _comments(text: str, toks: list[Token]) -> tuple[ast.Comment, ...]:
    out = []
    for tok in toks:
        pos = tok.start_pos or 0
        line_start = text.rfind("\n", 0, pos) + 1
        trailing = text[line_start:pos].strip() != ""
        out.append(ast.Comment(str(tok).rstrip(), tok.line or 0, tok.column or 0, trailing))
    return tuple(out)


# NOTE(parse-cache): trees are immutable, so a file parsed once is reused while its text is
# unchanged; `verify`/`review` load the same include closure many times in one process.
_CACHE: OrderedDict[tuple[str, str], ast.File] = OrderedDict()
_CACHE_SIZE = 256


def parse_text(path: str, text: str) -> ast.File:
    """Parse one file's text. Raises CheckerError (exit 2) on any syntax error."""
    key = (path, text)
    hit = _CACHE.get(key)
    if hit is not None:
        _CACHE.move_to_end(key)
        return hit
    tree = _parse(path, text)
    _CACHE[key] = tree
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return tree


def _parse(path: str, text: str) -> ast.File:
    p = parser()
    p.comments.clear()
    try:
        tree = p.lark.parse(text)
    except UnexpectedInput as exc:
        raise syntax_error(p, path, text, exc) from None
    comments = _comments(text, list(p.comments))
    try:
        items = _ToAst(path).transform(tree)
    except VisitError as exc:
        if isinstance(exc.orig_exc, CheckerError):
            raise exc.orig_exc from None
        raise
    lines = text.count("\n") + 1
    span = Span(path, 1, 1, lines, len(text) - text.rfind("\n"))
    return ast.File(path, items, comments, span)


def parse_source(src: Source) -> ast.File:
    return parse_text(src.path, src.text)



# ---- friendly syntax errors --------------------------------------------------------------------

_TOP = {"INCLUDE", "NOTE", "PLATFORM", "HYPERVISOR", "DOMAIN", "SCENARIO", "PROPERTY", "INVARIANT"}
_OPS = "create, destroy, balloon_out, balloon_in, grant, unmap, dma"
# (a terminal that is expected only in that context, what to call it, what it may hold)
_CONTEXTS = [
    ("PAGE_SIZE", "statement", "platform block", "page_size, ram, mmio, reserved, note"),
    ("WINDOW", "statement", "hypervisor block",
     "window, host_window, guest_ram, allocator, balloon, note"),
    ("MEMORY", "statement", "domain block",
     "memory, direct_map, rambase, static_mem, swiotlb, backend, frontend, passthrough, note"),
    ("LOOP", "operation", "scenario", _OPS + ", choose up to N { ... }, loop { ... }"),
    ("CREATE", "operation", "list of alternatives", _OPS),
    ("PLATFORM", "declaration", "file",
     "include, platform, hypervisor, domain, scenario, property, invariant, note"),
]
_NUMBER_NOUNS = {
    "AT": "an address like 0x80000000",
    "FIXED": "an address like 0x80000000",
    "SIZE": "a size like 4K or 0x1000",
    "MEMORY": "a size like 4K or 0x1000",
    "PAGE_SIZE": "a size like 4K or 0x1000",
    "MAX_ORDER": "an order like 18",
    "TO": "a count like 3",
    "NAME": "a page count like 1",
}


def _eof_span(path: str, text: str) -> Span:
    body = text.rstrip()
    line = body.count("\n") + 1
    col = len(body) - body.rfind("\n")
    return Span(path, line, col, line, col + 1)


def _open_brace(path: str, text: str, upto: int) -> Span | None:
    """The header of the innermost block still open at offset `upto` (`platform x {`)."""
    stack: list[int] = []
    for m in re.finditer(r'"[^"\n]*"|#[^\n]*|[{}]', text[:upto]):
        if m.group() == "{":
            stack.append(m.start())
        elif m.group() == "}" and stack:
            stack.pop()
    if not stack:
        return None
    pos = stack[-1]
    line_start = text.rfind("\n", 0, pos) + 1
    head = text[line_start:pos]
    col = len(head) - len(head.lstrip()) + 1
    line = text.count("\n", 0, pos) + 1
    return Span(path, line, col, line, pos - line_start + 2)


def _show(tok: Token) -> str:
    if tok.type == "$END":
        return "end of file"
    if tok.type == "NUMBER":
        return f"number `{tok}`"
    return f"`{tok}`"


def syntax_error(p: _Parser, path: str, text: str, exc: UnexpectedInput) -> CheckerError:
    """Turn a lark error into one diagnostic a person can act on."""
    if isinstance(exc, UnexpectedCharacters):
        line, col = exc.line, exc.column
        pos = exc.pos_in_stream or 0
        ch = text[pos] if pos < len(text) else ""
        span = Span(path, line, col, line, col + 1)
        if ch == '"':
            return error("unterminated string: a string must end on the line it starts", span)
        shown = repr(ch) if not ch.isprintable() or ch.isspace() else f"`{ch}`"
        return error(f"unexpected character {shown}", span)
    at_eof = isinstance(exc, UnexpectedEOF) or (
        isinstance(exc, UnexpectedToken) and exc.token.type == "$END"
    )
    expected: set[str] = set(getattr(exc, "expected", ()) or ())
    if at_eof:
        eof = _eof_span(path, text)
        opened = _open_brace(path, text, len(text))
        if opened is not None:
            return error(
                "unterminated block: this `{` is never closed",
                opened,
                Note("the file ends here without a `}`", eof),
            )
        wanted = ", ".join(sorted(p.terminal_text(t) for t in expected))
        return error(f"unexpected end of file; expected {wanted}", eof)
    assert isinstance(exc, UnexpectedToken)
    tok = exc.token
    span = _tok_span(path, tok)
    history = [t for t in (getattr(exc, "token_history", None) or []) if t is not None]
    prev = history[-1].type if history else None
    if "NUMBER" in expected and tok.type != "NUMBER":
        noun = _NUMBER_NOUNS.get(prev or "", "a number")
        if prev == "__ANON_2" or (history and str(history[-1]) == "=="):
            noun = "a domain id like 1"
        return error(f"expected {noun}, found {_show(tok)}", span)
    if tok.type == "RBRACE" and _open_brace(path, text, tok.start_pos or 0) is None:
        return error("unmatched `}`: no block is open here", span)
    if tok.type in _TOP and "RBRACE" in expected:
        opened = _open_brace(path, text, tok.start_pos or 0)
        notes = (Note("the block opened here", opened),) if opened else ()
        return error(f"unterminated block: expected `}}` before `{tok}`", span, *notes)
    is_word = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", str(tok)) is not None
    if is_word:
        for key, noun, where, holds in _CONTEXTS:
            if key in expected:
                place = "at the top level" if where == "file" else f"in the {where}"
                if where == "list of alternatives":
                    place = "in a list of alternatives"
                hints = [Note(f"expected one of: {holds}")]
                for _, _, other, other_holds in _CONTEXTS:
                    if other != where and other.endswith("block") and (
                        str(tok) in other_holds.split(", ")
                    ):
                        hints.append(Note(f"`{tok}` is a statement of a {other}"))
                        break
                return error(f"unknown {noun} `{tok}` {place}", span, *hints)
    if prev == "EXTENDS" and "NAME" in expected:
        return error(f"expected the name of the hypervisor to extend, found {_show(tok)}", span)
    if tok.type == "EXTENDS" and "LBRACE" in expected and "EXTENDS" not in expected:
        return error(f"unexpected {_show(tok)}; expected {_expected(p, expected)}", span,
                     Note("only a hypervisor can extend another: `hypervisor NAME extends BASE`"))
    if "NAME" in expected and tok.type == "NUMBER":
        return error(f"expected a name, found {_show(tok)}", span)
    return error(f"unexpected {_show(tok)}; expected {_expected(p, expected)}", span)


def _expected(p: _Parser, expected: set[str]) -> str:
    return ", ".join(sorted(p.terminal_text(t) for t in expected))
