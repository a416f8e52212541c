"""Every shipped model under models/ loads, and its declared expectations are well-formed.

Complete models (those that declare domains) must pass `checker.resolve.load_model`; the
platform and hypervisor files are fragments, checked through the models that include them.
Each complete model states in its header, per property, the verdict and shortest trace length
derived by hand from docs/semantics.md, as lines

    # expect: PROPERTY holds
    # expect: PROPERTY violated N

and those lines must cover exactly the properties the model declares.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench.frag_balloon import SIZES, generate
from checker.resolve import load_model

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
ALL = sorted(MODELS.rglob("*.m11"))
EXPECT = re.compile(r"^# expect: (?P<prop>[A-Za-z_][A-Za-z0-9_-]*) "
                    r"(?:(?P<holds>holds)|violated (?P<length>\d+))(?:\s|$)")
DECL = re.compile(r"^(?:property|invariant) (?P<name>[A-Za-z_][A-Za-z0-9_-]*)")
INCLUDE = re.compile(r'^include "(?P<path>[^"]+)"')


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def _is_complete(path: Path) -> bool:
    return any(line.startswith("domain ") for line in _lines(path))


COMPLETE = [p for p in ALL if _is_complete(p)]
FRAGMENTS = [p for p in ALL if not _is_complete(p)]


def expectations(path: Path) -> dict[str, int | None]:
    """PROPERTY -> None (holds) or the shortest violation length, from the header."""
    out: dict[str, int | None] = {}
    for line in _lines(path):
        if not line.startswith("# expect:"):
            continue
        m = EXPECT.match(line)
        assert m, f"{path.name}: malformed expectation: {line!r}"
        assert m["prop"] not in out, f"{path.name}: {m['prop']} expected twice"
        out[m["prop"]] = None if m["holds"] else int(m["length"])
    return out


def declared(path: Path) -> list[str]:
    return [m["name"] for line in _lines(path) if (m := DECL.match(line))]


def _id(p: Path) -> str:
    return str(p.relative_to(MODELS))


def test_the_shipped_set_is_there() -> None:
    names = {_id(p) for p in COMPLETE}
    assert {"domd.m11", "domd-alloc11.m11", "domd-static.m11",
            "bench/frag-balloon-small.m11"} <= names
    assert len([n for n in names if n.startswith("findings/")]) >= 15
    assert {_id(p) for p in FRAGMENTS} >= {
        "platforms/omap5.m11", "xen/xen-4.5.m11", "xen/xen-current.m11"}


@pytest.mark.parametrize("path", [p for p in COMPLETE if "bench" not in p.parts], ids=_id)
def test_expectations_cover_exactly_the_declared_properties(path: Path) -> None:
    exp = expectations(path)
    props = declared(path)
    assert props, f"{path.name} declares no property"
    assert sorted(exp) == sorted(props)
    for prop, length in exp.items():
        assert length is None or length >= 1, f"{prop}: a violation needs at least one step"


@pytest.mark.parametrize("path", FRAGMENTS, ids=_id)
def test_every_fragment_is_used(path: Path) -> None:
    users = [m for m in COMPLETE
             if any((m.parent / inc["path"]).resolve() == path.resolve()
                    for line in _lines(m) if (inc := INCLUDE.match(line)))]
    assert users, f"{_id(path)} is included by no model"
    assert not expectations(path)


@pytest.mark.parametrize("path", COMPLETE, ids=_id)
def test_includes_resolve_to_files(path: Path) -> None:
    for line in _lines(path):
        if inc := INCLUDE.match(line):
            assert (path.parent / inc["path"]).is_file(), line


@pytest.mark.parametrize("path", COMPLETE, ids=_id)
def test_model_loads(path: Path) -> None:
    model = load_model(str(path))
    names = [p.name for p in model.properties]
    assert sorted(names) == sorted(declared(path))
    if "bench" not in path.parts:
        assert sorted(names) == sorted(expectations(path))
    assert model.domains
    assert len(model.sources) >= 1


def test_shipped_benchmark_is_the_generated_one() -> None:
    F, K, R = SIZES["small"]
    shipped = (MODELS / "bench" / "frag-balloon-small.m11").read_text(encoding="utf-8")
    assert shipped == generate(F, K, R, "fixed")


@pytest.mark.parametrize("size", sorted(SIZES))
@pytest.mark.parametrize("mode", ["naive", "fixed"])
def test_generator_follows_the_definition(size: str, mode: str, tmp_path: Path) -> None:
    F, K, R = SIZES[size]
    text = generate(F, K, R, mode)
    balloon = {"naive": "release_any", "fixed": "release_same"}[mode]
    assert f"balloon {balloon}\n" in text
    assert f"ram bank at 0x8000_0000 size {F * 4}K\n" in text
    assert f"memory {F // 4 * 4}K\n" in text and f"memory {R * 4}K\n" in text
    us = ", ".join(f"u{i}" for i in range(1, K + 1))
    assert f"domain {us} {{" in text
    # one loop holding every action of the benchmark, 4 per domain
    loop = text.split("loop {")[1].split("}")[0]
    actions = [a.strip() for a in loop.split("|")]
    assert len(actions) == 4 * (K + 1) == len(set(actions))
    assert declared_text(text) == ["ipa_eq_pa", "domd_create_never_fails", "no_frame_shared"]
    model = load_model(str(_write(tmp_path, text)))
    assert model.domain("domd").pages == F // 4
    assert [d.pages for d in model.domains[1:]] == [R] * K
    assert [d.symmetry_group for d in model.domains[1:]] == [model.domains[1].symmetry_group] * K
    assert model.platform.ram[0].base // model.page_size > 0
    assert model.hypervisor.balloon.value == balloon


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "frag-balloon.m11"
    path.write_text(text, encoding="utf-8")
    return path


def declared_text(text: str) -> list[str]:
    return [m["name"] for line in text.splitlines() if (m := DECL.match(line))]


@pytest.mark.parametrize("bad", [(12, 1, 2, "fixed"), (8, 0, 2, "fixed"), (8, 1, 2, "lazy")])
def test_generator_rejects_bad_parameters(bad: tuple[int, int, int, str]) -> None:
    with pytest.raises(ValueError):
        generate(*bad)


# ---- the hand-derived addresses of the headers, recomputed from the loaded models -------------


def _free_runs(path: Path) -> tuple[int, list[tuple[int, int]]]:
    """(page size, heap as [start, end) frame runs): RAM minus reserved and static memory."""
    model = load_model(str(path))
    ps = model.page_size
    holes = [(r.base // ps, r.end // ps) for r in model.platform.reserved]
    holes += [(s.base // ps, s.end // ps) for d in model.domains for s in d.static_mem]
    runs: list[tuple[int, int]] = []
    for bank in model.platform.ram:
        lo, hi = max(bank.base // ps, 1), bank.end // ps  # frame 0 never enters the heap
        cuts = sorted(h for h in holes if h[0] < hi and lo < h[1])
        for a, b in cuts:
            if a > lo:
                runs.append((lo, a))
            lo = max(lo, b)
        if lo < hi:
            runs.append((lo, hi))
    return ps, runs


def _blocks(path: Path, size: int) -> list[int]:
    """Base addresses of every naturally aligned buddy block for `size` bytes in the heap."""
    ps, runs = _free_runs(path)
    pages = size // ps
    order = max(pages - 1, 0).bit_length()
    n = 1 << order
    out = []
    for lo, hi in runs:
        start = -(-lo // n) * n
        out += [b * ps for b in range(start, hi - n + 1, n)]
    return sorted(out)


def _buddies(runs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Maximal naturally aligned blocks (start, order) tiling the [lo, hi) runs."""
    out = []
    for lo, hi in runs:
        while lo < hi:
            order = (lo & -lo).bit_length() - 1
            while lo + (1 << order) > hi:
                order -= 1
            out.append((lo, order))
            lo += 1 << order
    return out


