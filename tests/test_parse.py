"""Parser: literals, every statement form, spans, comments, and friendly syntax errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from checker import ast
from checker.diagnostics import CheckerError, Span
from checker.parse import number_value, parse_text
from tests.conftest import BASE_MODEL

S = Span("t.m11", 1, 1, 1, 1)


@pytest.mark.parametrize(
    "text,value",
    [
        ("4096", 4096),
        ("4K", 4096),
        ("0x1000", 0x1000),
        ("0x8000_0000", 0x8000_0000),
        ("0x10M", 0x10 << 20),
        ("512M", 512 << 20),
        ("3G", 3 << 30),
        ("2T", 2 << 40),
        ("0xFFFF_FFFF_FFFF_FFFF", (1 << 64) - 1),
        ("16777215T", 16777215 << 40),
        ("0", 0),
    ],
)
def test_number_values(text: str, value: int) -> None:
    assert number_value(text, S) == value


@pytest.mark.parametrize(
    "text,fragment",
    [
        ("12Q", "bad numeric literal `12Q`"),
        ("0x", "needs digits after 0x"),
        ("4k", "upper case"),
        ("0x_10", "underscore"),
        ("1__0", "underscore"),
        ("0x1_0000_0000_0000_0000", "does not fit in 64 bits"),
        ("16777216T", "does not fit in 64 bits"),
    ],
)
def test_bad_numbers(text: str, fragment: str) -> None:
    with pytest.raises(CheckerError) as exc:
        number_value(text, S)
    assert fragment in str(exc.value)
    assert exc.value.diagnostics[0].span == S


def test_base_model_parses_into_declarations() -> None:
    f = parse_text("t.m11", BASE_MODEL)
    kinds = [type(i).__name__ for i in f.items]
    assert kinds == ["PlatformDecl", "HypervisorDecl", "DomainDecl", "DomainDecl"]
    plat = f.items[0]
    assert isinstance(plat, ast.PlatformDecl)
    ram = plat.body[1]
    assert isinstance(ram, ast.RegionStmt)
    assert ram.kind == "ram" and ram.name == ast.Name("dram")
    assert ram.base == ast.Num(0x8000_0000, "0x8000_0000")
    assert ram.span.line == 3 and ram.span.col == 5
    assert ram.base.span.col == 17 and ram.base.span.end_col == 28
    mmio = plat.body[2]
    assert isinstance(mmio, ast.RegionStmt) and mmio.dma


def test_every_statement_form() -> None:
    text = """
