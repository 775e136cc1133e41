"""The "Imports" admin screen: who may open it, uploads (and every bad one refused with a 400 that names
the problem), the dry run's report, "Run for real", the list of past runs (issue 11, part 4)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import reverse
from django.utils import timezone
from procrastinate.contrib.django.models import ProcrastinateJob

from cm_program.models import CanonicalPatient, IntakeQMatchCandidate, IntakeQMatchingWatermark, IntakeQPatient
from common import roles
from common.imports import services, tasks
from common.imports.models import ImportFile, ImportKind, ImportRun
from common.imports.runner import IMPORTERS
from patients.models import MedicalCondition
from people.models import Person
from tests.admin_smoke import smoke
from tests.conftest import make_user
from tests.factories.cm_program import CanonicalPatientFactory
from tests.factories.people import PersonFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/common/importrun/"
UPLOAD = "/admin/common/importrun/add/"


def run_url(run) -> str:
    return reverse("admin:common_importrun_change", args=[run.pk])


def for_real_url(run) -> str:
    return reverse("admin:common_importrun_run_for_real", args=[run.pk])


@pytest.fixture
def fake_importer(monkeypatch):
    monkeypatch.setitem(IMPORTERS, ImportKind.LEGACY_CRM, "tests.common.import_fakes.run_import")


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def crm(crm_supervisor_user):
    return _client(crm_supervisor_user)


@pytest.fixture
def cm(cm_supervisor_user):
    return _client(cm_supervisor_user)


def _upload(client, kind=ImportKind.LEGACY_CRM, files=None):
    files = [SimpleUploadedFile("contact.csv", b"name\nZeta\nEta\n")] if files is None else files
    return client.post(UPLOAD, {"kind": kind, "files": files})


def _run_of(kind, *, user, status=ImportRun.Status.DONE, dry_run=True):
    run = ImportRun.objects.create(kind=kind, status=status, dry_run=dry_run, created_by=user)
    ImportFile.objects.create(run=run, name="contact.csv", content=b"name\nZeta\n", size=10)
    return run


@pytest.mark.parametrize(
    ("role", "superuser", "status", "kinds"),
    [
        (None, True, 200, {"legacy_crm", "cm_patients", "intakeq"}),
        (roles.CRM_SUPERVISORS, False, 200, {"legacy_crm"}),
        (roles.CM_SUPERVISORS, False, 200, {"cm_patients", "intakeq"}),
        (roles.PATIENT_NAVIGATORS, False, 403, None),
        (roles.CPSS, False, 403, None),
    ],
)
def test_each_role_opens_the_screen_for_its_own_imports_only(role, superuser, status, kinds):
    client = _client(make_user("someone", role, superuser=superuser))
    assert client.get(CHANGELIST).status_code == status
    response = client.get(UPLOAD)
    assert response.status_code == status
    if kinds is not None:
        assert {value for value, _ in response.context["form"].fields["kind"].choices} == kinds
        index = client.get("/admin/").content.decode()
        assert f'href="{CHANGELIST}"' in index and "Imports" in index
    else:
        assert _upload(client).status_code == 403
        assert not ImportRun.objects.exists()


def test_the_list_shows_only_runs_of_the_users_kinds(crm, cm, crm_supervisor_user):
    mine = _run_of(ImportKind.LEGACY_CRM, user=crm_supervisor_user)
    theirs = _run_of(ImportKind.INTAKEQ, user=None)
    response = crm.get(CHANGELIST)
    assert response.status_code == 200 and response.context["title"] == "Imports"
    assert [r.pk for r in response.context["cl"].result_list] == [mine.pk]
    assert "Upload files for a dry run" in response.content.decode()
    assert [r.pk for r in cm.get(CHANGELIST).context["cl"].result_list] == [theirs.pk]
    assert crm.get(run_url(theirs)).status_code == 403
    assert cm.get(run_url(mine)).status_code == 403
    assert cm.post(for_real_url(mine)).status_code == 403
    assert not ImportRun.objects.filter(previous=mine).exists()


def test_the_list_costs_the_same_queries_for_1_and_50_runs(superuser):
    client = _client(superuser)
    _run_of(ImportKind.LEGACY_CRM, user=superuser)
    with CaptureQueriesContext(connection) as one:
        assert client.get(CHANGELIST).status_code == 200
    for _ in range(49):
        _run_of(ImportKind.CM_PATIENTS, user=superuser)
    with CaptureQueriesContext(connection) as fifty:
        response = client.get(CHANGELIST)
    assert len(response.context["cl"].result_list) == 50
    assert len(fifty) == len(one)


def test_admin_smoke(superuser):
    smoke(_client(superuser), _run_of(ImportKind.LEGACY_CRM, user=superuser), search="root")


def test_upload_dry_run_report_then_run_for_real(crm, crm_supervisor_user, fake_importer):
    response = _upload(crm)
    run = ImportRun.objects.get()
    assert response.status_code == 302 and response["Location"] == run_url(run)
    assert (run.kind, run.dry_run, run.status, run.created_by) == ("legacy_crm", True, "queued", crm_supervisor_user)
    assert bytes(run.files.get(name="contact.csv").content) == b"name\nZeta\nEta\n"
    assert ProcrastinateJob.objects.filter(task_name="imports.run_import", args={"run_id": run.pk}).count() == 1

    page = crm.get(run_url(run)).content.decode()
    assert "Waiting for a worker" in page and 'http-equiv="refresh"' in page and "Run for real" not in page

    services.import_run_execute(run_id=run.pk)  # what the worker does
    page = crm.get(run_url(run)).content.decode()
    assert 'http-equiv="refresh"' not in page
    assert "Report of the dry run (nothing was saved): 2 rows read" in page
    assert '<th scope="row">contact.csv</th><td class="num">2</td><td class="num">2</td>' in page
    assert "Run for real" in page
    assert not MedicalCondition.all_objects.filter(name="Zeta").exists()

    response = crm.post(for_real_url(run))
    real = ImportRun.objects.get(previous=run)
    assert response.status_code == 302 and response["Location"] == run_url(real)
    assert (real.dry_run, real.status, real.kind) == (False, "queued", "legacy_crm")
    assert real.created_by == crm_supervisor_user
    assert bytes(real.files.get(name="contact.csv").content) == b"name\nZeta\nEta\n"
    assert ProcrastinateJob.objects.filter(task_name="imports.run_import", args={"run_id": real.pk}).count() == 1

    services.import_run_execute(run_id=real.pk)
    assert MedicalCondition.all_objects.filter(name__in=["Zeta", "Eta"]).count() == 2
    page = crm.get(run_url(real)).content.decode()
    assert "Report: 2 rows read" in page and "repeats the dry run" in page and "Run for real" not in page

    # a second press changes nothing: it leads to the real run already made
    page = crm.get(run_url(run)).content.decode()
    assert f'This dry run was run for real: <a href="{run_url(real)}">#{real.pk}</a>' in page
    response = crm.post(for_real_url(run), follow=True)
    assert ImportRun.objects.filter(previous=run).count() == 1
    assert f"already run for real: #{real.pk}" in response.content.decode()


def test_a_failed_dry_run_shows_its_error_and_cannot_be_run_for_real(crm, crm_supervisor_user, fake_importer):
    run = _run_of(ImportKind.LEGACY_CRM, user=crm_supervisor_user, status=ImportRun.Status.QUEUED)
    ImportRun.objects.filter(pk=run.pk).update(options={"fail": True})
    services.import_run_execute(run_id=run.pk)
    page = crm.get(run_url(run)).content.decode()
    assert "The import failed; nothing was saved" in page and "contact.csv: line 3: no name" in page
    assert "Run for real" not in page
    response = crm.post(for_real_url(run), follow=True)
    assert "only a finished dry run can be run for real" in response.content.decode()
    assert not ImportRun.objects.filter(previous=run).exists()
    assert crm.get(for_real_url(run)).status_code == 405


def test_progress_of_a_running_import_is_on_its_page(crm, crm_supervisor_user):
    run = _run_of(ImportKind.LEGACY_CRM, user=crm_supervisor_user, status=ImportRun.Status.RUNNING)
    ImportRun.objects.filter(pk=run.pk).update(rows_done=2500, rows_total=10000)
    page = crm.get(run_url(run)).content.decode()
    assert '<progress value="2500" max="10000"></progress> 2500 of 10000 rows (25%)' in page
    assert "The worker is running this import." in page


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"kind": "intakeq", "files": [SimpleUploadedFile("a.json", b"[]")]}, "Select a valid choice"),
        ({"kind": "nonsense"}, "Select a valid choice"),
        ({}, "This field is required"),
        ({"kind": "legacy_crm"}, "No file uploaded: choose contact.csv, patient.csv"),
        (
            {"kind": "legacy_crm", "files": [SimpleUploadedFile("contact.csv", b"name\nM\xfcller\n")]},
            "contact.csv: not UTF-8 text (invalid start byte at byte 6)",
        ),
        (
            {"kind": "legacy_crm", "files": [SimpleUploadedFile("contacts.xlsx", b"PK\x03\x04")]},
            "contacts.xlsx: not a file this import reads (expected contact.csv, patient.csv",
        ),
        ({"kind": "legacy_crm", "files": [SimpleUploadedFile("contact.csv", b"")]}, "contact.csv: empty file"),
        (
            {
                "kind": "legacy_crm",
                "files": [SimpleUploadedFile("contact.csv", b"a\n"), SimpleUploadedFile("contact.csv", b"b\n")],
            },
            "contact.csv: uploaded twice",
        ),
    ],
)
def test_every_bad_upload_is_a_400_naming_the_problem(crm, data, message):
    response = crm.post(UPLOAD, data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not ImportRun.objects.exists() and not ImportFile.objects.exists()


@override_settings(IMPORT_UPLOAD_MAX_BYTES=1000)
def test_a_file_over_the_limit_is_refused_before_it_is_stored(cm):
    big = SimpleUploadedFile("page1.json", b"[" + b" " * 2046 + b"]")
    response = cm.post(UPLOAD, {"kind": "intakeq", "files": [big]})
    assert response.status_code == 400
    assert "The files add up to 2.0 KB, more than the 1.0 KB an upload may hold" in response.content.decode()
    assert not ImportRun.objects.exists()


def test_intakeq_takes_json_pages_only(cm):
    response = cm.post(UPLOAD, {"kind": "intakeq", "files": [SimpleUploadedFile("clients.csv", b"a,b\n")]})
    assert response.status_code == 400 and "clients.csv: not a .json file" in response.content.decode()
    response = cm.post(
        UPLOAD,
        {"kind": "intakeq", "files": [SimpleUploadedFile("p1.json", b"[]"), SimpleUploadedFile("p2.json", b"[]")]},
    )
    run = ImportRun.objects.get()
    assert response.status_code == 302 and run.kind == "intakeq"
    assert sorted(run.files.values_list("name", flat=True)) == ["p1.json", "p2.json"]


@pytest.mark.parametrize("object_id", ["abc", "99999999999999999999", "0"])
def test_a_run_that_does_not_exist_is_a_redirect_not_a_500(crm, object_id):
    assert crm.get(f"/admin/common/importrun/{object_id}/change/").status_code == 302
    assert crm.post(f"/admin/common/importrun/{object_id}/run-for-real/").status_code == 302


# --- The importers' options on the upload screen ---


def _legacy_files():
    return [SimpleUploadedFile("contact.csv", b"contactid,firstname\n1,Ann\n")]


def test_the_legacy_import_takes_its_navigator_and_phone_region(crm):
    from people.models import ContactType, PersonContactType
    from tests.factories.people import PersonFactory

    nina = PersonFactory(email="nina@crm.example.org")
    PersonContactType.objects.create(
        person=nina, contact_type=ContactType.objects.get(code=ContactType.PATIENT_NAVIGATOR)
    )
    response = crm.post(
        UPLOAD,
        {"kind": "legacy_crm", "files": _legacy_files(), "navigator": "Nina@CRM.example.org", "phone_region": "nl"},
    )
    assert response.status_code == 302
    assert ImportRun.objects.get().options == {"navigator": "Nina@CRM.example.org", "phone_region": "NL"}


@pytest.mark.parametrize(
    ("extra", "field", "message"),
    [
        ({"navigator": "nobody@crm.example.org"}, "navigator", "no person has this email"),
        ({"phone_region": "ZZ"}, "phone_region", "not a region code"),
        ({"program": "Moonlit CM"}, "program", "Not an option of the Legacy CRM import."),
    ],
)
def test_a_bad_option_is_a_400_naming_the_field(superuser, extra, field, message):
    client = Client()
    client.force_login(superuser)  # a superuser's form has every import's options
    response = client.post(UPLOAD, {"kind": "legacy_crm", "files": _legacy_files(), **extra})
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert not ImportRun.objects.exists()


def test_a_cm_supervisor_sees_and_passes_the_program_option_only(cm):
    page = cm.get(UPLOAD)
    assert "program" in page.context["form"].fields and "navigator" not in page.context["form"].fields
    files = [SimpleUploadedFile("patients.csv", b"id,first_name\n1,Ann\n")]
    response = cm.post(UPLOAD, {"kind": "cm_patients", "files": files, "program": " Moonlit CM "})
    assert response.status_code == 302
    assert ImportRun.objects.get().options == {"program": "Moonlit CM"}


def test_the_intakeq_import_takes_rematch_all_and_its_queued_run_grades_every_client(cm, cm_supervisor_user, tmp_path):
    """The command's --rematch-all on the upload screen: stored with the dry run, shown on its page, kept by
    "Run for real", and the queued task grades every unlinked client, not only those changed since the last
    grading (here: none changed, so an incremental run would grade nobody)."""
    born = dt.date(1980, 3, 14)
    person = PersonFactory(first_name="Kate", last_name="Moss", date_of_birth=born, email=None, phone="")
    CanonicalPatientFactory(first_name="Kate", last_name="Moss", date_of_birth=born, person=person)
    pages = json.dumps([{"ClientId": 1, "FirstName": "Katherine", "LastName": "Moss", "DateOfBirth": born.isoformat()}])

    def upload(**extra):
        return cm.post(
            UPLOAD, {"kind": "intakeq", "files": [SimpleUploadedFile("clients.json", pages.encode())], **extra}
        )

    assert "rematch_all" in cm.get(UPLOAD).context["form"].fields
    first = upload()  # an incremental import, for real: the client is graded once
    run = ImportRun.objects.get()
    assert first.status_code == 302 and run.options == {}
    assert tasks.run_import(run_id=run.pk) == "done"
    real = services.import_run_repeat_for_real(dry_run=run, actor=cm_supervisor_user).run
    assert tasks.run_import(run_id=real.pk) == "done"
    assert IntakeQMatchCandidate.objects.count() == 1
    # As if graded yesterday, then the candidate lost: only a full grading makes it again.
    IntakeQMatchCandidate.objects.all().delete()
    for model in (IntakeQPatient, Person, CanonicalPatient):
        model.objects.update(updated_at=timezone.now() - dt.timedelta(days=2))
    IntakeQMatchingWatermark.objects.update(graded_until=timezone.now() - dt.timedelta(days=1))

    response = upload(rematch_all="on")
    dry = ImportRun.objects.order_by("-pk").first()
    assert response.status_code == 302 and dry.options == {"rematch_all": True}
    assert tasks.run_import(run_id=dry.pk) == "done"
    page = cm.get(run_url(dry))
    assert page.context["options"] == ["--rematch-all"]
    dry.refresh_from_db()
    assert "1 unlinked IntakeQ clients, 1 of them new or changed" in json.dumps(dry.report)
    real = services.import_run_repeat_for_real(dry_run=dry, actor=cm_supervisor_user).run
    assert real.options == {"rematch_all": True}
    assert tasks.run_import(run_id=real.pk) == "done"
    assert IntakeQMatchCandidate.objects.count() == 1


def test_rematch_all_is_an_option_of_the_intakeq_import_only(superuser):
    client = Client()
    client.force_login(superuser)
    response = client.post(UPLOAD, {"kind": "legacy_crm", "files": _legacy_files(), "rematch_all": "on"})
    assert response.status_code == 400
    assert "Not an option of the Legacy CRM import." in " ".join(response.context["form"].errors["rematch_all"])
    assert not ImportRun.objects.exists()
    crm_page = _client(make_user("crm-sup-2", roles.CRM_SUPERVISORS)).get(UPLOAD)
    assert "rematch_all" not in crm_page.context["form"].fields
