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

import importlib.util
import re
from pathlib import Path

import pytest

from bench.frag_balloon import SIZES, generate

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
ALL = sorted(MODELS.rglob("*.m11"))
EXPECT = re.compile(r"^# expect: (?P<prop>[A-Za-z_][A-Za-z0-9_-]*) "
                    r"(?:(?P<holds>holds)|violated (?P<length>\d+))(?:\s|$)")
DECL = re.compile(r"^(?:property|invariant) (?P<name>[A-Za-z_][A-Za-z0-9_-]*)")
INCLUDE = re.compile(r'^include "(?P<path>[^"]+)"')
HAVE_RESOLVE = importlib.util.find_spec("checker.resolve") is not None


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


@pytest.mark.skipif(not HAVE_RESOLVE, reason="checker/resolve.py (load_model) not written yet")
@pytest.mark.parametrize("path", COMPLETE, ids=_id)
def test_model_loads(path: Path) -> None:
    from checker.resolve import load_model

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
def test_generator_follows_the_definition(size: str, mode: str) -> None:
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
    if HAVE_RESOLVE:
        from checker.resolve import load_model

        tmp = ROOT / ".pytest_cache" / f"frag-balloon-{size}-{mode}.m11"
        tmp.parent.mkdir(exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        model = load_model(str(tmp))
        assert model.domain("domd").pages == F // 4
        assert [d.pages for d in model.domains[1:]] == [R] * K
        assert model.platform.ram[0].base // model.page_size > 0


def declared_text(text: str) -> list[str]:
    return [m["name"] for line in text.splitlines() if (m := DECL.match(line))]


@pytest.mark.parametrize("bad", [(12, 1, 2, "fixed"), (8, 0, 2, "fixed"), (8, 1, 2, "lazy")])
def test_generator_rejects_bad_parameters(bad: tuple[int, int, int, str]) -> None:
    with pytest.raises(ValueError):
        generate(*bad)
