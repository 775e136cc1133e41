"""The shared import pieces: files, report, mapping, runner (dry run, rollback), audit context."""

from __future__ import annotations

import pytest
from pghistory.models import Events

from common.imports.context import import_file_context
from common.imports.files import ImportFileError, ImportFiles, read_csv
from common.imports.mapping import load_mappings, save_mappings, unchanged_since_written
from common.imports.models import ImportFile, ImportKind, ImportRun
from common.imports.report import ImportReport, Outcome
from common.imports.runner import IMPORTERS, execute
from patients.models import MedicalCondition

pytestmark = pytest.mark.django_db


def _folder(tmp_path, **files: str):
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return ImportFiles.from_folder(tmp_path)


def test_read_csv_any_column_order_extra_columns_bom_and_trimmed_values(tmp_path):
    files = _folder(tmp_path, **{"contact.csv": "\ufeffExtra, Email ,contactid\nx, Ann@X.org ,7\n\n,,\ny,,8\n"})
    rows = list(read_csv(files, "contact.csv", required=["contactid", "email"]))
    assert rows == [
        (2, {"extra": "x", "email": "Ann@X.org", "contactid": "7"}),
        (5, {"extra": "y", "email": "", "contactid": "8"}),
    ]


def test_read_csv_names_the_file_and_the_missing_column(tmp_path):
    files = _folder(tmp_path, **{"contact.csv": "contactid\n1\n"})
    with pytest.raises(ImportFileError, match=r"contact.csv: missing column\(s\) email"):
        list(read_csv(files, "contact.csv", required=["contactid", "email"]))


def test_read_csv_refuses_bytes_that_are_not_utf8(tmp_path):
    (tmp_path / "contact.csv").write_bytes("contactid,lastname\n1,M\xfcller\n".encode("latin-1"))
    with pytest.raises(ImportFileError, match="contact.csv: not UTF-8"):
        list(read_csv(ImportFiles.from_folder(tmp_path), "contact.csv", required=["contactid"]))


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ImportFileError, match="patient.csv: missing"):
        _folder(tmp_path, **{"contact.csv": "a\n"}).open_binary("patient.csv")


def test_uploaded_files_are_read_from_the_database_in_chunks(monkeypatch):
    from common.imports import files as files_module

    monkeypatch.setattr(files_module._DatabaseFileReader, "CHUNK", 7)
    run = ImportRun.objects.create(kind=ImportKind.LEGACY_CRM)
    body = "contactid,lastname\n" + "".join(f"{i},Müller{i}\n" for i in range(50))
    ImportFile.objects.create(run=run, name="contact.csv", content=body.encode(), size=len(body.encode()))
    rows = list(read_csv(ImportFiles.from_run(run), "contact.csv", required=["contactid", "lastname"]))
    assert len(rows) == 50
    assert rows[-1] == (51, {"contactid": "49", "lastname": "Müller49"})


def test_report_counts_add_up_and_csv_lists_every_row(tmp_path):
    with open(tmp_path / "r.csv", "w", newline="") as stream:
        report = ImportReport(csv_stream=stream)
        report.record("contact.csv", Outcome.CREATED, row=2, old_id="1", new_id="a")
        report.record("contact.csv", Outcome.SKIPPED, row=3, old_id="2", reason="no name")
        report.record("patient.csv", Outcome.SKIPPED, row=2, old_id="9", reason="no name")
    assert report.count() == 3
    assert report.count("contact.csv") == 2
    assert report.as_dict()["counts"] == {"contact.csv": {"created": 1, "skipped": 1}, "patient.csv": {"skipped": 1}}
    assert "contact.csv skipped: no name (1 rows)" in report.render()
    assert (tmp_path / "r.csv").read_text().splitlines() == [
        "file,row,old_id,outcome,reason,new_id",
        "contact.csv,2,1,created,,a",
        "contact.csv,3,2,skipped,no name,",
        "patient.csv,2,9,skipped,no name,",
    ]
    with pytest.raises(ValueError):
        report.record("x", "made up")


def test_mappings_are_saved_once_and_updated_in_place():
    save_mappings("legacy_crm", "contact", [("1", "people.person", "u1", {"first_name": "Ann"})])
    save_mappings(
        "legacy_crm",
        "contact",
        [("1", "people.person", "u1", {"first_name": "Anne"}), ("2", "people.person", "u2", {})],
    )
    found = load_mappings("legacy_crm", "contact", ["1", "2", "3"])
    assert sorted(found) == ["1", "2"]
    assert found["1"].written == {"first_name": "Anne"} and found["1"].new_id == "u1"
    assert load_mappings("legacy_crm", "patient", ["1"]) == {}
    assert unchanged_since_written({"first_name": "Anne", "email": "x"}, {"first_name": "Anne", "email": "y"}) == {
        "first_name"
    }


def _importer(*, files, options, report, progress, actor, run_id):
    with import_file_context(source="legacy_crm", file="medical_condition.csv", run_id=run_id):
        MedicalCondition.objects.create(name=options["name"])
    report.record("medical_condition.csv", Outcome.CREATED, row=2, old_id="1")
    progress(1, 1)
    if options.get("fail"):
        raise ImportFileError("medical_condition.csv: line 3: broken")


@pytest.fixture
def fake_importer(monkeypatch):
    monkeypatch.setitem(IMPORTERS, ImportKind.LEGACY_CRM, f"{__name__}._importer")


def test_dry_run_reports_everything_and_keeps_nothing(fake_importer):
    report = execute(kind=ImportKind.LEGACY_CRM, files=ImportFiles({}, {}), options={"name": "Zeta"}, dry_run=True)
    assert report.count(outcome=Outcome.CREATED) == 1
    assert "nothing was saved" in report.render()
    assert not MedicalCondition.all_objects.filter(name="Zeta").exists()


def test_a_failing_import_leaves_nothing_behind(fake_importer):
    with pytest.raises(ImportFileError):
        execute(kind=ImportKind.LEGACY_CRM, files=ImportFiles({}, {}), options={"name": "Zeta", "fail": True})
    assert not MedicalCondition.all_objects.filter(name="Zeta").exists()


def test_imported_rows_carry_channel_import_and_the_file(fake_importer):
    done = []
    execute(
        kind=ImportKind.LEGACY_CRM,
        files=ImportFiles({}, {}),
        options={"name": "Zeta"},
        progress=lambda d, t: done.append((d, t)),
        run_id=42,
    )
    condition = MedicalCondition.all_objects.get(name="Zeta")
    event = Events.objects.filter(pgh_obj_id=str(condition.pk)).get()
    assert event.pgh_context["channel"] == "import"
    assert event.pgh_context["file"] == "medical_condition.csv"
    assert event.pgh_context["import_run"] == 42
    assert done == [(1, 1)]
