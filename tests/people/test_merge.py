"""person_merge / person_unmerge: every linked record moves (graph-driven), clash rules, exact undo."""

from __future__ import annotations

import datetime as dt

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from cm_program.models import CanonicalPatient, CMProvider
from common.merge.engine import MergeRefused, relations_to
from common.merge.keep import kept_because
from common.merge.models import MergeLog
from journeys.models import ClinicalTrialJourney, EAPJourney
from patients.models import CallHistory, LeadStatus, Patient, PatientLead, PatientPhysicianRelationship, Physician
from people.models import ContactType, Person, PersonContactType
from people.services import person_merge, person_restore, person_unmerge
from tests.factories.cm_program import CanonicalPatientFactory, CMProviderFactory
from tests.factories.journeys import ClinicalTrialJourneyFactory, EAPJourneyFactory
from tests.factories.patients import (
    CallHistoryFactory,
    PatientFactory,
    PatientLeadFactory,
    PatientPhysicianRelationshipFactory,
    PhysicianFactory,
)
from tests.factories.people import NavigatorFactory, PersonContactTypeFactory, PersonFactory, UserFactory
from tests.merge_app.models import HomeVisit

pytestmark = pytest.mark.django_db


def one_of_everything(person: Person) -> dict[str, models.Model]:
    """A Person with one of every record that can point at a Person (as a patient, a physician, a
    navigator, a lead, a role holder, a CM identity, a CPSS, and the test-only app's home visit)."""
    patient = PatientFactory(person=person)
    physician = PhysicianFactory(person=person)
    other_patient = PatientFactory(navigator=person)  # the person navigates someone else
    return {
        "lead": PatientLeadFactory(person=person, status=LeadStatus.NEW),
        "patient": patient,
        "physician": physician,
        "call_as_patient": CallHistoryFactory(patient=patient),
        "call_as_navigator": CallHistoryFactory(patient=other_patient, navigator=person),
        "navigated_patient": other_patient,
        "ct_journey": ClinicalTrialJourneyFactory(patient=patient, referring_physician=physician),
        "eap_journey": EAPJourneyFactory(patient=patient),
        "physician_link": PatientPhysicianRelationshipFactory(patient=patient),
        "role_period": PersonContactTypeFactory(
            person=person, contact_type=ContactType.objects.get(code=ContactType.CAREGIVER)
        ),
        "cm_identity": CanonicalPatientFactory(person=person),
        "cpss": CMProviderFactory(person=person),
        "home_visit": HomeVisit.objects.create(person=person, note="next year's model"),
    }


TABLES = (
    Person,
    Patient,
    Physician,
    PatientLead,
    CallHistory,
    ClinicalTrialJourney,
    EAPJourney,
    PatientPhysicianRelationship,
    PersonContactType,
    CanonicalPatient,
    CMProvider,
    HomeVisit,
)


def snapshot() -> dict[str, list[dict]]:
    return {m._meta.label: list(m._base_manager.order_by("pk").values()) for m in TABLES}


