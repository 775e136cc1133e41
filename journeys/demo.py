"""Demo journeys: clinical-trial and EAP journeys of the demo patients, in every status, each with a
believable back-dated timeline. Through the services (so every step obeys the transition map);
deterministic and idempotent (nothing is added when the demo patients already have journeys).
"""

from __future__ import annotations

import datetime as dt
import random

from django.utils import timezone

from journeys.models import ClinicalTrialJourney
from journeys.services import journey_open, journey_transition
from journeys.transitions import CT_TRANSITIONS, EAP_TRANSITIONS, CTStatus, EAPStatus
from patients.demo import DEMO_DOMAIN
from patients.models import Patient, PatientStatus, Physician
from people.models import User

SEED = 4242

TRIALS = {
    "DMD": [
        ("NCT04281485", "Gene transfer therapy in ambulatory boys with DMD"),
        ("NCT03992430", "Exon skipping, phase 3"),
    ],
    "GBM": [("NCT04396860", "Tumour-treating fields plus temozolomide"), ("NCT05139056", "CAR-T for recurrent GBM")],
    "IPF": [("NCT04419558", "Inhaled treprostinil in IPF"), ("NCT05321069", "Novel antifibrotic, phase 2b")],
}
PRODUCTS = {"DMD": "Givinostat", "GBM": "ONC201 (dordaviprone)", "IPF": "Pamrevlumab"}

CT_MAIN = [CTStatus.REFERRED, CTStatus.PRE_SCREENING, CTStatus.SCREENING, CTStatus.ENROLLED, CTStatus.COMPLETED]
EAP_MAIN = [EAPStatus.PENDING, EAPStatus.SUBMITTED, EAPStatus.APPROVED, EAPStatus.ACTIVE, EAPStatus.COMPLETED]


def _path(rng: random.Random, main: list[str], transitions: dict, exits: tuple[str, ...]) -> list[str]:
    """The statuses after the first one: part of the main path, sometimes ending in an exit."""
    stop = rng.randint(0, len(main) - 1)
    steps = list(main[1 : stop + 1])
    if stop < len(main) - 1 and rng.random() < 0.35:
        options = [status for status in exits if status in transitions[main[stop]]]
        if options:
            steps.append(rng.choice(options))
    return steps


def _times(rng: random.Random, start: dt.datetime, end: dt.datetime, n: int) -> list[dt.datetime]:
    span = (end - start).total_seconds()
    return [start + dt.timedelta(seconds=s) for s in sorted(rng.uniform(0, span) for _ in range(n))]


def seed(*, stdout) -> None:
    patients = list(
        Patient.objects.filter(person__email__endswith=f"@{DEMO_DOMAIN}")
        .exclude(status=PatientStatus.DECEASED)
        .select_related("medical_condition", "person")
        .order_by("person__email")
    )
    if not patients or ClinicalTrialJourney.all_objects.filter(patient__in=patients).exists():
        stdout.write("journeys: demo data present (or no demo patients), nothing to do.")
        return
    rng = random.Random(SEED)
    actor = User.objects.filter(username="navigator").first()
    physicians = list(Physician.objects.order_by("person__email"))
    now = timezone.now()
    ct_count = eap_count = 0
    for i, patient in enumerate(patients):
        abbreviation = patient.medical_condition.abbreviation if patient.medical_condition else "GBM"
        if i % 5 != 4:  # most patients are on a CT journey
            trial_id, trial_name = rng.choice(TRIALS[abbreviation])
            opened = now - dt.timedelta(days=rng.uniform(5, 300))
            journey = journey_open(
                patient=patient,
                kind="clinical_trial",
                trial_id=trial_id,
                trial_name=trial_name,
                referral_date=timezone.localdate(opened),
                referring_physician=rng.choice(physicians),
                opened_at=opened,
                note="Referred after the first consult.",
                actor=actor,
            )
            steps = _path(rng, CT_MAIN, CT_TRANSITIONS, (CTStatus.INELIGIBLE, CTStatus.DECLINED, CTStatus.WITHDRAWN))
            for status, at in zip(steps, _times(rng, opened, now, len(steps)), strict=True):
                journey_transition(
                    journey=journey,
                    to_status=status,
                    at=at,
                    note=f"Moved to {status.replace('_', ' ')}.",
                    ineligible_reason="Exclusion criterion: prior treatment." if status == CTStatus.INELIGIBLE else "",
                    outcome="Completed per protocol." if status == CTStatus.COMPLETED else "",
                    actor=actor,
                )
            ct_count += 1
        if i % 4 == 1:  # a quarter also ask for expanded access
            opened = now - dt.timedelta(days=rng.uniform(5, 200))
            journey = journey_open(
                patient=patient,
                kind="eap",
                product=PRODUCTS[abbreviation],
                eap_number=f"EAP-{2026}-{i:04d}",
                physician=rng.choice(physicians),
                opened_at=opened,
                note="Request prepared with the treating physician.",
                actor=actor,
            )
            steps = _path(rng, EAP_MAIN, EAP_TRANSITIONS, (EAPStatus.DECLINED, EAPStatus.WITHDRAWN))
            for status, at in zip(steps, _times(rng, opened, now, len(steps)), strict=True):
                journey_transition(journey=journey, to_status=status, at=at, actor=actor)
            eap_count += 1
    statuses = sorted(set(ClinicalTrialJourney.objects.values_list("status", flat=True)))
    stdout.write(f"journeys: {ct_count} clinical-trial journeys ({', '.join(statuses)}), {eap_count} EAP journeys.")
