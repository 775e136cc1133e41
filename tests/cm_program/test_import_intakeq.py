"""import_intakeq, part 1: IntakeQ clients upserted into the mirror by ClientId (issue 11, section 3)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pghistory.models import Events

from cm_program.imports import intakeq
from cm_program.models import IntakeQPatient
from common.imports.files import ImportFileError, ImportFiles
from common.imports.models import ImportKind
from common.imports.report import ImportReport, Outcome
from common.imports.runner import execute
from tests.factories.cm_program import IntakeQPatientFactory

pytestmark = pytest.mark.django_db

# 1980-01-01T00:00:00Z in Unix milliseconds, as IntakeQ writes DateOfBirth.
JAN_1_1980_MS = 315_532_800_000


def client(client_id, first="Ann", last="Lee", **extra) -> dict:
    return {"ClientId": client_id, "FirstName": first, "LastName": last, **extra}


def write(tmp_path, name: str, *pages: list) -> str:
    path = tmp_path / name
    path.write_text("\n".join(json.dumps(page, ensure_ascii=False) for page in pages), encoding="utf-8")
    return str(path)


def run(*paths: str, dry_run: bool = False, match: bool = False) -> ImportReport:
    return execute(
        kind=ImportKind.INTAKEQ,
        files=ImportFiles.from_paths(list(paths)),
        options={"match": match},
        dry_run=dry_run,
    )


def test_clients_are_created_with_their_raw_object_and_every_row_is_reported(tmp_path):
    page1 = [
        client(
            101,
            "José",
            "Müller",
            Email=" Jose@X.org ",
            Phone="(801) 555-0101",
            DateOfBirth=JAN_1_1980_MS,
            PrimaryInsuranceCompany="Medicaid",
            Address="1 Main St",
        ),
        client("102", DateOfBirth="1990-02-03", MobilePhone="801-555-0102", Archived=True),
    ]
    page2 = [client(103, DateOfBirth="1985-07-04T00:00:00")]
    path = write(tmp_path, "clients.json", page1, page2)  # two pages concatenated

    report = run(path)

    assert report.as_dict()["counts"] == {"clients.json": {"created": 3}}
    jose = IntakeQPatient.objects.get(intakeq_client_id="101")
    assert (jose.first_name, jose.last_name, jose.date_of_birth) == ("José", "Müller", dt.date(1980, 1, 1))
    assert (jose.email, jose.phone, jose.archived) == ("jose@x.org", "(801) 555-0101", False)
    assert jose.raw["PrimaryInsuranceCompany"] == "Medicaid" and jose.raw["Address"] == "1 Main St"
    ann = IntakeQPatient.objects.get(intakeq_client_id="102")
    assert (ann.date_of_birth, ann.phone, ann.archived) == (dt.date(1990, 2, 3), "801-555-0102", True)
    assert IntakeQPatient.objects.get(intakeq_client_id="103").date_of_birth == dt.date(1985, 7, 4)


def test_one_file_per_page_and_a_single_object(tmp_path):
    first = write(tmp_path, "page1.json", [client(1)])
    second = tmp_path / "page2.json"
    second.write_text(json.dumps(client(2)), encoding="utf-8")
    report = run(first, str(second))
    assert report.count(outcome=Outcome.CREATED) == 2
    assert set(IntakeQPatient.objects.values_list("intakeq_client_id", flat=True)) == {"1", "2"}


def test_a_second_run_creates_nothing_and_reports_unchanged(tmp_path):
    path = write(tmp_path, "clients.json", [client(1, DateOfBirth=JAN_1_1980_MS), client(2)])
    run(path)
    events_before = Events.objects.count()
    report = run(path)
    assert report.as_dict()["counts"] == {"clients.json": {"unchanged": 2}}
    assert IntakeQPatient.objects.count() == 2
    assert Events.objects.count() == events_before  # nothing written, nothing audited


def test_the_emrs_changes_flow_in_where_the_import_wrote_the_value(tmp_path):
    run(write(tmp_path, "a.json", [client(1, "Ann", "Lee", Email="ann@x.org")]))
    report = run(write(tmp_path, "b.json", [client(1, "Anne", "Lee", Email="anne@x.org", Archived=True)]))
    assert report.as_dict()["counts"] == {"b.json": {"updated": 1}}
    row = IntakeQPatient.objects.get(intakeq_client_id="1")
    assert (row.first_name, row.email, row.archived) == ("Anne", "anne@x.org", True)
    assert row.raw["Archived"] is True


def test_a_value_edited_by_someone_is_kept_and_the_difference_reported(tmp_path):
    path = write(tmp_path, "a.json", [client(1, "Ann", "Lee", Email="ann@x.org")])
    run(path)
    IntakeQPatient.objects.filter(intakeq_client_id="1").update(last_name="Lee-Smith")

    report = run(write(tmp_path, "b.json", [client(1, "Ann", "Li", Email="ann@x.org")]))

    assert report.count(outcome=Outcome.CONFLICT) == 1
    assert report.notable[0]["reason"] == "LastName differs: kept 'Lee-Smith', IntakeQ has 'Li'"
    assert IntakeQPatient.objects.get(intakeq_client_id="1").last_name == "Lee-Smith"
    # Still edited by someone on the next run: still reported, still kept.
    again = run(write(tmp_path, "c.json", [client(1, "Ann", "Li", Email="ann@x.org")]))
    assert again.count(outcome=Outcome.CONFLICT) == 1


def test_a_row_typed_in_before_is_matched_never_overwritten(tmp_path):
    IntakeQPatientFactory(
        intakeq_client_id="7", first_name="Bo", last_name="Stone", email=None, phone=None, date_of_birth=None
    )
    report = run(write(tmp_path, "a.json", [client(7, "Bo", "Stone", Email="bo@x.org")]))
    # The empty email is filled in (nothing overwritten), the raw object kept.
    assert report.as_dict()["counts"] == {"a.json": {"updated": 1}}
    IntakeQPatientFactory(
        intakeq_client_id="8", first_name="Cy", last_name="Rho", email=None, phone=None, date_of_birth=None
    )
    report = run(write(tmp_path, "b.json", [client(8, "Cy", "Rho", DateOfBirth=None)]))
    assert report.as_dict()["counts"]["b.json"] == {"matched": 1}
    row = IntakeQPatient.objects.get(intakeq_client_id="8")
    assert row.raw == client(8, "Cy", "Rho", DateOfBirth=None)


def test_archived_clients_are_marked_never_deleted(tmp_path):
    run(write(tmp_path, "a.json", [client(1), client(2)]))
    run(write(tmp_path, "b.json", [client(1, Archived=True)]))  # 2 is absent from this export
    assert dict(IntakeQPatient.objects.values_list("intakeq_client_id", "archived")) == {"1": True, "2": False}


def test_bad_objects_in_the_middle_are_reported_and_the_rest_imported(tmp_path):
    path = tmp_path / "clients.json"
    path.write_text(
        "[\n"
        + ",\n".join(
            json.dumps(o)
            for o in [
                client(1),
                client(2, first=""),
                client(None),
                "not an object",
                client(3, DateOfBirth="03/04/1990"),
                client(4, DateOfBirth=4_102_444_800_000),  # 2100
                client(5, Email="not-an-email"),
                client(6),
                client(6, "Anne"),
            ]
        )
        + "\n]\n",
        encoding="utf-8",
    )
    report = run(str(path))
    rows = {(n["row"], n["outcome"], n["reason"]) for n in report.notable}
    assert rows == {
        (3, "skipped", "FirstName missing"),
        (4, "skipped", "ClientId missing"),
        (5, "skipped", "not a client object (a JSON str)"),
        (6, "skipped", "DateOfBirth '03/04/1990' is not a date (Unix milliseconds or YYYY-MM-DD)"),
        (7, "skipped", "DateOfBirth 2100-01-01 is in the future"),
        (8, "conflict", "Email 'not-an-email' is not a valid address: not stored"),
        (9, "skipped", "ClientId repeated on line 10: the later object is imported"),
    }
    assert report.count() == 9  # every object accounted for
    assert report.count(outcome=Outcome.CREATED) == 2
    assert sorted(IntakeQPatient.objects.values_list("intakeq_client_id", flat=True)) == ["1", "5", "6"]
    assert IntakeQPatient.objects.get(intakeq_client_id="6").first_name == "Anne"


@pytest.mark.parametrize(
    "text, message",
    [
        ('[{"ClientId": 1, "FirstName": "A", "LastName": "B"}\n{"ClientId": 2}]', "line 2: expected ',' or ']'"),
        ('[{"ClientId": 1, "FirstName": "A",\n "LastName": ', "line 1: not valid JSON"),
        ('[{"ClientId": 1, "FirstName": "A", "LastName": "B"}', "the file ends inside a list"),
        ("ClientId,FirstName\n1,A\n", "line 1: expected a list of clients"),
        ("", "empty file"),
    ],
)
def test_a_file_that_is_not_the_apis_json_fails_naming_file_and_line_and_writes_nothing(tmp_path, text, message):
    (tmp_path / "clients.json").write_text(text, encoding="utf-8")
    with pytest.raises(ImportFileError, match=f"clients.json: .*{message}"):
        run(str(tmp_path / "clients.json"))
    assert not IntakeQPatient.objects.exists()


def test_long_files_are_read_across_chunks_with_the_right_lines(tmp_path, monkeypatch):
    from cm_program.imports import json_stream

    monkeypatch.setattr(json_stream, "CHUNK", 13)
    monkeypatch.setattr(intakeq, "BATCH", 4)
    objects = [client(i, first=f"Ann{i}", last="Müller") for i in range(1, 11)]
    path = tmp_path / "clients.json"
    path.write_text("[\n" + ",\n".join(json.dumps(o, ensure_ascii=False) for o in objects) + "\n]", encoding="utf-8")
    elements = list(json_stream.read_json_elements(ImportFiles.from_paths([path]), "clients.json", chunk=13))
    assert [line for line, _ in elements] == list(range(2, 12))
    assert elements[-1][1] == objects[-1]
    assert run(str(path)).count(outcome=Outcome.CREATED) == 10


def test_dry_run_reports_and_keeps_nothing(tmp_path):
    report = run(write(tmp_path, "a.json", [client(1), client(2)]), dry_run=True)
    assert report.count(outcome=Outcome.CREATED) == 2
    assert not IntakeQPatient.objects.exists()


def test_imported_rows_are_audited_with_channel_import_and_the_file(tmp_path):
    run(write(tmp_path, "page1.json", [client(1)]))
    row = IntakeQPatient.objects.get()
    event = Events.objects.filter(pgh_obj_id=str(row.pk)).get()
    assert event.pgh_label == "insert"
    assert event.pgh_context["channel"] == "import"
    assert event.pgh_context["file"] == "page1.json"
    assert event.pgh_context["importer"] == "intakeq"


def test_the_query_count_of_a_run_does_not_grow_with_the_clients(tmp_path, monkeypatch):
    monkeypatch.setattr(intakeq, "BATCH", 1_000)

    def queries(n: int, name: str) -> int:
        path = write(tmp_path, name, [client(i, first=f"A{i}") for i in range(n)])
        with CaptureQueriesContext(connection) as captured:
            run(path)
        return len(captured)

    assert queries(3, "small.json") == queries(300, "large.json")


def test_the_command_prints_the_report_and_writes_the_csv(tmp_path, capsys):
    path = write(tmp_path, "clients.json", [client(1), client(2, first="")])
    report_path = tmp_path / "report.csv"
    call_command("import_intakeq", path, "--quiet", "--no-match", "--report", str(report_path))
    out = capsys.readouterr().out
    assert "clients.json skipped: FirstName missing (1 rows)" in out
    lines = report_path.read_text().splitlines()
    assert lines[0] == "file,row,old_id,outcome,reason,new_id"
    assert len(lines) == 3
    assert lines[1].startswith("clients.json,1,2,skipped,FirstName missing,") or lines[2].startswith(
        "clients.json,1,2,skipped,FirstName missing,"
    )


def test_the_command_names_a_missing_file(tmp_path):
    with pytest.raises(CommandError, match="nope.json: no such file"):
        call_command("import_intakeq", str(tmp_path / "nope.json"), "--quiet")


def test_the_command_turns_bad_json_into_a_command_error(tmp_path):
    (tmp_path / "clients.json").write_text("[1,", encoding="utf-8")
    with pytest.raises(CommandError, match="clients.json: line 1"):
        call_command("import_intakeq", str(tmp_path / "clients.json"), "--quiet")


def test_the_benchmark_generators_files_import_and_every_object_is_accounted_for(tmp_path):
    from bench.intakeq_json import generate

    counts = generate(tmp_path, clients=3000, overlap=0.3, page_size=400, pages_per_file=3, seed=5)
    paths = sorted(str(p) for p in tmp_path.glob("clients-*.json"))
    assert len(paths) == counts["files"] == 3  # 8 pages of up to 400, three per file
    assert counts["broken"] > 0 and counts["repeated"] > 0
    assert (tmp_path / "canonical.csv").read_text().startswith("first_name,last_name,date_of_birth,email,phone")
    report = run(*paths, match=True)
    assert report.count() == counts["objects"]
    assert IntakeQPatient.objects.count() == counts["clients"] - counts["broken"]
