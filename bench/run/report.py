"""The results table: printed, and written into docs/PERFORMANCE.md between markers (``--write-docs``)."""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
from dataclasses import dataclass
from pathlib import Path

START = "<!-- bench.run results: start -->"
END = "<!-- bench.run results: end -->"
COLUMNS = (
    "case", "HTTP", "p50 ms", "p95 ms", "queries", "app CPU ms/req", "SQL floor p50 ms", "p50 / SQL floor",
    "HTTP floor p50 ms", "p50 / HTTP floor", "req/s",
)  # fmt: skip


@dataclass
class Result:
    label: str
    status: str
    n: int
    p50_ms: float | None
    p95_ms: float | None
    queries: int | None
    cpu_ms: float | None
    floor_ms: float | None
    floor_note: str = ""
    rps: float | None = None
    http_floor_ms: float | None = None

    @property
    def ratio(self) -> float | None:
        if self.p50_ms is None or not self.floor_ms:
            return None
        return self.p50_ms / self.floor_ms

    def cells(self) -> list[str]:
        def ms(value):
            return "—" if value is None else f"{value:,.1f}"

        floor = "—" if self.floor_ms is None else f"{self.floor_note}{self.floor_ms:,.2f}"
        ratio = "—" if self.ratio is None else f"{self.floor_note}{self.ratio:,.1f}x"
        queries = "—" if self.queries is None else str(self.queries)
        rps = "—" if self.rps is None else f"{self.rps:,.1f}"
        http_floor = "—" if self.http_floor_ms is None else f"{self.floor_note}{self.http_floor_ms:,.2f}"
        http_ratio = "—" if self.http_ratio is None else f"{self.floor_note}{self.http_ratio:,.1f}x"
        cells = [self.label, self.status, ms(self.p50_ms), ms(self.p95_ms), queries, ms(self.cpu_ms), floor, ratio]
        return [*cells, http_floor, http_ratio, rps]

    @property
    def http_ratio(self) -> float | None:
        if self.p50_ms is None or not self.http_floor_ms:
            return None
        return self.p50_ms / self.http_floor_ms


def markdown_table(results: list[Result]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "| --- | --- |" + " ---: |" * (len(COLUMNS) - 2)]
    for result in results:
        cells = [c.replace("|", "\\|") for c in result.cells()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{os.cpu_count()} cores ({model or platform.processor()}), load average at the end {load}"


def header(
    *, sizes: dict[str, int], server: str, n: int, database: str, server_version: str, concurrency: int = 1
) -> str:
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    size_text = ", ".join(f"{table} {count:,}" for table, count in sizes.items())
    return (
        f"Measured {when} by `python -m bench.run` on database `{database}` ({server_version}): {size_text}.\n"
        f"Server: {server}. Up to {n} timed requests per case (fewer past --max-seconds) after 2 warm-up "
        f"requests (1 for a slow case), "
        + ("one at a time. " if concurrency == 1 else f"from {concurrency} clients at once (req/s: all together). ")
        + f"Machine: {machine()}."
    )


def write_docs(path: Path, text: str) -> None:
    """Replace what lies between the markers in ``path`` (or append a results section with them)."""
    block = f"{START}\n{text}\n{END}"
    content = path.read_text() if path.exists() else "# Performance\n"
    if START in content and END in content:
        content = re.sub(re.escape(START) + r".*?" + re.escape(END), lambda _m: block, content, flags=re.S)
    else:
        content = content.rstrip("\n") + "\n\n## Results of `python -m bench.run`\n\n" + block + "\n"
    path.write_text(content)
