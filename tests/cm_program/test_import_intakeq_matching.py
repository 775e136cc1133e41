"""import_intakeq, part 2: unlinked IntakeQ clients graded against canonical patients, banded, proposed,
linked automatically when certain; decisions of the review queue that stick (issue 11, section 3)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pghistory.models import Events

from cm_program import services
from cm_program.imports.matching import match_unlinked_clients
from cm_program.models import IntakeQLink, IntakeQMatchCandidate, IntakeQPatient
from common.errors import ConflictError
from common.imports.files import ImportFiles
from common.imports.models import ImportKind
from common.imports.runner import execute
from tests.factories.cm_program import (
    CanonicalPatientFactory,
    CMPatientFactory,
    IntakeQLinkFactory,
    IntakeQPatientFactory,
)
from tests.factories.people import PersonFactory

pytestmark = pytest.mark.django_db

BORN = dt.date(1980, 3, 14)


def client(client_id, first, last, dob: dt.date | None = BORN, **extra) -> dict:
    return {
        "ClientId": client_id,
        "FirstName": first,
        "LastName": last,
        "DateOfBirth": dob.isoformat() if dob else None,
        **extra,
    }


def import_clients(tmp_path, *clients: dict, name: str = "clients.json"):
    path = tmp_path / name
    path.write_text(json.dumps(list(clients), ensure_ascii=False), encoding="utf-8")
    return execute(kind=ImportKind.INTAKEQ, files=ImportFiles.from_paths([path]), options={"match": True})


def canonical(first, last, dob=BORN, *, email=None, phone=None):
    person = PersonFactory(first_name=first, last_name=last, date_of_birth=dob, email=email, phone=phone or "")
    return CanonicalPatientFactory(first_name=first, last_name=last, date_of_birth=dob, person=person)


def candidate(client_id: str) -> IntakeQMatchCandidate:
    return IntakeQMatchCandidate.objects.select_related("canonical_patient").get(
        intakeq_patient__intakeq_client_id=client_id
    )


def test_same_name_ignoring_case_accents_and_spaces_and_same_birth_date_is_certain_and_linked(tmp_path):
    patient = canonical("José", "Müller")
    report = import_clients(tmp_path, client(1, " jose ", "MULLER"))

    pair = candidate("1")
    assert (pair.canonical_patient, pair.score, pair.band, pair.status) == (
        patient,
        Decimal("0.90"),
        "certain",
        "linked",
    )
    assert pair.components["same_name"] is True and pair.components["date_of_birth"] == "exact"
    link = IntakeQLink.objects.get()
    assert link.canonical_patient == patient and link.intakeq_patient.intakeq_client_id == "1"
    assert (link.linked_by, link.notes, link.confidence_score) == (None, "auto", Decimal("0.90"))
    assert "1 certain pairs linked automatically" in report.render()


def test_names_that_differ_are_never_certain_without_an_agreeing_email_or_phone(tmp_path):
    canonical("Annabelle", "Lee", email="ann@x.org", phone="+18015550101")
    import_clients(tmp_path, client(1, "Annabell", "Lee"), client(2, "Annabell", "Lee", Email="ANN@x.org"))

    without = candidate("1")
    assert without.band == "probable" and without.score < Decimal("0.90")
    assert without.components["email"] == "missing" and without.components["same_name"] is False
    with_email = candidate("2")
    assert with_email.band == "certain" and with_email.components["email"] == "agrees"
    # The canonical side has one certain pair: it is linked; the probable one stays in the queue.
    assert IntakeQLink.objects.get().intakeq_patient.intakeq_client_id == "2"
    assert IntakeQMatchCandidate.objects.get(pk=without.pk).status == "proposed"


def test_phone_agreement_counts_on_the_digits_of_the_person_or_the_cm_profile(tmp_path):
    patient = canonical("Kate", "Moss", phone="+18015550199")
    profile = CMPatientFactory(canonical_patient=CanonicalPatientFactory(first_name="Rob", last_name="Ray"))
    import_clients(
        tmp_path,
        client(1, "Katherine", "Moss", Phone="(801) 555-0199"),
        client(2, "Robert", "Ray", dob=profile.canonical_patient.date_of_birth, MobilePhone=profile.phone),
    )
    assert candidate("1").canonical_patient == patient
    assert candidate("1").components["phone"] == "agrees"
    assert candidate("2").components["phone"] == "agrees"


def test_transposed_day_and_month_is_close_and_a_different_date_is_possible_at_most(tmp_path):
    canonical("Ann", "Lee", dt.date(1980, 3, 4))
    canonical("Bo", "Stone", dt.date(1975, 6, 1))
    import_clients(
        tmp_path, client(1, "Ann", "Lee", dt.date(1980, 4, 3)), client(2, "Bo", "Stone", dt.date(1990, 1, 1))
    )

    transposed = candidate("1")
    assert (transposed.band, transposed.score, transposed.components["date_of_birth"]) == (
        "probable",
        Decimal("0.76"),
        "transposed",
    )
    other_date = candidate("2")
    assert (other_date.band, other_date.score, other_date.components["date_of_birth"]) == (
        "possible",
        Decimal("0.55"),
        "different",
    )
    assert not IntakeQLink.objects.exists()


def test_a_different_person_is_no_candidate(tmp_path):
    canonical("Ann", "Lee")
    import_clients(tmp_path, client(1, "Xavier", "Quintero", dt.date(1999, 12, 31)))
    assert not IntakeQMatchCandidate.objects.exists()


def test_a_pair_whose_side_is_linked_elsewhere_goes_to_the_queue(tmp_path):
    patient = canonical("Ann", "Lee")
    IntakeQLinkFactory(canonical_patient=patient)  # linked to another IntakeQ client already
    import_clients(tmp_path, client(1, "Ann", "Lee"))
    pair = candidate("1")
    assert (pair.band, pair.status) == ("certain", "proposed")
    assert IntakeQLink.objects.count() == 1


def test_two_certain_pairs_for_one_side_are_not_linked_but_queued(tmp_path):
    canonical("Ann", "Lee")
    import_clients(tmp_path, client(1, "Ann", "Lee"), client(2, "Ann", "Lee"))  # a duplicate in the EMR
    assert set(IntakeQMatchCandidate.objects.values_list("band", "status")) == {("certain", "proposed")}
    assert IntakeQMatchCandidate.objects.count() == 2
    assert not IntakeQLink.objects.exists()


def test_linked_clients_are_not_graded_again_and_a_second_run_proposes_nothing_new(tmp_path):
    canonical("Ann", "Lee")
    canonical("Bo", "Stone")
    clients = (client(1, "Ann", "Lee"), client(2, "Bob", "Stone"))
    import_clients(tmp_path, *clients)
    before = list(IntakeQMatchCandidate.objects.order_by("id").values_list("id", "status", "score", "updated_at"))
    report = import_clients(tmp_path, *clients)
    after = list(IntakeQMatchCandidate.objects.order_by("id").values_list("id", "status", "score", "updated_at"))
    assert before == after
    assert "1 unlinked IntakeQ clients" in report.render()
    assert "new candidates: 0 certain, 0 probable, 0 possible" in report.render()


def test_a_rejection_sticks_through_every_later_import(tmp_path, cm_supervisor_user):
    canonical("Kate", "Moss")
    import_clients(tmp_path, client(1, "Katherine", "Moss"))
    pair = candidate("1")
    assert pair.status == "proposed"
    services.intakeq_match_candidate_reject(candidate=pair, actor=cm_supervisor_user)

    # The client changes in the EMR (now with a better score) and is imported again.
    report = import_clients(tmp_path, client(1, "Kathy", "Moss", Email="kate@x.org"))
    again = candidate("1")
    assert (again.pk, again.status, again.decided_by, again.score) == (
        pair.pk,
        "rejected",
        cm_supervisor_user,
        pair.score,
    )
    assert IntakeQMatchCandidate.objects.count() == 1
    assert "1 pairs rejected earlier stay rejected" in report.render()
    assert not IntakeQLink.objects.exists()


def test_linking_from_the_queue_keeps_the_confidence_and_names_the_reviewer(tmp_path, cm_supervisor_user):
    patient = canonical("Kate", "Moss")
    import_clients(tmp_path, client(1, "Katherine", "Moss"))
    pair = candidate("1")
    linked = services.intakeq_match_candidate_link(candidate=pair, actor=cm_supervisor_user)
    assert (linked.status, linked.decided_by) == ("linked", cm_supervisor_user)
    link = IntakeQLink.objects.get()
    assert (link.canonical_patient, link.linked_by, link.confidence_score) == (patient, cm_supervisor_user, pair.score)
    with pytest.raises(ConflictError, match="already decided"):
        services.intakeq_match_candidate_link(candidate=pair, actor=cm_supervisor_user)
    with pytest.raises(ConflictError, match="linked"):
        services.intakeq_match_candidate_reject(candidate=pair, actor=cm_supervisor_user)


def test_linking_a_pair_whose_side_is_linked_elsewhere_is_refused(tmp_path, cm_supervisor_user):
    patient = canonical("Ann", "Lee")
    existing = IntakeQLinkFactory(canonical_patient=patient)
    import_clients(tmp_path, client(1, "Ann", "Lee"))
    with pytest.raises(ConflictError) as refused:
        services.intakeq_match_candidate_link(candidate=candidate("1"), actor=cm_supervisor_user)
    assert refused.value.existing_id == existing.pk
    assert candidate("1").status == "proposed"


def test_automatic_links_are_audited_with_channel_import(tmp_path):
    canonical("Ann", "Lee")
    import_clients(tmp_path, client(1, "Ann", "Lee"))
    link = IntakeQLink.objects.get()
    event = Events.objects.filter(pgh_obj_id=str(link.pk)).get()
    assert event.pgh_context["channel"] == "import" and event.pgh_context["file"] == "(matching)"


def test_dry_run_keeps_no_candidate_and_no_link(tmp_path):
    canonical("Ann", "Lee")
    path = tmp_path / "c.json"
    path.write_text(json.dumps([client(1, "Ann", "Lee")]), encoding="utf-8")
    report = execute(kind=ImportKind.INTAKEQ, files=ImportFiles.from_paths([path]), options={}, dry_run=True)
    assert "1 certain pairs linked automatically" in report.render()
    assert not IntakeQMatchCandidate.objects.exists() and not IntakeQLink.objects.exists()
    assert not IntakeQPatient.objects.exists()


def test_matching_queries_do_not_grow_with_the_rows():
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            match_unlinked_clients()
        return len(captured)

    canonical("Ann", "Lee")
    IntakeQPatientFactory(first_name="Ann", last_name="Lee", date_of_birth=BORN)
    small = queries()
    for i in range(30):
        canonical(f"Name{i}", "Lee", dt.date(1970, 1, 1) + dt.timedelta(days=i))
        IntakeQPatientFactory(first_name=f"Name{i}", last_name="Lee", date_of_birth=dt.date(1970, 1, 1))
    assert queries() == small
