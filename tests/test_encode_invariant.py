"""User invariants in the Z3 engine (checker/encode_invariant.py).

(1) On small page-level models the Z3 engine and the explicit engine agree on every invariant:
    verdict class and shortest trace length (hand-written invariants over every construct,
    and random invariants on the random models of gen_models).
(2) The formula of an invariant, on a concrete state of either encoding, is what
    checker/evaluate.py computes on the same reference state: random expressions, dead
    domains (their fields read as defaults), byte values above 2^63.
(3) The shipped invariants are decided.
(4) What is not encoded is `undecided`, with the reason.
"""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import modelkit as mk
import pytest
import z3
from gen_models import example
from test_engines_agree import _explicit, compare

from checker import evaluate, smt
from checker import model as m
from checker.encode_extent import ExtentEncoding
from checker.encode_invariant import (
    ExtentFields,
    Int,
    PageFields,
    as_bv,
    formula,
    signed_bits,
    supported,
)
from checker.encode_page import PageEncoding
from checker.resolve import load_model
from checker.results import Verdict
from checker.semantics import Semantics

ROOT = Path(__file__).resolve().parent.parent
FINDINGS = ROOT / "models" / "findings"

# ---- (1) the two engines agree ------------------------------------------------------------------

SMALL_HOOK = """\
platform board {
    page_size 4K
    ram bank at 0x8000_0000 size 64K
    mmio dev at 0x4800_0000 size 4K
}
hypervisor xen {
    window gnttab at 0x3800_0000 size 16K
    guest_ram ram0 at 0x4000_0000 size 1G
    allocator buddy max_order 10 placement top-down
    balloon keep_owned
}
domain domd {
    memory 16K
    direct_map when id == 1
    rambase fixed 0x8000_8000
}
domain domu {
    memory 8K
}
scenario {
    loop { create domd | destroy domd | create domu | destroy domu }
}
invariant domd_is_direct: forall d in domains: (d.alive and d.memory == 16K) implies d.direct
invariant ids: forall d in domains: d.alive implies d.id >= 1 and d.id <= 2
invariant id_one: forall d in domains: d.id != 2
invariant dead_reads_zero: forall d in domains: not d.alive implies
    (d.id == 0 and d.rambase == 0 and not d.direct and not (d.ram overlaps [0, 0x1_0000_0000)))
invariant rb: forall d in domains: d.alive implies
    (d.ram within region(bank) or d.rambase == 0x4000_0000)
invariant ovl: not (exists a in domains: exists b in domains:
    a.alive and b.alive and a.memory != b.memory and a.ram overlaps b.ram)
invariant arith: forall d in domains: d.rambase * 3 - 2 * d.rambase + 0x1000 > d.rambase
    and (d.alive == d.alive) and not (d.direct != (d.direct and d.alive))
invariant mem: forall d in domains: d.alive implies
    ([d.rambase, d.rambase + d.memory) within d.ram and d.ram within d.ram)
invariant direct_at_rambase: forall d in domains: d.direct implies d.rambase == 0x8000_8000
"""

ANY_ALLOCATED = """\
platform board {
    page_size 4K
    ram bank at 0x8000_0000 size 32K
    mmio dev at 0x4800_0000 size 4K
}
hypervisor xen {
    guest_ram ram0 at 0x4000_0000 size 1G
    allocator buddy max_order 10 placement any
    balloon release_any
}
domain domd {
    memory 8K
    direct_map
    rambase allocated
}
domain u1 {
    memory 8K
}
scenario {
    create u1
    choose up to 3 { create domd | destroy domd | destroy u1 | create u1 }
}
invariant low_block: forall d in domains: d.direct implies d.rambase < 0x8000_6000
invariant high_block: exists d in domains: d.alive and d.rambase >= 0x8000_4000
invariant top_free: not (exists d in domains: d.direct and d.ram overlaps [0x8000_6000, 0x8000_8000))
invariant neg: forall d in domains: 0 - d.rambase - d.memory < 0 - 0x7FFF_FFFF or not d.alive
invariant big: forall d in domains: d.rambase * 0x1_0000_0000 * 0x1_0000_0000 <= 0xFFFF_FFFF_FFFF_FFFF * 0x8000_8000
invariant big_low: forall d in domains:
    d.rambase * 0x1_0000_0000 * 0x1_0000_0000 < 0x8000_0000 * 0xFFFF_FFFF_FFFF_FFFF + 0x8000_0000
invariant two_alive: forall a in domains: forall b in domains: a.alive and b.alive implies a.ram within a.ram and a.memory == b.memory
"""

