"""Possible duplicate canonical patients: contact keys from the CM profile and the Person, the incremental
run seeing a CM profile's edit, the decision kept, and who may see them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from cm_program.duplicates import CANONICAL_PATIENTS
from cm_program.models import CanonicalPatientDuplicatePair
from cm_program.selectors import canonical_patient_duplicate_candidates, canonical_patient_duplicate_pairs
from cm_program.services import canonical_patient_mark_not_duplicate
from common.duplicates import scan
from people.models import DuplicateStatus
from tests.factories.cm_program import CanonicalPatientFactory, CMPatientFactory
from tests.factories.people import PersonFactory

pytestmark = pytest.mark.django_db


def found(record, user=None):
    return {c.record.pk: (c.score, c.reasons) for c in canonical_patient_duplicate_candidates(record, user=user)}


def test_contact_keys_come_from_the_cm_profile_and_the_person():
    # A wrong date of birth: the names and the contact details tell.
    one = CanonicalPatientFactory(first_name="Ingrid", last_name="Holmberg", date_of_birth=dt.date(1970, 1, 20))
    CMPatientFactory(canonical_patient=one, phone="+18015550142", email=None)
    person = PersonFactory(email="ingrid.h@mail.org", phone="")
    two = CanonicalPatientFactory(
        first_name="Ingrid", last_name="Holmberg", date_of_birth=dt.date(1971, 5, 5), person=person
    )
    CMPatientFactory(canonical_patient=two, phone="+18015550142", email=None)
    assert found(one) == {two.pk: (Decimal("0.65"), ["name 1.00", "same phone"])}
    three = CanonicalPatientFactory(
        first_name="Ingrid",
        last_name="Holmberg",
        date_of_birth=dt.date(1960, 6, 6),
        person=PersonFactory(email="ingrid.h@other.org", phone=""),
    )
    assert found(three) == {two.pk: (Decimal("0.60"), ["name 1.00", "same email name, other domain"])}


def test_incremental_run_sees_a_cm_profile_edit_and_keeps_the_decision(cm_supervisor_user):
    one = CanonicalPatientFactory(first_name="Pekka", last_name="Virtanen", date_of_birth=dt.date(1980, 1, 1))
    two = CanonicalPatientFactory(first_name="Pekka", last_name="Virtanen", date_of_birth=dt.date(1981, 2, 2))
    profile = CMPatientFactory(canonical_patient=two, phone="")
    CMPatientFactory(canonical_patient=one, phone="+18015550188")
    assert scan(CANONICAL_PATIENTS, progress=False).new == 0
    profile.phone = "+18015550188"
    profile.save()
    report = scan(CANONICAL_PATIENTS, progress=False)
    assert (report.full, report.changed, report.new) == (False, 1, 1)
    (pair,) = canonical_patient_duplicate_pairs(user=cm_supervisor_user)
    assert pair.reasons == ["name 1.00", "same phone"]
    canonical_patient_mark_not_duplicate(canonical_patient=one, other=two, actor=cm_supervisor_user)
    profile.email = "pekka@x.org"
    profile.save()
    assert scan(CANONICAL_PATIENTS, progress=False, full=True).not_duplicate_kept == 1
    assert CanonicalPatientDuplicatePair.objects.get().status == DuplicateStatus.NOT_DUPLICATE
    assert list(canonical_patient_duplicate_pairs(user=cm_supervisor_user)) == []
    assert found(one, cm_supervisor_user) == {}


def test_only_cm_supervisors_see_canonical_duplicates(cm_supervisor_user, cpss_user, crm_supervisor_user):
    one = CanonicalPatientFactory(first_name="Aino", last_name="Laine", date_of_birth=dt.date(1990, 9, 9))
    two = CanonicalPatientFactory(first_name="Aino", last_name="Lainen", date_of_birth=dt.date(1990, 9, 9))
    scan(CANONICAL_PATIENTS, progress=False)
    assert set(found(one, cm_supervisor_user)) == {two.pk}
    for user in (cpss_user, crm_supervisor_user):
        assert found(one, user) == {}
        assert list(canonical_patient_duplicate_pairs(user=user)) == []
