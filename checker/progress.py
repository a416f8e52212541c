"""The live progress line of `verify`: on stderr, only on a terminal, only after one second."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from checker.explore import Progress

DELAY = 1.0  # seconds of silence before the first line


class ProgressLine:
    """A callable for `explore(progress=...)` that redraws one status line in place."""

    def __init__(self, label: str, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = enabled and callable(isatty) and bool(isatty())
        self.label = label
        self.start = time.monotonic()
        self.shown = False

    def __call__(self, p: Progress) -> None:
        if not self.enabled or time.monotonic() - self.start < DELAY:
            return
        line = (
            f"{self.label}: {p.states:,} states, {p.transitions:,} transitions, depth {p.depth}, "
            f"{p.rate:,.0f} states/s, {p.seconds:.1f} s"
        )
        self.stream.write("\r\x1b[K" + line)
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        """Erase the line so that the report starts on a clean line."""
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False
