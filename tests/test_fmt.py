"""fmt: the canonical layout, comments and blank lines kept, idempotence and AST round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from checker.fmt import format_text
from checker.parse import parse_text
from tests.conftest import BASE_MODEL

REPO = Path(__file__).resolve().parent.parent


def fmt(text: str) -> str:
    out = format_text("t.m11", text)
    assert format_text("t.m11", out) == out
    assert parse_text("t.m11", out) == parse_text("t.m11", text)
    return out


def test_base_model_is_canonical() -> None:
    assert fmt(BASE_MODEL) == BASE_MODEL


def test_indentation_spacing_and_one_statement_per_line() -> None:
    text = "platform  p{page_size 4K ram dram at 0x8000_0000\n size 2G mmio d at 0x1000 size 4K dma}"
    assert fmt(text) == (
        "platform p {\n"
        "    page_size 4K\n"
        "    ram dram at 0x8000_0000 size 2G\n"
        "    mmio d at 0x1000 size 4K dma\n"
        "}\n"
    )


def test_numbers_and_names_kept_as_written() -> None:
    text = "domain a,b-2{memory 0x10M rambase fixed 0x8000_0000 frontend blk->c passthrough x,y}"
    assert fmt(text) == (
        "domain a, b-2 {\n"
        "    memory 0x10M\n"
        "    rambase fixed 0x8000_0000\n"
        "    frontend blk -> c\n"
        "    passthrough x, y\n"
        "}\n"
    )


def test_scenario_alternatives_one_per_line() -> None:
    text = "scenario{create a choose up to 3{destroy a|create a\n|grant b->a} loop{dma a grant}}"
    assert fmt(text) == (
        "scenario {\n"
        "    create a\n"
        "    choose up to 3 {\n"
        "        destroy a\n"
        "        | create a\n"
        "        | grant b -> a\n"
        "    }\n"
        "    loop {\n"
        "        dma a grant\n"
        "    }\n"
        "}\n"
    )


def test_properties_and_invariants() -> None:
    text = (
        "property  ipa_eq_pa\nproperty b :create_succeeds( d1 ,d2 )\n"
        "invariant i:forall d in domains:(d.alive implies d.rambase>=0x1)and not[1,2)overlaps"
        " region(x)\ninvariant j: exists d in domains: forall m in mappings(d): m.ipa+1*2==m.pa"
    )
    assert fmt(text) == (
        "property ipa_eq_pa\n"
        "property b: create_succeeds(d1, d2)\n"
        "invariant i: forall d in domains: (d.alive implies d.rambase >= 0x1) and not [1, 2) "
        "overlaps region(x)\n"
        "invariant j: exists d in domains: forall m in mappings(d): m.ipa + 1 * 2 == m.pa\n"
    )


def test_comments_stay_in_place() -> None:
    text = (
        "# head\n"
        "\n"
        "platform p {   # the board\n"
        "  # banks\n"
        "  ram a at 0 size 4K # first\n"
        "     ram bb at 0x1000 size 4K      # second\n"
        "  # last words\n"
        "}\n"
        "# tail\n"
    )
    assert fmt(text) == (
        "# head\n"
        "\n"
        "platform p {  # the board\n"
        "    # banks\n"
        "    ram a at 0 size 4K        # first\n"
        "    ram bb at 0x1000 size 4K  # second\n"
        "    # last words\n"
        "}\n"
        "# tail\n"
    )


def test_comment_inside_a_collapsed_statement() -> None:
    text = "platform p {\n    ram a at 0  # base\n        size 4K  # size\n}\n"
    assert fmt(text) == "platform p {\n    ram a at 0 size 4K  # base  # size\n}\n"


def test_blank_lines_kept_at_most_one_never_at_block_edges() -> None:
    text = "\n\nplatform p {\n\n    page_size 4K\n\n\n\n    ram a at 0 size 4K\n\n}\n\n\n\ndomain d {\n}\n\n"
    assert fmt(text) == (
        "platform p {\n    page_size 4K\n\n    ram a at 0 size 4K\n}\n\ndomain d {\n}\n"
    )


def test_hypervisor_extends() -> None:
    assert fmt("hypervisor  a\n extends\n b{balloon keep_owned}") == (
        "hypervisor a extends b {\n    balloon keep_owned\n}\n"
    )
    text = "hypervisor a extends b {  # derived\n    # the policy\n    allocator buddy\n}\n"
    assert fmt(text) == text
    assert fmt("hypervisor a extends b { }") == "hypervisor a extends b {\n}\n"


def test_only_comments() -> None:
    assert fmt("  # a\n\n\n# b") == "# a\n\n# b\n"


def test_crlf_is_normalised() -> None:
    assert fmt("platform p {\r\n    page_size 4K\r\n}\r\n") == "platform p {\n    page_size 4K\n}\n"


@pytest.mark.parametrize(
    "path", sorted((REPO / "models").rglob("*.m11")), ids=lambda p: str(p.relative_to(REPO))
)
def test_models_round_trip(path: Path) -> None:
    """Every model in the repository formats idempotently to the same tree (read-only)."""
    text = path.read_text(encoding="utf-8")
    out = fmt(text)
    kept = "\n".join(c.text for c in parse_text("t", out).comments)
    for c in parse_text("t", text).comments:
        assert c.text in kept