def test_every_linked_record_points_at_the_survivor_and_nothing_is_deleted(crm_supervisor_user):
    survivor = PersonFactory(first_name="Ann", phone="+18015550001")
    duplicate = PersonFactory(first_name="Anne", phone="+18015550002")
    records = one_of_everything(duplicate)
    counts = {m._meta.label: m._base_manager.count() for m in TABLES}

    log = person_merge(
        survivor=survivor,
        duplicate=duplicate,
        field_choices={"phone": "duplicate"},
        actor=crm_supervisor_user,
        reason="Same human, second email",
    )

    assert {m._meta.label: m._base_manager.count() for m in TABLES} == counts  # nothing deleted, nothing added
    fresh = {name: type(obj)._base_manager.get(pk=obj.pk) for name, obj in records.items()}
    assert fresh["lead"].person_id == survivor.pk
    assert fresh["patient"].person_id == survivor.pk
    assert fresh["physician"].person_id == survivor.pk
    assert fresh["call_as_patient"].patient.person_id == survivor.pk
    assert fresh["call_as_navigator"].navigator_id == survivor.pk
    assert fresh["navigated_patient"].navigator_id == survivor.pk
    assert fresh["ct_journey"].patient.person_id == survivor.pk
    assert fresh["eap_journey"].patient.person_id == survivor.pk
    assert fresh["physician_link"].patient.person_id == survivor.pk
    assert fresh["role_period"].person_id == survivor.pk
    assert fresh["cm_identity"].person_id == survivor.pk
    assert fresh["cpss"].person_id == survivor.pk
    assert fresh["home_visit"].person_id == survivor.pk  # the test-only app's model moved too

    survivor.refresh_from_db()
    duplicate.refresh_from_db()
    assert survivor.phone == "+18015550002" and survivor.first_name == "Ann"
    assert duplicate.merged_into_id == survivor.pk
    assert not duplicate.is_active and duplicate.deletion_reason == f"merged into #{survivor.pk}"
    assert duplicate.email is None  # released
    assert log.duplicate_values["email"] and log.duplicate_values["first_name"] == "Anne"
    assert log.actor == crm_supervisor_user and log.reason == "Same human, second email"
    assert log.summary["patients"] == 1 and log.summary["home visits"] == 1
    assert MergeLog.objects.count() == 1


def test_every_relation_to_person_is_moved_or_on_the_keep_list():
    """Fails when a foreign key to Person is neither moved by the merge (shown by a row of the fixture
    above) nor on the keep-list (common/merge/keep.py): a new relation needs one or the other."""
    # The engine's graph matches Django's own view of the relations to Person (hidden ones included).
    django_view = {
        f"{rel.related_model._meta.label}.{rel.field.name}"
        for rel in Person._meta.get_fields(include_hidden=True)
        if rel.is_relation
        and rel.auto_created
        and not rel.concrete
        and (rel.many_to_one or rel.one_to_one)
        or (rel.is_relation and rel.one_to_many)
    }
    engine_view = {r.key for r in relations_to(Person)}
    assert django_view <= engine_view, f"relations the merge does not see: {django_view - engine_view}"

    survivor, duplicate = PersonFactory(), PersonFactory()
    one_of_everything(duplicate)
    log = person_merge(survivor=survivor, duplicate=duplicate, reason="graph walk")
    moved = {f"{s['model']}.{s['field']}" for s in log.steps if s["kind"] == "move"}
    expected = {r.key for r in relations_to(Person) if not kept_because(r.model, r.field)}
    assert expected - moved == set(), (
        f"Relations to Person neither moved by the merge nor on the keep-list: {sorted(expected - moved)}. "
        "Add a row of that model to one_of_everything(), or put the relation on common/merge/keep.py."
    )
    # Kept relations stay: the duplicate's audit events still name the duplicate.
    event_model = apps.get_model("people", "PersonEvent")
    assert event_model.objects.filter(pgh_obj_id=duplicate.pk).exists()


def test_unmerge_puts_every_row_back_exactly(crm_supervisor_user):
    survivor = PersonFactory(email="ann@example.org")
    duplicate = PersonFactory(email="ann.smith@example.org")
    one_of_everything(duplicate)
    # Clashes too: the survivor has a patient, an open lead and an overlapping role period.
    survivor_patient = PatientFactory(person=survivor)
    CallHistoryFactory(patient=survivor_patient)
    PatientLeadFactory(person=survivor, status=LeadStatus.CONTACTED)
    PersonContactTypeFactory(
        person=survivor,
        contact_type=ContactType.objects.get(code=ContactType.CAREGIVER),
        valid_from=timezone.now() - dt.timedelta(days=30),
    )
    PatientPhysicianRelationshipFactory(patient=survivor_patient, is_primary=True)
    before = snapshot()

    log = person_merge(
        survivor=survivor,
        duplicate=duplicate,
        field_choices={"email": "duplicate", "last_name": "duplicate"},
        actor=crm_supervisor_user,
        reason="one human",
    )
    survivor.refresh_from_db()
    assert survivor.email == "ann.smith@example.org"
    assert snapshot() != before

    person_unmerge(merge=log, actor=crm_supervisor_user, reason="not the same after all")

    after = snapshot()
    for label in before:
        assert after[label] == before[label], label
    log.refresh_from_db()
    assert log.undone_at is not None and log.undone_by == crm_supervisor_user
    with pytest.raises(Exception, match="already undone"):
        person_unmerge(merge=log, actor=crm_supervisor_user)


