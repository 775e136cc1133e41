"""canonical_patient_merge / _unmerge: enrollments, profiles, IntakeQ links move; the ledger stays; races."""

from __future__ import annotations

import datetime as dt

import pytest

from cm_program import services
from cm_program.models import (
    CanonicalPatient,
    CMEnrollment,
    CMPatient,
    CMPointsTransaction,
    IntakeQLink,
    IntakeQMatchCandidate,
    PointsEvent,
)
from common.merge.engine import MergeRefused, relations_to
from common.merge.keep import kept_because
from common.merge.models import MergeLog
from people.models import Person
from people.services import person_merge
from tests.cm_program.conftest import run_concurrently
from tests.factories.cm_program import (
    CanonicalPatientFactory,
    CMEnrollmentFactory,
    CMPatientFactory,
    CMProgramFactory,
    IntakeQLinkFactory,
    IntakeQPatientFactory,
)
from tests.factories.people import PersonFactory

TABLES = (CanonicalPatient, CMPatient, CMEnrollment, CMPointsTransaction, IntakeQLink, IntakeQMatchCandidate)


def snapshot():
    return {m._meta.label: list(m._base_manager.order_by("pk").values()) for m in TABLES}


def everything_of(canonical: CanonicalPatient) -> dict:
    enrollment = CMEnrollmentFactory(cm_patient=CMPatientFactory(canonical_patient=canonical))
    ledger = services.cm_event_record(enrollment=enrollment, event_type=PointsEvent.TEST_NEGATIVE)
    link = IntakeQLinkFactory(canonical_patient=canonical)
    candidate = IntakeQMatchCandidate.objects.create(
        canonical_patient=canonical, intakeq_patient=IntakeQPatientFactory(), score="0.70", band="probable"
    )
    return {"enrollment": enrollment, "ledger": ledger, "link": link, "candidate": candidate}


@pytest.mark.django_db
def test_every_record_moves_except_the_points_ledger(superuser):
    survivor = CanonicalPatientFactory(first_name="Rosa", last_name="Vega", date_of_birth=dt.date(1985, 6, 1))
    duplicate = CanonicalPatientFactory(first_name="Rosa", last_name="Veiga", date_of_birth=dt.date(1985, 1, 6))
    records = everything_of(duplicate)
    counts = {m._meta.label: m._base_manager.count() for m in TABLES}

    log = services.canonical_patient_merge(
        survivor=survivor,
        duplicate=duplicate,
        field_choices={"date_of_birth": "duplicate"},
        actor=superuser,
        reason="day and month swapped",
    )

    assert {m._meta.label: m._base_manager.count() for m in TABLES} == counts
    enrollment = CMEnrollment.objects.get(pk=records["enrollment"].pk)
    assert enrollment.canonical_patient_id == survivor.pk
    assert enrollment.cm_patient.canonical_patient_id == survivor.pk  # the profile moved (survivor had none)
    assert IntakeQLink.objects.get(pk=records["link"].pk).canonical_patient_id == survivor.pk
    assert IntakeQMatchCandidate.objects.get(pk=records["candidate"].pk).canonical_patient_id == survivor.pk
    # The ledger is never updated: its row keeps the duplicate, its enrollment (with the totals) moved.
    ledger = CMPointsTransaction.objects.get(pk=records["ledger"].pk)
    assert ledger.canonical_patient_id == duplicate.pk and ledger.enrollment_id == enrollment.pk
    assert enrollment.total_points == ledger.points
    moved = {f"{s['model']}.{s['field']}" for s in log.steps if s["kind"] == "move"}
    expected = {r.key for r in relations_to(CanonicalPatient) if not kept_because(r.model, r.field)}
    assert expected - moved == set(), f"relations neither moved nor kept: {expected - moved}"

    duplicate.refresh_from_db()
    survivor.refresh_from_db()
    assert duplicate.merged_into_id == survivor.pk and not duplicate.is_active
    assert survivor.date_of_birth == dt.date(1985, 1, 6)
    assert not CanonicalPatient.objects.filter(pk=duplicate.pk).exists()  # hidden from screens


