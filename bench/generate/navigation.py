"""Patient navigation: logins, persons and their role periods, physicians, patients, leads, who treats
whom, and the calls. Each function returns a ``Table``: the model, its columns, a row iterator
(rows are made as they are consumed) and the row count when known."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bench.generate.plan import DAY, Plan
from bench.generate.rand import NULL, Weighted, boolean, day, seconds_to_ordinal, split, ts, zipf_weights

CONDITIONS = (
    ("Amyotrophic Lateral Sclerosis", "ALS"),
    ("Spinal Muscular Atrophy", "SMA"),
    ("Cystic Fibrosis", "CF"),
    ("Huntington's Disease", "HD"),
    ("Multiple Sclerosis", "MS"),
    ("Progressive Supranuclear Palsy", "PSP"),
    ("Multiple System Atrophy", "MSA"),
    ("Diffuse Intrinsic Pontine Glioma", "DIPG"),
    ("Acute Myeloid Leukemia", "AML"),
    ("Chronic Lymphocytic Leukemia", "CLL"),
    ("Pulmonary Arterial Hypertension", "PAH"),
    ("Systemic Sclerosis", "SSc"),
    ("Fibrodysplasia Ossificans Progressiva", "FOP"),
    ("Neurofibromatosis Type 1", "NF1"),
    ("Tuberous Sclerosis Complex", "TSC"),
    ("Hypertrophic Cardiomyopathy", "HCM"),
    ("Transthyretin Amyloidosis", "ATTR"),
)
SPECIALIZATIONS = (
    "Neurology", "Neuro-oncology", "Pediatric neurology", "Pulmonology", "Medical oncology", "Hematology",
    "Cardiology", "Rheumatology", "Medical genetics", "Neuromuscular medicine", "Pediatrics", "Internal medicine",
    "Radiation oncology", "Neurosurgery", "Palliative care",
)  # fmt: skip
HOSPITAL_KINDS = (
    "University Hospital", "Medical Center", "Children's Hospital", "General Hospital", "Cancer Institute",
    "Regional Medical Center", "Clinic", "Neurological Institute", "Heart & Lung Center", "Memorial Hospital",
)  # fmt: skip
HOSPITAL_CITIES = (
    ("Boston", "United States"), ("San Francisco", "United States"), ("Salt Lake City", "United States"),
    ("Houston", "United States"), ("Seattle", "United States"), ("Chicago", "United States"),
    ("New York", "United States"), ("Denver", "United States"), ("Atlanta", "United States"),
    ("Philadelphia", "United States"), ("Toronto", "Canada"), ("Montréal", "Canada"), ("Berlin", "Germany"),
    ("München", "Germany"), ("Köln", "Germany"), ("Amsterdam", "Netherlands"), ("Utrecht", "Netherlands"),
    ("Stockholm", "Sweden"), ("Göteborg", "Sweden"), ("København", "Denmark"), ("Paris", "France"),
    ("Lyon", "France"), ("Zürich", "Switzerland"), ("Genève", "Switzerland"), ("Madrid", "Spain"),
    ("Sevilla", "Spain"), ("Milano", "Italy"), ("Roma", "Italy"), ("Wien", "Austria"), ("Kraków", "Poland"),
    ("Praha", "Czechia"), ("Dublin", "Ireland"), ("London", "United Kingdom"), ("Oxford", "United Kingdom"),
    ("Helsinki", "Finland"), ("Oslo", "Norway"), ("Lisboa", "Portugal"), ("Bruxelles", "Belgium"),
    ("Ciudad de México", "Mexico"), ("São Paulo", "Brazil"),
)  # fmt: skip
JOB_TITLES = ("Attending physician", "Consultant", "Principal investigator", "Fellow", "Chief of service", "")
LEAD_SOURCES = Weighted(
    ("landing_page", "contact_form", "physician_referral", "phone", "email", "patient_organisation", "event", "other"),
    (35, 20, 15, 10, 6, 7, 3, 4),
)
OPEN_LEAD = Weighted(("new", "contacted", "qualified", "lost"), (30, 25, 15, 30))
OUTCOMES = Weighted(
    ("reached", "voicemail", "no_answer", "busy", "wrong_number", "callback_requested"), (45, 20, 18, 4, 2, 11)
)
CALL_NOTES = (
    "Discussed screening visit logistics.", "Patient asked about travel reimbursement.",
    "Left details of the trial site.", "Caregiver answered; will call back.", "Sent eligibility questionnaire.",
    "Reviewed medication list.", "Patient feeling worse; informed physician.", "Confirmed appointment.",
    "Explained expanded-access process.", "Requested medical records from hospital.",
)  # fmt: skip
DELETION_REASONS = ("Duplicate record", "Created by mistake", "Requested removal")
PATIENT_STATUS = Weighted(("active", "inactive", "closed", "deceased"), (80, 10, 7, 3))


@dataclass
class Table:
    model: Any  # a model class, or a bare table name for untracked join tables
    columns: tuple[str, ...]
    rows: Iterator[tuple[str, ...]]
    total: int | None
    label: str | None = None


def _opt(value: str | None) -> str:
    return NULL if value is None else value


# --- Lookups ------------------------------------------------------------------------------------------


def medical_conditions(plan: Plan, existing: dict[str, str]) -> Table:
    """Conditions beyond the three the migrations ship (``existing``: lower-cased name -> id)."""
    from patients.models import MedicalCondition

    new_id = plan.ids.of("condition")
    created = ts(plan.start)
    rows = []
    for n, (name, abbreviation) in enumerate(CONDITIONS):
        if name.lower() in existing:
            continue
        pk = new_id(n)
        plan.lookups.conditions.append(pk)
        description = f"{name}: a rare condition followed by the navigators."
        rows.append((pk, created, created, "t", NULL, NULL, "", name, abbreviation, description))
    columns = ("id", "created_at", "updated_at", "is_active", "deleted_at", "deleted_by_id", "deletion_reason")
    return Table(MedicalCondition, (*columns, "name", "abbreviation", "description"), iter(rows), len(rows))


def specializations(plan: Plan) -> Table:
    from patients.models import Specialization

    new_id = plan.ids.of("specialization")
    created = ts(plan.start)
    rows = []
    for n, name in enumerate(SPECIALIZATIONS):
        plan.lookups.specializations.append(new_id(n))
        rows.append((new_id(n), created, created, "t", NULL, NULL, "", name))
    columns = ("id", "created_at", "updated_at", "is_active", "deleted_at", "deleted_by_id", "deletion_reason", "name")
    return Table(Specialization, columns, iter(rows), len(rows))


def hospitals(plan: Plan) -> Table:
    from patients.models import Hospital

    def rows():
        for h in range(plan.layout.hospitals):
            city, country = HOSPITAL_CITIES[h % len(HOSPITAL_CITIES)]
            kind = HOSPITAL_KINDS[(h // len(HOSPITAL_CITIES)) % len(HOSPITAL_KINDS)]
            cycle = h // (len(HOSPITAL_CITIES) * len(HOSPITAL_KINDS))
            name = f"{city} {kind}" + (f" {cycle + 1}" if cycle else "")
            created = ts(plan.start + (h % 97) * DAY)
            address = f"{100 + h * 7 % 9000} Hospital Way"
            yield (plan.hospital_id(h), created, created, "t", NULL, NULL, "", name, city, country, address)

    columns = ("id", "created_at", "updated_at", "is_active", "deleted_at", "deleted_by_id", "deletion_reason")
    return Table(Hospital, (*columns, "name", "city", "country", "address"), rows(), plan.layout.hospitals)


# --- Logins -------------------------------------------------------------------------------------------


def users(plan: Plan, password_hash: str) -> Table:
    """Staff logins: one per navigator and per CPSS, plus a CRM supervisor, a CM supervisor and a
    superuser (all with the password documented in bench/README.md)."""
    from people.models import User

    layout = plan.layout

    def rows():
        joined = ts(plan.start)
        for u in range(plan.users):
            superuser = "f"
            if u < layout.navigators:
                attrs = plan.person(u)
                username, first, last, email = f"navigator{u:04d}", attrs.first, attrs.last, attrs.email
            elif u < layout.navigators + layout.cpss:
                attrs = plan.person(u)
                p = u - layout.navigators
                username, first, last, email = f"cpss{p:04d}", attrs.first, attrs.last, attrs.email
            else:
                username, first, last = (
                    ("crm_supervisor", "Sam", "Supervisor"),
                    ("cm_supervisor", "Morgan", "Lead"),
                    ("admin", "Ada", "Admin"),
                )[u - layout.navigators - layout.cpss]
                email = f"{username}@bench.example"
                superuser = boolean(username == "admin")
            yield (password_hash, NULL, superuser, username, first, last, email, "t", "t", joined, plan.user_id(u))

    columns = ("password", "last_login", "is_superuser", "username", "first_name", "last_name", "email")
    return Table(User, (*columns, "is_staff", "is_active", "date_joined", "id"), rows(), plan.users)


def user_groups(plan: Plan) -> Table:
    from common import roles

    layout = plan.layout
    groups = plan.lookups.groups

    def rows():
        for n in range(layout.navigators):
            yield (plan.navigator_user(n), str(groups[roles.PATIENT_NAVIGATORS]))
        for p in range(layout.cpss):
            yield (plan.cpss_user(p), str(groups[roles.CPSS]))
        yield (plan.crm_supervisor_user, str(groups[roles.CRM_SUPERVISORS]))
        yield (plan.cm_supervisor_user, str(groups[roles.CM_SUPERVISORS]))

    return Table("crm_user_groups", ("user_id", "group_id"), rows(), layout.navigators + layout.cpss + 2)


# --- Persons and their role periods -------------------------------------------------------------------


def persons(plan: Plan) -> Table:
    from people.models import Person

    layout = plan.layout
    moved_dob = plan.cm_dob_overrides()

    def rows():
        rng = plan.draw.stream("person")
        for i in range(plan.sizes.persons):
            a = plan.person(i) if plan.recomputed(i) else plan.person_attrs(rng, i)
            dob = moved_dob.get(i, a.dob)
            updated = a.created if rng.random() < 0.8 else a.created + rng.random() * (plan.end - a.created)
            active, deleted_at, deleted_by, reason = "t", NULL, NULL, ""
            if i >= layout.others_start and rng.random() < 0.005:
                active, deleted_at, deleted_by = "f", ts(updated), plan.crm_supervisor_user
                reason = rng.choice(DELETION_REASONS)
            if i < layout.navigators:
                user = plan.navigator_user(i)
            elif i < layout.physicians_start:
                user = plan.cpss_user(i - layout.cpss_start)
            else:
                user = NULL
            yield (
                plan.person_id(i), ts(a.created), ts(updated), active, deleted_at, deleted_by, reason,
                a.first, a.last, _opt(a.email), a.phone, NULL if dob is None else day(dob), user, NULL,
            )  # fmt: skip

    columns = ("id", "created_at", "updated_at", "is_active", "deleted_at", "deleted_by_id", "deletion_reason")
    columns += ("first_name", "last_name", "email", "phone", "date_of_birth", "user_id", "merged_into_id")
    return Table(Person, columns, rows(), plan.sizes.persons)


def role_periods(plan: Plan) -> Table:
    """``person_contact_type``: navigators, physicians, patients and leads hold their roles from when
    they started; a converted lead's lead period ends at the instant its patient period starts; a
    lost lead's period ends when it was lost; a fifth of the other persons are caregivers."""
    from people.models import PersonContactType

    layout, sizes = plan.layout, plan.sizes
    ct = plan.lookups.contact_types
    role_id = plan.ids.of("role")

    def periods():
        for n in range(layout.navigators):
            yield n, ct["patient_navigator"], plan.person_created(n), None
        for d in range(sizes.physicians):
            i = layout.physicians_start + d
            yield i, ct["physician"], plan.person_created(i), None
        for k in range(sizes.leads):
            i = layout.lead_person(k)
            created, converted = plan.lead_times(k)
            if converted is not None:
                yield i, ct["patient_lead"], created, converted
            else:
                yield i, ct["patient_lead"], created, lead_lost_at(plan, k)
        for j in range(sizes.patients):
            yield layout.patients_start + j, ct["patient"], plan.patient_created(j), None
        for i in range(layout.others_start, sizes.persons):
            if plan.draw.u("caregiver", i) < 0.2:
                yield i, ct["caregiver"], plan.person_created(i), None

    def rows():
        for n, (i, contact_type, since, until) in enumerate(periods()):
            start = ts(since)
            end = NULL if until is None else ts(until)
            yield (role_id(n), start, start if until is None else end, plan.person_id(i), contact_type, start, end)

    total = layout.navigators + sizes.physicians + sizes.leads + sizes.patients
    total += round((sizes.persons - layout.others_start) * 0.2)  # caregivers: about a fifth of the others
    columns = ("id", "created_at", "updated_at", "person_id", "contact_type_id", "valid_from", "valid_to")
    return Table(PersonContactType, columns, rows(), total)


