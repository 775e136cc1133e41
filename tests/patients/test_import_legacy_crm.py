"""import_legacy_crm (issue 11, part 1): every rule on small hand-made files, against PostgreSQL."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from pghistory.models import Events

from common.imports.files import ImportFiles
from common.imports.mapping import load_mappings
from common.imports.models import ImportKind
from common.imports.report import ImportReport, Outcome
from common.imports.runner import execute
from journeys.models import ClinicalTrialJourney, EAPJourney, JourneyStatusChange
from patients.models import (
    CallHistory,
    CallOutcome,
    Hospital,
    MedicalCondition,
    Patient,
    PatientLead,
    Physician,
)
from people.models import Person, PersonContactType
from tests.factories.people import NavigatorFactory, PersonFactory
from tests.patients import legacy_crm_files as files

pytestmark = pytest.mark.django_db


@pytest.fixture
def navigator():
    return NavigatorFactory(email="nav@staff.example.org")


def run(folder, *, dry_run=False, **options):
    stream = io.StringIO()
    report = execute(
        kind=ImportKind.LEGACY_CRM,
        files=ImportFiles.from_folder(folder, pattern="*.csv"),
        options={"navigator": "", "phone_region": "", "as": "", **options},
        dry_run=dry_run,
        report=ImportReport(csv_stream=stream),
    )
    report.rows = list(csv.DictReader(io.StringIO(stream.getvalue())))
    return report


def outcome_of(report, file, old_id):
    """The row's line of the CSV report (every row, created ones too)."""
    (row,) = [r for r in report.rows if r["file"] == file and r["old_id"] == old_id]
    return {**row, "row": int(row["row"])}


def test_one_person_per_normalised_email_across_both_files(tmp_path, navigator):
    report = run(files.write(tmp_path), navigator=navigator.email)
    ann = Person.objects.get(email="ann.lee@example.org")
    assert (ann.first_name, ann.last_name, ann.phone) == ("Ann", "Lee", "+18046425737")
    assert Person.objects.filter(first_name__iexact="ann").count() == 1
    assert Patient.objects.get(person=ann).first_contact_date == dt.date(2023, 3, 5)
    # c4 has no email, its patient p2 has one: one Person, who takes the patient's email.
    dana = Person.objects.get(first_name="Dana")
    assert dana.email == "dana@example.org" and Patient.objects.filter(person=dana).exists()
    # A patient without an email still becomes a Person (never dropped).
    assert Patient.objects.filter(person__first_name="Gil", person__email=None).exists()
    assert outcome_of(report, "contact.csv", "c6") == {
        "file": "contact.csv",
        "row": 7,
        "old_id": "c6",
        "outcome": Outcome.MATCHED,
        "reason": "same person as an earlier contact row (same email)",
        "new_id": str(ann.pk),
    }


def test_conditions_are_one_lookup_and_conflicts_are_reported(tmp_path):
    report = run(files.write(tmp_path))
    assert report.count("medical_condition.csv", Outcome.MATCHED) == 1  # glioblastoma is seeded
    assert report.count("medical_condition.csv", Outcome.CREATED) == 2
    rare = MedicalCondition.objects.get(name="Rare Thing")
    assert Patient.objects.get(person__first_name="Hal").medical_condition == rare
    # p1: the lookup (ALS) wins over the contact's option set (glioblastoma), and the row says so.
    ann = Patient.objects.get(person__email="ann.lee@example.org")
    assert ann.medical_condition.abbreviation == "ALS"
    assert outcome_of(report, "patient.csv", "p1")["reason"] == (
        "medical condition: the lookup and the contact's option set differ (the lookup's kept)"
    )
    assert outcome_of(report, "patient.csv", "p1")["outcome"] == Outcome.CONFLICT
    # The option set's unknown text joins the one lookup; the lead uses it.
    assert PatientLead.objects.get(person__first_name="Ivy").medical_condition.name == "Moonpox"
    assert (
        "medical_condition is not an id of medical_condition.csv" in outcome_of(report, "patient.csv", "p4")["reason"]
    )