EXPECTED = {
    "small_hook": {"domd_is_direct": 2, "id_one": 2, "ids": None, "dead_reads_zero": None,
                   "rb": None, "ovl": None, "arith": None, "mem": None,
                   "direct_at_rambase": None},
    "any_allocated": {"low_block": 2, "high_block": 0, "top_free": 2, "neg": 1,
                      "big": None, "big_low": 2, "two_alive": None},
}


def _load(tmp_path: Path, name: str, text: str) -> m.Model:
    p = tmp_path / f"{name}.m11"
    p.write_text(text)
    return load_model(str(p))


@pytest.mark.parametrize("name,text", [("small_hook", SMALL_HOOK),
                                       ("any_allocated", ANY_ALLOCATED)])
def test_engines_agree_on_hand_written_invariants(tmp_path: Path, name: str, text: str) -> None:
    model = _load(tmp_path, name, text)
    assert {p.name for p in model.properties} == set(EXPECTED[name])
    for p in model.properties:
        assert smt.supports(model, p) is True, p.name
    assert compare(model) == []
    for p in model.properties:
        r = smt.verify_property(model, p, depth=8, timeout=60.0)
        want = EXPECTED[name][p.name]
        if want is None:
            assert r.verdict is Verdict.PROVED, (p.name, r.verdict, r.warnings)
        else:
            assert r.verdict is Verdict.VIOLATED and r.trace_length == want, (p.name, r)


def test_cli_cross_check_on_invariants(tmp_path: Path) -> None:
    """`--engine both`: the explicit verdict, confirmed by the Z3 engine (no disagreement)."""
    from click.testing import CliRunner

    from checker.cli import cli

    path = tmp_path / "small_hook.m11"
    path.write_text(SMALL_HOOK)
    res = CliRunner().invoke(cli, ["verify", "--engine", "both", "--out",
                                    str(tmp_path / "cx"), str(path)])
    assert res.exit_code in (0, 1), res.output
    assert "disagree" not in res.output
    assert res.output.count("cross-checked by smt") == len(EXPECTED["small_hook"])


# ---- random invariants ----------------------------------------------------------------------------

CONSTS = (0, 1, 3, 0x1000, 0x2000, 0x4000_0000, 0x8000_0000, 0x8000_4000, 0x7FFF_FFFF_FFFF_FFFF,
          0x8000_0000_0000_0000, 0xFFFF_FFFF_FFFF_FFFF, 0xFFFF_FFFF_FFF0_0000)


