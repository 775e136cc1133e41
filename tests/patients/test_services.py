"""The patient-navigation rules, through their services."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone
from pghistory.models import Events

from common.audit import audit_context, record_history
from common.errors import ConflictError
from patients import services
from patients.models import (
    CallHistory,
    LeadStatus,
    MedicalCondition,
    Patient,
    PatientLead,
    PatientPhysicianRelationship,
)
from people.models import ContactType, Person, PersonContactType
from tests.factories.patients import (
    CallHistoryFactory,
    HospitalFactory,
    PatientFactory,
    PatientLeadFactory,
    PhysicianFactory,
    seeded_condition,
)
from tests.factories.people import NavigatorFactory, PersonFactory
from tests.relative_dates import FromNow, FromToday, resolve

pytestmark = pytest.mark.django_db

ANN = {"first_name": "Ann", "last_name": "Lee", "email": "ann.lee@example.org"}


def written_rows() -> dict[str, int]:
    """Row counts of everything a service could write, audit events included."""
    return {
        "person": Person.all_objects.count(),
        "patient": Patient.all_objects.count(),
        "roles": PersonContactType.objects.count(),
        "leads": PatientLead.objects.count(),
        "calls": CallHistory.all_objects.count(),
        "conditions": MedicalCondition.all_objects.count(),
        "events": Events.objects.count(),
    }


def roles_of(person: Person) -> list[tuple[str, dt.datetime, dt.datetime | None]]:
    periods = PersonContactType.objects.filter(person=person).select_related("contact_type").order_by("valid_from")
    return [(p.contact_type.code, p.valid_from, p.valid_to) for p in periods]


# --- patient_register: the returning-patient rule ---------------------------------------------------------


def test_register_new_patient_creates_person_patient_and_patient_role(navigator_user):
    navigator = NavigatorFactory()
    result = services.patient_register(
        first_name=" Ann ",
        last_name="Lee",
        email="  Ann.Lee@Example.org ",
        phone="(801) 555-0123",
        date_of_birth=dt.date(1980, 5, 17),
        medical_condition="gbm",
        navigator=navigator,
        actor=navigator_user,
    )
    person = Person.objects.get(last_name="Lee")
    assert (person.first_name, person.email, person.phone) == ("Ann", "ann.lee@example.org", "+18015550123")
    assert result.person == person and result.person_reused is False and result.conflicts == {}
    patient = Patient.objects.get()
    assert result.patient == patient
    assert (patient.medical_condition.abbreviation, patient.navigator, patient.status) == ("GBM", navigator, "active")
    assert patient.first_contact_date == timezone.localdate()
    assert [code for code, _, valid_to in roles_of(person) if valid_to is None] == ["patient"]
    entry = record_history(patient)[0]
    assert (entry.action, entry.username) == ("insert", navigator_user.username)


@pytest.mark.parametrize("email", ["ANN.LEE@EXAMPLE.ORG", "  ann.lee@example.org  ", "Ann.Lee@Example.Org\t"])
def test_returning_person_is_reused_whatever_the_case_or_padding(email):
    existing = Person.objects.create(first_name="Ann", last_name="Lee", email="ann.lee@example.org")
    result = services.patient_register(first_name="ann", last_name="LEE", email=email)
    assert result.person == existing and result.person_reused is True
    assert result.conflicts == {}  # same name in another case is the same name
    assert Person.all_objects.count() == 1
    assert Patient.objects.get().person == existing


def test_returning_person_blanks_are_filled_but_stored_values_never_overwritten():
    existing = Person.objects.create(
        first_name="Ann", last_name="Lee", email="ann.lee@example.org", phone="+18015550123", date_of_birth=None
    )
    result = services.patient_register(
        first_name="Anne",
        last_name="Lee",
        email="ANN.LEE@example.org",
        phone="+1 801 555 0199",
        date_of_birth=dt.date(1980, 5, 17),
    )
    existing.refresh_from_db()
    assert (existing.first_name, existing.phone) == ("Ann", "+18015550123")  # kept
    assert existing.date_of_birth == dt.date(1980, 5, 17)  # blank filled
    assert result.conflicts == {
        "first_name": {"stored": "Ann", "given": "Anne"},
        "phone": {"stored": "+18015550123", "given": "+18015550199"},
    }


def test_second_registration_is_refused_with_the_existing_patient_id():
    first = services.patient_register(**ANN)
    before = written_rows()
    with pytest.raises(ConflictError) as caught:
        services.patient_register(first_name="Ann", last_name="Lee", email=" ANN.LEE@example.org", phone="8015550123")
    assert caught.value.existing_id == first.patient.pk
    assert caught.value.field == "email"
    assert "already a patient" in caught.value.message
    assert written_rows() == before  # not even the blank phone was filled


def test_registration_on_a_soft_deleted_patient_points_at_it():
    first = services.patient_register(**ANN)
    services.patient_soft_delete(patient=first.patient, reason="duplicate")
    with pytest.raises(ConflictError) as caught:
        services.patient_register(**ANN)
    assert caught.value.existing_id == first.patient.pk and "restore" in caught.value.message


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        ({"email": "not-an-email"}, "email", "not a valid email"),
        ({"email": "ann@"}, "email", "not a valid email"),
        ({"phone": "12345"}, "phone", "not a valid phone number"),
        ({"phone": "call me maybe"}, "phone", "not a phone number"),
        ({"date_of_birth": FromToday(days=1)}, "date_of_birth", "future"),
        ({"medical_condition": "Common cold"}, "medical_condition", "Unknown medical condition"),
        ({"first_name": "  "}, "first_name", "required"),
        ({"first_contact_date": FromToday(days=3)}, "first_contact_date", "future"),
    ],
)
def test_register_refuses_bad_input_naming_the_field_and_writes_nothing(overrides, field, reason):
    PersonFactory(email="ann.lee@example.org", phone="")  # a returning person whose blanks could be filled
    before = written_rows()
    with pytest.raises(ValidationError) as caught:
        services.patient_register(**{**ANN, "phone": "+18015550123", **resolve(overrides)})
    assert field in caught.value.message_dict
    assert reason in " ".join(caught.value.message_dict[field])
    assert written_rows() == before


def test_register_refuses_a_retired_condition_and_a_navigator_without_the_role():
    condition = seeded_condition("IPF")
    services.medical_condition_soft_delete(medical_condition=condition, reason="program closed")
    with pytest.raises(ValidationError) as caught:
        services.patient_register(**ANN, medical_condition=condition, navigator=PersonFactory())
    errors = caught.value.message_dict
    assert errors["medical_condition"] == ["The medical condition 'Idiopathic Pulmonary Fibrosis' is no longer in use."]
    assert "is not a patient navigator" in errors["navigator"][0]
    assert not Patient.all_objects.exists()


def test_register_without_email_creates_a_new_person_each_time():
    services.patient_register(first_name="Bo", last_name="Diaz", email=None)
    services.patient_register(first_name="Bo", last_name="Diaz", email="  ")
    assert Person.objects.filter(last_name="Diaz", email__isnull=True).count() == 2


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_registrations_of_one_email_give_one_person_and_one_patient():
    variants = ["zoe.roe@example.org", "ZOE.ROE@EXAMPLE.ORG", "  Zoe.Roe@Example.org ", "zoe.ROE@example.ORG\t"]
    threads_count = 20
    barrier = threading.Barrier(threads_count)
    outcomes: list[tuple[str, object]] = []
    lock = threading.Lock()

    def register(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            result = services.patient_register(
                first_name="Zoe", last_name="Roe", email=variants[i % len(variants)], phone="+18015550100"
            )
            outcome = ("registered", result.patient.pk)
        except ConflictError as exc:
            outcome = ("conflict", exc.existing_id)
        except Exception as exc:  # anything else is a failure of the rule
            outcome = ("error", repr(exc))
        finally:
            connection.close()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=register, args=(i,)) for i in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(outcomes) == threads_count
    assert [o for o in outcomes if o[0] == "error"] == []
    registered = [pk for kind, pk in outcomes if kind == "registered"]
    conflicts = [pk for kind, pk in outcomes if kind == "conflict"]
    assert len(registered) == 1 and len(conflicts) == threads_count - 1
    patient = Patient.objects.get()
    assert set(conflicts) == {patient.pk} and registered == [patient.pk]
    assert Person.all_objects.filter(email="zoe.roe@example.org").count() == 1
    assert Person.all_objects.count() == 1
    assert PersonContactType.objects.filter(person=patient.person, contact_type__code="patient").count() == 1


# --- leads ------------------------------------------------------------------------------------------------


def test_lead_create_reuses_person_and_starts_the_lead_role():
    existing = PersonFactory(email="kim@example.org", phone="")
    result = services.lead_create(
        first_name=existing.first_name,
        last_name=existing.last_name,
        email=" KIM@example.org",
        phone="801-555-0142",
        medical_condition="DMD",
        source="landing_page",
        landing_page_url="https://example.org/dmd",
    )
    assert result.person == existing and result.person_reused and result.existing_patient is None
    existing.refresh_from_db()
    assert existing.phone == "+18015550142"
    lead = PatientLead.objects.get()
    assert (lead.status, lead.source, lead.medical_condition.abbreviation) == ("new", "landing_page", "DMD")
    assert [code for code, _, _ in roles_of(existing)] == ["patient_lead"]


def test_second_open_lead_is_a_conflict_naming_the_open_one():
    first = services.lead_create(**ANN)
    with pytest.raises(ConflictError) as caught:
        services.lead_create(**{**ANN, "email": "ANN.lee@example.org"})
    assert caught.value.existing_id == first.lead.pk
    assert PatientLead.objects.count() == 1


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"source": "carrier pigeon"}, "source"),
        ({"landing_page_url": "not a url"}, "landing_page_url"),
        ({"email": "bad@"}, "email"),
        ({"medical_condition": "XYZ"}, "medical_condition"),
    ],
)
def test_lead_create_bad_input(overrides, field):
    before = written_rows()
    with pytest.raises(ValidationError) as caught:
        services.lead_create(**{**ANN, **overrides})
    assert list(caught.value.message_dict) == [field]
    assert written_rows() == before


def test_lead_convert_creates_patient_and_switches_roles_at_the_same_instant(navigator_user):
    navigator = NavigatorFactory()
    lead = services.lead_create(**ANN, medical_condition="IPF").lead
    conversion = services.lead_convert(lead=lead, navigator=navigator, actor=navigator_user)

    lead.refresh_from_db()
    patient = Patient.objects.get()
    assert conversion.patient == patient and conversion.patient_created is True
    assert (lead.status, lead.converted_patient, lead.converted_at is not None) == ("converted", patient, True)
    assert (patient.medical_condition.abbreviation, patient.navigator) == ("IPF", navigator)
    roles = roles_of(lead.person)
    assert [(code, valid_to is None) for code, _, valid_to in roles] == [("patient_lead", False), ("patient", True)]
    lead_period_end, patient_period_start = roles[0][2], roles[1][1]
    assert lead_period_end == patient_period_start == lead.converted_at


def test_lead_convert_is_idempotent():
    lead = PatientLeadFactory()
    first = services.lead_convert(lead=lead)
    before = written_rows()
    second = services.lead_convert(lead=lead)
    assert second.patient == first.patient and second.patient_created is False
    assert written_rows() == before


def test_converting_the_lead_of_an_existing_patient_links_that_patient():
    registered = services.patient_register(**ANN)
    lead = services.lead_create(**ANN).lead
    conversion = services.lead_convert(lead=lead)
    assert conversion.patient == registered.patient and not conversion.patient_created
    assert Patient.objects.count() == 1
    # The patient role was already current: it is not duplicated, the lead role is closed.
    assert [(code, valid_to is None) for code, _, valid_to in roles_of(registered.person)] == [
        ("patient", True),
        ("patient_lead", False),
    ]


def test_lead_status_moves_and_refusals():
    lead = services.lead_create(**ANN).lead
    services.lead_set_status(lead=lead, status=LeadStatus.CONTACTED)
    lost = services.lead_set_status(lead=lead, status=LeadStatus.LOST)
    assert lost.status == "lost"
    assert [(code, valid_to is None) for code, _, valid_to in roles_of(lead.person)] == [("patient_lead", False)]
    with pytest.raises(ValidationError) as caught:
        services.lead_set_status(lead=lead, status=LeadStatus.CONVERTED)
    assert "conversion" in caught.value.message_dict["status"][0]
    services.lead_convert(lead=lead)
    with pytest.raises(ValidationError):
        services.lead_set_status(lead=lead, status=LeadStatus.NEW)


# --- calls ------------------------------------------------------------------------------------------------


def test_call_log_adds_a_row_every_time_and_defaults_the_navigator_to_the_actor(navigator_user):
    patient = PatientFactory()
    navigator = patient.navigator
    navigator.user = navigator_user
    navigator.save()
    first = services.call_log(patient=patient, direction="outbound", outcome="voicemail", actor=navigator_user)
    second = services.call_log(
        patient=patient,
        direction="inbound",
        outcome="reached",
        call_duration_minutes=0,
        reminder_date=timezone.localdate() + dt.timedelta(days=7),
        notes="Called back about screening.",
        actor=navigator_user,
    )
    assert CallHistory.objects.filter(patient=patient).count() == 2
    assert first.pk != second.pk
    assert (second.navigator, second.created_by, second.call_duration_minutes) == (navigator, navigator_user, 0)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"direction": "sideways"}, "direction"),
        ({"outcome": "great"}, "outcome"),
        ({"call_duration_minutes": -5}, "call_duration_minutes"),
        ({"call_date": FromNow(days=1)}, "call_date"),
        ({"reminder_date": dt.date(2000, 1, 1)}, "reminder_date"),
        ({"navigator": None}, "navigator"),
    ],
)
def test_call_log_bad_input(overrides, field):
    patient = PatientFactory()
    values = {"patient": patient, "direction": "outbound", "outcome": "reached", "navigator": patient.navigator}
    before = written_rows()
    with pytest.raises(ValidationError) as caught:
        services.call_log(**{**values, **resolve(overrides)})
    assert field in caught.value.message_dict
    assert written_rows() == before


def test_call_navigator_must_hold_the_role_at_the_time_of_the_call():
    patient = PatientFactory()
    not_a_navigator = PersonFactory()
    with pytest.raises(ValidationError) as caught:
        services.call_log(patient=patient, direction="outbound", outcome="reached", navigator=not_a_navigator)
    assert "is not a patient navigator" in caught.value.message_dict["navigator"][0]


def test_call_void_keeps_the_row_with_a_reason_and_restore_undoes_it(crm_supervisor_user):
    call = CallHistoryFactory()
    with pytest.raises(ValidationError) as caught:
        services.call_void(call=call, reason="  ")
    assert caught.value.message_dict == {"reason": ["Give a reason for the deletion."]}
    services.call_void(call=call, reason="Logged on the wrong patient", actor=crm_supervisor_user)
    stored = CallHistory.all_objects.get(pk=call.pk)
    assert stored.is_void and stored.void_reason == "Logged on the wrong patient"
    assert stored.voided_by == crm_supervisor_user and stored.voided_at is not None
    assert not CallHistory.objects.filter(pk=call.pk).exists()
    services.call_restore(call=call)
    assert CallHistory.objects.filter(pk=call.pk, deletion_reason="").exists()


def test_editing_a_call_keeps_the_old_values_in_the_audit_trail(navigator_user):
    call = CallHistoryFactory(notes="Left a message", outcome="voicemail")
    services.call_update(call=call, data={"notes": "Reached the patient", "outcome": "reached"}, actor=navigator_user)
    history = record_history(call)
    assert [e.action for e in history] == ["insert", "update"]
    assert history[-1].changes["notes"] == ["Left a message", "Reached the patient"]
    assert history[-1].changes["outcome"] == ["voicemail", "reached"]
    assert history[-1].username == navigator_user.username
    assert history[0].data["notes"] == "Left a message"


def test_a_voided_call_cannot_be_edited():
    call = CallHistoryFactory()
    services.call_void(call=call, reason="duplicate")
    with pytest.raises(ValidationError) as caught:
        services.call_update(call=call, data={"notes": "x"})
    assert "voided" in caught.value.message_dict["call"][0]


def test_bulk_update_of_calls_is_in_the_audit_trail_with_the_actor(crm_supervisor_user):
    calls = CallHistoryFactory.create_batch(3, notes="old")
    with audit_context(actor=crm_supervisor_user, channel="command"):
        updated = CallHistory.objects.filter(pk__in=[c.pk for c in calls]).update(notes="bulk-corrected")
    assert updated == 3
    for call in calls:
        last = record_history(call)[-1]
        assert last.action == "update"
        assert last.changes["notes"] == ["old", "bulk-corrected"]
        assert (last.username, last.channel) == (crm_supervisor_user.username, "command")


# --- physicians, conditions, soft delete -------------------------------------------------------------------


def test_physician_register_reuses_person_and_refuses_a_second_physician():
    result = services.physician_register(
        first_name="Greg", last_name="House", email="house@ppth.example.org", hospital=HospitalFactory()
    )
    assert result.physician.person.email == "house@ppth.example.org"
    assert [code for code, _, _ in roles_of(result.person)] == ["physician"]
    with pytest.raises(ConflictError) as caught:
        services.physician_register(first_name="Greg", last_name="House", email="HOUSE@ppth.example.org")
    assert caught.value.existing_id == result.physician.pk


def test_naming_a_new_primary_physician_demotes_the_previous_one():
    patient = PatientFactory()
    first = services.patient_physician_link(
        patient=patient, physician=PhysicianFactory(), relationship_type="treating", is_primary=True
    )
    second = services.patient_physician_link(
        patient=patient, physician=PhysicianFactory(), relationship_type="primary_care", is_primary=True
    )
    first.refresh_from_db()
    assert (first.is_primary, second.is_primary) == (False, True)
    assert PatientPhysicianRelationship.objects.filter(patient=patient).count() == 2
    ended = services.patient_physician_end(relationship=second)
    assert ended.end_date == timezone.localdate() and ended.is_primary is False


def test_condition_names_are_unique_ignoring_case_in_the_service_too():
    with pytest.raises(ConflictError) as caught:
        services.medical_condition_create(name="  glioblastoma ")
    assert caught.value.existing_id == seeded_condition("GBM").pk
    created = services.medical_condition_create(name="Amyotrophic Lateral Sclerosis", abbreviation="ALS")
    assert MedicalCondition.objects.get(abbreviation="ALS") == created


@pytest.mark.parametrize(
    ("factory", "delete", "restore", "kwarg"),
    [
        (PatientFactory, services.patient_soft_delete, services.patient_restore, "patient"),
        (CallHistoryFactory, services.call_void, services.call_restore, "call"),
        (
            lambda: services.medical_condition_create(name="Rare thing"),
            services.medical_condition_soft_delete,
            services.medical_condition_restore,
            "medical_condition",
        ),
        (PhysicianFactory, services.physician_soft_delete, services.physician_restore, "physician"),
    ],
)
def test_soft_delete_and_restore(factory, delete, restore, kwarg, crm_supervisor_user):
    obj = factory()
    model = type(obj)
    delete(**{kwarg: obj}, reason="entered twice", actor=crm_supervisor_user)
    stored = model.all_objects.get(pk=obj.pk)
    assert (stored.is_active, stored.deletion_reason, stored.deleted_by) == (
        False,
        "entered twice",
        crm_supervisor_user,
    )
    assert not model.objects.filter(pk=obj.pk).exists()
    restore(**{kwarg: obj}, actor=crm_supervisor_user)
    assert model.objects.filter(pk=obj.pk, deleted_at__isnull=True).exists()
    actions = [e.action for e in record_history(obj)]
    assert actions == ["insert", "update", "update"]


def test_patient_update_checks_navigator_and_dates():
    patient = PatientFactory()
    with pytest.raises(ValidationError) as caught:
        services.patient_update(
            patient=patient,
            data={"navigator": PersonFactory(), "initial_consult_date": patient.first_contact_date - dt.timedelta(1)},
        )
    assert set(caught.value.message_dict) == {"navigator", "initial_consult_date"}
    new_navigator = NavigatorFactory()
    updated = services.patient_update(patient=patient, data={"navigator": new_navigator, "status": "closed"})
    assert (updated.navigator, updated.status) == (new_navigator, "closed")
    assert Patient.objects.get(pk=patient.pk).status == "closed"


def test_contact_type_codes_used_by_the_services_exist():
    assert (
        ContactType.objects.filter(
            code__in=[
                ContactType.PATIENT,
                ContactType.PATIENT_LEAD,
                ContactType.PHYSICIAN,
                ContactType.PATIENT_NAVIGATOR,
            ]
        ).count()
        == 4
    )


def test_register_with_a_past_consult_and_no_first_contact_date():
    consult = timezone.localdate() - dt.timedelta(days=10)
    patient = services.patient_register(**ANN, initial_consult_date=consult).patient
    assert (patient.first_contact_date, patient.initial_consult_date) == (consult, consult)
