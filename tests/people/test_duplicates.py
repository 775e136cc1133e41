"""Possible duplicate Persons: the scoring's reasons, the blocking keys, the never-reproposed decision, the
incremental find_duplicates and the scope of each role (docs/DUPLICATES.md)."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.db import IntegrityError, transaction

from common.duplicates import scan
from people.duplicates import PERSONS
from people.models import DuplicateScan, DuplicateStatus, Person, PersonDuplicatePair
from people.selectors import person_duplicate_candidates, person_duplicate_pairs
from people.services import person_mark_not_duplicate, person_soft_delete, person_update
from tests.factories.cm_program import CanonicalPatientFactory
from tests.factories.people import PersonContactTypeFactory, PersonFactory

pytestmark = pytest.mark.django_db


def person(first, last, dob=None, phone="", email=None, **extra) -> Person:
    return PersonFactory(first_name=first, last_name=last, date_of_birth=dob, phone=phone, email=email, **extra)


def candidates_of(record, user=None):
    return {c.record.pk: (c.score, c.reasons) for c in person_duplicate_candidates(record, user=user)}


def run(full=False):
    return scan(PERSONS, full=full, progress=False)


def test_same_dob_and_accented_name_is_a_candidate_with_its_reasons():
    jose = person("José", "Müller", dt.date(1980, 3, 4), "+18015550123", "jose.muller@x.org")
    twin = person("Jose", "MULLER", dt.date(1980, 3, 4), "+18015550123", "jose.muller@y.org")
    person("Mary", "Smith", dt.date(1980, 3, 4))  # same DOB, unalike name: 0.30 + a low name part
    assert candidates_of(jose) == {
        twin.pk: (Decimal("1.00"), ["same DOB", "name 1.00", "same phone", "same email name, other domain"])
    }


def test_day_and_month_swapped_and_a_misspelt_name():
    ann = person("Annabelle", "Kowalski", dt.date(1975, 2, 11))
    typo = person("Annabelle", "Kowalsky", dt.date(1975, 11, 2))
    ((score, reasons),) = candidates_of(ann).values()
    assert reasons[0] == "DOB day/month swapped" and reasons[1].startswith("name 0.")
    name = Decimal(reasons[1].split()[1])
    assert Decimal("0.60") <= score and abs(score - (Decimal("0.50") * name + Decimal("0.25"))) <= Decimal("0.01")
    assert set(candidates_of(typo)) == {ann.pk}


def test_a_shared_key_alone_or_a_name_alone_is_no_candidate():
    one = person("Peter", "Jones", dt.date(1990, 1, 1), "+18015550199")
    person("Zoe", "Abbott", dt.date(1990, 1, 1), "+18015550199")  # family: same phone and DOB, other name
    person("Peter", "Jones", dt.date(1961, 7, 30))  # the same name, nothing else: never graded
    assert candidates_of(one) == {}


def test_soft_deleted_persons_are_never_candidates():
    one = person("Lena", "Fischer", dt.date(1985, 5, 5))
    other = person("Lena", "Fischer", dt.date(1985, 5, 5), email="lena2@x.org")
    assert set(candidates_of(one)) == {other.pk}
    person_soft_delete(person=other, reason="Entered twice.")
    assert candidates_of(one) == {}


def test_not_the_same_person_is_never_proposed_again_whatever_the_edits(crm_supervisor_user):
    one = person("Ruth", "Baker", dt.date(1950, 6, 7))
    other = person("Ruth", "Bakker", dt.date(1950, 6, 7))
    assert run().new == 1
    pair = person_mark_not_duplicate(person=other, other=one, actor=crm_supervisor_user)
    assert (pair.status, pair.decided_by, pair.person_low_id) == (
        DuplicateStatus.NOT_DUPLICATE,
        crm_supervisor_user,
        min(one.pk, other.pk),
    )
    assert candidates_of(one) == {}
    # Make them identical in every way the scoring sees: still never proposed, by the screens or the finder.
    person_update(person=other, data={"last_name": "Baker", "phone": "+18015550177"}, actor=None)
    person_update(person=one, data={"phone": "+18015550177"}, actor=None)
    report = run()
    assert (report.changed, report.new, report.updated, report.not_duplicate_kept) == (2, 0, 0, 1)
    assert candidates_of(one) == {}
    assert PersonDuplicatePair.objects.get().status == DuplicateStatus.NOT_DUPLICATE
    report = run(full=True)
    assert (report.new, report.updated, report.not_duplicate_kept) == (0, 0, 1)
    assert PersonDuplicatePair.objects.get().status == DuplicateStatus.NOT_DUPLICATE


def test_not_duplicate_refuses_itself_and_unknown_roles(crm_supervisor_user, cpss_user):
    one = person("Ida", "Lund", dt.date(1960, 1, 1))
    with pytest.raises(ValidationError) as refused:
        person_mark_not_duplicate(person=one, other=one, actor=crm_supervisor_user)
    assert "other" in refused.value.message_dict
    with pytest.raises(PermissionDenied):
        person_mark_not_duplicate(person=one, other=person("Ida", "Lunt"), actor=cpss_user)
    assert not PersonDuplicatePair.objects.exists()


def test_pair_rules_are_the_databases():
    one, other = sorted((person("A", "B"), person("C", "D")), key=lambda p: p.pk)
    with pytest.raises(IntegrityError), transaction.atomic():
        PersonDuplicatePair.objects.create(person_low=other, person_high=one, score=Decimal("0.7"))
    with pytest.raises(IntegrityError), transaction.atomic():
        PersonDuplicatePair.objects.create(person_low=one, person_high=one, score=Decimal("0.7"))
    with pytest.raises(IntegrityError), transaction.atomic():
        PersonDuplicatePair.objects.create(person_low=one, person_high=other, score=Decimal("1.5"))


def test_find_duplicates_is_incremental_rescores_and_closes():
    a = person("Hanna", "Berg", dt.date(1970, 8, 9))
    b = person("Hannah", "Berg", dt.date(1970, 8, 9))
    c = person("Olof", "Strand", dt.date(1991, 4, 5), "+18015550155")
    d = person("Olof", "Strand", dt.date(1991, 5, 4), "+18015550155")
    first = run()
    assert (first.full, first.changed, first.new) == (True, 4, 2)
    pairs = {(p.person_low_id, p.person_high_id): p for p in PersonDuplicatePair.objects.all()}
    assert set(pairs) == {tuple(sorted((a.pk, b.pk))), tuple(sorted((c.pk, d.pk)))}
    cd = pairs[tuple(sorted((c.pk, d.pk)))]
    assert cd.reasons == ["DOB day/month swapped", "name 1.00", "same phone"] and cd.score == Decimal("0.90")

    # Nothing changed: nothing graded.
    again = run()
    assert (again.full, again.changed, again.graded, again.new, again.updated, again.closed) == (False, 0, 0, 0, 0, 0)

    # An edit rescored one pair; a deletion closed the other; a new record made a new pair.
    person_update(person=d, data={"date_of_birth": dt.date(1991, 4, 5)}, actor=None)
    person_soft_delete(person=b, reason="Entered twice.")
    e = person("Hanna", "Berg", dt.date(1970, 8, 9), email="hanna@x.org")
    report = run()
    assert (report.changed, report.new, report.updated, report.closed) == (2, 1, 1, 1)
    cd.refresh_from_db()
    assert cd.reasons == ["same DOB", "name 1.00", "same phone"] and cd.score == Decimal("0.95")
    assert PersonDuplicatePair.objects.get(status=DuplicateStatus.CLOSED).person_high_id in {a.pk, b.pk}
    assert PersonDuplicatePair.objects.filter(status=DuplicateStatus.OPEN).count() == 2
    assert set(DuplicateScan.objects.values_list("program", flat=True)) == {"crm"}
    assert e.pk in {p for pair in PersonDuplicatePair.objects.values_list("person_low", "person_high") for p in pair}

    # An edit that makes a pair unalike closes it; matching again reopens it.
    person_update(person=d, data={"first_name": "Xavier", "last_name": "Quist"}, actor=None)
    assert run().closed == 1
    person_update(person=d, data={"first_name": "Olof", "last_name": "Strand"}, actor=None)
    reopened = run()
    assert reopened.updated == 1
    cd.refresh_from_db()
    assert cd.status == DuplicateStatus.OPEN


def test_find_duplicates_command_reports_and_fills_both_queues():
    person("Tove", "Ek", dt.date(1999, 9, 9))
    person("Tove", "Eek", dt.date(1999, 9, 9))
    CanonicalPatientFactory(first_name="Sven", last_name="Holm", date_of_birth=dt.date(1980, 1, 2))
    CanonicalPatientFactory(first_name="Svenn", last_name="Holm", date_of_birth=dt.date(1980, 1, 2))
    out, err = io.StringIO(), io.StringIO()
    call_command("find_duplicates", stdout=out, stderr=err)
    text = out.getvalue()
    assert "crm: full run: 2 records, 1 pairs" in text and "cm: full run: 2 records, 1 pairs" in text
    assert "find_duplicates crm" in err.getvalue()  # the progress lines
    out = io.StringIO()
    call_command("find_duplicates", "--program", "crm", "--no-progress", stdout=out)
    assert "crm: records changed since" in out.getvalue() and "cm:" not in out.getvalue()


def test_scope_per_role(navigator_user, crm_supervisor_user, cm_supervisor_user, cpss_user, superuser):
    nav = person("Nils", "Nyberg", dt.date(1966, 6, 6), email="nils@nav.org")
    PersonContactTypeFactory(person=nav)
    nav_twin = person("Nils", "Nyberg", dt.date(1966, 6, 6), email="nils@other.org")
    cm_only = person("Nils", "Nyberg", dt.date(1966, 6, 6), email="nils.n@cm.org")
    CanonicalPatientFactory(person=cm_only, first_name="Nils", last_name="Nyberg", date_of_birth=dt.date(1966, 6, 6))
    run()
    assert set(candidates_of(nav, superuser)) == {nav_twin.pk, cm_only.pk}
    for user in (navigator_user, crm_supervisor_user):
        assert set(candidates_of(nav, user)) == {nav_twin.pk}  # never the CM-only person
        queue = person_duplicate_pairs(user=user)
        assert {frozenset((p.person_low_id, p.person_high_id)) for p in queue} == {frozenset((nav.pk, nav_twin.pk))}
    for user in (cm_supervisor_user, cpss_user):
        assert candidates_of(nav, user) == {}
        assert list(person_duplicate_pairs(user=user)) == []
    assert person_duplicate_pairs(user=superuser).count() == 3


def test_one_records_candidates_take_the_same_queries_for_1_or_12(navigator_user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from people.models import User

    def count(record) -> tuple[int, int]:
        user = User.objects.get(pk=navigator_user.pk)  # a fresh login: its groups and permissions not yet read
        with CaptureQueriesContext(connection) as queries:
            found = person_duplicate_candidates(record, user=user)
        return len(found), len(queries)

    one = person("Gus", "Gray", dt.date(1955, 5, 5))
    person("Gus", "Gray", dt.date(1955, 5, 5), email="gus@x.org")
    few = count(one)
    for i in range(11):
        person("Gus", "Gray", dt.date(1955, 5, 5), email=f"gus{i}@x.org")
    many = count(one)
    # the candidates, the login's groups and permissions (twice: user and group), the scoped Persons
    assert (few, many) == ((1, 5), (12, 5))


def test_the_decision_is_in_the_audit_trail_with_its_actor(crm_supervisor_user):
    from people.models import PersonDuplicatePairEvent

    one, other = person("Siv", "Holm", dt.date(1948, 4, 4)), person("Siv", "Holme", dt.date(1948, 4, 4))
    run()
    person_mark_not_duplicate(person=one, other=other, actor=crm_supervisor_user)
    events = list(PersonDuplicatePairEvent.objects.order_by("pgh_id").select_related("pgh_context"))
    assert [(e.pgh_label, e.status) for e in events] == [("insert", "open"), ("update", "not_duplicate")]
    assert events[-1].pgh_context.metadata["user"] == str(crm_supervisor_user.pk)
