"""Golden CLI cases for `check`, `show` and `fmt`, run with click's CliRunner.

Each tests/golden/errors/NAME.golden starts with the command line (`$ checker ...`, run from
that directory), then `[exit N]`, then the expected `[stdout]` and `[stderr]`. Set
UPDATE_GOLDEN=1 to rewrite the expectations from the current output (then review the diff).
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from checker.cli import cli

GOLDEN = Path(__file__).parent / "golden" / "errors"
CASES = sorted(GOLDEN.glob("*.golden"))


def _render(command: str, code: int, stdout: str, stderr: str) -> str:
    def block(text: str) -> str:
        return text if not text or text.endswith("\n") else text + "\n"

    return f"$ {command}\n[exit {code}]\n[stdout]\n{block(stdout)}[stderr]\n{block(stderr)}"


def run(command: str, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    argv = shlex.split(command)
    assert argv[0] == "checker"
    monkeypatch.chdir(GOLDEN)
    result = CliRunner().invoke(cli, argv[1:], prog_name="checker")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_golden(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = case.read_text(encoding="utf-8")
    command = expected.splitlines()[0].removeprefix("$ ").strip()
    code, out, err = run(command, monkeypatch)
    actual = _render(command, code, out, err)
    if os.environ.get("UPDATE_GOLDEN"):
        case.write_text(actual, encoding="utf-8")
        return
    assert actual == expected
    assert "Traceback" not in err


def test_every_error_case_fails_with_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every `checker check X.m11` golden except ok-/warning- cases exits 2 with an error line."""
    checked = 0
    for case in CASES:
        first = case.read_text(encoding="utf-8").splitlines()[0]
        if not first.startswith("$ checker check ") or case.stem.startswith(("ok-", "warning-",
                                                                            "include-ok")):
            continue
        code, _out, err = run(first[2:], monkeypatch)
        assert code == 2, case.stem
        assert ": error: " in err.splitlines()[0], case.stem
        checked += 1
    assert checked >= 60


def test_fmt_rewrites_in_place_only_when_changed(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    src = (GOLDEN / "fmt-needed.m11").read_text(encoding="utf-8")
    good = (GOLDEN / "ok-summary.m11").read_text(encoding="utf-8")
    (tmp_path / "a.m11").write_text(src, encoding="utf-8")
    (tmp_path / "b.m11").write_text(good, encoding="utf-8")
    before = (tmp_path / "b.m11").stat().st_mtime_ns
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["fmt", "a.m11", "b.m11"])
    assert result.exit_code == 0
    assert "formatted a.m11" in result.stderr and "b.m11" not in result.stderr
    assert (tmp_path / "a.m11").read_text(encoding="utf-8") == (
        "platform p {\n    ram dram at 0x8000_0000 size 1G  # the only bank\n}\n"
    )
    assert (tmp_path / "b.m11").stat().st_mtime_ns == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.m11", "b.m11"]
    again = CliRunner().invoke(cli, ["fmt", "--check", "a.m11", "b.m11"])
    assert again.exit_code == 0 and again.stdout == ""


def test_fmt_stdin_to_stdout() -> None:
    src = (GOLDEN / "fmt-needed.m11").read_bytes()
    result = CliRunner().invoke(cli, ["fmt", "-"], input=src)
    assert result.exit_code == 0
    assert result.stdout == "platform p {\n    ram dram at 0x8000_0000 size 1G  # the only bank\n}\n"
    check = CliRunner().invoke(cli, ["fmt", "--check", "-"], input=src)
    assert check.exit_code == 1 and check.stdout == "<stdin>\n"


def test_fmt_stdin_error_shows_the_line() -> None:
    result = CliRunner().invoke(cli, ["fmt", "-"], input=b"platform p {\n    ram r at 0 size 1Q\n}\n")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        ("<stdin>:2:21: error: bad numeric literal `1Q`: expected a decimal or 0x hexadecimal "
        "number, optionally followed by K, M, G or T"),
        "        ram r at 0 size 1Q",
        "                        ^~",
    ]
    assert result.stdout == ""


def test_check_accepts_every_shipped_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """Models and their include-only library files (platforms, hypervisors) all pass `check`."""
    root = Path(__file__).resolve().parent.parent
    monkeypatch.chdir(root)
    files = sorted(str(p.relative_to(root)) for p in (root / "models").rglob("*.m11"))
    result = CliRunner().invoke(cli, ["check", *files])
    assert result.exit_code == 0, result.stderr
    fragments = [line for line in result.stdout.splitlines() if ": ok (fragment): " in line]
    assert any("models/platforms/" in line for line in fragments)
    assert any("models/xen/" in line for line in fragments)