def test_clash_rules_second_level_patient_leads_and_role_periods(crm_supervisor_user):
    survivor, duplicate = PersonFactory(), PersonFactory()
    s_patient, d_patient = PatientFactory(person=survivor), PatientFactory(person=duplicate)
    d_call = CallHistoryFactory(patient=d_patient)
    s_primary = PatientPhysicianRelationshipFactory(patient=s_patient, is_primary=True)
    d_primary = PatientPhysicianRelationshipFactory(patient=d_patient, is_primary=True)
    same_link = PatientPhysicianRelationshipFactory(
        patient=d_patient, physician=s_primary.physician, relationship_type=s_primary.relationship_type
    )
    s_lead = PatientLeadFactory(person=survivor, status=LeadStatus.NEW)
    d_lead = PatientLeadFactory(person=duplicate, status=LeadStatus.QUALIFIED)
    caregiver = ContactType.objects.get(code=ContactType.CAREGIVER)
    now = timezone.now()
    s_period = PersonContactTypeFactory(person=survivor, contact_type=caregiver, valid_from=now - dt.timedelta(days=10))
    d_period = PersonContactTypeFactory(
        person=duplicate, contact_type=caregiver, valid_from=now - dt.timedelta(days=40), valid_to=now
    )

    log = person_merge(survivor=survivor, duplicate=duplicate, actor=crm_supervisor_user, reason="dup")

    d_call.refresh_from_db()
    d_patient.refresh_from_db()
    assert d_call.patient_id == s_patient.pk  # second-level: the call moved to the survivor's patient
    assert d_patient.person_id == duplicate.pk and not d_patient.is_active
    assert d_patient.deletion_reason == f"merged into #{s_patient.pk}"
    d_primary.refresh_from_db()
    assert d_primary.patient_id == s_patient.pk and not d_primary.is_primary  # one primary physician
    same_link.refresh_from_db()
    assert same_link.patient_id == d_patient.pk  # the same open link stays behind
    d_lead.refresh_from_db()
    s_lead.refresh_from_db()
    assert d_lead.person_id == survivor.pk and d_lead.status == LeadStatus.LOST
    assert s_lead.status == LeadStatus.NEW
    s_period.refresh_from_db()
    d_period.refresh_from_db()
    assert s_period.valid_from == now - dt.timedelta(days=40) and s_period.valid_to is None  # widened
    assert d_period.person_id == duplicate.pk
    s_patient.refresh_from_db()
    assert s_patient.last_call_at == d_call.call_date  # follow-up columns follow the moved call
    assert {item["why"] for item in log.left} >= {"the survivor held the same role during that period"}
    # Restoring the merged patient (or person) is refused: undo the merge instead.
    from patients.services import patient_restore

    with pytest.raises(ValidationError, match="undo the merge"):
        patient_restore(patient=d_patient, actor=crm_supervisor_user)
    with pytest.raises(ValidationError, match="undo the merge"):
        person_restore(person=duplicate, actor=crm_supervisor_user)


def test_unmerge_refused_when_something_changed_since(crm_supervisor_user):
    survivor, duplicate = PersonFactory(phone="+18015550001"), PersonFactory(phone="+18015550002")
    PatientFactory(person=survivor)
    call = CallHistoryFactory(patient=PatientFactory(person=duplicate))  # moves to the survivor's patient
    log = person_merge(survivor=survivor, duplicate=duplicate, field_choices={"phone": "duplicate"}, reason="x")
    Person.objects.filter(pk=survivor.pk).update(phone="+18015550003")
    CallHistory.all_objects.filter(pk=call.pk).update(patient=PatientFactory())

    with pytest.raises(MergeRefused) as refused:
        person_unmerge(merge=log)
    message = refused.value.message
    assert "phone" in message and "+18015550003" in message
    assert "1 of the 1 calls" in message
    duplicate.refresh_from_db()
    assert duplicate.merged_into_id == survivor.pk  # nothing changed


