"""CM admin: every page renders, writes go through the services, a CPSS sees only their caseload."""

from __future__ import annotations

import pytest
from django.urls import reverse

from cm_program import services
from cm_program.models import (
    CanonicalPatient,
    CMEnrollment,
    CMPatient,
    CMPointsTransaction,
    CMProgram,
    CMProvider,
    IntakeQLink,
    IntakeQPatient,
)
from common.audit import record_history
from tests.factories.cm_program import CMProgramFactory, CMProviderFactory, IntakeQPatientFactory


@pytest.fixture
def world(program, cpss, superuser):
    """One dual-enrolled patient with a ledger, so that every admin has a row to show."""
    result = services.cm_patient_enroll_from_intakeq(
        intakeq_patient=IntakeQPatientFactory(first_name="John", last_name="Smith"),
        program=program,
        cpss_provider=cpss,
        actor=superuser,
    )
    services.cm_event_record(enrollment=result.enrollment, event_type="test_negative", actor=superuser)
    return result


def url(model, action: str, *args) -> str:
    return reverse(f"admin:cm_program_{model._meta.model_name}_{action}", args=args)


def objects_of(world, program, cpss):
    return {
        CanonicalPatient: world.canonical_patient,
        CMPatient: world.cm_patient,
        IntakeQPatient: world.intakeq_link.intakeq_patient,
        IntakeQLink: world.intakeq_link,
        CMProvider: cpss,
        CMProgram: program,
        CMEnrollment: world.enrollment,
        CMPointsTransaction: world.enrollment.points_transactions.order_by("sequence").last(),
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    "model",
    [
        CanonicalPatient,
        CMPatient,
        IntakeQPatient,
        IntakeQLink,
        CMProvider,
        CMProgram,
        CMEnrollment,
        CMPointsTransaction,
    ],
    ids=lambda m: m.__name__,
)
def test_admin_pages_render_for_a_superuser(client, superuser, world, program, cpss, model):
    client.force_login(superuser)
    obj = objects_of(world, program, cpss)[model]

    changelist = client.get(url(model, "changelist"))
    assert changelist.status_code == 200
    assert changelist.context["cl"].result_count == 1 if model is not CMPointsTransaction else 2

    search = client.get(url(model, "changelist"), {"q": "Smith" if model is not CMProgram else program.name})
    assert search.status_code == 200
    expected = 1 if model not in (CMProvider, CMPointsTransaction) else (0 if model is CMProvider else 2)
    assert search.context["cl"].result_count == expected

    assert client.get(url(model, "add")).status_code == 200
    change = client.get(url(model, "change", obj.pk))
    assert change.status_code == 200
    assert client.get(url(model, "history", obj.pk)).status_code == 200


@pytest.mark.django_db
def test_enrollment_page_shows_its_ledger_newest_first_read_only(client, superuser, world):
    client.force_login(superuser)
    response = client.get(url(CMEnrollment, "change", world.enrollment.pk))
    assert response.status_code == 200
    ledger = response.context["desk"]["ledger"]
    assert [(e.sequence, e.event_type, e.points) for e in ledger] == [
        (2, "test_negative", 50),
        (1, "enrollment_bonus", 25),
    ]
    body = response.content.decode()
    assert body.index("Drug test: negative") < body.index("Enrollment bonus")
    # Read-only: no inline formset that could post ledger rows.
    assert response.context["inline_admin_formsets"] == []


@pytest.mark.django_db
def test_ledger_entries_cannot_be_changed_or_deleted_in_the_admin(client, superuser, world):
    client.force_login(superuser)
    entry = world.enrollment.points_transactions.get(sequence=2)
    change = client.get(url(CMPointsTransaction, "change", entry.pk))
    assert change.status_code == 200 and not change.context["has_change_permission"]
    assert client.post(url(CMPointsTransaction, "change", entry.pk), {"points": 999}).status_code == 403
    assert client.get(url(CMPointsTransaction, "delete", entry.pk)).status_code == 403
    entry.refresh_from_db()
    assert entry.points == 50


