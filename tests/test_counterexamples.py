"""The committed counterexamples (scripts/counterexamples) replay, and match the models' claims.

Every file under counterexamples/ must reproduce with `checker replay` (exit 0), and every
property a shipped model expects to be violated (`# expect: PROPERTY violated N`) has a committed
trace of exactly N steps, while no property expected to hold has one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_models import expectations

from checker.cli import cli

ROOT = Path(__file__).resolve().parent.parent
TRACES = sorted((ROOT / "counterexamples").rglob("*.itf.json"))
MODELS = sorted(p for p in (ROOT / "models").rglob("*.m11")
                if p.parent.name not in ("platforms", "xen"))


def test_there_are_committed_counterexamples() -> None:
    assert len(TRACES) >= 10


@pytest.mark.parametrize("trace", TRACES, ids=lambda p: str(p.relative_to(ROOT)))
def test_committed_counterexample_replays(trace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(cli, ["replay", str(trace.relative_to(ROOT))])
    assert result.exit_code == 0, result.output
    assert "reproduced" in result.output


@pytest.mark.parametrize("model", MODELS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_expected_violation_has_its_trace(model: Path) -> None:
    folder = ROOT / "counterexamples" / model.stem
    for prop, length in expectations(model).items():
        trace = folder / f"{prop}.itf.json"
        if length is None:
            assert not trace.exists(), f"{trace} exists but {prop} is expected to hold"
            continue
        assert trace.exists(), f"{model.name}: no committed counterexample for {prop}"
        doc = json.loads(trace.read_text(encoding="utf-8"))
        assert len(doc["states"]) - 1 == length
        assert doc["#meta"]["property"] == prop
        assert os.path.normpath(doc["#meta"]["model"]).endswith(
            os.path.join(model.parent.name, model.name))