def _xen_pick(runs: list[tuple[int, int]], order: int) -> int:
    """Xen's choice for one request of 2**order frames (xen-facts.md 5.2): the highest zone,
    there the smallest free buddy that fits (the highest of equals), its top sub-block."""
    fits = [(s, o) for s, o in _buddies(runs) if o >= order]
    s, o = min(fits, key=lambda b: (-b[0].bit_length(), b[1], -b[0]))
    return s + (1 << o) - (1 << order)


def _take(runs: list[tuple[int, int]], start: int, count: int) -> list[tuple[int, int]]:
    out = []
    for lo, hi in runs:
        out += [r for r in ((lo, min(hi, start)), (max(lo, start + count), hi)) if r[0] < r[1]]
    return out


@pytest.mark.parametrize("name, domain, top_down", [
    ("domd.m11", "domd", True),
    ("findings/hook-id1-recreate.m11", "domd", True),
    ("findings/rambase-by-hand-topdown.m11", "domd", True),
    ("findings/rambase-by-hand-size-change.m11", "domd", False),
    ("findings/rambase-by-hand-grown.m11", "domd", False),
    ("findings/two-banks-placement-topdown.m11", "domd", True),
    ("findings/two-banks-placement-bottomup.m11", "domd", True),  # copied from a top-down run
])
def test_copied_rambase_against_the_buddy_choice(name: str, domain: str, top_down: bool) -> None:
    path = MODELS / name
    d = load_model(str(path)).domain(domain)
    ps, runs = _free_runs(path)
    assert d.rambase is not None
    got = _xen_pick(runs, max(d.pages - 1, 0).bit_length()) * ps
    assert (d.rambase == got) is top_down


