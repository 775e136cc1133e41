"""patient.open_journeys: equal to a count from scratch after every path that writes journeys (services, admin,
API, importer, bulk load, merges, QuerySet.update / bulk_create / delete, raw SQL, TRUNCATE), the check-and-repair
command, and the patients list's "Any open journey" filter that reads it."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.urls import reverse

from journeys import services
from journeys.models import ClinicalTrialJourney, EAPJourney, JourneyStatusChange
from journeys.open_journeys import MIGRATION_CT_FINAL, MIGRATION_EAP_FINAL, open_journeys_mismatches
from journeys.transitions import CT_FINAL, EAP_FINAL, CTStatus, EAPStatus
from patients.models import Patient
from people.services import person_merge
from tests.factories.journeys import ClinicalTrialJourneyFactory, EAPJourneyFactory
from tests.factories.patients import PatientFactory
from tests.navigation_api import API, client_for

pytestmark = pytest.mark.django_db


def fresh_counts() -> dict:
    """Every patient's open journeys counted in Python from the journey rows (not the migration's view)."""
    counts = dict.fromkeys(Patient.all_objects.values_list("pk", flat=True), 0)
    for model, final in ((ClinicalTrialJourney, CT_FINAL), (EAPJourney, EAP_FINAL)):
        for patient_id, status, active in model.all_objects.values_list("patient_id", "status", "is_active"):
            if active and status not in final:
                counts[patient_id] += 1
    return counts


def stored_counts() -> dict:
    return dict(Patient.all_objects.values_list("pk", "open_journeys"))


def assert_exact():
    assert stored_counts() == fresh_counts()
    assert open_journeys_mismatches(limit=5) == (0, [])


def test_the_migration_knows_every_final_status():
    assert set(MIGRATION_CT_FINAL) == set(CT_FINAL)
    assert set(MIGRATION_EAP_FINAL) == set(EAP_FINAL)


def test_services_open_move_close_delete_and_restore(navigator_user):
    patient = PatientFactory()
    ct = services.journey_open(patient=patient, kind="clinical_trial", trial_id="NCT01234567", actor=navigator_user)
    eap = services.journey_open(patient=patient, kind="eap", product="Compound X", actor=navigator_user)
    patient.refresh_from_db()
    assert patient.open_journeys == 2
    assert_exact()
    services.journey_transition(journey=ct, to_status=CTStatus.PRE_SCREENING, actor=navigator_user)  # open -> open
    assert_exact()
    services.journey_transition(journey=ct, to_status=CTStatus.WITHDRAWN, actor=navigator_user)  # open -> final
    patient.refresh_from_db()
    assert patient.open_journeys == 1
    services.journey_soft_delete(journey=eap, reason="entered twice", actor=navigator_user)
    patient.refresh_from_db()
    assert patient.open_journeys == 0
    assert_exact()
    services.journey_restore(journey=eap, actor=navigator_user)
    patient.refresh_from_db()
    assert patient.open_journeys == 1
    assert_exact()


def test_a_rolled_back_write_leaves_the_count_as_it_was(navigator_user):
    patient = PatientFactory()
    with pytest.raises(RuntimeError), transaction.atomic():
        services.journey_open(patient=patient, kind="eap", product="Compound X", actor=navigator_user)
        patient.refresh_from_db()
        assert patient.open_journeys == 1  # in the same transaction as the journey
        raise RuntimeError
    patient.refresh_from_db()
    assert patient.open_journeys == 0
    assert_exact()


def test_api_and_admin(navigator_user, crm_supervisor_user, client):
    patient = PatientFactory()
    api = client_for(navigator_user)
    opened = api.post(f"{API}/eap-journeys/", {"patient": str(patient.pk), "product": "Compound Y"}, format="json")
    assert opened.status_code == 201, opened.content
    assert_exact()
    journey_id = opened.json()["id"]
    moved = api.post(f"{API}/eap-journeys/{journey_id}/transition/", {"status": "declined"}, format="json")
    assert moved.status_code == 200, moved.content
    patient.refresh_from_db()
    assert patient.open_journeys == 0
    # The admin: a CT journey added on its form (the journey services behind it).
    client.force_login(crm_supervisor_user)
    response = client.post(
        reverse("admin:journeys_clinicaltrialjourney_add"),
        {"patient": patient.pk, "trial_id": "NCT07654321", "referral_date": "2026-01-05", "eligible": "unknown"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    patient.refresh_from_db()
    assert patient.open_journeys == 1
    assert_exact()


def test_queryset_update_bulk_create_delete_and_raw_sql():
    patients = PatientFactory.create_batch(3)
    a, b, c = patients
    ClinicalTrialJourney.objects.bulk_create(
        [ClinicalTrialJourneyFactory.build(patient=p, referring_physician=None) for p in (a, a, b)]
    )
    EAPJourney.objects.bulk_create([EAPJourneyFactory.build(patient=c, physician=None) for _ in range(2)])
    assert stored_counts()[a.pk] == 2
    assert_exact()
    # One statement over several patients: some journeys close, one moves to another patient (a merge's move).
    ClinicalTrialJourney.objects.filter(patient=a).update(status=CTStatus.DECLINED)
    assert_exact()
    EAPJourney.objects.filter(patient=c).update(patient=a)
    assert stored_counts()[a.pk] == 2 and stored_counts()[c.pk] == 0
    assert_exact()
    EAPJourney.objects.filter(patient=a).update(status=EAPStatus.SUBMITTED)  # open -> open: nothing moves
    assert_exact()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE clinical_trial_journey SET status = 'referred' WHERE patient_id = %s", [a.pk])
        cursor.execute(
            "UPDATE eap_journey SET is_active = false, deletion_reason = 'raw' WHERE patient_id = %s", [a.pk]
        )
    assert stored_counts()[a.pk] == 2
    assert_exact()
    JourneyStatusChange.objects.all().delete()
    ClinicalTrialJourney.all_objects.filter(patient=b).delete()
    assert stored_counts()[b.pk] == 0
    assert_exact()
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # TRUNCATE refuses a table with pending FK checks
        cursor.execute("TRUNCATE clinical_trial_journey CASCADE")
    assert stored_counts()[a.pk] == 0
    assert_exact()


def test_a_person_merge_moves_the_count_with_the_journeys(crm_supervisor_user):
    survivor, duplicate = PatientFactory(), PatientFactory()
    ClinicalTrialJourneyFactory(patient=duplicate)
    EAPJourneyFactory(patient=duplicate)
    EAPJourneyFactory(
        patient=survivor,
        status=EAPStatus.COMPLETED,
        approval_date="2026-01-01",
        enrollment_date="2026-01-02",
        completion_date="2026-01-03",
    )
    person_merge(survivor=survivor.person, duplicate=duplicate.person, actor=crm_supervisor_user, reason="dup")
    survivor.refresh_from_db()
    assert survivor.open_journeys == 2
    assert_exact()


def test_the_legacy_importer(tmp_path):
    from tests.patients import legacy_crm_files as files
    from tests.patients.test_import_legacy_crm import run

    run(files.write(tmp_path))
    assert ClinicalTrialJourney.objects.exists() and EAPJourney.objects.exists()
    assert any(stored_counts().values())
    assert_exact()


def test_the_command_finds_and_repairs_a_drifted_count():
    patient, other = PatientFactory(), PatientFactory()
    EAPJourneyFactory(patient=patient)
    call_command("check_open_journeys")  # agrees: exit 0
    # Drift only happens behind the triggers' back (here: written directly).
    Patient.all_objects.filter(pk=patient.pk).update(open_journeys=0)
    Patient.all_objects.filter(pk=other.pk).update(open_journeys=3)
    with pytest.raises(CommandError, match="2 patients' open journey counts disagree"):
        call_command("check_open_journeys")
    call_command("check_open_journeys", "--repair")
    assert stored_counts()[patient.pk] == 1 and stored_counts()[other.pk] == 0
    assert_exact()
    with pytest.raises(CommandError, match="--show must be 0 or more"):
        call_command("check_open_journeys", "--show", "-1")


def test_the_patients_list_filter_reads_the_column(client, superuser):
    with_open, closed, none = PatientFactory(), PatientFactory(), PatientFactory()
    ClinicalTrialJourneyFactory(patient=with_open)
    EAPJourneyFactory(patient=closed, status=EAPStatus.WITHDRAWN)
    client.force_login(superuser)
    response = client.get(reverse("admin:patients_patient_changelist"), {"journey": "open"})
    assert response.status_code == 200
    shown = {p.pk for p in response.context["cl"].result_list}
    assert shown == {with_open.pk}
    assert none.pk not in shown
