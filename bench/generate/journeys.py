"""Clinical-trial and EAP journeys, each with its status-change timeline.

A journey's path is a random walk along the transition maps of ``journeys.transitions`` (so every
timeline is one the services could have written), stopping where the journey is today. The row's
dates follow from the path exactly as ``journey_transition`` fills them. Journeys and their timeline
are separate tables, so the walk is replayed from the journey's own seed for the second one.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.generate.navigation import Table
from bench.generate.plan import DAY, Plan
from bench.generate.rand import NULL, day, seconds_to_ordinal, ts
from journeys.transitions import CT_INITIAL, CT_TRANSITIONS, EAP_INITIAL, EAP_TRANSITIONS

# How likely each move is, from the statuses that offer it (exits are rarer than progress).
MOVE_WEIGHTS = {
    "pre_screening": 70, "screening": 70, "enrolled": 60, "completed": 75, "ineligible": 12, "declined": 8,
    "withdrawn": 6, "submitted": 80, "approved": 75, "active": 80,
}  # fmt: skip
PRODUCTS = (
    "Tofersen", "Nusinersen", "Risdiplam", "Elamipretide", "Tovorafenib", "ONC201", "Givinostat", "Vamorolone",
    "Pamrevlumab", "Nerandomilast", "Omaveloxolone", "Zilucoplan", "Trofinetide", "Ataluren", "Eplontersen",
)  # fmt: skip
STEP_NOTES = ("", "", "", "Discussed with the patient.", "Site confirmed by email.", "Physician informed.")
INELIGIBLE_REASONS = ("Exclusion criterion: prior therapy.", "Too far from a trial site.", "Lab values out of range.")
OUTCOMES = {
    "completed": "Completed the protocol.",
    "withdrawn": "Withdrew from the trial.",
    "declined": "Declined to take part.",
    "ineligible": "Not eligible.",
}


@dataclass
class Walk:
    patient: int
    steps: list[tuple[str, str, float]]  # (from, to, at)


def _walk(plan: Plan, rng, initial: str, transitions: dict) -> Walk:
    patient = int(rng.random() * plan.sizes.patients)
    since = plan.patient_created(patient)
    at = since + rng.random() * (plan.end - since)
    steps = [("", initial, at)]
    status = initial
    while transitions[status] and rng.random() < 0.8:
        options = transitions[status]
        total = sum(MOVE_WEIGHTS[o] for o in options)
        pick = rng.random() * total
        for option in options:
            pick -= MOVE_WEIGHTS[option]
            if pick < 0:
                break
        at += rng.uniform(2, 75) * DAY
        if at > plan.end:
            break
        steps.append((status, option, at))
        status = option
    return Walk(patient, steps)


def _when(walk: Walk, status: str) -> str:
    for _, to, at in walk.steps:
        if to == status:
            return day(seconds_to_ordinal(at))
    return NULL


def _changed_by(plan: Plan, patient: int) -> str:
    navigator = plan.patient_navigator(patient)
    return NULL if navigator is None else plan.navigator_user(navigator)


def _deleted(plan: Plan, rng, updated: float) -> tuple[str, str, str, str]:
    if rng.random() < 0.002:
        return "f", ts(updated), plan.crm_supervisor_user, "Opened by mistake"
    return "t", NULL, NULL, ""


def ct_journeys(plan: Plan) -> Table:
    from journeys.models import ClinicalTrialJourney

    ct_id = plan.ids.of("ct")

    def rows():
        for k in range(plan.layout.ct_journeys):
            rng = plan.draw.at("ct", k)
            walk = _walk(plan, rng, CT_INITIAL, CT_TRANSITIONS)
            status = walk.steps[-1][1]
            opened, last = walk.steps[0][2], walk.steps[-1][2]
            eligible, assessed, reason = "unknown", NULL, ""
            if status == "ineligible":
                eligible, assessed, reason = "no", _when(walk, "ineligible"), rng.choice(INELIGIBLE_REASONS)
            elif _when(walk, "enrolled") != NULL:
                eligible, assessed = "yes", _when(walk, "enrolled")
            trial = 10_000_000 + (rng.randrange(2_000) * 7919) % 89_999_999
            trial_id = f"NCT{trial:08d}" if rng.random() < 0.9 else ""
            trial_name = f"Phase {rng.choice((1, 2, 2, 3, 3))} study {trial % 1000}"
            physician = plan.physician_id(rng.randrange(plan.sizes.physicians)) if rng.random() < 0.6 else NULL
            active, deleted_at, deleted_by, deletion_reason = _deleted(plan, rng, last)
            yield (
                ct_id(k), ts(opened), ts(last), active, deleted_at, deleted_by, deletion_reason,
                plan.patient_id(walk.patient), physician, trial_id, trial_name, day(seconds_to_ordinal(opened)),
                eligible, assessed, reason, status, _when(walk, "enrolled"), _when(walk, "completed"),
                OUTCOMES.get(status, ""), "",
            )  # fmt: skip

    columns = ("id", "created_at", "updated_at", "is_active", "deleted_at", "deleted_by_id", "deletion_reason")
    columns += ("patient_id", "referring_physician_id", "trial_id", "trial_name", "referral_date", "eligible")
    columns += ("eligibility_assessment_date", "ineligible_reason", "status", "enrollment_date", "completion_date")
    return Table(ClinicalTrialJourney, (*columns, "outcome", "notes"), rows(), plan.layout.ct_journeys)


def eap_journeys(plan: Plan) -> Table:
    from journeys.models import EAPJourney

    eap_id = plan.ids.of("eap")

    def rows():
        for k in range(plan.layout.eap_journeys):
            rng = plan.draw.at("eap", k)
            walk = _walk(plan, rng, EAP_INITIAL, EAP_TRANSITIONS)
            status = walk.steps[-1][1]
            opened, last = walk.steps[0][2], walk.steps[-1][2]
            year = ts(opened)[:4]
            number = f"EAP-{year}-{k:06d}" if rng.random() < 0.85 else ""
            physician = plan.physician_id(rng.randrange(plan.sizes.physicians)) if rng.random() < 0.7 else NULL
            active, deleted_at, deleted_by, deletion_reason = _deleted(plan, rng, last)
            yield (
                eap_id(k), ts(opened), ts(last), active, deleted_at, deleted_by, deletion_reason,
                plan.patient_id(walk.patient), physician, number, rng.choice(PRODUCTS), status,
                _when(walk, "approved"), _when(walk, "active"), _when(walk, "completed"), "",
            )  # fmt: skip

    columns = ("id", "created_at", "updated_at", "is_active", "deleted_at", "deleted_by_id", "deletion_reason")
    columns += ("patient_id", "physician_id", "eap_number", "product", "status", "approval_date")
    return Table(
        EAPJourney, (*columns, "enrollment_date", "completion_date", "notes"), rows(), plan.layout.eap_journeys
    )


def status_changes(plan: Plan) -> Table:
    from journeys.models import JourneyStatusChange

    change_id = plan.ids.of("status_change")
    ct_id, eap_id = plan.ids.of("ct"), plan.ids.of("eap")

    def rows():
        n = 0
        note_rng = plan.draw.stream("step-note")
        for kind, count, table, initial, transitions in (
            ("ct", plan.layout.ct_journeys, ct_id, CT_INITIAL, CT_TRANSITIONS),
            ("eap", plan.layout.eap_journeys, eap_id, EAP_INITIAL, EAP_TRANSITIONS),
        ):
            for k in range(count):
                walk = _walk(plan, plan.draw.at(kind, k), initial, transitions)
                by = _changed_by(plan, walk.patient)
                ct, eap = (table(k), NULL) if kind == "ct" else (NULL, table(k))
                for from_status, to_status, at in walk.steps:
                    when = ts(at)
                    note = STEP_NOTES[int(note_rng.random() * len(STEP_NOTES))]
                    yield (change_id(n), when, when, ct, eap, from_status, to_status, when, by, note)
                    n += 1

    columns = ("id", "created_at", "updated_at", "ct_journey_id", "eap_journey_id", "from_status", "to_status")
    # About three steps per journey (the opening and two moves); the exact count follows from the walks.
    return Table(
        JourneyStatusChange, (*columns, "changed_at", "changed_by_id", "note"), rows(), plan.sizes.journeys * 3
    )