def test_a_large_domain_first_moves_the_block() -> None:
    # rambase-by-hand-other-domain.m11: 512 MiB of single frames cut the 0xE000_0000 buddy.
    path = MODELS / "findings/rambase-by-hand-other-domain.m11"
    model = load_model(str(path))
    ps, runs = _free_runs(path)
    order = 16
    assert _xen_pick(runs, order) * ps == 0xE000_0000
    # the domU's single frames: the smallest buddies go first, whole, the last from its top
    runs = _xen_frames_fast(runs, model.domain("domu").pages)
    assert _xen_pick(runs, order) * ps == 0x8000_0000
    # a 432 MiB domain (the sum of the smaller buddies) leaves the block alone
    ps, runs = _free_runs(path)
    small = sum(1 << o for _, o in _buddies(runs) if o < order)
    assert small * ps == 432 * 2**20


def test_one_page_out_and_in_comes_back() -> None:
    # balloon-release-any.m11: a lone freed page is the smallest buddy and is taken first.
    path = MODELS / "findings/balloon-release-any.m11"
    ps, runs = _free_runs(path)
    block = _xen_pick(runs, 16)
    assert block * ps == 0xE000_0000
    runs = _take(runs, block, 1 << 16)
    assert _xen_pick(runs + [(block, block + 1)], 0) == block
    two = sorted(runs + [(block, block + 1), (block + 0xFFFF, block + 0x10000)])
    assert _xen_pick(two, 0) == block + 0xFFFF


def test_hook_miss_frames_start_low() -> None:
    # hook-id1-recreate.m11: the re-created (not 1:1) domd's lowest frame
    path = MODELS / "findings/hook-id1-recreate.m11"
    ps, runs = _free_runs(path)
    pages = load_model(str(path)).domain("domd").pages
    after = _xen_frames_fast(runs, pages)
    taken = _take_set(runs, after)
    assert min(taken) * ps == 0x9300_0000


def _xen_frames_fast(runs: list[tuple[int, int]], n: int) -> list[tuple[int, int]]:
    for s, o in sorted(_buddies(runs), key=lambda b: (-b[0].bit_length(), b[1], -b[0])):
        take = min(n, 1 << o)
        runs = _take(runs, s + (1 << o) - take, take)
        n -= take
        if not n:
            break
    return runs


def _take_set(before: list[tuple[int, int]], after: list[tuple[int, int]]) -> list[int]:
    """Starts of the runs present in `before` and gone in `after` (their lowest frames)."""
    gone = []
    for lo, hi in before:
        cur = lo
        for a, b in sorted(after):
            if b <= lo or a >= hi:
                continue
            if a > cur:
                gone.append(cur)
            cur = max(cur, b)
        if cur < hi:
            gone.append(cur)
    return gone


def test_the_uevm_heap_and_its_256m_blocks() -> None:
    path = MODELS / "domd-alloc11.m11"
    ps, runs = _free_runs(path)
    assert sum(b - a for a, b in runs) * ps == 2032 * 2**20 - 64 * 2**20  # minus the CMA pools
    # six whole 256 MiB blocks; 0x9000_0000 is cut by the CMA pools (heap-fragmented.m11)
    assert _blocks(path, 256 * 2**20) == [0x8000_0000 + i * 0x1000_0000 for i in (0, 2, 3, 4, 5, 6)]