@pytest.mark.django_db
def test_survivor_takes_the_duplicates_identity_and_unmerge_is_exact(superuser):
    survivor = CanonicalPatientFactory(first_name="Jose", last_name="Diaz", date_of_birth=dt.date(1990, 3, 4))
    duplicate = CanonicalPatientFactory(first_name="José", last_name="Díaz", date_of_birth=dt.date(1990, 4, 3))
    CMPatientFactory(canonical_patient=survivor)
    everything_of(duplicate)
    before = snapshot()

    log = services.canonical_patient_merge(
        survivor=survivor,
        duplicate=duplicate,
        field_choices={"first_name": "duplicate", "last_name": "duplicate", "date_of_birth": "duplicate"},
        actor=superuser,
        reason="accents",
    )
    survivor.refresh_from_db()
    assert (survivor.first_name, survivor.last_name, survivor.date_of_birth) == ("José", "Díaz", dt.date(1990, 4, 3))
    # Second level: the duplicate's enrollment moved to the survivor's CM profile.
    assert CMEnrollment.objects.get().cm_patient.canonical_patient_id == survivor.pk

    services.canonical_patient_unmerge(merge=log, actor=superuser)
    assert snapshot() == before


@pytest.mark.django_db
def test_refusals():
    program = CMProgramFactory()
    survivor, duplicate = CanonicalPatientFactory(), CanonicalPatientFactory()
    CMEnrollmentFactory(cm_patient=CMPatientFactory(canonical_patient=survivor), cm_program=program)
    CMEnrollmentFactory(cm_patient=CMPatientFactory(canonical_patient=duplicate), cm_program=program)
    with pytest.raises(MergeRefused, match=f"Both patients are enrolled in {program}"):
        services.canonical_patient_merge(survivor=survivor, duplicate=duplicate, reason="r")

    a, b = CanonicalPatientFactory(), CanonicalPatientFactory()
    IntakeQLinkFactory(canonical_patient=a)
    IntakeQLinkFactory(canonical_patient=b)
    with pytest.raises(MergeRefused, match="IntakeQ clients"):
        services.canonical_patient_merge(survivor=a, duplicate=b, reason="r")
    assert MergeLog.objects.count() == 0
    assert CanonicalPatient.objects.count() == 4


@pytest.mark.django_db
def test_persons_merge_after_their_canonical_patients(superuser):
    p1, p2 = PersonFactory(), PersonFactory()
    c1, c2 = CanonicalPatientFactory(person=p1), CanonicalPatientFactory(person=p2)
    with pytest.raises(MergeRefused, match="canonical patients first"):
        person_merge(survivor=p1, duplicate=p2, reason="r")
    services.canonical_patient_merge(survivor=c1, duplicate=c2, reason="r")
    c2.refresh_from_db()
    assert c2.person_id == p2.pk  # each keeps its own Person until the Persons are merged
    log = person_merge(survivor=p1, duplicate=p2, reason="r")
    assert any("already merged" in item["why"] for item in log.left)
    assert Person.objects.filter(pk=p2.pk).exists() is False


@pytest.mark.django_db(transaction=True)
def test_two_merges_of_one_pair_at_once_one_wins():
    a, b = PersonFactory(), PersonFactory()

    results = run_concurrently(
        lambda: person_merge(survivor=a, duplicate=b, reason="first"),
        lambda: person_merge(survivor=b, duplicate=a, reason="second"),
        lambda: person_merge(survivor=a, duplicate=b, reason="third"),
    )

    statuses = sorted(status for status, _ in results)
    assert statuses == ["error", "error", "ok"], results
    for status, value in results:
        if status == "error":
            assert isinstance(value, MergeRefused), value
    assert MergeLog.objects.count() == 1
    assert Person.all_objects.filter(merged_into__isnull=False).count() == 1


@pytest.mark.django_db
def test_merge_decides_the_candidate_pair_and_undo_reopens_it(superuser):
    from decimal import Decimal

    from cm_program.models import CanonicalPatientDuplicatePair
    from people.models import DuplicateStatus

    one, other = CanonicalPatientFactory(), CanonicalPatientFactory()
    low, high = sorted((one, other), key=lambda c: c.pk)
    pair = CanonicalPatientDuplicatePair.objects.create(canonical_low=low, canonical_high=high, score=Decimal("0.9"))

    log = services.canonical_patient_merge(survivor=one, duplicate=other, actor=superuser, reason="typo")
    pair.refresh_from_db()
    assert (pair.status, pair.decided_by) == (DuplicateStatus.MERGED, superuser)

    services.canonical_patient_unmerge(merge=log, actor=superuser)
    pair.refresh_from_db()
    assert pair.status == DuplicateStatus.OPEN