def test_contact_types_become_leads_physicians_or_persons(tmp_path):
    report = run(files.write(tmp_path))
    bob = PatientLead.objects.get(person__email="bob@example.org")
    assert bob.status == "new" and bob.created_at == dt.datetime(2023, 4, 1, tzinfo=dt.UTC)
    assert "booking 2023-04-01 00:00; reminder 2023-04-10" in bob.notes
    ann = PatientLead.objects.get(person__email="ann.lee@example.org")
    assert ann.status == "converted" and ann.converted_patient.person == ann.person
    assert ann.converted_at == dt.datetime(2023, 3, 5, tzinfo=dt.UTC)
    roles = {
        (p.contact_type.code, p.valid_from.date(), p.valid_to and p.valid_to.date())
        for p in PersonContactType.objects.filter(person=ann.person)
    }
    assert roles == {
        ("patient_lead", dt.date(2023, 3, 1), dt.date(2023, 3, 5)),
        ("patient", dt.date(2023, 3, 5), None),
    }
    assert Hospital.objects.filter(name__iexact="st. mary hospital").count() == 1
    carl = Physician.objects.get(person__email="carl@example.org")
    assert (carl.hospital.name, carl.job_title, carl.medical_license_number) == (
        "St. Mary Hospital",
        "Neurologist",
        "L-123",
    )
    assert Physician.objects.get(person__email="who@example.org").hospital == carl.hospital
    eve = Person.objects.get(email="eve@example.org")
    assert not PersonContactType.objects.filter(person=eve).exists()
    assert outcome_of(report, "contact.csv", "c5")["reason"] == "contact type 'nurse' imported as a Person only"


def test_bookings_become_calls_of_the_patient(tmp_path, navigator):
    run(files.write(tmp_path), navigator=navigator.email)
    patient = Patient.objects.get(person__email="ann.lee@example.org")
    calls = list(CallHistory.objects.filter(patient=patient).order_by("call_date"))
    assert [(c.call_date, c.booking_date, c.reminder_date, c.direction, c.outcome, c.navigator) for c in calls] == [
        (dt.datetime(2023, 2, 1, tzinfo=dt.UTC), dt.datetime(2023, 2, 1, tzinfo=dt.UTC), None, "outbound",
         CallOutcome.NOT_RECORDED, navigator),
        (dt.datetime(2023, 3, 1, 10, tzinfo=dt.UTC), dt.datetime(2023, 3, 1, 10, tzinfo=dt.UTC),
         dt.date(2023, 3, 8), "outbound", CallOutcome.NOT_RECORDED, navigator),
    ]  # fmt: skip
    assert CallHistory.objects.get(patient__person__first_name="Dana").no_show is True
    patient.refresh_from_db()
    assert (patient.follow_up_date, patient.last_call_at) == (dt.date(2023, 3, 8), calls[-1].call_date)
    # The booking became a call, so the lead's notes do not repeat it.
    assert "booking" not in PatientLead.objects.get(person=patient.person).notes


def test_without_navigator_bookings_are_reported_and_kept_in_the_lead(tmp_path):
    report = run(files.write(tmp_path))
    assert not CallHistory.all_objects.exists()
    assert outcome_of(report, "contact.csv", "c1") == {
        "file": "contact.csv",
        "row": 2,
        "old_id": "c1",
        "outcome": Outcome.CONFLICT,
        "reason": "booking not imported as a call: no --navigator given",
        "new_id": str(Person.objects.get(email="ann.lee@example.org").pk),
    }
    assert (
        "contact c1: booking 2023-03-01 10:00; reminder 2023-03-08"
        in PatientLead.objects.get(person__email="ann.lee@example.org").notes
    )


def test_navigator_must_hold_the_navigator_role(tmp_path):
    PersonFactory(email="plain@example.org")
    with pytest.raises(CommandError, match="--navigator plain@example.org: .* is not a patient navigator"):
        call_command("import_legacy_crm", str(files.write(tmp_path)), "--navigator", "plain@example.org", "--quiet")
    assert not Person.objects.filter(email="bob@example.org").exists()


