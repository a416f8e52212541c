"""Source spans, diagnostics, the exit-code table, and the error type every command raises.

Every error a user can cause is a `CheckerError` carrying one or more `Diagnostic`s and an exit
code; the CLI renders it as `path:line:col: error: message`, the source line, a caret and
`note:` lines, and exits with the code. Nothing a user can cause produces a traceback.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path


class Exit(enum.IntEnum):
    """The exit-code table (README). Later commands extend it, never change it."""

    OK = 0  # every property holds / proved / reproduced
    VIOLATED = 1  # a property is violated (replay: not reproduced; review: a regression)
    BAD_INPUT = 2  # syntax, semantic or usage error, unreadable file, tampered trace
    UNDECIDED = 3  # a bound, budget or timeout was hit with no violation found
    INTERNAL = 4  # engines disagree, or a solver trace failed to replay: a checker bug


@dataclass(frozen=True)
class Span:
    """A region of source text; 1-based lines and columns, end exclusive."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Note:
    message: str
    span: Span | None = None


@dataclass(frozen=True)
class Diagnostic:
    message: str
    span: Span | None = None
    notes: tuple[Note, ...] = ()
    severity: str = "error"  # "error" | "warning"


def _source_line(span: Span, sources: dict[str, str] | None) -> str | None:
    text: str | None = None
    if sources is not None and span.file in sources:
        text = sources[span.file]
    else:
        try:
            text = Path(span.file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
    lines = text.splitlines()
    if 1 <= span.line <= len(lines):
        return lines[span.line - 1]
    return None


def _excerpt(span: Span, sources: dict[str, str] | None) -> list[str]:
    line = _source_line(span, sources)
    if line is None or span.line == 0:
        return []
    col = max(span.col, 1)
    width = 1
    if span.end_line == span.line and span.end_col > span.col:
        width = span.end_col - span.col
    width = max(1, min(width, max(1, len(line) - col + 1)))
    return [f"    {line}", "    " + " " * (col - 1) + "^" + "~" * (width - 1)]


def render(diag: Diagnostic, sources: dict[str, str] | None = None) -> str:
    """`path:line:col: error: message`, the source line, a caret, then `note:` lines."""
    where = f"{diag.span}: " if diag.span is not None else "checker: "
    out = [f"{where}{diag.severity}: {diag.message}"]
    if diag.span is not None:
        out += _excerpt(diag.span, sources)
    for note in diag.notes:
        if note.span is not None:
            out.append(f"{note.span}: note: {note.message}")
            out += _excerpt(note.span, sources)
        else:
            out.append(f"note: {note.message}")
    return "\n".join(out)


@dataclass
class CheckerError(Exception):
    """An error a user can cause; carries its diagnostics and its exit code."""

    diagnostics: list[Diagnostic] = field(default_factory=list)
    exit_code: Exit = Exit.BAD_INPUT

    def __str__(self) -> str:
        return "\n".join(render(d) for d in self.diagnostics)

    def render(self, sources: dict[str, str] | None = None) -> str:
        return "\n".join(render(d, sources) for d in self.diagnostics)


def error(message: str, span: Span | None = None, *notes: Note) -> CheckerError:
    return CheckerError([Diagnostic(message, span, tuple(notes))])
