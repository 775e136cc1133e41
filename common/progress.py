"""Progress of long commands: a bar on a terminal, plain lines otherwise (logs, CI, ``nohup``).

    progress = Progress("calls", total=5_000_000)
    for batch in batches:
        ...
        progress.advance(len(batch))
    progress.done()

On a terminal the bar is redrawn in place at most ten times a second; elsewhere a line is printed at
most every ``interval`` seconds (and at the end), so a log file stays readable. No dependency: the
commands that use it run on servers where only the project's own packages are installed.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return (
        f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        if seconds >= 3600
        else f"{seconds // 60}:{seconds % 60:02d}"
    )


class Progress:
    """Count work done towards ``total`` (``None`` when unknown) and show it on ``stream``."""

    WIDTH = 28

    def __init__(
        self,
        label: str,
        total: int | None = None,
        *,
        stream: TextIO | None = None,
        interval: float = 10.0,
        enabled: bool = True,
    ) -> None:
        self.label = label
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.count = 0
        self.started = time.perf_counter()
        self._last_shown = self.started

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def advance(self, n: int = 1) -> None:
        self.count += n
        now = time.perf_counter()
        if now - self._last_shown >= (0.1 if self.tty else self.interval):
            self._last_shown = now
            self._show(final=False)

    def done(self) -> None:
        self._show(final=True)

    def _line(self) -> str:
        elapsed = self.elapsed
        rate = self.count / elapsed if elapsed > 0 else 0.0
        parts = [f"{self.label:<28}"]
        if self.total:
            fraction = min(self.count / self.total, 1.0)
            if self.tty:
                filled = int(fraction * self.WIDTH)
                parts.append("[" + "#" * filled + "." * (self.WIDTH - filled) + "]")
            parts.append(f"{fraction:6.1%}  {self.count:>11,}/{self.total:,}")
        else:
            parts.append(f"{self.count:>11,}")
        parts.append(f"{rate:>10,.0f}/s  {_duration(elapsed)}")
        if self.total and 0 < self.count < self.total and rate > 0:
            parts.append(f"eta {_duration((self.total - self.count) / rate)}")
        return "  ".join(parts)

    def _show(self, *, final: bool) -> None:
        if not self.enabled:
            return
        line = self._line()
        if self.tty:
            self.stream.write("\r\x1b[2K" + line + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
