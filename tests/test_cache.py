"""The verdict cache: keys, round trips, re-verification only when something changed, corrupt
entries, versions, concurrent writers. Models are real `.m11` files loaded with the real
front end (so the include closure is the resolver's); verification is a counting stand-in.
"""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest

from checker.cache import (
    CACHE_DIR_NAME,
    CachedVerifier,
    VerdictCache,
    cache_key,
    result_from_json,
    result_to_json,
)
from checker.model import Model
from checker.resolve import load_model
from checker.results import PropertyResult, Scope, Trace, TraceStep, Verdict, VerifyReport

REPO = Path(__file__).resolve().parent.parent
MODEL = "findings/hook-id1-recreate.m11"
OPTIONS = {"engine": "explicit", "depth": None, "symmetry": True}


def copy_models(dest: Path) -> Path:
    """The model with its include closure (platform and hypervisor files), in the same layout."""
    for rel in (MODEL, "platforms/omap5.m11", "xen/xen-4.5.m11"):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / "models" / rel, target)
    return dest / MODEL


class CountingVerify:
    def __init__(self, verdict: Verdict = Verdict.PROVED) -> None:
        self.calls: list[str] = []
        self.verdict = verdict

    def __call__(self, path: str) -> tuple[VerifyReport, Model]:
        self.calls.append(path)
        model = load_model(path)
        scope = Scope(None, True, "exact")
        results = [
            PropertyResult(p.name, self.verdict, "explicit", "bfs", scope, states=len(self.calls))
            for p in model.properties
        ]
        return VerifyReport(path, "f" * 64, "0.1.0", results), model


def full_result() -> PropertyResult:
    trace = Trace(
        "ipa_eq_pa",
        {"domains": [{"alive": False}]},
        (
            TraceStep("create domd", {"block": 917504}, {"pc": 1}, ("block 0xE0000000",)),
            TraceStep("destroy domd", {}, {"pc": 2}),
        ),
        "IPA 0xE0000000 -> PA 0xEF000000",
    )
    return PropertyResult(
        "ipa_eq_pa",
        Verdict.VIOLATED,
        "smt",
        "bmc",
        Scope(5, False, "symbolic"),
        trace,
        counterexample="counterexamples/x/ipa_eq_pa.itf.json",
        states=10,
        transitions=20,
        seconds=0.5,
        warnings=["w1"],
        stats={"depth_reached": 3, "z3": {"conflicts": 7}},
    )


def test_result_json_round_trip() -> None:
    r = full_result()
    data = json.loads(json.dumps(result_to_json(r)))
    assert result_from_json(data) == r
    bare = PropertyResult("p", Verdict.HOLDS, "explicit", "bfs", Scope(None, True, "exact"))
    assert result_from_json(json.loads(json.dumps(result_to_json(bare)))) == bare


def test_key_follows_contents_options_and_version(tmp_path: Path) -> None:
    model = copy_models(tmp_path / "a")
    sources = load_model(str(model)).sources
    assert len(sources) == 3
    k = cache_key(sources, OPTIONS, "1.0")
    # the same tree elsewhere has the same key: paths are relative to the model's directory
    moved = copy_models(tmp_path / "b" / "deeper")
    assert cache_key(load_model(str(moved)).sources, OPTIONS, "1.0") == k
    assert cache_key(sources, {**OPTIONS, "depth": 4}, "1.0") != k
    assert cache_key(sources, OPTIONS, "1.1") != k
    plat = tmp_path / "a" / "platforms" / "omap5.m11"
    plat.write_text(plat.read_text(encoding="utf-8") + "\n# a comment\n", encoding="utf-8")
    assert cache_key(sources, OPTIONS, "1.0") != k


def test_unchanged_model_is_not_reverified_and_a_changed_include_is(tmp_path: Path) -> None:
    model = copy_models(tmp_path / "tree")
    verify = CountingVerify()
    cache = VerdictCache(tmp_path / "cache")
    v = CachedVerifier(verify, load_model, cache, OPTIONS)
    first, _ = v.verify(str(model))
    second, m2 = v.verify(str(model))
    assert len(verify.calls) == 1 and v.hits == 1 and v.calls == 1
    assert second.results == first.results
    assert second.model_sha256 == first.model_sha256
    assert m2.path == str(model)
    # a fresh verifier (another run) still hits
    v2 = CachedVerifier(verify, load_model, VerdictCache(tmp_path / "cache"), OPTIONS)
    v2.verify(str(model))
    assert len(verify.calls) == 1
    # change only an included file: verified again
    xen = tmp_path / "tree" / "xen" / "xen-4.5.m11"
    xen.write_text(xen.read_text(encoding="utf-8") + "\n# touched\n", encoding="utf-8")
    v2.verify(str(model))
    assert len(verify.calls) == 2
    v2.verify(str(model))
    assert len(verify.calls) == 2
    # other options: verified again
    CachedVerifier(verify, load_model, cache, {**OPTIONS, "depth": 2}).verify(str(model))
    assert len(verify.calls) == 3


