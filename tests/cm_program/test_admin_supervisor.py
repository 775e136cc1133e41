"""CM supervisors' pages: the CPSS caseload page and its CSV, the dual-enrollment list, the complete
patient view, and the "Enroll in CM" action on the IntakeQ patient list."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from cm_program import services
from cm_program.admin_views import load_level
from cm_program.models import CMEnrollment, CMPointsTransaction, IntakeQLink
from tests.factories.cm_program import (
    CMEnrollmentFactory,
    CMProgramFactory,
    CMProviderFactory,
    IntakeQPatientFactory,
)

CASELOADS = "admin:cm_program_cmprovider_caseloads"
CASELOADS_CSV = "admin:cm_program_cmprovider_caseloads_csv"
DUAL = "admin:cm_program_canonicalpatient_dual_enrollments"


def row_html(body: str, provider) -> str:
    match = re.search(rf'<tr class="cm-caseload-row" data-provider="{provider.pk}">(.*?)</tr>', body, re.S)
    assert match, f"no row for {provider}"
    return match.group(1)


def fill(provider, program, n: int) -> None:
    # Factories on purpose: these tests are about the display at a given load, not about enrolling.
    for _ in range(n):
        CMEnrollmentFactory(cpss_provider=provider, cm_program=program)


@pytest.mark.parametrize(
    ("active", "maximum", "level"),
    [(0, 10, "normal"), (8, 10, "normal"), (9, 10, "warning"), (26, 30, "normal"), (27, 30, "warning")]
    + [(29, 30, "warning"), (30, 30, "danger"), (31, 30, "danger"), (0, 0, "danger"), (89, 100, "normal")],
)
def test_load_level_thresholds(active, maximum, level):
    assert load_level(active, maximum) == level


@pytest.mark.django_db
def test_caseload_bars_turn_amber_at_90_percent_and_red_at_100(client, cm_supervisor_user, program):
    below, warning, full = (CMProviderFactory(last_name=n, max_caseload=10) for n in ("Below", "Warning", "Full"))
    fill(below, program, 8)
    fill(warning, program, 9)
    fill(full, program, 10)
    client.force_login(cm_supervisor_user)
    response = client.get(reverse(CASELOADS))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'class="cm-bar normal"' in row_html(body, below) and ">80%<" in row_html(body, below)
    assert 'class="cm-bar warning"' in row_html(body, warning) and ">90%<" in row_html(body, warning)
    assert 'class="cm-bar danger"' in row_html(body, full) and "100% full" in row_html(body, full)
    assert 'class="crm-w-100"' in row_html(body, full)
    assert [line.level for line in response.context["lines"]] == ["normal", "danger", "warning"]  # by name


@pytest.mark.django_db
def test_caseload_page_figures_link_to_the_matching_lists(client, cm_supervisor_user, program, cpss, make_cpss):
    other = make_cpss("other_cpss", last_name="Other")
    seen = services.cm_patient_enroll_new(
        first_name="Seen", last_name="Often", date_of_birth="1990-01-01", program=program, cpss_provider=cpss
    ).enrollment
    services.cm_event_record(enrollment=seen, event_type="test_negative")
    services.cm_patient_enroll_new(
        first_name="Not", last_name="Seen", date_of_birth="1991-01-01", program=program, cpss_provider=cpss
    )
    services.cm_patient_enroll_new(
        first_name="Someone", last_name="Else", date_of_birth="1992-01-01", program=program, cpss_provider=other
    )
    client.force_login(cm_supervisor_user)
    line = next(x for x in client.get(reverse(CASELOADS)).context["lines"] if x.provider == cpss)
    assert (line.row.active_enrollments, line.row.without_event_7_days, line.row.points_this_week) == (2, 1, 100)

    active = client.get(line.active_url).context["cl"]
    assert {e.canonical_patient.last_name for e in active.result_list} == {"Often", "Seen"}
    stale = client.get(line.stale_url).context["cl"]
    assert [e.canonical_patient.last_name for e in stale.result_list] == ["Seen"]
    points = client.get(line.points_url).context["cl"]
    assert sum(e.points for e in points.result_list) == 100
    assert {e.enrollment.cpss_provider_id for e in points.result_list} == {cpss.pk}


@pytest.mark.django_db
def test_caseload_page_runs_a_constant_number_of_queries(
    client, cm_supervisor_user, program, django_assert_num_queries
):
    client.force_login(cm_supervisor_user)
    url = reverse(CASELOADS)
    client.get(url)  # the session and permission caches are warm from here on, for both sizes alike
    # every request runs in a transaction (ATOMIC_REQUESTS): inside the test transaction that is a
    # SAVEPOINT and a RELEASE on top of the page's own queries; the user's group names are read once for
    # for the app list's Imports entry and the CM scope alike (common.roles.group_names)

    # ... and the count of CPSS that numbers the pages.
    fill(CMProviderFactory(max_caseload=5), program, 2)
    with django_assert_num_queries(9):
        response = client.get(url)
    assert len(response.context["lines"]) == 1

    for _ in range(4):
        fill(CMProviderFactory(max_caseload=5), program, 3)
    with django_assert_num_queries(9):
        response = client.get(url)
    assert len(response.context["lines"]) == 5


@pytest.mark.django_db
def test_caseload_page_shows_a_page_of_cpss_and_the_csv_all_of_them(client, cm_supervisor_user, program, monkeypatch):
    from cm_program import admin_views

    monkeypatch.setattr(admin_views, "CASELOADS_PER_PAGE", 2)
    providers = [CMProviderFactory(last_name=name, max_caseload=5) for name in ("Ames", "Bell", "Cole", "Dunn", "Eady")]
    fill(providers[3], program, 2)
    client.force_login(cm_supervisor_user)

    def names(page):
        response = client.get(reverse(CASELOADS), {"p": page} if page is not None else {})
        assert response.status_code == 200
        return [line.provider.last_name for line in response.context["lines"]], response.content.decode()

    first, body = names(None)
    assert first == ["Ames", "Bell"]
    assert "Page 1 of 3 (5 CPSS; the CSV has them all)" in body and 'href="?p=2"' in body
    second, body = names(2)
    assert second == ["Cole", "Dunn"]
    assert ">2</a> / 5" in row_html(body, providers[3])  # the figures are the page's own providers'
    assert names(3)[0] == ["Eady"]
    assert names(99)[0] == ["Eady"]  # past the end: the last page
    assert names("x")[0] == ["Ames", "Bell"]  # not a number: the first page
    csv_rows = list(csv.reader(io.StringIO(b"".join(client.get(reverse(CASELOADS_CSV)).streaming_content).decode())))
    assert [row[0].split()[-1] for row in csv_rows[1:]] == ["Ames", "Bell", "Cole", "Dunn", "Eady"]


@pytest.mark.django_db
def test_caseload_csv(client, cm_supervisor_user, program, cpss):
    formula = CMProviderFactory(
        first_name="=HYPERLINK(1)", last_name="Evil", email="evil@cm.example.org", max_caseload=4
    )
    fill(formula, program, 4)
    services.cm_patient_enroll_new(
        first_name="Jo", last_name="Doe", date_of_birth="1990-01-01", program=program, cpss_provider=cpss
    )
    client.force_login(cm_supervisor_user)
    response = client.get(reverse(CASELOADS_CSV))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(
        r'attachment; filename="cpss-caseloads-\d{4}-\d{2}-\d{2}\.csv"', response["Content-Disposition"]
    )
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows == [
        [
            "CPSS",
            "Email",
            "Credentials",
            "Status",
            "Active enrollments",
            "Max caseload",
            "Load %",
            "Patients without an event in 7 days",
            "Points this week",
        ],
        ["'=HYPERLINK(1) Evil", "evil@cm.example.org", "CPSS-I", "Active", "4", "4", "100", "4", "0"],
        ["Ann Peer", cpss.email, "CPSS-I", "Active", "1", "30", "3", "1", "25"],
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("page", [CASELOADS, CASELOADS_CSV, DUAL])
def test_supervisor_pages_are_refused_to_cpss_and_navigators(client, cpss, navigator_user, page):
    for user in (cpss.user, navigator_user):
        client.force_login(user)
        assert client.get(reverse(page)).status_code == 403


# ---------------------------------------------------------------------------------------------------
# Dual enrollments and the complete patient view


def dual(program, cpss, *, last_name: str):
    return services.cm_patient_enroll_from_intakeq(
        intakeq_patient=IntakeQPatientFactory(last_name=last_name), program=program, cpss_provider=cpss
    )


@pytest.mark.django_db
def test_dual_enrollment_list(client, cm_supervisor_user, program, cpss, django_assert_max_num_queries):
    first = dual(program, cpss, last_name="Abbott")
    services.cm_patient_enroll_new(  # CM only: not listed
        first_name="Cm", last_name="Only", date_of_birth="1990-01-01", program=program, cpss_provider=cpss
    )
    IntakeQPatientFactory(last_name="IntakeqOnly")  # IntakeQ only: not listed
    client.force_login(cm_supervisor_user)
    response = client.get(reverse(DUAL))
    assert response.status_code == 200
    assert [p.last_name for p in response.context["page"].object_list] == ["Abbott"]
    body = response.content.decode()
    assert first.intakeq_link.intakeq_patient.intakeq_client_id in body
    assert reverse("admin:cm_program_canonicalpatient_complete", args=[first.canonical_patient.pk]) in body
    assert "Only" not in body

    for name in ("Baker", "Carter", "Dunn", "Evans"):
        dual(program, cpss, last_name=name)
    with django_assert_max_num_queries(10):
        response = client.get(reverse(DUAL))
    assert len(response.context["page"].object_list) == 5
    searched = client.get(reverse(DUAL), {"q": "cart"})
    assert [p.last_name for p in searched.context["page"].object_list] == ["Carter"]


@pytest.mark.django_db
def test_dual_enrollment_list_queries_do_not_grow(client, cm_supervisor_user, program, cpss):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(cm_supervisor_user)
    dual(program, cpss, last_name="Abbott")
    client.get(reverse(DUAL))
    with CaptureQueriesContext(connection) as one:
        client.get(reverse(DUAL))
    for i in range(6):
        dual(program, cpss, last_name=f"More{i}")
    with CaptureQueriesContext(connection) as seven:
        response = client.get(reverse(DUAL))
    assert len(response.context["page"].object_list) == 7
    assert len(seven) == len(one)


@pytest.mark.django_db
def test_complete_patient_view_shows_a_cpss_only_their_own_enrollments(
    client, program, cpss, make_cpss, navigator_user
):
    other = make_cpss("other_cpss", first_name="Bob", last_name="Other")
    result = dual(program, cpss, last_name="Shared")
    second_program = CMProgramFactory(name="Second CM")
    services.cm_enrollment_create(cm_patient=result.cm_patient, program=second_program, cpss_provider=other)
    complete = reverse("admin:cm_program_canonicalpatient_complete", args=[result.canonical_patient.pk])

    client.force_login(cpss.user)
    response = client.get(complete)
    assert response.status_code == 200
    assert [e.cm_program for e in response.context["enrollments"]] == [program]
    body = response.content.decode()
    assert "1 more enrollment with another CPSS is not shown." in body and "Bob Other" not in body
    assert result.intakeq_link.intakeq_patient.intakeq_client_id in body
    assert "/admin/people/" not in body  # no link into patient navigation

    client.force_login(other.user)
    assert [e.cm_program for e in client.get(complete).context["enrollments"]] == [second_program]
    stranger = make_cpss("stranger_cpss")
    client.force_login(stranger.user)
    assert client.get(complete).status_code == 404
    client.force_login(navigator_user)
    assert client.get(complete).status_code == 403


@pytest.mark.django_db
def test_complete_patient_view_for_a_superuser_links_the_person(client, superuser, program, cpss):
    result = dual(program, cpss, last_name="Linked")
    client.force_login(superuser)
    response = client.get(reverse("admin:cm_program_canonicalpatient_complete", args=[result.canonical_patient.pk]))
    assert response.status_code == 200
    assert reverse("admin:people_person_change", args=[result.canonical_patient.person_id]) in response.content.decode()
    assert client.get(reverse("admin:cm_program_canonicalpatient_complete", args=["not-a-uuid"])).status_code == 404


# ---------------------------------------------------------------------------------------------------
# "Enroll in CM" on the IntakeQ patient list


INTAKEQ_LIST = "admin:cm_program_intakeqpatient_changelist"


def enroll_action(client, patients, **form):
    data = {"action": "enroll_in_cm", "_selected_action": [str(p.pk) for p in patients], **form}
    return client.post(reverse(INTAKEQ_LIST), data)


@pytest.mark.django_db
def test_enroll_in_cm_asks_for_program_and_cpss_then_enrolls_each_patient(client, cm_supervisor_user, program, cpss):
    new = IntakeQPatientFactory(first_name="John", last_name="Smith", phone="(801) 555-0101")
    already = dual(program, cpss, last_name="Already").intakeq_link.intakeq_patient
    no_dob = IntakeQPatientFactory(first_name="Tom", last_name="Whitaker", date_of_birth=None)
    client.force_login(cm_supervisor_user)

    ask = enroll_action(client, [new, already, no_dob])
    assert ask.status_code == 200
    body = ask.content.decode()
    assert "Enroll 3 patients" in body and "John Smith" in body and "already linked to" in body
    assert str(cpss.pk) in body and "(1 of 30 places taken)" in body

    missing = enroll_action(client, [new], apply="1", program="")
    assert missing.status_code == 200 and "program" in missing.context["form"].errors

    done = enroll_action(client, [new, already, no_dob], apply="1", program=program.pk, cpss_provider=cpss.pk)
    assert done.status_code == 302
    shown = [str(m) for m in get_messages(done.wsgi_request)]
    assert shown[0] == f"Enrolled 1 in {program} with {cpss}: John Smith."
    assert any(m.startswith(f"Not enrolled: {already.first_name} Already:") and "already enrolled" in m for m in shown)
    assert "Not enrolled: Tom Whitaker: The IntakeQ record has no date of birth to match on." in shown
    enrollment = CMEnrollment.objects.get(canonical_patient__last_name="Smith")
    assert (enrollment.cpss_provider, enrollment.cm_patient.enrollment_source, enrollment.total_points) == (
        cpss,
        "existing_patient",
        25,
    )
    link = IntakeQLink.objects.get(intakeq_patient=new)
    assert (link.confidence_score, link.linked_by, enrollment.cm_patient.phone) == (
        1,
        cm_supervisor_user,
        "+18015550101",
    )


@pytest.mark.django_db
def test_enroll_in_cm_stops_at_the_cpss_caseload(client, cm_supervisor_user, program, make_cpss):
    small = make_cpss("small_cpss", max_caseload=1)
    first, second = IntakeQPatientFactory(last_name="Aa"), IntakeQPatientFactory(last_name="Bb")
    client.force_login(cm_supervisor_user)
    done = enroll_action(client, [first, second], apply="1", program=program.pk, cpss_provider=small.pk)
    shown = [str(m) for m in get_messages(done.wsgi_request)]
    assert shown[0].startswith("Enrolled 1 in") and shown[0].endswith(f"{first.first_name} Aa.")
    assert shown[1].startswith(f"Not enrolled: {second.first_name} Bb:") and "at capacity (1 of 1" in shown[1]
    assert list(CMEnrollment.objects.values_list("canonical_patient__last_name", flat=True)) == ["Aa"]
    assert CMPointsTransaction.objects.count() == 1


@pytest.mark.django_db
def test_a_cpss_cannot_enroll_from_intakeq(client, program, cpss):
    patient = dual(program, cpss, last_name="Mine").intakeq_link.intakeq_patient
    client.force_login(cpss.user)
    listed = client.get(reverse(INTAKEQ_LIST))
    assert listed.status_code == 200 and "enroll_in_cm" not in listed.content.decode()
    # The action is not offered to them: the post just shows the list again, and nothing is written.
    refused = enroll_action(client, [patient], apply="1", program=program.pk)
    assert refused.status_code == 200 and "cm-enroll-form" not in refused.content.decode()
    assert CMEnrollment.objects.count() == 1


@pytest.mark.django_db
def test_caseload_csv_is_streamed_in_the_same_queries_for_one_provider_as_for_fifty(
    client, cm_supervisor_user, program, cpss, monkeypatch
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    fill(cpss, program, 3)
    client.force_login(cm_supervisor_user)

    def export():
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(reverse(CASELOADS_CSV))
            body = b"".join(response.streaming_content).decode()
        assert response.status_code == 200 and response.streaming
        return list(csv.reader(io.StringIO(body)))[1:], [q["sql"] for q in ctx.captured_queries]

    rows, one = export()
    assert rows == [["Ann Peer", cpss.email, "CPSS-I", "Active", "3", "30", "10", "3", "0"]]
    others = CMProviderFactory.create_batch(49)
    rows, fifty = export()
    assert len(rows) == 50
    assert ["Ann Peer", cpss.email, "CPSS-I", "Active", "3", "30", "10", "3", "0"] in rows
    assert {row[1] for row in rows} == {cpss.email, *(p.email for p in others)}
    assert len(fifty) == len(one)
    # Keyset batches of 7 (no server-side cursor, so it streams behind a transaction pooler): the same
    # rows in the same order (last name, first name, id), in ceil(50 / 7) = 8 queries of the figures.
    monkeypatch.setattr("cm_program.admin_views.CASELOADS_CSV_BATCH", 7)
    batched, queries = export()
    assert batched == rows
    assert len([sql for sql in queries if "WITH listed AS" in sql]) == 8
    assert len(queries) == len(one) + 7 and not any("DECLARE" in sql.upper() for sql in queries)