@pytest.mark.django_db
def test_adding_an_enrollment_in_the_admin_uses_the_service(client, superuser, program, cpss):
    client.force_login(superuser)
    profile = services.cm_patient_profile_get_or_create(
        canonical_patient=services.canonical_patient_find_or_create(
            first_name="Ann", last_name="Lee", date_of_birth="1990-01-01"
        ).canonical_patient
    )[0]
    data = {"cm_patient": profile.pk, "cm_program": program.pk, "cpss_provider": cpss.pk}
    assert client.post(url(CMEnrollment, "add"), data).status_code == 302
    enrollment = CMEnrollment.objects.get()
    assert (enrollment.canonical_patient, enrollment.total_points) == (profile.canonical_patient, 25)
    assert record_history(enrollment)[0].channel == "admin"

    again = client.post(url(CMEnrollment, "add"), data)
    assert again.status_code == 200
    assert "already enrolled" in str(again.context["adminform"].form.errors)
    assert CMEnrollment.objects.count() == 1


@pytest.mark.django_db
def test_admin_refuses_a_cpss_at_capacity_with_a_form_error(client, superuser, program):
    client.force_login(superuser)
    full = CMProviderFactory(max_caseload=0)
    profile = services.cm_patient_profile_get_or_create(
        canonical_patient=services.canonical_patient_find_or_create(
            first_name="Ann", last_name="Lee", date_of_birth="1990-01-01"
        ).canonical_patient
    )[0]
    response = client.post(
        url(CMEnrollment, "add"), {"cm_patient": profile.pk, "cm_program": program.pk, "cpss_provider": full.pk}
    )
    assert response.status_code == 200
    assert "at capacity" in str(response.context["adminform"].form.errors["cpss_provider"])
    assert CMEnrollment.objects.count() == 0


