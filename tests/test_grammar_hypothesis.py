"""Property-based tests on the grammar (hypothesis.extra.lark.from_lark).

1. No input makes `load_model`, `parse_text` or `format_text` raise anything but CheckerError.
2. fmt round-trips: parse(fmt(x)) == parse(x) and fmt(fmt(x)) == fmt(x) for every text the
   grammar generates (tokens padded with whitespace so the lexer sees the generated tokens).
"""

from __future__ import annotations

import os
import re
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark
from lark import Lark

from checker.cmd_lang import show_text
from checker.diagnostics import CheckerError
from checker.fmt import format_text
from checker.parse import _OPTIONS, GRAMMAR_PATH, parse_text
from checker.resolve import load_model
from checker.source import decode
from tests.conftest import BASE_MODEL

# from_lark needs the unanalysed grammar, which the cached parser (NOTE(parser-cache)) drops.
LARK = Lark(GRAMMAR_PATH.read_text(encoding="utf-8"), **_OPTIONS)
KEYWORDS = {
    t.pattern.value
    for t in LARK.terminals
    if t.pattern.type == "str" and re.fullmatch(r"[A-Za-z_][\w-]*", t.pattern.value)
}
SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
# Drawing from the grammar costs ~25 ms an example in hypothesis itself; 100 keeps this file fast.
GRAMMAR_SETTINGS = settings(SETTINGS, max_examples=100)

# Sampled, not drawn from regexes: from_regex per token makes generation ten times slower.
names = st.sampled_from(
    ["a", "b", "domd", "domu", "u1", "dram", "l4_per", "l4-per", "xen-4.5", "_x", "blk", "ram",
     "memory", "grant", "any", "domains", "region", "Z9"]
)
numbers = st.one_of(
    st.integers(0, 2**64 - 1).map(str),
    st.integers(0, 2**64 - 1).map(lambda v: f"{v:#x}"),
    st.integers(0, 2**64 - 1).map(lambda v: "0x" + "_".join(re.findall(".{1,4}", f"{v:x}"))),
    st.tuples(st.integers(0, 4096), st.sampled_from("KMGT")).map(lambda t: f"{t[0]}{t[1]}"),
    # what the NUMBER terminal lexes but the language rejects
    st.sampled_from(["0x", "12Q", "4k", "0x_1", "1__0", "1_", "0xG", "16777216T",
                     "0x1_0000_0000_0000_0000"]),
)
# Include paths: missing files, directories, self-inclusion, a cycle through `..`.
strings = st.sampled_from(
    ['""', '"."', '"/"', '"missing.m11"', '"model.m11"', '"./model.m11"', '"sub/../model.m11"',
     '"a b"']
)


def _padded(s: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return s.map(lambda x: f" {x} ")


def _explicit(valid_only: bool) -> dict[str, st.SearchStrategy[str]]:
    out: dict[str, st.SearchStrategy[str]] = {}
    for t in LARK.terminals:
        if t.pattern.type == "str":
            out[t.name] = st.just(f" {t.pattern.value} ")
    safe_names = names.filter(lambda n: n not in KEYWORDS)
    out["NAME"] = _padded(safe_names if valid_only else names)
    out["NUMBER"] = _padded(numbers)
    out["STRING"] = _padded(strings)
    out["COMMENT"] = st.sampled_from(["#", "# c", "#x # y", "# {", '# "']).map(lambda c: f" {c}\n")
    out["WS"] = st.sampled_from([" ", "\n", "\n\n", "\t", "  \n   \n"])
    return out


GENERATED = from_lark(LARK, start="start", explicit=_explicit(valid_only=True))
RAW = from_lark(LARK, start="start", explicit=_explicit(valid_only=False))


def _load(text: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        os.makedirs(os.path.join(d, "sub"))
        path = os.path.join(d, "model.m11")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
        try:
            model = load_model(path)
        except CheckerError as exc:
            assert exc.diagnostics and exc.exit_code == 2
            return
        assert show_text(model).startswith("host physical map")


@GRAMMAR_SETTINGS
@given(RAW)
def test_generated_models_only_raise_checker_errors(text: str) -> None:
    _load(text)
    _load(BASE_MODEL + text)  # past the structural errors, into name and unit validation
    try:
        format_text("t.m11", text)
    except CheckerError as exc:
        assert exc.diagnostics


@SETTINGS
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
def test_arbitrary_text_only_raises_checker_errors(text: str) -> None:
    try:
        parse_text("t.m11", text)
    except CheckerError as exc:
        assert exc.diagnostics[0].span is not None


@SETTINGS
@given(st.binary(max_size=120))
def test_arbitrary_bytes_only_raise_checker_errors(data: bytes) -> None:
    try:
        src = decode("t.m11", data)
    except CheckerError as exc:
        assert exc.diagnostics
        return
    try:
        parse_text(src.path, src.text)
    except CheckerError as exc:
        assert exc.diagnostics


@GRAMMAR_SETTINGS
@given(GENERATED)
def test_fmt_round_trips(text: str) -> None:
    try:
        tree = parse_text("t.m11", text)
    except CheckerError as exc:
        # Only the values of NUMBER tokens may be rejected (bad literal or past 64 bits).
        assert "numeric literal" in exc.diagnostics[0].message or "64 bits" in str(exc)
        return
    once = format_text("t.m11", text)
    assert parse_text("t.m11", once) == tree
    assert format_text("t.m11", once) == once
    # Every comment survives (trailing comments that met on one line share it).
    assert sum(c.text.count("#") for c in parse_text("t.m11", once).comments) == sum(
        c.text.count("#") for c in tree.comments
    )
