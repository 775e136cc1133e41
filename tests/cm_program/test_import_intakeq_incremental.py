"""import_intakeq's matching is incremental: a run grades the clients whose mirror row changed and the
canonical patients created or changed since the last grading (a watermark), never every unlinked client
again; a rejected pair is never proposed again (issue 11, section 3)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from cm_program import services
from cm_program.models import (
    CanonicalPatient,
    CMPatient,
    IntakeQLink,
    IntakeQMatchCandidate,
    IntakeQMatchingWatermark,
    IntakeQPatient,
)
from common.imports.files import ImportFiles
from common.imports.models import ImportKind
from common.imports.runner import execute
from people.models import Person
from tests.factories.cm_program import CanonicalPatientFactory, IntakeQLinkFactory
from tests.factories.people import PersonFactory

pytestmark = pytest.mark.django_db

BORN = dt.date(1980, 3, 14)


def client(client_id, first, last, dob=BORN, **extra) -> dict:
    return {"ClientId": client_id, "FirstName": first, "LastName": last, "DateOfBirth": dob.isoformat(), **extra}


def import_clients(tmp_path, *clients: dict, **options):
    path = tmp_path / "clients.json"
    path.write_text(json.dumps(list(clients)), encoding="utf-8")
    return execute(kind=ImportKind.INTAKEQ, files=ImportFiles.from_paths([path]), options={"match": True, **options})


def canonical(first, last, dob=BORN):
    person = PersonFactory(first_name=first, last_name=last, date_of_birth=dob, email=None, phone="")
    return CanonicalPatientFactory(first_name=first, last_name=last, date_of_birth=dob, person=person)


def age_everything() -> None:
    """As if the rows so far had been written and graded yesterday (a test runs in one transaction, in which
    now() does not move)."""
    long_ago = timezone.now() - dt.timedelta(days=2)
    for model in (IntakeQPatient, CanonicalPatient, Person, CMPatient):
        model.objects.update(updated_at=long_ago)
    IntakeQMatchingWatermark.objects.update(graded_until=timezone.now() - dt.timedelta(days=1))


def pairs() -> set[tuple[str, str, str]]:
    return set(
        IntakeQMatchCandidate.objects.values_list(
            "intakeq_patient__intakeq_client_id", "canonical_patient__last_name", "status"
        )
    )


def test_the_first_grading_sets_the_watermark_and_grades_everything(tmp_path):
    canonical("Kate", "Moss")
    report = import_clients(tmp_path, client(1, "Katherine", "Moss"))
    assert IntakeQMatchingWatermark.objects.get().graded_until <= timezone.now()
    assert pairs() == {("1", "Moss", "proposed")}
    assert "1 unlinked IntakeQ clients, 1 of them new or changed" in report.render()


def test_unchanged_clients_are_not_graded_again(tmp_path):
    canonical("Kate", "Moss")
    import_clients(tmp_path, client(1, "Katherine", "Moss"))
    age_everything()
    IntakeQMatchCandidate.objects.all().delete()  # a grading that would run again would make it again

    report = import_clients(tmp_path, client(1, "Katherine", "Moss"))

    assert pairs() == set()
    assert "1 unlinked IntakeQ clients, 0 of them new or changed" in report.render()
    assert "0 pairs graded" in report.render()

    # --rematch-all grades everyone again.
    import_clients(tmp_path, client(1, "Katherine", "Moss"), rematch_all=True)
    assert pairs() == {("1", "Moss", "proposed")}


def test_a_client_changed_in_the_export_and_a_new_canonical_patient_are_graded(tmp_path):
    canonical("Kate", "Moss")
    import_clients(tmp_path, client(1, "Katherine", "Moss"), client(2, "Olga", "Berg", dt.date(1990, 1, 1)))
    age_everything()
    IntakeQMatchCandidate.objects.all().delete()

    canonical("Olga", "Bergh", dt.date(1990, 1, 1))  # a new canonical patient: graded against every client
    report = import_clients(
        tmp_path, client(1, "Katherine", "Moss", Email="kate@x.org"), client(2, "Olga", "Berg", dt.date(1990, 1, 1))
    )

    # Client 1 changed (its email): graded; the new canonical patient is graded against client 2.
    assert {(q, last) for q, last, _ in pairs()} == {("1", "Moss"), ("2", "Bergh")}
    assert "2 unlinked IntakeQ clients, 1 of them new or changed" in report.render()
    assert "1 canonical patients new or changed since" in report.render()


def test_a_rejected_pair_is_not_proposed_again_when_either_side_changes(tmp_path, cm_supervisor_user):
    patient = canonical("Kate", "Moss")
    import_clients(tmp_path, client(1, "Katherine", "Moss"))
    pair = IntakeQMatchCandidate.objects.get()
    services.intakeq_match_candidate_reject(candidate=pair, actor=cm_supervisor_user)
    age_everything()
    CanonicalPatient.objects.filter(pk=patient.pk).update(updated_at=timezone.now())  # both sides change
    report = import_clients(tmp_path, client(1, "Kathy", "Moss", Email="kate@x.org"))
    pair.refresh_from_db()
    assert pair.status == "rejected" and IntakeQMatchCandidate.objects.count() == 1
    assert "1 pairs rejected earlier stay rejected" in report.render()


def test_the_command_takes_rematch_all(tmp_path, capsys):
    canonical("Kate", "Moss")
    path = tmp_path / "c.json"
    path.write_text(json.dumps([client(1, "Katherine", "Moss")]), encoding="utf-8")
    call_command("import_intakeq", str(path), "--rematch-all")
    assert pairs() == {("1", "Moss", "proposed")}


def test_a_client_whose_link_was_removed_is_graded_again(tmp_path):
    """A wrong link removed in the admin: neither row changed, yet the client is unlinked again and the next
    incremental run grades it (here: linked automatically to the right patient)."""
    wrong = canonical("Bob", "Smith", dt.date(1950, 1, 1))
    right = canonical("Kate", "Moss")
    import_clients(tmp_path, client(1, "Kate", "Moss"), match=False)
    linked = IntakeQPatient.objects.get(intakeq_client_id="1")
    IntakeQLinkFactory(canonical_patient=wrong, intakeq_patient=linked, confidence_score=Decimal("1.00"))
    import_clients(tmp_path, client(1, "Kate", "Moss"))  # the first grading: the client is linked, not graded
    assert pairs() == set()
    age_everything()

    IntakeQLink.objects.filter(intakeq_patient=linked).delete()
    report = import_clients(tmp_path, client(1, "Kate", "Moss"))

    assert "1 unlinked IntakeQ clients, 1 of them new or changed" in report.render()
    assert pairs() == {("1", "Moss", "linked")}
    assert IntakeQLink.objects.get(intakeq_patient=linked).canonical_patient == right

    # The run after it: nothing removed since, nothing graded again.
    report = import_clients(tmp_path, client(1, "Kate", "Moss"))
    assert "0 pairs graded" in report.render()


def test_a_canonical_patient_whose_link_was_removed_is_graded_again(tmp_path):
    """Client 2 is the right match of a patient linked to client 1 by mistake: it waits in the queue while the
    patient is linked; once the wrong link is removed, the next incremental run links the right pair."""
    patient = canonical("Kate", "Moss")
    import_clients(tmp_path, client(1, "Bob", "Smith", dt.date(1950, 1, 1)), client(2, "Kate", "Moss"), match=False)
    wrong = IntakeQLinkFactory(
        canonical_patient=patient, intakeq_patient=IntakeQPatient.objects.get(intakeq_client_id="1")
    )
    import_clients(tmp_path, client(1, "Bob", "Smith", dt.date(1950, 1, 1)), client(2, "Kate", "Moss"))
    assert pairs() == {("2", "Moss", "proposed")}  # certain, but the patient is linked elsewhere: the queue
    age_everything()

    wrong.delete()
    report = import_clients(tmp_path, client(1, "Bob", "Smith", dt.date(1950, 1, 1)), client(2, "Kate", "Moss"))

    assert "2 unlinked IntakeQ clients, 1 of them new or changed" in report.render()  # client 1, freed
    assert "1 canonical patients new or changed since" in report.render()
    assert pairs() == {("2", "Moss", "linked")}
    assert IntakeQLink.objects.get().intakeq_patient.intakeq_client_id == "2"


def test_a_removed_link_is_not_made_again_automatically_its_pair_goes_back_to_the_queue(tmp_path):
    canonical("Kate", "Moss")
    canonical("Olga", "Berg", dt.date(1990, 1, 1))
    olga = client(2, "Olga", "Berg", dt.date(1990, 1, 1))
    import_clients(tmp_path, client(1, "Kate", "Moss"), olga, match=False)
    # Olga linked by hand (no queue row), Kate linked automatically by the grading.
    services.intakeq_link_create(
        canonical_patient=CanonicalPatient.objects.get(last_name="Berg"),
        intakeq_patient=IntakeQPatient.objects.get(intakeq_client_id="2"),
    )
    import_clients(tmp_path, client(1, "Kate", "Moss"), olga)
    assert pairs() == {("1", "Moss", "linked")}
    age_everything()

    IntakeQLink.objects.all().delete()  # both links removed in the admin
    report = import_clients(tmp_path, client(1, "Kate", "Moss"), olga)

    # Both pairs are certain, yet a person removed their links: the queue, not an automatic link.
    assert pairs() == {("1", "Moss", "proposed"), ("2", "Berg", "proposed")}
    assert IntakeQMatchCandidate.objects.get(intakeq_patient__intakeq_client_id="1").decided_at is None
    assert not IntakeQLink.objects.exists()
    assert "0 certain pairs linked automatically" in report.render()
    assert "1 pairs whose link was removed are back in the review queue" in report.render()
