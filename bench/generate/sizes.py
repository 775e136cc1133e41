"""How many rows of what, and where each kind of person sits in the persons table.

The eight sizes are flags; the ones not given follow ``persons`` in proportion (``--persons 10000`` is
1/100 of the defaults). Everything else (navigators, CPSS staff, hospitals, IntakeQ rows...) is
derived from them, so the whole data set scales with one number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

DEFAULTS = {
    "persons": 1_000_000,
    "patients": 500_000,
    "leads": 200_000,
    "physicians": 5_000,
    "calls": 5_000_000,
    "journeys": 300_000,
    "cm_identities": 50_000,
    "ledger": 2_000_000,
}
# The smallest sensible value of each, so that a tiny run still has every kind of row.
MINIMUMS = {
    "persons": 100,
    "patients": 10,
    "leads": 4,
    "physicians": 2,
    "calls": 0,
    "journeys": 0,
    "cm_identities": 5,
    "ledger": 0,
}


@dataclass(frozen=True)
class Sizes:
    persons: int
    patients: int
    leads: int
    physicians: int
    calls: int
    journeys: int
    cm_identities: int
    ledger: int

    @classmethod
    def scaled(cls, **given: int | None) -> Sizes:
        """The given sizes as they are; the others in proportion to ``persons``."""
        persons = given.get("persons") or DEFAULTS["persons"]
        factor = persons / DEFAULTS["persons"]
        values = {}
        for name, default in DEFAULTS.items():
            value = given.get(name)
            values[name] = value if value is not None else max(MINIMUMS[name], round(default * factor))
        return cls(**values)

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Layout:
    """Derived counts and the persons table's index ranges, in this order: navigators, CPSS staff,
    physicians, patients (the first ``converted`` came from leads, the last ``dual`` are also CM
    identities), persons who are only leads, persons who are only CM identities, everyone else."""

    sizes: Sizes
    navigators: int
    cpss: int
    hospitals: int
    converted: int
    dual: int
    enrollments: int
    intakeq_linked: int
    intakeq: int
    ct_journeys: int
    eap_journeys: int

    @classmethod
    def of(cls, sizes: Sizes) -> Layout:
        cm = sizes.cm_identities
        converted = min(sizes.leads // 4, sizes.patients)
        dual = min(cm // 5, sizes.patients - converted)
        linked = (cm // 5) * 3 + min(cm % 5, 3)  # identities c with c % 5 < 3 (see intakeq_linked_to)
        ct = sizes.journeys * 2 // 3
        layout = cls(
            sizes=sizes,
            navigators=max(2, math.ceil(sizes.patients / 1000)),
            cpss=max(2, math.ceil(cm / 25)),
            hospitals=max(3, sizes.physicians // 25),
            converted=converted,
            dual=dual,
            enrollments=cm + cm // 10,
            intakeq_linked=linked,
            intakeq=linked + cm // 2,
            ct_journeys=ct,
            eap_journeys=sizes.journeys - ct,
        )
        if layout.required_persons > sizes.persons:
            raise ValueError(
                f"{sizes.persons:,} persons are too few for these sizes: navigators, CPSS staff, physicians, "
                f"patients, leads and CM identities need {layout.required_persons:,}. Give more --persons."
            )
        return layout

    # Index ranges in the persons table ---------------------------------------------------------

    @property
    def cpss_start(self) -> int:
        return self.navigators

    @property
    def physicians_start(self) -> int:
        return self.cpss_start + self.cpss

    @property
    def patients_start(self) -> int:
        return self.physicians_start + self.sizes.physicians

    @property
    def lead_only_start(self) -> int:
        return self.patients_start + self.sizes.patients

    @property
    def lead_only(self) -> int:
        return self.sizes.leads - self.converted

    @property
    def cm_only_start(self) -> int:
        return self.lead_only_start + self.lead_only

    @property
    def cm_only(self) -> int:
        return self.sizes.cm_identities - self.dual

    @property
    def others_start(self) -> int:
        return self.cm_only_start + self.cm_only

    @property
    def required_persons(self) -> int:
        return self.others_start

    @property
    def dual_start(self) -> int:
        """Person index of the first patient who is also a CM identity."""
        return self.lead_only_start - self.dual

    def cm_person(self, c: int) -> int:
        """Person index of CM identity ``c``."""
        return self.dual_start + c if c < self.dual else self.cm_only_start + c - self.dual

    def is_cm_person(self, i: int) -> bool:
        return self.dual_start <= i < self.lead_only_start or self.cm_only_start <= i < self.others_start

    def lead_person(self, k: int) -> int:
        """Person index of lead ``k`` (the first ``converted`` leads are patients' persons)."""
        return self.patients_start + k if k < self.converted else self.lead_only_start + k - self.converted

    def is_staff(self, i: int) -> bool:
        return i < self.physicians_start

    @staticmethod
    def intakeq_linked_to(c: int) -> int | None:
        """IntakeQ row of CM identity ``c``: three identities in five have one (the first rows)."""
        return (c // 5) * 3 + c % 5 if c % 5 < 3 else None