@pytest.mark.parametrize(
    "setup, expected",
    [
        (lambda s, d: None, "merged into itself"),
        (
            lambda s, d: (CanonicalPatientFactory(person=s), CanonicalPatientFactory(person=d)),
            "canonical patients first",
        ),
        (lambda s, d: (CMProviderFactory(person=s), CMProviderFactory(person=d)), "no rule"),
    ],
)
def test_refusals(setup, expected):
    survivor, duplicate = PersonFactory(), PersonFactory()
    setup(survivor, duplicate)
    target = survivor if expected == "merged into itself" else duplicate
    with pytest.raises((ValidationError, MergeRefused), match=expected):
        person_merge(survivor=survivor, duplicate=target, reason="r")
    assert MergeLog.objects.count() == 0
    assert Person.objects.filter(pk=duplicate.pk).exists()


def test_two_staff_logins_refused_and_one_login_moves():
    survivor, duplicate = PersonFactory(user=UserFactory()), PersonFactory(user=UserFactory())
    with pytest.raises(MergeRefused, match="staff login"):
        person_merge(survivor=survivor, duplicate=duplicate, reason="r")
    login = duplicate.user
    Person.objects.filter(pk=survivor.pk).update(user=None)
    survivor.refresh_from_db()
    person_merge(survivor=survivor, duplicate=duplicate, reason="r")
    survivor.refresh_from_db()
    assert survivor.user == login


def test_bad_input_names_the_field():
    survivor, duplicate = PersonFactory(), PersonFactory()
    with pytest.raises(ValidationError) as bad:
        person_merge(survivor=survivor, duplicate=duplicate, reason=" ", field_choices={"height": "duplicate"})
    assert set(bad.value.message_dict) == {"reason", "fields"}
    with pytest.raises(ValidationError) as bad:
        person_merge(survivor=survivor, duplicate=duplicate, reason="r", field_choices={"phone": "both"})
    assert "phone" in bad.value.message_dict["fields"][0]


def test_merged_duplicate_cannot_be_merged_again_nor_be_a_survivor():
    survivor, duplicate, third = PersonFactory(), PersonFactory(), PersonFactory()
    person_merge(survivor=survivor, duplicate=duplicate, reason="r")
    with pytest.raises(MergeRefused, match="already merged"):
        person_merge(survivor=third, duplicate=duplicate, reason="r")
    with pytest.raises(MergeRefused, match="merge into that record"):
        person_merge(survivor=duplicate, duplicate=third, reason="r")


def test_whole_merge_is_one_audit_context(crm_supervisor_user):
    survivor, duplicate = PersonFactory(), PersonFactory()
    CallHistoryFactory(patient=PatientFactory(person=duplicate))
    navigator = NavigatorFactory()
    PatientFactory(navigator=duplicate)
    log = person_merge(survivor=survivor, duplicate=duplicate, actor=crm_supervisor_user, reason="r")
    from pghistory.models import Events

    events = Events.objects.filter(pgh_context__merge=log.pk)
    contexts = {e.pgh_context_id for e in events}
    assert len(contexts) == 1 and events.count() >= 3
    assert navigator.pk  # unrelated rows untouched


def test_merge_decides_the_candidate_pair_and_undo_reopens_it(crm_supervisor_user):
    from decimal import Decimal

    from people.models import DuplicateStatus, PersonDuplicatePair

    one, other = PersonFactory(), PersonFactory()
    low, high = sorted((one, other), key=lambda p: p.pk)
    pair = PersonDuplicatePair.objects.create(person_low=low, person_high=high, score=Decimal("0.80"))

    log = person_merge(survivor=one, duplicate=other, actor=crm_supervisor_user, reason="one human")
    pair.refresh_from_db()
    assert (pair.status, pair.decided_by) == (DuplicateStatus.MERGED, crm_supervisor_user)

    person_unmerge(merge=log, actor=crm_supervisor_user)
    pair.refresh_from_db()
    assert (pair.status, pair.decided_by, pair.decided_at) == (DuplicateStatus.OPEN, None, None)