class Gen:
    """Random well-typed invariant expressions over a model's domains."""

    def __init__(self, rnd: random.Random, model: m.Model, ids: bool = True) -> None:
        self.rnd = rnd
        self.names = [d.name for d in model.domains]
        regions = list(model.platform.ram + model.platform.mmio + model.hypervisor.windows)
        self.regions = regions
        self.ids = ids

    def dom(self, env: list[str]) -> m.Expr:
        return m.Var(self.rnd.choice(env + self.names[:1]))

    def integer(self, env: list[str], depth: int) -> m.Expr:
        r = self.rnd
        if depth <= 0 or r.random() < 0.4:
            fields = ["memory", "rambase", "rambase"] + (["id"] if self.ids else [])
            if r.random() < 0.4:
                return m.Num(r.choice(CONSTS))
            return m.Attr(self.dom(env), r.choice(fields))
        return m.BinOp(r.choice("+-*"), self.integer(env, depth - 1),
                       self.integer(env, depth - 1))

    def interval(self, env: list[str], depth: int) -> m.Expr:
        r = self.rnd.random()
        if r < 0.3 and self.regions:
            return m.RegionRef(self.rnd.choice(self.regions))
        if r < 0.6:
            return m.Interval(self.integer(env, depth - 1), self.integer(env, depth - 1))
        return m.Attr(self.dom(env), "ram")

    def truth(self, env: list[str], depth: int) -> m.Expr:
        r = self.rnd
        pick = r.random()
        if depth <= 0 or pick < 0.25:
            if r.random() < 0.5:
                return m.Attr(self.dom(env), r.choice(["alive", "direct"]))
            op = r.choice(["==", "!=", "<", "<=", ">", ">="])
            return m.BinOp(op, self.integer(env, 1), self.integer(env, 1))
        if pick < 0.45:
            var = f"v{len(env)}"
            return m.Quant(r.choice(["forall", "exists"]), var, "domains", None,
                           self.truth(env + [var], depth - 1))
        if pick < 0.6:
            return m.BinOp(r.choice(["overlaps", "within"]), self.interval(env, depth),
                           self.interval(env, depth))
        if pick < 0.7:
            return m.Not(self.truth(env, depth - 1))
        if pick < 0.8:
            return m.BinOp(r.choice(["==", "!="]), self.truth(env, depth - 1),
                           self.truth(env, depth - 1))
        if pick < 0.9:
            return m.BinOp(r.choice(["<", ">=", "=="]), self.integer(env, depth),
                           self.integer(env, depth))
        return m.BinOp(r.choice(["and", "or", "implies"]), self.truth(env, depth - 1),
                       self.truth(env, depth - 1))

    def invariant(self, name: str, guarded: bool = False) -> m.Property:
        """`forall/exists d in domains: BODY`; guarded: `forall d in domains: d.alive implies
        BODY` (true in the initial state, so a violation takes steps)."""
        var = "d"
        body = self.truth([var], 3)
        if guarded:
            body = m.BinOp("implies", m.Attr(m.Var(var), "alive"), body)
        kind = "forall" if guarded else self.rnd.choice(["forall", "exists"])
        expr = m.Quant(kind, var, "domains", None, body)
        return m.Property(name, m.PropertyKind.INVARIANT, (), expr)


@pytest.mark.parametrize("seed", [3, 6, 7, 10, 12, 21])
def test_engines_agree_on_random_invariants(seed: int) -> None:
    base = example(seed)
    rnd = random.Random(seed)
    gen = Gen(rnd, base)
    props = [gen.invariant(f"inv{j}", guarded=j % 2 == 0) for j in range(6)]
    model = replace(base, properties=tuple(props))
    for p in props:
        assert smt.supports(model, p) is True
    truth = _explicit(model)
    assert truth is not None  # the explicit search exhausted the model: a ground truth
    assert compare(model) == []


def test_random_invariants_need_steps() -> None:
    """The random invariants above are not all decided in the initial state."""
    lengths = []
    for seed in (3, 6, 7, 10, 12, 21):
        base = example(seed)
        gen = Gen(random.Random(seed), base)
        props = [gen.invariant(f"inv{j}", guarded=True) for j in range(6)]
        truth = _explicit(replace(base, properties=tuple(props)))
        assert truth is not None
        lengths += [r.trace_length for r in truth.values()]
    assert None in lengths  # some hold
    assert sum(1 for n in lengths if n is not None and n >= 1) >= 5  # violated after steps


# ---- (2) the formula is the reference's, state by state -----------------------------------------


def _view(doms: list[tuple[int, bool, int] | None]) -> tuple[Any, ...]:
    """A reference view with the domain fields an invariant reads: (id, direct, rambase)."""
    return (0, 0, 1, (), None, ()) + tuple(
        None if x is None else (x[0], x[1], x[2], (), (), ()) for x in doms)


def _decide(f: z3.BoolRef | bool, pairs: list[tuple[z3.ExprRef, z3.ExprRef]]) -> bool:
    if isinstance(f, bool):
        return f
    got = z3.simplify(z3.substitute(f, *pairs) if pairs else f)
    assert z3.is_true(got) or z3.is_false(got), got
    return bool(z3.is_true(got))


