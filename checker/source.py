"""Reading model files: bytes from disk (or stdin) to checked UTF-8 text.

Every failure is a `CheckerError` (exit 2) that names the file and, for bad encodings, the
line and column of the first offending byte.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from checker.diagnostics import CheckerError, Diagnostic, Note, Span, error

STDIN = "<stdin>"


@dataclass(frozen=True)
class Source:
    path: str  # as opened; spans use this path
    text: str


def _position(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column (counted in characters of the valid prefix) of byte `offset`."""
    prefix = data[:offset]
    line = prefix.count(b"\n") + 1
    start = prefix.rfind(b"\n") + 1
    col = len(prefix[start:].decode("utf-8", errors="replace")) + 1
    return line, col


def decode(path: str, data: bytes) -> Source:
    """Decode `data` as UTF-8 (a leading BOM is dropped); reject empty or non-UTF-8 input."""
    if not data.strip():
        what = "the file is empty" if not data else "the file contains only whitespace"
        note = Note("a model needs a platform, a hypervisor and at least one domain")
        raise CheckerError([Diagnostic(what, Span(path, 1, 1, 1, 1), (note,))])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _position(data, exc.start)
        bad = data[exc.start : exc.start + 1].hex()
        raise error(
            f"not valid UTF-8: byte 0x{bad} cannot start or continue a character",
            Span(path, line, col, line, col + 1),
        ) from None
    text = text.removeprefix("\ufeff")
    if "\x00" in text:
        offset = text.index("\x00")
        line = text.count("\n", 0, offset) + 1
        col = offset - (text.rfind("\n", 0, offset) + 1) + 1
        raise error("the file contains a NUL character", Span(path, line, col, line, col + 1))
    return Source(path, text)


def read(path: str, included_from: Span | None = None) -> Source:
    """Read and decode one model file. `included_from` locates the include that asked for it."""
    where = included_from
    try:
        if os.path.isdir(path):
            raise IsADirectoryError(path)
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise error(f"cannot read {path}: no such file", where) from None
    except IsADirectoryError:
        raise error(f"cannot read {path}: it is a directory", where) from None
    except PermissionError:
        raise error(f"cannot read {path}: permission denied", where) from None
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise error(f"cannot read {path}: {reason}", where) from None
    return decode(path, data)