def test_never_trusted_across_checker_versions(tmp_path: Path) -> None:
    model = copy_models(tmp_path / "tree")
    verify = CountingVerify()
    CachedVerifier(verify, load_model, VerdictCache(tmp_path / "c", "1.0"), OPTIONS).verify(
        str(model)
    )
    CachedVerifier(verify, load_model, VerdictCache(tmp_path / "c", "1.1"), OPTIONS).verify(
        str(model)
    )
    assert len(verify.calls) == 2
    # an entry whose recorded version disagrees with the reader's is refused even under its key
    cache = VerdictCache(tmp_path / "c", "1.0")
    key = cache.key(load_model(str(model)).sources, OPTIONS)
    entry = next((tmp_path / "c").rglob(f"{key}.json"))
    data = json.loads(entry.read_text(encoding="utf-8"))
    data["checker"] = "0.9"
    entry.write_text(json.dumps(data), encoding="utf-8")
    assert cache.get(key) is None


@pytest.mark.parametrize("garbage", ["", "{not json", '{"format": 1}', "[1, 2]", '{"results": 3}'])
def test_corrupt_entry_is_ignored_and_rewritten(tmp_path: Path, garbage: str) -> None:
    model = copy_models(tmp_path / "tree")
    verify = CountingVerify()
    cache = VerdictCache(tmp_path / "c")
    v = CachedVerifier(verify, load_model, cache, OPTIONS)
    v.verify(str(model))
    key = cache.key(load_model(str(model)).sources, OPTIONS)
    entry = next((tmp_path / "c").rglob(f"{key}.json"))
    entry.write_text(garbage, encoding="utf-8")
    assert cache.get(key) is None
    v.verify(str(model))
    assert len(verify.calls) == 2
    hit = cache.get(key)
    assert hit is not None and len(hit.results) == 3


def test_undecided_reports_are_not_cached(tmp_path: Path) -> None:
    model = copy_models(tmp_path / "tree")
    verify = CountingVerify(Verdict.UNDECIDED)
    v = CachedVerifier(verify, load_model, VerdictCache(tmp_path / "c"), OPTIONS)
    v.verify(str(model))
    v.verify(str(model))
    assert len(verify.calls) == 2
    assert not (tmp_path / "c").exists() or not list((tmp_path / "c").rglob("*.json"))


def test_no_cache_always_verifies(tmp_path: Path) -> None:
    model = copy_models(tmp_path / "tree")
    verify = CountingVerify()
    v = CachedVerifier(verify, load_model, None, OPTIONS)
    v.verify(str(model))
    v.verify(str(model))
    assert len(verify.calls) == 2 and v.calls == 2


def test_concurrent_writers_leave_one_whole_entry(tmp_path: Path) -> None:
    cache = VerdictCache(tmp_path / "c")
    report = VerifyReport("m.m11", "a" * 64, "0.1.0", [full_result()] * 50)
    errors: list[BaseException] = []
    seen: list[bool] = []

    def work() -> None:
        try:
            for _ in range(20):
                cache.put("ab" * 32, report)
                got = cache.get("ab" * 32)
                seen.append(got is not None and got.results == report.results)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert seen and all(seen)  # a reader never saw a partial entry
    files = [p.name for p in (tmp_path / "c").rglob("*") if p.is_file()]
    assert files == ["ab" * 32 + ".json"]  # no temporary file left behind


def test_default_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEMORY11_CACHE", raising=False)
    assert VerdictCache.default(tmp_path).directory == tmp_path / CACHE_DIR_NAME
    monkeypatch.setenv("MEMORY11_CACHE", str(tmp_path / "shared"))
    assert VerdictCache.default(tmp_path).directory == tmp_path / "shared"