def _alive_direct(e: Any, d: int, x: tuple[int, bool, int] | None) -> list[Any]:
    """The alive and direct variables of domain d at state 0, valued by x (both encodings)."""
    pairs: list[Any] = [(e.var(("alive", d), 0), z3.BoolVal(x is not None))]
    if e.has(("direct", d)):
        pairs.append((e.var(("direct", d), 0), z3.BoolVal(x is not None and x[1])))
    return pairs


def _page_state(e: PageEncoding, doms: list[tuple[int, bool, int] | None]) -> list[Any]:
    pairs: list[Any] = []
    for d, x in enumerate(doms):
        pairs += _alive_direct(e, d, x)
        if e.has(("id", d)):
            v = e.var(("id", d), 0)
            pairs.append((v, z3.BitVecVal(0 if x is None else x[0], v.size())))
        if len(e.rb_cands[d]) > 1:
            for c in e.rb_cands[d]:
                pairs.append((e.var(("rb", d, c), 0), z3.BoolVal(x is not None and x[2] == c)))
    return pairs


def _extent_state(e: ExtentEncoding, doms: list[tuple[int, bool, int] | None]) -> list[Any]:
    pairs: list[Any] = []
    for d, x in enumerate(doms):
        pairs += _alive_direct(e, d, x)
        if e.rb_varies(d):
            pairs.append((e.var(("rb", d), 0), e.bv(0 if x is None or not x[1] else x[2])))
    return pairs


def _random_doms(rnd: random.Random, model: m.Model, direct_rbs: list[list[int]],
                 plain_rbs: list[int], ids: bool) -> list[tuple[int, bool, int] | None]:
    """Each domain dead or alive with a direct flag and a rambase its declaration allows."""
    out: list[tuple[int, bool, int] | None] = []
    for d, decl in enumerate(model.domains):
        if decl.direct_map is m.DirectMap.NONE:
            direct = False
        elif decl.direct_map is m.DirectMap.HOOK:
            direct = rnd.random() < 0.5 and bool(direct_rbs[d])
        else:
            direct = True
        if rnd.random() < 0.3 or (direct and not direct_rbs[d]):
            out.append(None)
            continue
        rb = rnd.choice(direct_rbs[d]) if direct else plain_rbs[d]
        out.append((rnd.randint(1, 3) if ids else 0, direct, rb))
    return out


def _page_direct_rbs(e: PageEncoding, d: int) -> list[int]:
    """The rambases a 1:1 domain can have (as `PageEncoding._rb_cands`)."""
    dom = e.doms[d]
    if not dom.may_direct:
        return []
    if dom.static:
        return [dom.rambase if dom.rambase_mode is m.RambaseMode.FIXED else dom.static[0]]
    return list(e.blocks[d]) if e._direct_rb(dom) else [dom.rambase]


def _top_model(extra: list[m.Property]) -> m.Model:
    """Small heaps at the top of the 64-bit space: byte addresses above 2^63."""
    top = 0xFFFF_FFFF_FFF0_0000
    doms = [mk.domain(0, "domd", 4 * mk.PAGE, direct_map=m.DirectMap.ALWAYS,
                      rambase_mode=m.RambaseMode.ALLOCATED),
            mk.domain(1, "hook", 2 * mk.PAGE, direct_map=m.DirectMap.HOOK, hook_id=1,
                      rambase_mode=m.RambaseMode.ALLOCATED),
            mk.domain(2, "u1", mk.PAGE, rambase=top + 0x1000)]
    ops = tuple(op for d in range(3) for op in mk.ops_for(d))
    return mk.model(doms, [m.Loop(ops)], extra, ram=[mk.ram("high", top, 16 * mk.PAGE)],
                    max_order=10, guest_ram=[m.Region("g0", m.RegionKind.GUEST_RAM, top, 0x10000)])


