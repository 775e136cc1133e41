"""What every table generator shares: sizes and layout, ids, per-row draws, the calendar, the logins,
the lookups already in the database, and the attributes of person ``i`` (recomputable by any table)."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from bench.generate import names as name_data
from bench.generate.names import Names, fold
from bench.generate.rand import Draw, Ids, ordinal_to_seconds
from bench.generate.sizes import Layout, Sizes

YEARS = 6  # the data covers the last six years
DAY = 86400.0


@dataclass(frozen=True)
class PersonAttrs:
    first: str
    last: str
    email: str | None
    phone: str
    dob: int | None  # date ordinal
    created: float  # Unix time


@dataclass
class Lookups:
    """Ids of rows the migrations ship (roles, groups, conditions) or that the generator adds first."""

    contact_types: dict[str, str] = field(default_factory=dict)  # code -> id
    groups: dict[str, int] = field(default_factory=dict)  # name -> id
    conditions: list[str] = field(default_factory=list)  # ids, most common first
    specializations: list[str] = field(default_factory=list)
    programs: list[tuple[str, dict]] = field(default_factory=list)  # (id, schedule)


class Plan:
    def __init__(self, *, sizes: Sizes, seed: int, as_of: dt.date) -> None:
        self.sizes = sizes
        self.layout = Layout.of(sizes)
        self.seed = seed
        self.as_of = as_of
        self.ids = Ids(seed)
        self.draw = Draw(seed)
        self.names = Names()
        # The calendar: rows are created over the last YEARS years, up to the end of ``as_of``'s eve.
        self.end = ordinal_to_seconds(as_of.toordinal()) - 1.0
        self.start = self.end - YEARS * 365 * DAY
        self.span = self.end - self.start
        self.lookups = Lookups()
        self.person_id = self.ids.of("person")
        self.user_id = self.ids.of("user")
        self.patient_id = self.ids.of("patient")
        self.physician_id = self.ids.of("physician")
        self.lead_id = self.ids.of("lead")
        self.hospital_id = self.ids.of("hospital")
        self.canonical_id = self.ids.of("canonical")
        self.cm_patient_id = self.ids.of("cm_patient")
        self.provider_id = self.ids.of("provider")
        self.intakeq_id = self.ids.of("intakeq")
        self.enrollment_id = self.ids.of("enrollment")
        self.context_id = self.ids.of("context")(0)
        # (points, streak, last entry time) per enrollment index, filled by the ledger pass.
        self.ledger_totals: dict[int, tuple[int, int, float]] = {}

    # Logins: navigators, then CPSS staff, then the three supervisors' logins ---------------------

    @property
    def users(self) -> int:
        return self.layout.navigators + self.layout.cpss + 3

    def navigator_user(self, n: int) -> str:
        return self.user_id(n)

    def cpss_user(self, p: int) -> str:
        return self.user_id(self.layout.navigators + p)

    @property
    def crm_supervisor_user(self) -> str:
        return self.user_id(self.layout.navigators + self.layout.cpss)

    @property
    def cm_supervisor_user(self) -> str:
        return self.user_id(self.layout.navigators + self.layout.cpss + 1)

    @property
    def admin_user(self) -> str:
        return self.user_id(self.layout.navigators + self.layout.cpss + 2)

    # Persons -------------------------------------------------------------------------------------

    def person(self, i: int) -> PersonAttrs:
        """Person ``i``'s own attributes, the same whenever asked (staff always have an email; CM
        identities always have a date of birth, which their canonical row requires)."""
        return self.person_attrs(self.draw.at("person", i), i)

    def recomputed(self, i: int) -> bool:
        """Whether other tables ask for person ``i``'s attributes (staff logins and CM identities do)."""
        return self.layout.is_staff(i) or self.layout.is_cm_person(i)

    def person_attrs(self, rng, i: int) -> PersonAttrs:
        """Person ``i``'s attributes drawn from ``rng`` (the row's own generator when other tables
        recompute them, the persons table's fast stream otherwise)."""
        first, last = self.names.pick(rng)
        staff = self.layout.is_staff(i)
        created = self.person_created(i)
        u = rng.random()
        if staff or i < self.layout.patients_start:
            age = rng.randint(26, 64)
        else:
            age = rng.randint(2, 17) if u < 0.12 else rng.randint(18, 92)
        dob: int | None = self.as_of.toordinal() - age * 365 - rng.randrange(365)
        if not staff and rng.random() < 0.03 and not self.layout.is_cm_person(i):
            dob = None
        email = name_data.email(self.names, first, last, i, rng)
        if not staff and i >= self.layout.patients_start and rng.random() < 0.05:
            email = None  # 5% of the population gave no email
        phone = name_data.phone(rng) if rng.random() >= 0.08 or staff else ""
        return PersonAttrs(first, last, email, phone, dob, created)

    def person_created(self, i: int) -> float:
        """When person ``i`` was created (its own draw: many tables need it, and it is cheap alone).
        Staff joined in the month before the calendar starts (so a navigator holds the role before any
        patient's first call); the others arrived faster and faster (density rising linearly)."""
        u = self.draw.u("person-created", i)
        return self.start - u * 30 * DAY if self.layout.is_staff(i) else self.start + self.span * math.sqrt(u)

    def cm_identities(self):
        """Yield ``(c, person index, attrs)`` for every CM identity, in order, with the date of birth
        moved by a day where two identities would otherwise share name and birthday (the canonical
        table allows one row per normalised name and birthday). Every pass that needs the identities
        replays this, so all of them agree."""
        seen: set[tuple[str, str, int]] = set()
        for c in range(self.sizes.cm_identities):
            i = self.layout.cm_person(c)
            attrs = self.person(i)
            dob = attrs.dob
            key = (fold(attrs.first), fold(attrs.last))
            while (*key, dob) in seen:
                dob -= 1
            seen.add((*key, dob))
            if dob != attrs.dob:
                attrs = PersonAttrs(attrs.first, attrs.last, attrs.email, attrs.phone, dob, attrs.created)
            yield c, i, attrs

    def cm_dob_overrides(self) -> dict[int, int]:
        """Person index -> moved date of birth, for the (few) CM identities ``cm_identities`` moved."""
        return {i: attrs.dob for _, i, attrs in self.cm_identities() if attrs.dob != self.person(i).dob}

    # Patients ------------------------------------------------------------------------------------

    def lead_times(self, k: int) -> tuple[float, float | None]:
        """(created, converted) times of lead ``k``; converted is None unless it was converted."""
        created = self.person_created(self.layout.lead_person(k))
        if k >= self.layout.converted:
            return created, None
        u = 0.05 + 0.95 * self.draw.u("lead-conversion", k)
        # Within 120 days, and before the end of the calendar (strictly after creation: a role period
        # must end after it starts).
        return created, created + max(1.0, u * min(120 * DAY, self.end - created))

    def patient_created(self, j: int) -> float:
        """When patient ``j`` was registered: at the conversion of their lead, else with their person."""
        if j < self.layout.converted:
            return self.lead_times(j)[1]
        return self.person_created(self.layout.patients_start + j)

    def patient_navigator(self, j: int) -> int | None:
        """Navigator index of patient ``j`` (some navigators carry far more patients than others)."""
        if self.draw.u("patient-navigator", j) < 0.03:
            return None
        navigators = self.layout.navigators
        # A skewed pick: a power of a uniform favours the first navigators.
        return min(int(navigators * self.draw.u("patient-navigator", j, 1) ** 1.6), navigators - 1)
