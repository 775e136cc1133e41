"""What each role sees of the CM desk: the CPSS sees no patient-navigation data, each role gets its own
links on the admin index, and every custom CM admin page opens for the roles that may see it and is
refused to the others (the model pages are walked by ``tests/common/test_admin_walk.py``)."""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from cm_program.models import CMEnrollment, IntakeQPatient
from people.models import Person, User
from tests.factories.people import PersonFactory

MY_LINKS = {"CPSS caseloads", "Dual enrollments", "My caseload", "CM program report"}


def workplace_links(body: str) -> set[str]:
    section = re.search(r'<div class="module" id="workplace-links">(.*?)</div>', body, re.S)
    return set(re.findall(r'<th scope="row"[^>]*><a href="[^"]+">([^<]+)</a>', section.group(1))) if section else set()


@pytest.mark.django_db
def test_a_cpss_sees_no_patient_navigation_data(client, cpss):
    person = PersonFactory()
    client.force_login(cpss.user)

    index = client.get("/admin/")
    assert index.status_code == 200
    assert [app["app_label"] for app in index.context["app_list"]] == ["cm_program"]
    assert "/admin/people/" not in index.content.decode()
    menu = client.get(reverse("admin:cm_program_cmenrollment_changelist"))
    assert menu.status_code == 200 and "/admin/people/" not in menu.content.decode()

    listed = client.get("/admin/people/person/")
    assert listed.status_code == 403 and person.last_name not in listed.content.decode()
    assert client.get(reverse("admin:people_person_change", args=[person.pk])).status_code == 403
    assert client.get("/admin/people/").status_code == 404
    assert client.get("/admin/people/user/").status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("superuser", {"CPSS caseloads", "Dual enrollments", "CM program report"}),
        ("cm_supervisor_user", {"CPSS caseloads", "Dual enrollments", "CM program report"}),
        ("cpss_login", {"My caseload", "CM program report"}),
        ("navigator_user", set()),
        ("crm_supervisor_user", set()),
    ],
)
def test_admin_index_links_each_role_to_its_pages(client, request, cpss, role, expected):
    user = cpss.user if role == "cpss_login" else request.getfixturevalue(role)
    client.force_login(user)
    body = client.get("/admin/").content.decode()
    assert workplace_links(body) & MY_LINKS == expected
    if expected:
        target = client.get(
            reverse(
                "admin:cm_program_cmenrollment_changelist"
                if "My caseload" in expected
                else "admin:cm_program_cmprovider_caseloads"
            )
        )
        assert target.status_code == 200


ROLES = ("admin", "cm_supervisor", "cpss", "navigator", "crm_supervisor")


def _custom_url_names() -> set[str]:
    standard = ("_changelist", "_add", "_change", "_history", "_delete")
    names = set()
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label != "cm_program":
            continue
        for pattern in model_admin.get_urls():
            if pattern.name and not pattern.name.endswith(standard):
                names.add(pattern.name)
    return names


def test_every_custom_cm_page_opens_for_the_roles_that_may_see_it_and_no_one_else(db):
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    cpss = User.objects.get(username="cpss")
    mine = CMEnrollment.objects.filter(cpss_provider__user=cpss, status="active").select_related("canonical_patient")
    own = mine.first()
    others = CMEnrollment.objects.exclude(cpss_provider__user=cpss).first()
    not_enrolled = IntakeQPatient.objects.filter(canonical_link__isnull=True).first()
    person = Person.objects.filter(canonical_patient__isnull=False).first()

    supervisors = {"admin": 200, "cm_supervisor": 200, "cpss": 403, "navigator": 403, "crm_supervisor": 403}
    cm_staff = {"admin": 200, "cm_supervisor": 200, "cpss": 200, "navigator": 403, "crm_supervisor": 403}
    pages = [
        ("cm_program_cmprovider_caseloads", [], supervisors),
        ("cm_program_cmprovider_caseloads_csv", [], supervisors),
        ("cm_program_cmenrollment_patient_pool_csv", [], supervisors),
        ("cm_program_canonicalpatient_dual_enrollments", [], supervisors),
        ("cm_program_canonicalpatient_complete", [own.canonical_patient_id], cm_staff),
        ("cm_program_canonicalpatient_complete", [others.canonical_patient_id], {**cm_staff, "cpss": 404}),
        (
            "cm_program_cmenrollment_record_event",
            [own.pk],
            {**cm_staff, "admin": 302, "cm_supervisor": 302, "cpss": 302},
        ),
        (
            "cm_program_cmenrollment_record_event",
            [others.pk],
            {**cm_staff, "admin": 302, "cm_supervisor": 302, "cpss": 404},
        ),
        ("cm_program_cmenrollment_change", [own.pk], cm_staff),
        # The compare-and-merge page: with no pair chosen, back to the list (302) for those who may merge.
        ("cm_program_canonicalpatient_merge", [], {**supervisors, "admin": 302, "cm_supervisor": 302}),
    ]
    assert {name for name, _, _ in pages} >= _custom_url_names(), "a custom CM admin page is missing from this walk"

    failures = []
    for username in ROLES:
        client = Client()
        client.force_login(User.objects.get(username=username))
        for name, args, expected in pages:
            response = client.get(reverse(f"admin:{name}", args=args))
            if response.status_code != expected[username]:
                failures.append(f"{username} {name}{args}: {response.status_code}, expected {expected[username]}")
            elif expected[username] == 200 and name.endswith("_change"):
                # The desk is on the enrollment page: the header and, for those who may record, the form.
                body = response.content.decode()
                if 'id="cm-total-points"' not in body or 'id="cm-record-event"' not in body:
                    failures.append(f"{username} {name}: the desk is missing")
        # The CM program report (issue 14): a page of the admin site outside the model admins.
        report = client.get(reverse("admin-report-cm"))
        if report.status_code != cm_staff[username]:
            failures.append(f"{username} CM program report: {report.status_code}, expected {cm_staff[username]}")
        # The IntakeQ "Enroll in CM" form: supervisors get it; others are not offered the action.
        response = client.post(
            reverse("admin:cm_program_intakeqpatient_changelist"),
            {"action": "enroll_in_cm", "_selected_action": [str(not_enrolled.pk)]},
        )
        offered = response.status_code == 200 and 'id="cm-enroll-form"' in response.content.decode()
        if offered != (username in ("admin", "cm_supervisor")):
            failures.append(f"{username} enroll_in_cm: status {response.status_code}, form shown: {offered}")
        # Patient navigation's people are not CM staff's business.
        if username == "cpss":
            status = client.get(reverse("admin:people_person_change", args=[person.pk])).status_code
            if status != 403:
                failures.append(f"cpss person page: {status}")
    assert not failures, "\n".join(failures)