def lead_status(plan: Plan, k: int) -> str:
    if k < plan.layout.converted:
        return "converted"
    return OPEN_LEAD.pick_u(plan.draw.u("lead-status", k))


def lead_lost_at(plan: Plan, k: int) -> float | None:
    """When lead ``k`` was marked lost (None while it is open)."""
    if lead_status(plan, k) != "lost":
        return None
    created = plan.lead_times(k)[0]
    return created + plan.draw.u("lead-lost", k) * min(90 * DAY, plan.end - created - 1) + 1


# --- Physicians, patients, leads ----------------------------------------------------------------------


def physicians(plan: Plan) -> Table:
    from patients.models import Physician

    layout = plan.layout
    hospital_pick = Weighted(range(layout.hospitals), zipf_weights(layout.hospitals, 0.8))
    specs = plan.lookups.specializations

    def rows():
        rng = plan.draw.stream("physician")
        for d in range(plan.sizes.physicians):
            i = layout.physicians_start + d
            created = ts(plan.person_created(i))
            hospital = plan.hospital_id(hospital_pick.pick(rng)) if rng.random() < 0.95 else NULL
            specialization = specs[int(len(specs) * rng.random() ** 2)]
            license_number = f"MD{rng.randrange(10**7):07d}" if rng.random() < 0.7 else ""
            yield (
                plan.physician_id(d), created, created, "t", NULL, NULL, "", plan.person_id(i), hospital,
                specialization, rng.choice(JOB_TITLES), license_number,
            )  # fmt: skip

    columns = ("id", "created_at", "updated_at", "is_active", "deleted_at", "deleted_by_id", "deletion_reason")
    columns += ("person_id", "hospital_id", "specialization_id", "job_title", "medical_license_number")
    return Table(Physician, columns, rows(), plan.sizes.physicians)