@pytest.mark.django_db
def test_status_change_in_the_admin_goes_through_the_service(client, superuser, world):
    client.force_login(superuser)
    enrollment = world.enrollment
    base = {
        "cpss_provider": enrollment.cpss_provider_id,
        "pod_assignment": "Pod B",
        "notes": "",
        "medicaid_verification": "",
        "points_transactions-TOTAL_FORMS": "2",
        "points_transactions-INITIAL_FORMS": "2",
        "points_transactions-MIN_NUM_FORMS": "0",
        "points_transactions-MAX_NUM_FORMS": "1000",
    }
    response = client.post(
        url(CMEnrollment, "change", enrollment.pk), {**base, "status": "paused", "status_reason": "Travel"}
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    enrollment.refresh_from_db()
    assert (enrollment.status, enrollment.pod_assignment, enrollment.total_points) == ("paused", "Pod B", 75)
    last = [e for e in record_history(enrollment) if "status" in e.changes][-1]
    assert (last.changes["status"], last.channel, last.context.get("reason")) == (
        ["active", "paused"],
        "admin",
        "Travel",
    )

    # graduated is final: trying to reactivate afterwards is a form error, not a 500.
    client.post(url(CMEnrollment, "change", enrollment.pk), {**base, "status": "graduated"})
    refused = client.post(url(CMEnrollment, "change", enrollment.pk), {**base, "status": "active"})
    assert refused.status_code == 200
    assert "cannot go from graduated to active" in str(refused.context["adminform"].form.errors)


@pytest.mark.django_db
def test_recording_an_event_in_the_admin(client, superuser, world):
    client.force_login(superuser)
    enrollment = world.enrollment
    missing_reason = client.post(
        url(CMPointsTransaction, "add"),
        {"enrollment": enrollment.pk, "event_type": "manual_adjustment", "points": "10", "reason": ""},
    )
    assert missing_reason.status_code == 200
    assert "reason" in missing_reason.context["adminform"].form.errors
    response = client.post(
        url(CMPointsTransaction, "add"), {"enrollment": enrollment.pk, "event_type": "group_attendance", "points": ""}
    )
    assert response.status_code == 302
    enrollment.refresh_from_db()
    entry = enrollment.points_transactions.get(sequence=3)
    assert (entry.event_type, entry.points, entry.recorded_by, enrollment.total_points) == (
        "group_attendance",
        25,
        superuser,
        100,
    )


@pytest.mark.django_db
def test_admin_add_of_a_provider_validates_through_the_service(client, superuser):
    client.force_login(superuser)
    data = {"first_name": "Casey", "last_name": "Peer", "email": "Casey@CM.org", "role": "cpss", "status": "active"}
    assert client.post(url(CMProvider, "add"), {**data, "max_caseload": "12"}).status_code == 302
    provider = CMProvider.objects.get()
    assert (provider.email, provider.max_caseload) == ("casey@cm.org", 12)
    dup = client.post(url(CMProvider, "add"), {**data, "email": "CASEY@cm.org", "max_caseload": "12"})
    assert dup.status_code == 200 and "already exists" in str(dup.context["adminform"].form.errors)
    assert CMProvider.objects.count() == 1


@pytest.mark.django_db
def test_admin_link_confidence_out_of_range_is_a_form_error(client, superuser):
    client.force_login(superuser)
    canonical = services.canonical_patient_find_or_create(
        first_name="Ann", last_name="Lee", date_of_birth="1990-01-01"
    ).canonical_patient
    response = client.post(
        url(IntakeQLink, "add"),
        {"canonical_patient": canonical.pk, "intakeq_patient": IntakeQPatientFactory().pk, "confidence_score": "1.50"},
    )
    assert response.status_code == 200 and "confidence_score" in response.context["adminform"].form.errors
    assert IntakeQLink.objects.count() == 0


@pytest.mark.django_db
def test_admin_add_of_a_duplicate_canonical_patient_is_a_form_error(client, superuser):
    client.force_login(superuser)
    services.canonical_patient_find_or_create(first_name="José", last_name="Hernández", date_of_birth="1987-09-14")
    response = client.post(
        url(CanonicalPatient, "add"), {"first_name": "jose", "last_name": "HERNANDEZ", "date_of_birth": "1987-09-14"}
    )
    assert response.status_code == 200 and "already exists" in str(response.context["adminform"].form.errors)
    assert CanonicalPatient.objects.count() == 1


@pytest.mark.django_db
def test_a_cpss_sees_only_their_caseload_in_the_admin(client, program, make_cpss):
    ann = make_cpss("ann_cpss", last_name="Ann")
    bob = make_cpss("bob_cpss", last_name="Bob")
    mine = services.cm_patient_enroll_new(
        first_name="Mine", last_name="Patient", date_of_birth="1990-01-01", program=program, cpss_provider=ann
    )
    theirs = services.cm_patient_enroll_new(
        first_name="Theirs", last_name="Patient", date_of_birth="1990-01-01", program=program, cpss_provider=bob
    )
    client.force_login(ann.user)

    listed = client.get(url(CMEnrollment, "changelist"))
    assert listed.status_code == 200
    assert [e.pk for e in listed.context["cl"].result_list] == [mine.enrollment.pk]
    assert client.get(url(CMEnrollment, "change", mine.enrollment.pk)).status_code == 200
    # Outside the caseload: not found (the admin redirects with "doesn't exist"), never shown.
    for model, obj in [
        (CMEnrollment, theirs.enrollment),
        (CanonicalPatient, theirs.canonical_patient),
        (CMPatient, theirs.cm_patient),
        (CMProvider, bob),
    ]:
        response = client.get(url(model, "change", obj.pk))
        assert response.status_code == 302 and response.url == reverse("admin:index"), model
    ledger = client.get(url(CMPointsTransaction, "changelist"))
    assert {e.enrollment_id for e in ledger.context["cl"].result_list} == {mine.enrollment.pk}

    # Recording an event for someone else's patient is refused as an invalid choice.
    response = client.post(
        url(CMPointsTransaction, "add"), {"enrollment": theirs.enrollment.pk, "event_type": "group_attendance"}
    )
    assert response.status_code == 200 and "enrollment" in response.context["adminform"].form.errors
    assert theirs.enrollment.points_transactions.count() == 1
    # ... and allowed for their own.
    response = client.post(
        url(CMPointsTransaction, "add"), {"enrollment": mine.enrollment.pk, "event_type": "group_attendance"}
    )
    assert response.status_code == 302
    assert mine.enrollment.points_transactions.count() == 2
    # Autocomplete offers only their own patients.
    auto = client.get(
        reverse("admin:autocomplete"),
        {"app_label": "cm_program", "model_name": "cmpointstransaction", "field_name": "enrollment", "term": "Patient"},
    )
    assert [r["id"] for r in auto.json()["results"]] == [str(mine.enrollment.pk)]


@pytest.mark.django_db
def test_patient_navigators_have_no_cm_pages(client, navigator_user, world):
    client.force_login(navigator_user)
    assert client.get(url(CMEnrollment, "changelist")).status_code == 403
    assert client.get(url(CanonicalPatient, "change", world.canonical_patient.pk)).status_code == 403


@pytest.mark.django_db
def test_cm_supervisor_sees_everything(client, cm_supervisor_user, world, program, make_cpss):
    other = make_cpss("other_cpss")
    services.cm_patient_enroll_new(
        first_name="Other", last_name="Patient", date_of_birth="1991-01-01", program=program, cpss_provider=other
    )
    client.force_login(cm_supervisor_user)
    response = client.get(url(CMEnrollment, "changelist"))
    assert response.status_code == 200 and response.context["cl"].result_count == 2
    assert client.get(url(CMProgram, "add")).status_code == 200
    assert CMProgramFactory  # the factory module is importable for admin fixtures


@pytest.mark.django_db
def test_canonical_patient_page_links_to_the_complete_patient_view(client, superuser, world, program, cpss):
    client.force_login(superuser)
    complete = reverse("admin:cm_program_canonicalpatient_complete", args=[world.canonical_patient.pk])
    assert complete in client.get(url(CanonicalPatient, "change", world.canonical_patient.pk)).content.decode()
    assert complete in client.get(url(CanonicalPatient, "changelist")).content.decode()
    page = client.get(complete)
    assert page.status_code == 200
    body = page.content.decode()
    assert world.intakeq_link.intakeq_patient.intakeq_client_id in body
    assert [(e.cm_program, e.cpss_provider, e.total_points, e.current_streak) for e in page.context["enrollments"]] == [
        (program, cpss, 75, 1)
    ]


@pytest.mark.django_db
def test_caseload_page(client, cm_supervisor_user, navigator_user, world, cpss, make_cpss):
    make_cpss("empty_cpss", first_name="Eve", last_name="Empty", max_caseload=3)
    caseloads = reverse("admin:cm_program_cmprovider_caseloads")
    client.force_login(cm_supervisor_user)
    response = client.get(caseloads)
    assert response.status_code == 200
    rows = {line.provider.last_name: line.row for line in response.context["lines"]}
    assert (rows[cpss.last_name].active_enrollments, rows[cpss.last_name].points_this_week) == (1, 75)
    assert (rows["Empty"].active_enrollments, rows["Empty"].max_caseload) == (0, 3)
    assert caseloads in client.get(url(CMProvider, "changelist")).content.decode()

    # The page is the supervisors' tool: a CPSS has their own caseload list instead.
    client.force_login(cpss.user)
    assert client.get(caseloads).status_code == 403
    assert caseloads not in client.get(url(CMProvider, "changelist")).content.decode()
    client.force_login(navigator_user)
    assert client.get(caseloads).status_code == 403


@pytest.mark.django_db
def test_a_cpss_pauses_their_patient_but_cannot_reassign(client, world, cpss, make_cpss):
    other = make_cpss("other_cpss")
    client.force_login(cpss.user)
    enrollment = world.enrollment
    page = client.get(url(CMEnrollment, "change", enrollment.pk))
    assert "cpss_provider" not in page.context["adminform"].form.fields
    response = client.post(
        url(CMEnrollment, "change", enrollment.pk),
        {
            "status": "paused",
            "status_reason": "Hospital stay",
            "cpss_provider": other.pk,  # ignored: read-only for a CPSS
            "pod_assignment": "",
            "notes": "",
            "medicaid_verification": "",
            "points_transactions-TOTAL_FORMS": "2",
            "points_transactions-INITIAL_FORMS": "2",
            "points_transactions-MIN_NUM_FORMS": "0",
            "points_transactions-MAX_NUM_FORMS": "1000",
        },
    )
    assert response.status_code == 302
    enrollment.refresh_from_db()
    assert (enrollment.status, enrollment.cpss_provider) == ("paused", cpss)


@pytest.mark.django_db
def test_reversing_entries_from_the_ledger_changelist(client, superuser, world):
    client.force_login(superuser)
    negative = world.enrollment.points_transactions.get(sequence=2)
    changelist = url(CMPointsTransaction, "changelist")
    selected = {"action": "reverse_entries", "_selected_action": [str(negative.pk)]}

    ask = client.post(changelist, selected)
    assert ask.status_code == 200 and "Reason (required)" in ask.content.decode()
    no_reason = client.post(changelist, {**selected, "post": "yes", "reason": " "})
    assert "needs a reason" in no_reason.content.decode()
    assert CMPointsTransaction.objects.count() == 2

    done = client.post(changelist, {**selected, "post": "yes", "reason": "Sample was mislabelled"}, follow=True)
    assert "Reversed 1 entry." in done.content.decode()
    reversal = CMPointsTransaction.objects.get(event_type="reversal")
    world.enrollment.refresh_from_db()
    assert (reversal.reverses, reversal.points, reversal.reason) == (negative, -50, "Sample was mislabelled")
    assert (world.enrollment.total_points, world.enrollment.current_streak) == (25, 0)

    again = client.post(changelist, {**selected, "post": "yes", "reason": "again"}, follow=True)
    assert "Not reversed" in again.content.decode() and "already reversed" in again.content.decode()
    assert CMPointsTransaction.objects.filter(event_type="reversal").count() == 1


@pytest.mark.django_db
def test_every_cm_admin_has_the_audit_history_and_autocompletes_its_foreign_keys(rf, superuser):
    from django.contrib import admin as django_admin
    from django.contrib.admin.widgets import AutocompleteSelect

    from common.admin import CrmModelAdmin

    request = rf.get("/admin/")
    request.user = superuser
    checked = []
    for model, model_admin in django_admin.site._registry.items():
        if model._meta.app_label != "cm_program":
            continue
        assert isinstance(model_admin, CrmModelAdmin), model
        assert model_admin.search_fields, model
        form = model_admin.get_form(request, None)()
        for name, field in form.fields.items():
            if hasattr(field, "queryset"):
                # A foreign key is picked by typing a name, never from a list of every row.
                assert isinstance(field.widget.widget, AutocompleteSelect), f"{model.__name__}.{name}"
                checked.append(f"{model.__name__}.{name}")
    assert len(checked) >= 8, checked


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    [
        "?cpss=not-a-uuid",
        "?cpss=none",
        "?cpss=00000000-0000-0000-0000-000000000000",
        "?last_event=stale",
        "?last_event=whatever",
        "?o=7",
        "?status__exact=nonsense",
    ],
)
def test_odd_filter_values_on_the_enrollment_list_are_not_errors(client, superuser, world, query):
    client.force_login(superuser)
    response = client.get(url(CMEnrollment, "changelist") + query)
    assert response.status_code in (200, 302)
    if response.status_code == 200:
        assert response.context["cl"].result_count in (0, 1)


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["?occurred=today", "?occurred=this_week", "?occurred=bogus", "?cpss=x"])
def test_odd_filter_values_on_the_ledger_are_not_errors(client, superuser, world, query):
    client.force_login(superuser)
    response = client.get(url(CMPointsTransaction, "changelist") + query)
    assert response.status_code == 200
    expected = {"?occurred=today": 2, "?occurred=this_week": 2, "?occurred=bogus": 2, "?cpss=x": 0}[query]
    assert response.context["cl"].result_count == expected


@pytest.mark.django_db
def test_record_event_for_a_malformed_id_is_not_found(client, superuser):
    client.force_login(superuser)
    bad = reverse("admin:cm_program_cmenrollment_record_event", args=["not-a-uuid"])
    assert client.post(bad, {"event-event_type": "group_attendance"}).status_code == 404
