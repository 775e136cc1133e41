"""common.progress: plain lines for logs, a bar redrawn in place on a terminal."""

from __future__ import annotations

import io

from common.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_when_not_a_terminal():
    out = io.StringIO()
    progress = Progress("calls", total=200, stream=out, interval=3600)
    progress.advance(50)  # within the interval: nothing yet
    assert out.getvalue() == ""
    progress.advance(150)
    progress.done()
    (line,) = out.getvalue().splitlines()
    assert line.startswith("calls") and "100.0%" in line and "200/200" in line and "\r" not in line


def test_a_bar_redrawn_in_place_on_a_terminal():
    out = Terminal()
    progress = Progress("persons", total=10, stream=out)
    progress._last_shown = -1.0  # show the next advance at once
    progress.advance(5)
    progress.advance(5)  # within a tenth of a second: not redrawn
    progress.done()
    text = out.getvalue()
    assert text.count("\r\x1b[2K") == 2 and text.endswith("\n")
    assert "[" + "#" * 14 + "." * 14 + "]" in text and "[" + "#" * 28 + "]" in text


def test_unknown_total_and_disabled():
    out = io.StringIO()
    progress = Progress("rows", stream=out)
    progress.advance(1234)
    progress.done()
    assert "1,234" in out.getvalue() and "%" not in out.getvalue()
    quiet = io.StringIO()
    Progress("rows", total=5, stream=quiet, enabled=False).done()
    assert quiet.getvalue() == ""