def _check_states(model: m.Model, level: str, seed: int, n_exprs: int, n_states: int) -> int:
    rnd = random.Random(seed)
    hooks = any(d.direct_map is m.DirectMap.HOOK for d in model.domains)
    gen = Gen(rnd, model, ids=level == "page" or not hooks)
    props = [gen.invariant(f"r{j}") for j in range(n_exprs)]
    model = replace(model, properties=tuple(props) + model.properties)
    sem = Semantics(model, placement="exact", symmetry=False)
    enc: PageEncoding | ExtentEncoding
    if level == "page":
        enc = PageEncoding(model, set())
        fields: Any = PageFields(enc)
        direct_rbs = [_page_direct_rbs(enc, d) for d in range(enc.nd)]
    else:
        enc = ExtentEncoding(model, set())
        fields = ExtentFields(enc)
        direct_rbs = [[enc.doms[d].rambase + k for k in (0, 4, 8)] if enc.rb_varies(d)
                      else [enc.doms[d].rambase] for d in range(enc.nd)]
    plain_rbs = [enc.doms[d].rambase for d in range(enc.nd)]
    empty: list[tuple[int, bool, int] | None] = [None] * len(model.domains)
    states: list[list[tuple[int, bool, int] | None]] = [empty] + [
        _random_doms(rnd, model, direct_rbs, plain_rbs, hooks) for _ in range(n_states)]
    checked = 0
    for p in props:
        assert supported(model, p, level) is True
        assert p.expr is not None
        f = formula(fields, model, p.expr, 0)
        for doms in states:
            pairs = (_page_state(enc, doms) if isinstance(enc, PageEncoding)
                     else _extent_state(enc, doms))
            want = evaluate.violation(sem, _view(doms), p) is None
            assert _decide(f, pairs) == want, (p.expr, doms)
            checked += 1
    return checked


@pytest.mark.parametrize("seed", range(4))
def test_formula_is_the_reference_page_level(seed: int) -> None:
    assert _check_states(_top_model([]), "page", seed, 40, 12) == 40 * 13


@pytest.mark.parametrize("seed", range(3))
def test_formula_is_the_reference_extent_level(seed: int) -> None:
    assert _check_states(_top_model([]), "extent", seed, 40, 12) == 40 * 13


def test_formula_on_gen_models_page_level() -> None:
    for seed in (3, 6, 10, 12):
        assert _check_states(example(seed), "page", seed, 15, 8) == 15 * 9


def test_dead_domain_defaults_and_large_bytes() -> None:
    """The not-alive defaults of NOTE(invariant-values), and byte addresses above 2^64."""
    inv = m.Property("x", m.PropertyKind.INVARIANT, (), m.Num(0))  # replaced below
    model = _top_model([])
    sem = Semantics(model, placement="exact", symmetry=False)
    top = 0xFFFF_FFFF_FFF0_0000
    for level in ("page", "extent"):
        enc: Any = PageEncoding(model, set()) if level == "page" else ExtentEncoding(model, set())
        fields: Any = PageFields(enc) if level == "page" else ExtentFields(enc)
        state_of = _page_state if level == "page" else _extent_state
        checks = {
            # dead: alive, direct false; rambase 0; ram [0, 0) overlaps nothing, lies in anything
            "not domd.alive and not domd.direct and domd.rambase == 0": (None, True),
            "not (domd.ram overlaps [0, 0xFFFF_FFFF_FFFF_FFFF))": (None, True),
            "domd.ram within [0, 0)": (None, True),
            "domd.memory == 0x4000": (None, True),
            # alive at the top block: ram ends at 2^64 exactly, > 2^63
            "domd.rambase + domd.memory == 0xFFFF_FFFF_FFF1_0000": ((top >> 12) + 12, True),
            "domd.rambase + domd.rambase > 0xFFFF_FFFF_FFFF_FFFF": ((top >> 12) + 12, True),
            "domd.ram within [0xFFFF_FFFF_FFF0_C000, 0xFFFF_FFFF_FFF1_0000)":
                ((top >> 12) + 12, True),
            "domd.ram overlaps [0, 0xFFFF_FFFF_FFF0_C000)": ((top >> 12) + 12, False),
            "domd.rambase > 0x7FFF_FFFF_FFFF_FFFF": ((top >> 12) + 12, True),
            "domd.rambase * domd.rambase > 0xFFFF_FFFF_FFFF_FFFF * 0xFFFF_FFFF_FFFF_FFFF":
                ((top >> 12) + 12, False),
            "0 - domd.rambase < 0 - 0x8000_0000_0000_0000": ((top >> 12) + 12, True),
        }
        for text, (rb, want) in checks.items():
            expr = _parse_expr(text)
            p = replace(inv, expr=expr)
            doms: list[tuple[int, bool, int] | None] = [
                None if rb is None else (0, True, rb), None, None]
            assert (evaluate.violation(sem, _view(doms), p) is None) == want, text
            got = _decide(formula(fields, model, expr, 0), state_of(enc, doms))
            assert got == want, (level, text)