def test_journeys(tmp_path):
    run(files.write(tmp_path))
    by_patient = {
        j.patient.person.first_name: j for j in ClinicalTrialJourney.objects.select_related("patient__person")
    }
    ann, dana, gil, hal = by_patient["Ann"], by_patient["Dana"], by_patient["Gil"], by_patient["Hal"]
    assert (ann.status, ann.trial_id, ann.referral_date) == ("referred", "NCT01234567", dt.date(2023, 3, 20))
    assert "Outcome in the legacy CRM: screening ongoing" in ann.notes
    assert (dana.status, dana.eligible, dana.ineligible_reason) == ("ineligible", "no", "not eligible (imported)")
    assert (gil.status, gil.trial_id, gil.trial_name) == ("pre_screening", "", "NCTbad")
    assert (hal.status, hal.eligible, hal.trial_id) == ("pre_screening", "yes", "EUCT-2022-1")
    assert "Finn" not in by_patient  # no trial id, no referral date: no journey
    assert JourneyStatusChange.objects.filter(ct_journey=ann, from_status="", to_status="referred").exists()
    eap = {j.eap_number: j for j in EAPJourney.objects.all()}
    assert (eap["EAP-1"].status, eap["EAP-1"].enrollment_date) == ("active", dt.date(2023, 7, 1))
    assert eap["EAP-2"].status == "pending" and eap["EAP-2"].enrollment_date is None
    assert "EAP-3" not in eap