include "x.m11"
note "free text"
hypervisor h {
    host_window gicd
    allocator buddy
    allocator buddy placement bottom-up
    allocator buddy max_order 20
    balloon release_same
}
domain a, b-1 {
    direct_map
    direct_map static
    rambase allocated
    rambase static
    static_mem at 0x1000 size 4K
    swiotlb on
    frontend net -> ram
    passthrough x, y
}
scenario {
    destroy a
    balloon_out a 2
    balloon_in a 0x1
    unmap a
    dma a ram
    loop { create a | grant a -> b }
}
property lbl: no_frame_shared
property r: ipa_eq_pa(a, b-1)
"""
    f = parse_text("t.m11", text)
    assert f.items[0] == ast.Include("x.m11")
    assert f.items[1] == ast.NoteStmt("free text")
    hyp = f.items[2]
    assert isinstance(hyp, ast.HypervisorDecl)
    assert hyp.body[1] == ast.Allocator(None, None)
    assert hyp.body[2] == ast.Allocator(None, ast.Name("bottom-up"))
    assert hyp.body[3] == ast.Allocator(ast.Num(20, "20"), None)
    dom = f.items[3]
    assert isinstance(dom, ast.DomainDecl)
    assert dom.names == (ast.Name("a"), ast.Name("b-1"))
    assert dom.body[0] == ast.DirectMapStmt("always")
    assert dom.body[6] == ast.FrontendStmt(ast.Name("net"), ast.Name("ram"))
    sc = f.items[4]
    assert isinstance(sc, ast.ScenarioDecl)
    assert sc.body[2] == ast.OpStmt("balloon_in", ast.Name("a"), ast.Num(1, "0x1"))
    assert sc.body[4] == ast.OpStmt("dma", ast.Name("a"), buffer="ram")
    loop = sc.body[5]
    assert isinstance(loop, ast.LoopStmt)
    assert loop.alternatives[1] == ast.OpStmt("grant", ast.Name("a"), peer=ast.Name("b"))
    assert f.items[5] == ast.PropertyDecl(ast.Name("lbl"), ast.Name("no_frame_shared"), None)
    assert f.items[6] == ast.PropertyDecl(
        ast.Name("r"), ast.Name("ipa_eq_pa"), (ast.Name("a"), ast.Name("b-1"))
    )


def test_expression_precedence() -> None:
    f = parse_text(
        "t.m11",
        "invariant i: forall d in domains: d.alive and not d.direct implies "
        "d.rambase + 2 * 3 >= 1 or [1, 2) within region(r)",
    )
    inv = f.items[0]
    assert isinstance(inv, ast.InvariantDecl)
    q = inv.expr
    assert isinstance(q, ast.Quant) and q.over == "domains"
    body = q.body
    assert isinstance(body, ast.BinOp) and body.op == "implies"
    assert isinstance(body.left, ast.BinOp) and body.left.op == "and"
    assert isinstance(body.left.right, ast.Not)
    right = body.right
    assert isinstance(right, ast.BinOp) and right.op == "or"
    ge = right.left
    assert isinstance(ge, ast.BinOp) and ge.op == ">="
    plus = ge.left
    assert isinstance(plus, ast.BinOp) and plus.op == "+"
    assert isinstance(plus.right, ast.BinOp) and plus.right.op == "*"


def test_names_with_hyphens_and_versions() -> None:
    f = parse_text("t.m11", "hypervisor xen-4.5-any { }\ndomain a { frontend blk->b }")
    hyp = f.items[0]
    assert isinstance(hyp, ast.HypervisorDecl) and hyp.name.text == "xen-4.5-any"
    dom = f.items[1]
    assert isinstance(dom, ast.DomainDecl)
    assert dom.body[0] == ast.FrontendStmt(ast.Name("blk"), ast.Name("b"))


def test_hypervisor_extends() -> None:
    f = parse_text("t.m11", "hypervisor xen-4.5-any extends xen-4.5 { balloon keep_owned }\n"
                            "hypervisor extends { }")
    derived, plain = f.items
    assert isinstance(derived, ast.HypervisorDecl) and isinstance(plain, ast.HypervisorDecl)
    assert derived.name.text == "xen-4.5-any" and derived.base == ast.Name("xen-4.5")
    assert derived.body == (ast.BalloonStmt(ast.Name("keep_owned")),)
    assert derived.base is not None and (derived.base.span.line, derived.base.span.col) == (1, 32)
    assert plain.name.text == "extends" and plain.base is None  # a keyword only after a name
    assert derived != ast.HypervisorDecl(derived.name, derived.body)


def test_keywords_are_contextual() -> None:
    f = parse_text("t.m11", "domain ram { backend memory }\nscenario { create ram }")
    dom = f.items[0]
    assert isinstance(dom, ast.DomainDecl) and dom.names[0].text == "ram"


def test_comments_are_collected_not_parsed() -> None:
    f = parse_text("t.m11", "# head\nplatform p { # open\n    page_size 4K # ps\n}\n")
    assert [(c.text, c.line, c.trailing) for c in f.comments] == [
        ("# head", 1, False),
        ("# open", 2, True),
        ("# ps", 3, True),
    ]
    assert f == parse_text("u.m11", "platform p {\npage_size 4K }")


def test_equality_ignores_spans_but_not_number_text() -> None:
    a = parse_text("t.m11", "platform p { page_size 4K }")
    b = parse_text("t.m11", "\n\n   platform   p {page_size 4K}")
    c = parse_text("t.m11", "platform p { page_size 4096 }")
    assert a == b
    assert a != c


@pytest.mark.parametrize(
    "text,message,line,col",
    [
        ("platform x { ram a at size 4K }", "expected an address like 0x80000000, found `size`",
         1, 23),
        ("platform x { ram a at 0 size }", "expected a size like 4K or 0x1000, found `}`", 1, 30),
        ("platform x { foo }", "unknown statement `foo` in the platform block", 1, 14),
        ("hypervisor x { ram a at 0 size 4K }", "unknown statement `ram` in the hypervisor block",
         1, 16),
        ("domain d { memroy 1 }", "unknown statement `memroy` in the domain block", 1, 12),
        ("scenario { frob d }", "unknown operation `frob` in the scenario", 1, 12),
        ("scenario { loop { create d | frob } }", "unknown operation `frob`", 1, 30),
        ("frob", "unknown declaration `frob` at the top level", 1, 1),
        ("platform x {\n  ram a at 0 size 4K\n", "unterminated block", 1, 1),
        ("platform x {\nhypervisor h {}", "unterminated block: expected `}` before `hypervisor`",
         2, 1),
        ("platform x { } }", "unmatched `}`", 1, 16),
        ('include "abc', "unterminated string", 1, 9),
        ("platform x @", "unexpected character `@`", 1, 12),
        ("domain 12 { }", "expected a name, found number `12`", 1, 8),
        ("platform x { ram a at 12Q size 1 }", "bad numeric literal `12Q`", 1, 23),
        ("domain d { direct_map when id == x }", "expected a domain id like 1", 1, 34),
        ("invariant i: 1 +", "unexpected end of file", 1, 17),
        ("hypervisor x extends { }", "expected the name of the hypervisor to extend, found `{`",
         1, 22),
        ("hypervisor x extends a b { }", "unexpected `b`; expected `{`", 1, 24),
        ("platform p extends q { }", "unexpected `extends`; expected `{`", 1, 12),
    ],
)
def test_syntax_errors(text: str, message: str, line: int, col: int) -> None:
    with pytest.raises(CheckerError) as exc:
        parse_text("t.m11", text)
    diag = exc.value.diagnostics[0]
    assert message in diag.message
    assert diag.span is not None
    assert (diag.span.line, diag.span.col) == (line, col)


def test_source_decoding() -> None:
    from checker.source import decode

    assert decode("t.m11", "\ufeffplatform p {}".encode()).text == "platform p {}"
    with pytest.raises(CheckerError) as exc:
        decode("t.m11", "# é\n  x\xff".encode().replace(b"\xc3\xbf", b"\xff"))
    span = exc.value.diagnostics[0].span
    assert span is not None and (span.line, span.col) == (2, 4)
    assert "0xff" in exc.value.diagnostics[0].message
    with pytest.raises(CheckerError) as exc:
        decode("t.m11", b"platform\x00")
    assert "NUL" in exc.value.diagnostics[0].message
    for empty in (b"", b" \n\t\n"):
        with pytest.raises(CheckerError):
            decode("t.m11", empty)


def test_read_errors(tmp_path: Path) -> None:
    from checker.source import read

    with pytest.raises(CheckerError, match="no such file"):
        read(str(tmp_path / "missing.m11"))
    with pytest.raises(CheckerError, match="it is a directory"):
        read(str(tmp_path))
