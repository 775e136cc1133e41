"""The account of an import: every input row is created, matched, updated, unchanged or skipped —
with a reason — and the counts per file and outcome add up to the rows read.

Memory stays flat: counts are kept per (file, outcome), the rows themselves are streamed to the CSV
report when one is asked for, and only the first ``keep`` notable rows (anything but a plain create)
are kept for the screen.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from typing import TextIO


class Outcome:
    CREATED = "created"
    MATCHED = "matched"  # an existing record (by mapping, email, ...): nothing new made
    UPDATED = "updated"
    UNCHANGED = "unchanged"  # seen in an earlier run, nothing to do
    SKIPPED = "skipped"  # not imported: the reason says why
    CONFLICT = "conflict"  # imported, with a difference to look at (the reason says which)

    ALL = (CREATED, MATCHED, UPDATED, UNCHANGED, SKIPPED, CONFLICT)


REPORT_COLUMNS = ["file", "row", "old_id", "outcome", "reason", "new_id"]


@dataclass
class ImportReport:
    """Counts and notable rows of one run; ``csv_stream`` receives every row as it is recorded."""

    csv_stream: TextIO | None = None
    keep: int = 500
    counts: Counter = field(default_factory=Counter)
    reasons: Counter = field(default_factory=Counter)
    notable: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._writer = None
        if self.csv_stream is not None:
            self._writer = csv.writer(self.csv_stream)
            self._writer.writerow(REPORT_COLUMNS)

    def record(
        self,
        file: str,
        outcome: str,
        *,
        row: int | None = None,
        old_id: str = "",
        reason: str = "",
        new_id: str = "",
        detail: str = "",
    ) -> None:
        """One input row's outcome (``row`` is its line number in the file, header = 1).

        ``reason`` is what the counts group by, so it names a kind of outcome ("totals differ from the
        ledger"); ``detail`` carries this row's own values ("total_points: old 120, ledger 110"): it is
        written after the reason in the CSV and the notable rows, and never multiplies the counted
        reasons."""
        if outcome not in Outcome.ALL:
            raise ValueError(f"unknown outcome {outcome!r}")
        self.counts[(file, outcome)] += 1
        if reason:
            self.reasons[(file, outcome, reason)] += 1
        full_reason = f"{reason}: {detail}" if reason and detail else (reason or detail)
        if self._writer is not None:
            self._writer.writerow([file, "" if row is None else row, old_id, outcome, full_reason, new_id])
        if outcome != Outcome.CREATED and len(self.notable) < self.keep:
            self.notable.append(
                {
                    "file": file,
                    "row": row,
                    "old_id": old_id,
                    "outcome": outcome,
                    "reason": full_reason,
                    "new_id": new_id,
                }
            )

    def add_counts(self, file: str, outcome: str, rows: int, *, reason: str = "") -> None:
        """``rows`` rows of one outcome and reason at once (counted by the database), for an importer that
        streams the rows themselves only when a CSV report is asked for (``csv_stream``): the counts are
        those ``record`` would make; the notable rows are added with ``add_notable``."""
        if outcome not in Outcome.ALL:
            raise ValueError(f"unknown outcome {outcome!r}")
        self.counts[(file, outcome)] += rows
        if reason:
            self.reasons[(file, outcome, reason)] += rows

    @property
    def notable_room(self) -> int:
        """How many more notable rows the report keeps."""
        return max(0, self.keep - len(self.notable))

    def add_notable(
        self,
        file: str,
        outcome: str,
        *,
        row: int | None,
        old_id: str = "",
        reason: str = "",
        new_id: str = "",
        detail: str = "",
    ) -> None:
        """A notable row whose count was added with ``add_counts``."""
        if len(self.notable) < self.keep:
            full_reason = f"{reason}: {detail}" if reason and detail else (reason or detail)
            self.notable.append(
                {
                    "file": file,
                    "row": row,
                    "old_id": old_id,
                    "outcome": outcome,
                    "reason": full_reason,
                    "new_id": new_id,
                }
            )

    def note(self, text: str) -> None:
        """A line about the run as a whole (e.g. "totals recomputed from the ledger")."""
        self.notes.append(text)

    def count(self, file: str | None = None, outcome: str | None = None) -> int:
        return sum(
            n for (f, o), n in self.counts.items() if (file is None or f == file) and (outcome is None or o == outcome)
        )

    @property
    def files(self) -> list[str]:
        return sorted({f for f, _ in self.counts})

    def as_dict(self) -> dict:
        """JSON for ``ImportRun.report`` and the admin page."""
        return {
            "counts": {f: {o: self.counts[(f, o)] for o in Outcome.ALL if self.counts[(f, o)]} for f in self.files},
            "reasons": [
                {"file": f, "outcome": o, "reason": r, "rows": n}
                for (f, o, r), n in sorted(self.reasons.items(), key=lambda item: (item[0][0], -item[1]))
            ],
            "notable": self.notable,
            "notes": self.notes,
            "rows": self.count(),
        }

    def render(self) -> str:
        """The plain-text report a command prints at the end."""
        width = max([len(f) for f in self.files] + [4])
        lines = [f"{'file':<{width}}  " + "  ".join(f"{o:>9}" for o in Outcome.ALL) + f"  {'rows':>9}"]
        for f in self.files:
            cells = "  ".join(f"{self.counts[(f, o)]:>9,}" for o in Outcome.ALL)
            lines.append(f"{f:<{width}}  {cells}  {self.count(f):>9,}")
        if self.reasons:
            lines.append("")
            lines.append("reasons:")
            for (f, o, r), n in sorted(self.reasons.items(), key=lambda item: (item[0][0], -item[1])):
                lines.append(f"  {f} {o}: {r} ({n:,} rows)")
        lines.extend(self.notes)
        return "\n".join(lines)