def test_every_row_is_accounted_for_and_the_csv_report_lists_them(tmp_path):
    folder = files.write(tmp_path / "in" if (tmp_path / "in").mkdir() is None else tmp_path)
    out = io.StringIO()
    call_command("import_legacy_crm", str(folder), "--quiet", "--report", str(tmp_path / "report.csv"), stdout=out)
    with open(tmp_path / "report.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == 3 + 9 + 5 + 3
    assert {r["file"]: 0 for r in rows}.keys() == {
        "medical_condition.csv",
        "contact.csv",
        "patient.csv",
        "eap_dossier.csv",
    }
    bad = next(r for r in rows if r["old_id"] == "c7")
    assert (bad["row"], bad["outcome"], bad["reason"]) == (
        "8",
        "skipped",
        "unparseable booking_date (expected YYYY-MM-DD or YYYY-MM-DD HH:MM)",
    )
    eap = next(r for r in rows if r["old_id"] == "eap-3")
    assert (eap["outcome"], eap["reason"]) == ("skipped", "patient not found in patient.csv")
    printed = out.getvalue()
    assert "contact.csv" in printed and "skipped" in printed
    # The rows after the bad one were imported.
    assert Physician.objects.filter(person__email="who@example.org").exists()


def test_second_run_creates_nothing_and_reports_unchanged(tmp_path, navigator):
    folder = files.write(tmp_path)
    first = run(folder, navigator=navigator.email)
    counts = {model: model.all_objects.count() if hasattr(model, "all_objects") else model.objects.count()
              for model in (Person, Patient, PatientLead, Physician, Hospital, CallHistory, ClinicalTrialJourney,
                            EAPJourney, MedicalCondition, PersonContactType, JourneyStatusChange)}  # fmt: skip
    second = run(folder, navigator=navigator.email)
    assert {
        model: model.all_objects.count() if hasattr(model, "all_objects") else model.objects.count() for model in counts
    } == counts
    assert second.count(outcome=Outcome.CREATED) == 0
    assert second.count() == first.count()
    assert second.count(outcome=Outcome.UNCHANGED) == second.count() - second.count(outcome=Outcome.SKIPPED)


def test_dry_run_writes_nothing(tmp_path):
    before = Person.all_objects.count()
    report = run(files.write(tmp_path), dry_run=True)
    assert report.count("contact.csv", Outcome.CREATED) > 0
    assert "nothing was saved" in report.render()
    assert Person.all_objects.count() == before
    assert not load_mappings("legacy_crm", "contact", ["c1"])


def test_rows_are_audited_with_channel_import_and_their_file(tmp_path, navigator):
    run(files.write(tmp_path), navigator=navigator.email)
    for obj, file in (
        (Person.objects.get(email="bob@example.org"), "contact.csv"),
        (Person.objects.get(email="finn@example.org"), "patient.csv"),
        (Patient.objects.get(person__email="finn@example.org"), "patient.csv"),
        (PatientLead.objects.get(person__email="bob@example.org"), "contact.csv"),
        (CallHistory.objects.filter(patient__person__first_name="Dana").get(), "contact.csv"),
        (EAPJourney.objects.get(eap_number="EAP-1"), "eap_dossier.csv"),
        (MedicalCondition.objects.get(name="Rare Thing"), "medical_condition.csv"),
    ):
        event = Events.objects.filter(pgh_obj_id=str(obj.pk), pgh_label="insert").get()
        assert (event.pgh_context["channel"], event.pgh_context["file"]) == ("import", file), obj


def test_stored_data_is_never_overwritten(tmp_path):
    stored = PersonFactory(email="bob@example.org", first_name="Robert", last_name="Stone", phone="")
    PersonFactory(email="carl@example.org", first_name="Carl", last_name="Wu", phone="+18015550100")
    report = run(files.write(tmp_path))
    stored.refresh_from_db()
    assert (stored.first_name, stored.phone) == ("Robert", "")
    assert outcome_of(report, "contact.csv", "c2")["reason"] == (
        "first name differs from the stored person's (stored kept)"
    )
    carl = Person.objects.get(email="carl@example.org")
    assert carl.phone == "+18015550100"
    assert outcome_of(report, "contact.csv", "c3") == {
        "file": "contact.csv",
        "row": 4,
        "old_id": "c3",
        "outcome": Outcome.CONFLICT,
        "reason": "phone differs from the stored person's (stored kept)",
        "new_id": str(carl.pk),
    }


def test_a_blank_stored_phone_is_filled(tmp_path):
    stored = PersonFactory(email="ann.lee@example.org", first_name="Ann", last_name="Lee", phone="")
    report = run(files.write(tmp_path))
    stored.refresh_from_db()
    assert stored.phone == "+18046425737"
    assert outcome_of(report, "contact.csv", "c1")["new_id"] == str(stored.pk)
    assert Person.objects.filter(email="ann.lee@example.org").count() == 1


def test_a_cm_only_person_is_a_record_the_crm_supervisor_cannot_see(tmp_path, crm_supervisor_user):
    from tests.factories.cm_program import CanonicalPatientFactory

    cm_person = PersonFactory(email="finn@example.org", first_name="Finn", last_name="Ox")
    CanonicalPatientFactory(person=cm_person)
    report = run(files.write(tmp_path), **{"as": crm_supervisor_user.username})
    assert outcome_of(report, "patient.csv", "p3") == {
        "file": "patient.csv",
        "row": 4,
        "old_id": "p3",
        "outcome": Outcome.SKIPPED,
        "reason": "matches a record you cannot see",
        "new_id": "",
    }
    assert not Patient.all_objects.filter(person=cm_person).exists()
    eap = outcome_of(report, "eap_dossier.csv", "eap-2")
    assert (eap["outcome"], eap["reason"]) == (Outcome.SKIPPED, "its patient row was not imported")


def test_a_missing_column_stops_before_anything_is_written(tmp_path):
    files.write(tmp_path, patients=files.PATIENT_HEADER.replace("contact_record,", "") + "p1,A,B,a@x.org,,,,,,,,\n")
    with pytest.raises(CommandError, match=r"patient.csv: missing column\(s\) contact_record"):
        call_command("import_legacy_crm", str(tmp_path), "--quiet")
    assert not Person.objects.filter(email="bob@example.org").exists()
    assert not MedicalCondition.objects.filter(name="Rare Thing").exists()


def test_a_missing_file_is_named(tmp_path):
    files.write(tmp_path, patients=None)
    with pytest.raises(CommandError, match="patient.csv: missing"):
        call_command("import_legacy_crm", str(tmp_path), "--quiet")


def test_bad_options_are_named(tmp_path):
    files.write(tmp_path)
    with pytest.raises(CommandError, match="--phone-region XX: not a region code"):
        call_command("import_legacy_crm", str(tmp_path), "--phone-region", "xx", "--quiet")
    with pytest.raises(CommandError, match="--as nobody: no active user"):
        call_command("import_legacy_crm", str(tmp_path), "--as", "nobody", "--quiet")
    with pytest.raises(CommandError, match="not a folder"):
        call_command("import_legacy_crm", str(tmp_path / "nope"), "--quiet")


def test_phone_region_reads_national_numbers(tmp_path):
    contacts = files.CONTACT_HEADER + "c1,Jan,Vos,jan@example.nl,020 123 4567,,physician,,,,,,\n"
    files.write(tmp_path, contacts=contacts, patients=files.PATIENT_HEADER, eap=None)
    run(tmp_path, phone_region="NL")
    assert Person.objects.get(email="jan@example.nl").phone == "+31201234567"


def _contacts(n: int) -> str:
    return files.CONTACT_HEADER + "".join(
        f"c{n}-{i},First{i},Last{i},p{n}-{i}@example.org,(804) 642-{i:04d},ALS,patient - lead,2023-01-01,,,,,\n"
        for i in range(n)
    )


def _patients(n: int) -> str:
    return files.PATIENT_HEADER + "".join(
        f"p{n}-{i},First{i},Last{i},p{n}-{i}@example.org,c{n}-{i},2,2023-01-02,,NCT0000000{i % 10},2023-01-03,,,\n"
        for i in range(n)
    )


def test_query_count_does_not_grow_with_rows(tmp_path, navigator):
    counts = []
    for n in (1, 5, 40):  # the first run also brings the conditions in
        folder = tmp_path / str(n)
        folder.mkdir()
        files.write(folder, contacts=_contacts(n), patients=_patients(n), eap=None)
        with CaptureQueriesContext(connection) as queries:
            report = run(folder, navigator=navigator.email)
        assert report.count("patient.csv", Outcome.CREATED) == n
        counts.append(len(queries))
    assert counts[1] == counts[2]


def test_staff_cannot_log_a_call_as_not_recorded(navigator):
    from django.core.exceptions import ValidationError

    from patients.services import call_log
    from tests.factories.patients import PatientFactory

    with pytest.raises(ValidationError) as caught:
        call_log(patient=PatientFactory(), outcome=CallOutcome.NOT_RECORDED, navigator=navigator)
    assert caught.value.message_dict == {"outcome": ["'Not recorded' is only for calls imported from the legacy CRM."]}


def test_a_later_run_updates_only_what_the_import_wrote_and_nobody_edited(tmp_path):
    folder = files.write(tmp_path)
    run(folder)
    hal = Patient.objects.get(person__email="hal@example.org")
    glioblastoma = MedicalCondition.objects.get(abbreviation="GBM")
    Patient.objects.filter(pk=hal.pk).update(first_contact_date=dt.date(2022, 3, 1))  # a navigator's correction
    changed = files.PATIENTS.replace("c1,2,2023-03-05", "c1,1,2023-03-04").replace(",,3,2022-03-03", ",,3,2022-03-02")
    files.write(folder, patients=changed)
    report = run(folder)
    ann = Patient.objects.get(person__email="ann.lee@example.org")
    assert (ann.medical_condition, ann.first_contact_date) == (glioblastoma, dt.date(2023, 3, 4))
    assert outcome_of(report, "patient.csv", "p1")["outcome"] == Outcome.UPDATED
    hal.refresh_from_db()
    assert hal.first_contact_date == dt.date(2022, 3, 1)
    assert outcome_of(report, "patient.csv", "p5")["reason"] == (
        "edited in the CRM since the last import: the CRM's values kept"
    )
    assert report.count(outcome=Outcome.CREATED) == 0
    # A third run of the same files: nothing left to update.
    assert run(folder).count(outcome=Outcome.UPDATED) == 0


def test_a_booking_in_the_future_is_no_call_and_no_future_record(tmp_path, navigator):
    contacts = files.CONTACT_HEADER + (
        "c1,Kim,Park,kim@example.org,,,patient - lead,2999-01-01 10:00,,,,,\n"
        "c2,Lou,Park,lou@example.org,,,patient - lead,2999-01-01 10:00,,,,,\n"
    )
    patients = files.PATIENT_HEADER + "p1,Kim,Park,kim@example.org,c1,,2023-01-01,,,,,,\n"
    files.write(tmp_path, contacts=contacts, patients=patients, eap=None)
    report = run(tmp_path, navigator=navigator.email)
    assert not CallHistory.all_objects.exists()
    assert outcome_of(report, "contact.csv", "c1")["reason"] == "booking is in the future: not imported as a call"
    lou = PatientLead.objects.get(person__email="lou@example.org")
    assert lou.created_at <= timezone.now() and lou.person.created_at <= timezone.now()
    assert "booking 2999-01-01 10:00" in lou.notes


def test_a_later_run_updates_every_kind_of_row_the_import_made_unless_edited_since(tmp_path, navigator):
    """The re-run rule for leads, physicians, calls, CT journeys and EAP journeys: the non-identity
    fields the import wrote take the file's new values; a field edited in the CRM since keeps the CRM's."""
    folder = files.write(tmp_path)
    run(folder, navigator=navigator.email)
    ann = Patient.objects.get(person__email="ann.lee@example.org")
    call = CallHistory.objects.get(patient=ann, booking_date=dt.datetime(2023, 3, 1, 10, tzinfo=dt.UTC))
    assert (call.reminder_date, call.no_show) == (dt.date(2023, 3, 8), False)
    # A coordinator's corrections in the CRM: they must survive the next import.
    Physician.objects.filter(person__email="who@example.org").update(job_title="Surgeon")
    EAPJourney.objects.filter(eap_number="EAP-2").update(product="Drug B (renamed)")
    contacts = (
        files.CONTACTS.replace("2023-03-08,no,", "2023-03-09,yes,")
        .replace("bob@example.org,,ALS,", "bob@example.org,,GBM,")
        .replace("Neurologist,L-123", "Oncologist,L-456")
        .replace("st. mary hospital ,,", "st. mary hospital ,GP,")
    )
    patients = files.PATIENTS.replace("NCT01234567,2023-03-20,,,screening ongoing", "NCT07654321,2023-03-20,,,enrolled")
    eap = files.EAP.replace("EAP-1,Drug A,", "EAP-1,Drug A2,").replace("EAP-2,Drug B,", "EAP-2,Drug B2,")
    files.write(folder, contacts=contacts, patients=patients, eap=eap)

    report = run(folder, navigator=navigator.email)

    assert report.count(outcome=Outcome.CREATED) == 0
    call.refresh_from_db()
    assert (call.reminder_date, call.no_show) == (dt.date(2023, 3, 9), True)
    ann.refresh_from_db()
    assert ann.follow_up_date == dt.date(2023, 3, 9)  # the patient's follow-up follows its latest call
    assert PatientLead.objects.get(person__email="bob@example.org").medical_condition.abbreviation == "GBM"
    carl = Physician.objects.get(person__email="carl@example.org")
    assert (carl.job_title, carl.medical_license_number) == ("Oncologist", "L-456")
    assert Physician.objects.get(person__email="who@example.org").job_title == "Surgeon"
    journey = ClinicalTrialJourney.objects.get(patient=ann)
    assert journey.trial_id == "NCT07654321" and "Outcome in the legacy CRM: enrolled" in journey.notes
    assert EAPJourney.objects.get(eap_number="EAP-1").product == "Drug A2"
    assert EAPJourney.objects.get(eap_number="EAP-2").product == "Drug B (renamed)"
    for file, old_id in (
        ("contact.csv", "c1"),
        ("contact.csv", "c2"),
        ("contact.csv", "c3"),
        ("patient.csv", "p1"),
        ("eap_dossier.csv", "EAP-1".lower()),
    ):
        assert outcome_of(report, file, old_id)["outcome"] == Outcome.UPDATED, (file, old_id)
    edited = "edited in the CRM since the last import: the CRM's values kept"
    assert edited in outcome_of(report, "contact.csv", "c8")["reason"]
    assert outcome_of(report, "eap_dossier.csv", "eap-2")["reason"] == edited
    # The updates are audited as the import's, with their file.
    event = Events.objects.filter(pgh_obj_id=str(carl.pk), pgh_label="update").get()
    assert (event.pgh_context["channel"], event.pgh_context["file"]) == ("import", "contact.csv")
    # A third run of the same files: nothing left to update, nothing created.
    third = run(folder, navigator=navigator.email)
    assert third.count(outcome=Outcome.UPDATED) == 0 and third.count(outcome=Outcome.CREATED) == 0


def test_a_record_the_import_matched_is_never_updated_by_a_later_run(tmp_path, navigator):
    """A lead that existed before the import was matched, not made: its fields are the CRM's, even when
    a later run updates something else of the same contact row (its call)."""
    from tests.factories.patients import PatientLeadFactory

    glioblastoma = MedicalCondition.objects.get(abbreviation="GBM")
    ann = PersonFactory(email="ann.lee@example.org", first_name="Ann", last_name="Lee", phone="")
    lead = PatientLeadFactory(person=ann, medical_condition=glioblastoma)
    folder = files.write(tmp_path)
    run(folder, navigator=navigator.email)
    # The call of c1 changes (an update), its option-set text still names the lead's condition.
    files.write(folder, contacts=files.CONTACTS.replace("2023-03-08,no,", "2023-03-09,no,"))
    assert outcome_of(run(folder, navigator=navigator.email), "contact.csv", "c1")["outcome"] == Outcome.UPDATED
    # Now the file names another condition: the matched lead keeps the CRM's.
    contacts = files.CONTACTS.replace("2023-03-08,no,", "2023-03-09,no,").replace("glioblastoma,patient", "ALS,patient")
    files.write(folder, contacts=contacts)
    run(folder, navigator=navigator.email)
    lead.refresh_from_db()
    assert lead.medical_condition == glioblastoma