def condition_picker(plan: Plan) -> Weighted:
    conditions = plan.lookups.conditions
    return Weighted(conditions, zipf_weights(len(conditions), 0.9, 1.0))


def patient_condition(plan: Plan, picker: Weighted, j: int) -> str:
    """Patient ``j``'s condition; a converted lead's patient keeps the lead's condition."""
    return picker.pick_u(plan.draw.u("patient-condition", j, 1)) if plan.draw.u("patient-condition", j) < 0.95 else NULL


def patients(plan: Plan) -> Table:
    from patients.models import Patient

    layout = plan.layout
    picker = condition_picker(plan)

    def rows():
        rng = plan.draw.stream("patient")
        for j in range(plan.sizes.patients):
            created = plan.patient_created(j)
            first_contact = seconds_to_ordinal(created)
            consult = first_contact + rng.randint(0, 60) if rng.random() < 0.7 else None
            navigator = plan.patient_navigator(j)
            updated = created + rng.random() * (plan.end - created) if rng.random() < 0.3 else created
            active, deleted_at, deleted_by, reason = "t", NULL, NULL, ""
            if rng.random() < 0.003:
                active, deleted_at, deleted_by = "f", ts(updated), plan.crm_supervisor_user
                reason = rng.choice(DELETION_REASONS)
            yield (
                plan.patient_id(j), ts(created), ts(updated), active, deleted_at, deleted_by, reason,
                plan.person_id(layout.patients_start + j), patient_condition(plan, picker, j),
                NULL if navigator is None else plan.person_id(navigator), day(first_contact),
                NULL if consult is None else day(consult), PATIENT_STATUS.pick(rng), NULL, NULL, "0",
            )  # fmt: skip

    # follow_up_date and last_call_at come from the calls, open_journeys from the journeys: generate() fills them
    # once those are in.
    columns = ("id", "created_at", "updated_at", "is_active", "deleted_at", "deleted_by_id", "deletion_reason")
    columns += ("person_id", "medical_condition_id", "navigator_id", "first_contact_date", "initial_consult_date")
    columns += ("status", "follow_up_date", "last_call_at", "open_journeys")
    return Table(Patient, columns, rows(), plan.sizes.patients)


