"""Reading a model's include closure: each file parsed once, declarations in textual order.

An include is resolved relative to the including file's directory and expanded where it stands.
`Loaded.sources` lists the root path as given, then each included file as the including file's
directory joined with the include string, normalised (`os.path.normpath`); a file reached twice
is loaded once. These paths are openable from the current directory. Cycles, missing, empty and
non-UTF-8 files are errors pointing at the include line, with the chain as notes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from checker import ast
from checker.diagnostics import CheckerError, Diagnostic, Note, Span
from checker.parse import parse_text
from checker.source import read


@dataclass
class Loaded:
    """The parsed include closure: files in load order, items in merged (textual) order."""

    sources: list[str] = field(default_factory=list)
    files: list[ast.File] = field(default_factory=list)
    items: list[ast.Item] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)


def chain_notes(chain: list[Span]) -> tuple[Note, ...]:
    return tuple(Note("included from here", s) for s in reversed(chain))


def with_chain(exc: CheckerError, chain: list[Span]) -> CheckerError:
    if not chain:
        return exc
    notes = chain_notes(chain)
    diags = [Diagnostic(d.message, d.span, d.notes + notes, d.severity) for d in exc.diagnostics]
    return CheckerError(diags, exc.exit_code)


def load_files(path: str, text: str | None = None) -> Loaded:
    """Read and parse `path` (or `text` for it) and, recursively, everything it includes."""
    out = Loaded()
    errors: list[Diagnostic] = []
    seen: set[str] = set()

    def visit(p: str, chain: list[Span], stack: list[tuple[str, str]], body: str | None) -> None:
        key = os.path.realpath(p) if p != "<stdin>" else p
        on_stack = [s for s in stack if s[0] == key]
        if on_stack and chain:
            cycle = " -> ".join([s[1] for s in stack[stack.index(on_stack[0]):]] + [p])
            errors.append(
                Diagnostic(f"include cycle: {cycle}", chain[-1], chain_notes(chain[:-1]))
            )
            return
        if key in seen:
            return
        seen.add(key)
        try:
            if body is None:
                src = read(p, chain[-1] if chain else None)
                body = src.text
            f = parse_text(p, body)
        except CheckerError as exc:
            if chain:
                note_chain = chain[:-1] if exc.diagnostics and exc.diagnostics[0].span == chain[-1] else chain
                exc = with_chain(exc, note_chain)
            errors.extend(exc.diagnostics)
            return
        out.sources.append(p)
        out.files.append(f)
        out.texts[p] = body
        for item in f.items:
            if isinstance(item, ast.Include):
                target = item.path
                if not os.path.isabs(target):
                    target = os.path.normpath(os.path.join(os.path.dirname(p), target))
                if not item.path:
                    errors.append(Diagnostic("empty include path", item.span, chain_notes(chain)))
                    continue
                visit(target, chain + [item.span], stack + [(key, p)], None)
            else:
                out.items.append(item)

    visit(path, [], [], text)
    if errors:
        raise CheckerError(errors)
    return out