def _parse_expr(text: str) -> m.Expr:
    """`text` about domd (the only domain of 16K) over the domains of `_top_model`, through
    the real parser and resolver."""
    import tempfile

    src = f"""\
platform p {{
    page_size 4K
    ram high at 0xFFFF_FFFF_FFF0_0000 size 64K
}}
hypervisor h {{ guest_ram g at 0x4000_0000 size 1G }}
domain domd {{ memory 16K direct_map rambase allocated }}
domain hook {{ memory 8K }}
domain u1 {{ memory 4K }}
invariant x: forall x in domains: x.memory != 16K or ({text.replace("domd.", "x.")})
"""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.m11"
        path.write_text(src)
        expr = load_model(str(path)).property("x").expr
    assert expr is not None
    return expr


def test_width_arithmetic_never_wraps() -> None:
    """Products and differences of wide ranges are exact (NOTE(invariant-width))."""
    x = z3.BitVec("x", 64)
    a = Int(0, (1 << 64) - 1, z3.ZeroExt(1, x))
    assert signed_bits(0, (1 << 64) - 1) == 65 and signed_bits(-1, 0) == 1
    assert signed_bits(-(1 << 63), (1 << 63) - 1) == 64
    from checker.encode_invariant import _arith, _compare

    prod = _arith("*", a, a)
    diff = _arith("-", num0 := Int(0, 0), prod)
    assert num0.const == 0
    assert diff.lo == -((1 << 64) - 1) ** 2 and diff.hi == 0
    for v in (0, 1, (1 << 63) + 5, (1 << 64) - 1):
        got = z3.simplify(z3.substitute(as_bv(diff, diff.width), (x, z3.BitVecVal(v, 64))))
        val = got.as_signed_long()
        assert val == -(v * v)
        lt = _compare("<", diff, Int(-(1 << 100), -(1 << 100)))
        assert not isinstance(lt, bool)
        got_lt = z3.simplify(z3.substitute(lt, (x, z3.BitVecVal(v, 64))))
        assert z3.is_true(got_lt) == (-(v * v) < -(1 << 100))


# ---- (3) the shipped invariants ---------------------------------------------------------------


def test_shipped_recreate_domd_is_direct_violated_at_3() -> None:
    model = load_model(str(FINDINGS / "hook-id1-recreate.m11"))
    p = model.property("domd_is_direct")
    assert smt.encoding_for(model) == "extent"
    r = smt.verify_property(model, p, depth=None, timeout=120.0)
    assert r.verdict is Verdict.VIOLATED and r.trace_length == 3, r.warnings
    assert r.trace is not None and "fails for d = domd" in r.trace.witness
    assert [s.op for s in r.trace.steps] == ["create domd", "destroy domd", "create domd"]