def test_the_two_bank_blocks() -> None:
    path = MODELS / "findings/two-banks-placement-any.m11"
    blocks = _blocks(path, 512 * 2**20)
    assert blocks[0] == 0x6000_0000 and blocks[-1] == 0x5_6000_0000 and len(blocks) == 7
    assert _blocks(path, 2 * 2**30) == [0x5_0000_0000]
    assert _blocks(path, 3 * 2**30) == []  # an order-20 block fits no bank


def test_the_stolen_frame_model_asks_for_every_free_page() -> None:
    path = MODELS / "findings/balloon-release-same-stolen.m11"
    model = load_model(str(path))
    _ps, runs = _free_runs(path)
    free_after = sum(b - a for a, b in runs) - model.domain("domd").pages + 1
    assert model.domain("domu").pages == free_after


# ---- the engine against the hand-derived expectations -----------------------------------------


@pytest.mark.parametrize("path", [p for p in COMPLETE if "bench" not in p.parts], ids=_id)
def test_explicit_engine_meets_the_expectations(path: Path) -> None:
    from checker.cmd_verify import run_verify
    from checker.results import Verdict

    report, _ = run_verify(str(path), engine="explicit", timeout=60)
    exp = expectations(path)
    got = {r.property: r for r in report.results}
    assert sorted(got) == sorted(exp)
    for prop, length in exp.items():
        r = got[prop]
        if length is None:
            assert r.verdict in (Verdict.HOLDS, Verdict.PROVED), f"{prop}: {r.verdict}"
        else:
            assert r.verdict is Verdict.VIOLATED, f"{prop}: {r.verdict}"
            assert r.trace_length == length, f"{prop}: shortest {r.trace_length}, not {length}"


@pytest.mark.parametrize("mode, states, ipa", [("fixed", 522, None), ("naive", 7262, 3)])
def test_explicit_engine_counts_tiny_frag_balloon(mode: str, states: int, ipa: int | None,
                                                  tmp_path: Path) -> None:
    from checker.cmd_verify import run_verify
    from checker.results import Verdict

    F, K, R = SIZES["tiny"]
    path = _write(tmp_path, generate(F, K, R, mode))
    report, _ = run_verify(str(path), engine="explicit", symmetry=False, timeout=60)
    got = {r.property: r for r in report.results}
    assert got["no_frame_shared"].verdict is Verdict.PROVED
    assert got["no_frame_shared"].states == states  # the benchmark definition's exact count
    assert got["domd_create_never_fails"].verdict is Verdict.PROVED  # K*R = 2 < 4
    if ipa is None:
        assert got["ipa_eq_pa"].verdict is Verdict.PROVED
    else:
        assert got["ipa_eq_pa"].verdict is Verdict.VIOLATED
        assert got["ipa_eq_pa"].trace_length == ipa


def test_generator_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.frag_balloon import main

    assert main(["small", "fixed"]) == 0
    assert capsys.readouterr().out == (MODELS / "bench" / "frag-balloon-small.m11").read_text()
    assert main(["small"]) == 2
    assert main(["enormous", "fixed"]) == 2
    assert "usage" in capsys.readouterr().err


@pytest.mark.parametrize("path", ALL, ids=_id)
def test_models_are_in_canonical_form(path: Path) -> None:
    from checker.fmt import format_text

    text = path.read_text(encoding="utf-8")
    assert format_text(str(path), text) == text, f"run: checker fmt {_id(path)}"


@pytest.mark.parametrize("mode", ["naive", "fixed"])
def test_generated_models_are_in_canonical_form(mode: str) -> None:
    from checker.fmt import format_text

    text = generate(*SIZES["large"], mode)
    assert format_text("frag-balloon.m11", text) == text


EXHAUSTIVE = [(p, e) for p in COMPLETE if p.stem.endswith("-exhaustive")
              for e in ("explicit", "smt")]


@pytest.mark.parametrize("path, engine", EXHAUSTIVE, ids=lambda x: x if isinstance(x, str)
                         else _id(x))
def test_exhaustive_findings_are_proved(path: Path, engine: str) -> None:
    """The scaled-down findings claim `proved`: an exhaustive exact search, and an induction."""
    from checker.cmd_verify import run_verify
    from checker.results import Verdict

    report, _ = run_verify(str(path), engine=engine, timeout=60)
    for r in report.results:
        assert r.verdict is Verdict.PROVED, f"{engine} {r.property}: {r.verdict} {r.warnings}"
        assert r.scope.exhaustive or r.method.startswith("k-induction")