def leads(plan: Plan) -> Table:
    from patients.models import PatientLead

    picker = condition_picker(plan)

    def rows():
        rng = plan.draw.stream("lead")
        for k in range(plan.sizes.leads):
            created, converted = plan.lead_times(k)
            status = lead_status(plan, k)
            condition = patient_condition(plan, picker, k) if converted is not None else picker.pick(rng)
            source = LEAD_SOURCES.pick(rng)
            url = f"https://www.example.org/trials/{k % 40}?utm_source=search" if source == "landing_page" else ""
            lost = lead_lost_at(plan, k)
            updated = converted or lost or created
            yield (
                plan.lead_id(k), ts(created), ts(updated), plan.person_id(plan.layout.lead_person(k)), condition,
                source, url, status, plan.patient_id(k) if converted is not None else NULL,
                ts(converted) if converted is not None else NULL, "Asked about trials." if rng.random() < 0.3 else "",
            )  # fmt: skip

    columns = ("id", "created_at", "updated_at", "person_id", "medical_condition_id", "source", "landing_page_url")
    return Table(
        PatientLead, (*columns, "status", "converted_patient_id", "converted_at", "notes"), rows(), plan.sizes.leads
    )


def relationships(plan: Plan) -> Table:
    """Seven patients in ten have a primary physician (treating or primary care); a quarter of those
    were also referred by another physician. Popular physicians treat many patients."""
    from patients.models import PatientPhysicianRelationship

    physicians_n = plan.sizes.physicians
    pick = Weighted(range(physicians_n), zipf_weights(physicians_n, 0.7, 5))
    relationship_id = plan.ids.of("relationship")

    def rows():
        n = 0
        rng = plan.draw.stream("relationship")
        for j in range(plan.sizes.patients):
            if rng.random() >= 0.7:
                continue
            created = plan.patient_created(j)
            start = seconds_to_ordinal(created)
            at = ts(created)
            primary = pick.pick(rng)
            kind = "treating" if rng.random() < 0.75 else "primary_care"
            yield (
                relationship_id(n),
                at,
                at,
                plan.patient_id(j),
                plan.physician_id(primary),
                kind,
                "t",
                day(start),
                NULL,
            )
            n += 1
            if rng.random() < 0.25:
                referrer = pick.pick(rng)
                if referrer == primary:
                    continue
                end = day(start + rng.randint(0, 200)) if rng.random() < 0.4 else NULL
                yield (relationship_id(n), at, at, plan.patient_id(j), plan.physician_id(referrer), "referring", "f",
                       day(start - rng.randint(0, 30)), end)  # fmt: skip
                n += 1

    columns = ("id", "created_at", "updated_at", "patient_id", "physician_id", "relationship_type", "is_primary")
    return Table(
        PatientPhysicianRelationship, (*columns, "start_date", "end_date"), rows(), round(plan.sizes.patients * 0.87)
    )