def test_shipped_domu_first_domd_is_direct_formula() -> None:
    """hook-id1-domu-first: the invariant is encoded at the extent level; on the state after
    `create domu; create domd` (domd got id 2, not 1:1) it is false, and true after
    `create domd` alone (id 1, 1:1) -- the same answer as the reference on both states."""
    model = load_model(str(FINDINGS / "hook-id1-domu-first.m11"))
    p = model.property("domd_is_direct")
    assert smt.encoding_for(model) == "extent"
    assert smt.supports(model, p) is True
    enc = ExtentEncoding(model, set())
    sem = Semantics(model, placement="exact", symmetry=False)
    assert p.expr is not None
    f = formula(ExtentFields(enc), model, p.expr, 0)
    rb = 0xE000_0000 >> 12
    cases: list[tuple[list[tuple[int, bool, int] | None], bool]] = [
        ([(2, False, rb), (1, False, 0x4000_0000 >> 12)], False),
        ([(1, True, rb), None], True),
        ([None, (1, False, 0x4000_0000 >> 12)], True)]
    for doms, want in cases:
        assert (evaluate.violation(sem, _view(doms), p) is None) == want
        assert _decide(f, _extent_state(enc, doms)) == want


# ---- (4) what is not encoded ------------------------------------------------------------------


def test_mappings_quantifier_is_undecided_with_the_reason() -> None:
    model = mk.frag_balloon(8, 1, 2, "naive")
    body = m.BinOp("==", m.Attr(m.Var("x"), "ipa"), m.Attr(m.Var("x"), "pa"))
    expr = m.Quant("forall", "d", "domains", None,
                   m.Quant("forall", "x", "mappings", "d", body))
    inv = m.Property("ident", m.PropertyKind.INVARIANT, (), expr)
    model = replace(model, properties=(inv,))
    why = smt.supports(model, inv)
    assert isinstance(why, str) and "mappings(d)" in why
    r = smt.verify_property(model, inv, depth=None, timeout=5.0)
    assert r.verdict is Verdict.UNDECIDED and r.warnings == [why]


def test_id_at_the_extent_level() -> None:
    """hook-id1-recreate at real size: domd's second create gets id 2."""
    model = load_model(str(FINDINGS / "hook-id1-recreate.m11"))
    expr = m.Quant("forall", "d", "domains", None,
                   m.BinOp("<=", m.Attr(m.Var("d"), "id"), m.Num(1)))
    inv = m.Property("id_le_1", m.PropertyKind.INVARIANT, (), expr)
    model = replace(model, properties=model.properties + (inv,))
    assert smt.encoding_for(model) == "extent" and smt.supports(model, inv) is True
    r = smt.verify_property(model, inv, depth=None, timeout=120.0)
    assert r.verdict is Verdict.VIOLATED and r.trace_length == 3, r.warnings
    assert r.trace is not None
    assert [s.op for s in r.trace.steps] == ["create domd", "destroy domd", "create domd"]
    # without the id hook every id reads 0, at every level
    plain = replace(model, domains=tuple(replace(d, direct_map=m.DirectMap.ALWAYS,
                                                  hook_id=None) for d in model.domains))
    assert smt.supports(plain, inv) is True


def test_ill_typed_invariant_is_undecided_not_a_crash() -> None:
    """A model built by hand (the resolver rejects these) gets a reason, not an exception."""
    model = mk.frag_balloon(8, 1, 2, "naive")
    for expr, text in ((m.Num(1), "not a truth value"),
                       (m.BinOp("<", m.Attr(m.Var("domd"), "ram"), m.Num(1)), "not well typed"),
                       (m.Attr(m.Var("nobody"), "alive"), "unknown variable")):
        inv = m.Property("bad", m.PropertyKind.INVARIANT, (), expr)
        why = smt.supports(replace(model, properties=(inv,)), inv)
        assert isinstance(why, str) and text in why, why
    # a domain's name stands for the domain (as in checker/evaluate.py)
    inv = m.Property("ok", m.PropertyKind.INVARIANT, (), m.Not(m.Attr(m.Var("domd"), "alive")))
    model = replace(model, properties=(inv,))
    assert smt.supports(model, inv) is True
    r = smt.verify_property(model, inv, depth=4, timeout=30.0)
    assert r.verdict is Verdict.VIOLATED and r.trace_length == 1
