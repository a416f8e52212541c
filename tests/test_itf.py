"""ITF counterexample files: value encoding, validation with positions, atomic writes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checker import itf
from checker.diagnostics import CheckerError, Exit

SHA = "ab" * 32


def sample(initial: Any | None = None) -> dict[str, Any]:
    init = initial if initial is not None else {"pc": 0, "free": [[1, 7]], "dom": [None]}
    return itf.document(
        model_path="m.m11",
        sources=[{"path": "m.m11", "sha256": SHA}, {"path": "inc.m11", "sha256": "cd" * 32}],
        prop="ipa_eq_pa",
        engine="explicit",
        method="bfs",
        witness="page 3",
        version="0.1.0",
        initial=init,
        steps=[
            ("create domd", {"block": 4}, {"op": 0, "choices": [["block", 4]]},
             {"pc": 1, "free": [[1, 3]], "dom": [[1, True, 4]]}),
            ("balloon_out domd 1", {"ipa": 5}, {"op": 1, "choices": [["ipa", 5]]},
             {"pc": 1, "free": [[1, 3], [5, 1]], "dom": [[1, True, 4]]}),
        ],
    )


def write(tmp_path: Path, doc: Any, name: str = "t.itf.json") -> str:
    p = tmp_path / name
    p.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return str(p)


def test_document_shape_follows_itf() -> None:
    doc = sample()
    assert set(doc) == {"#meta", "vars", "states"}
    meta = doc["#meta"]
    assert meta["format"] == "ITF" and meta["model_sha256"] == SHA
    assert meta["property"] == "ipa_eq_pa" and meta["engine"] == "explicit"
    assert meta["method"] == "bfs" and meta["checker_version"] == "0.1.0"
    assert doc["vars"] == ["dom", "free", "pc"]
    s0, s1 = doc["states"][0], doc["states"][1]
    assert s0["#meta"] == {"index": 0, "op": "initial"}
    assert s1["#meta"]["op"] == "create domd" and s1["#meta"]["choices"] == {"block": 4}
    assert s0["pc"] == {"#bigint": "0"}
    assert s0["dom"] == [{"tag": "None", "value": {"#tup": []}}]
    assert s1["dom"] == [[{"#bigint": "1"}, True, {"#bigint": "4"}]]


def test_round_trip_through_a_file(tmp_path: Path) -> None:
    path = tmp_path / "c" / "p.itf.json"
    itf.write_atomic(path, itf.dumps(sample()))
    tr = itf.read(str(path))
    assert tr.property == "ipa_eq_pa" and tr.model == "m.m11"
    assert tr.initial == {"pc": 0, "free": [[1, 7]], "dom": [None]}
    assert len(tr.steps) == 2
    assert tr.steps[1].op == "balloon_out domd 1"
    assert tr.steps[1].choices == {"ipa": 5}
    assert tr.steps[1].action == {"op": 1, "choices": [["ipa", 5]]}
    assert tr.steps[1].state == {"pc": 1, "free": [[1, 3], [5, 1]], "dom": [[1, True, 4]]}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(alphabet="abcxyz_", min_size=1, max_size=4), inner, max_size=3),
    max_leaves=12,
)


@given(json_values)
def test_values_round_trip(value: Any) -> None:
    encoded = itf.to_itf(value)
    text = json.dumps(encoded)
    assert itf.from_itf(json.loads(text)) == value
    assert "null" not in text  # ITF has no null


def test_big_integers_are_exact() -> None:
    v = 2**64
    assert itf.to_itf(v) == {"#bigint": "18446744073709551616"}
    assert itf.from_itf({"#bigint": "-18446744073709551616"}) == -v


def test_broken_json_is_located(tmp_path: Path) -> None:
    p = tmp_path / "t.itf.json"
    text = itf.dumps(sample())
    p.write_text(text[:200] + "}" + text[200:], encoding="utf-8")
    with pytest.raises(CheckerError) as ei:
        itf.read(str(p))
    d = ei.value.diagnostics[0]
    assert ei.value.exit_code is Exit.BAD_INPUT
    assert "malformed JSON" in d.message
    assert d.span is not None and d.span.file == str(p) and d.span.line > 1
    rendered = ei.value.render()
    assert rendered.startswith(f"{p}:{d.span.line}:{d.span.col}: error: malformed JSON")
    assert "^" in rendered


def _error(tmp_path: Path, doc: Any) -> CheckerError:
    path = write(tmp_path, doc)
    with pytest.raises(CheckerError) as ei:
        itf.read(path)
    assert ei.value.exit_code is Exit.BAD_INPUT
    return ei.value


def test_bare_number_is_rejected_at_its_position(tmp_path: Path) -> None:
    doc = sample()
    doc["states"][1]["pc"] = 7
    err = _error(tmp_path, doc)
    d = err.diagnostics[0]
    assert "bare JSON number" in d.message
    assert d.span is not None
    line = Path(d.span.file).read_text().splitlines()[d.span.line - 1]
    assert line.strip().rstrip(",") == '"pc": 7'
    assert line[d.span.col - 1:].startswith("7")
    assert "states[1].pc" in err.render()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.pop("states"), "missing field states"),
        (lambda d: d["#meta"].update(format="TLA"), "format must be 'ITF'"),
        (lambda d: d["#meta"].update(model_sha256="xyz"), "model_sha256"),
        (lambda d: d["#meta"].pop("property"), "#meta.property"),
        (lambda d: d["#meta"].update(sources=[]), "sources"),
        (lambda d: d["#meta"]["sources"][1].update(sha256=5), "a source is"),
        (lambda d: d.update(vars=["pc", 3]), "vars must be"),
        (lambda d: d.update(states=[]), "non-empty"),
        (lambda d: d["states"][1]["#meta"].update(index=5), "index must be 1"),
        (lambda d: d["states"][2].pop("free"), "missing ['free']"),
        (lambda d: d["states"][2].update(extra=True), "extra ['extra']"),
        (lambda d: d["states"][1]["#meta"].pop("action"), "needs the action"),
        (lambda d: d["states"][1]["#meta"].update(choices=[1]), "choices must be an object"),
        (lambda d: d["states"][0].update(dom={"#map": []}), "unsupported"),
        (lambda d: d["states"][1].update(pc={"#bigint": "1x"}), "decimal digits"),
        (lambda d: d["states"][1].update(pc={"#bigint": "1", "y": 2}), "only field"),
        (lambda d: d["states"][1].update(pc=None), "null"),
    ],
)
def test_tampered_structure_is_rejected(tmp_path: Path, edit: Any, message: str) -> None:
    doc = sample()
    edit(doc)
    err = _error(tmp_path, doc)
    assert message in err.diagnostics[0].message
    assert err.diagnostics[0].span is not None


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(CheckerError) as ei:
        itf.read(str(tmp_path / "missing.itf.json"))
    assert "cannot read trace" in ei.value.diagnostics[0].message


def test_atomic_write_keeps_the_old_file_when_writing_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "p.itf.json"
    itf.write_atomic(path, "old\n")

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        itf.write_atomic(path, "new and complete\n")
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["p.itf.json"]  # no temporary left behind


def test_atomic_write_replaces_when_it_succeeds(tmp_path: Path) -> None:
    path = tmp_path / "d" / "p.itf.json"
    itf.write_atomic(path, "one\n")
    itf.write_atomic(path, "two\n")
    assert path.read_text() == "two\n"
    assert len(list(path.parent.iterdir())) == 1


def test_digests_cover_every_source(tmp_path: Path) -> None:
    a, b = tmp_path / "a.m11", tmp_path / "b.m11"
    a.write_text("x")
    b.write_text("y")
    ds = itf.source_digests(str(a), (str(a), str(b)))
    assert [d["path"] for d in ds] == [str(a), str(b)]
    assert ds[0]["sha256"] == "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"
    with pytest.raises(CheckerError):
        itf.source_digests(str(tmp_path / "gone.m11"), ())