# --- Calls --------------------------------------------------------------------------------------------


def call_weight(plan: Plan, j: int) -> float:
    """Heavy-tailed (log-normal) share of calls: most patients have a few calls, a few have thousands."""
    # A normal deviate by Box-Muller from two hashed uniforms (recomputed in two passes).
    u1, u2 = 1.0 - plan.draw.u("call-weight", j), plan.draw.u("call-weight", j, 1)
    return math.exp(1.3 * math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2))


def calls(plan: Plan) -> Table:
    from patients.models import CallHistory

    layout = plan.layout
    counts = split(plan.sizes.calls, plan.sizes.patients, lambda j: call_weight(plan, j))
    call_id = plan.ids.of("call")
    nav_person = [plan.person_id(n) for n in range(layout.navigators)]
    nav_user = [plan.navigator_user(n) for n in range(layout.navigators)]

    def rows():
        rng = plan.draw.stream("calls")
        random, randint = rng.random, rng.randint
        n = 0
        for j, count in enumerate(counts()):
            if not count:
                continue
            patient = plan.patient_id(j)
            own = plan.patient_navigator(j)
            since = plan.patient_created(j)
            window = plan.end - since
            for when in sorted(since + random() * window for _ in range(count)):
                navigator = own if own is not None and random() < 0.9 else randint(0, layout.navigators - 1)
                outcome = OUTCOMES.pick(rng)
                if outcome == "reached":
                    duration = str(randint(2, 60))
                elif outcome == "callback_requested":
                    duration = str(randint(1, 5))
                elif outcome == "voicemail":
                    duration = "1"
                else:
                    duration = NULL
                booking = reminder = NULL
                no_show = "f"
                if random() < 0.08:
                    booked = when + randint(2, 45) * DAY
                    booking = ts(booked)
                    no_show = boolean(booked < plan.end and random() < 0.15)
                if random() < 0.55:
                    reminder = day(seconds_to_ordinal(when) + randint(1, 30))
                logged = when + random() * 7200
                created = ts(logged)
                active, deleted_at, deleted_by, reason, updated = "t", NULL, NULL, "", created
                if random() < 0.004:
                    active, deleted_by, reason = "f", nav_user[navigator], "Logged on the wrong patient"
                    deleted_at = updated = ts(logged + 600)
                yield (
                    call_id(n), created, updated, active, deleted_at, deleted_by, reason, patient,
                    nav_person[navigator], "outbound" if random() < 0.7 else "inbound", ts(when), booking, reminder,
                    no_show, duration, outcome, CALL_NOTES[randint(0, 9)] if random() < 0.6 else "",
                    nav_user[navigator],
                )  # fmt: skip
                n += 1

    columns = ("id", "created_at", "updated_at", "is_active", "deleted_at", "deleted_by_id", "deletion_reason")
    columns += ("patient_id", "pn_id", "direction", "call_date", "booking_date", "reminder_date", "no_show")
    return Table(
        CallHistory, (*columns, "call_duration_minutes", "outcome", "notes", "created_by_id"), rows(), plan.sizes.calls
    )
