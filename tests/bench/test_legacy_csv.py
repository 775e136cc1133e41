"""``bench.legacy_csv`` writes what the issue asks for, and ``import_legacy_crm`` accounts for all of it."""

from __future__ import annotations

import csv

import pytest

from bench.legacy_csv import generate
from common.imports.files import ImportFiles
from common.imports.models import ImportKind
from common.imports.report import Outcome
from common.imports.runner import execute
from people.models import Person
from tests.factories.people import NavigatorFactory

pytestmark = pytest.mark.django_db


def test_generated_files_have_the_awkward_cases_and_import_completely(tmp_path):
    counts = generate(tmp_path, contacts=600, patients=400, seed=3)
    with open(tmp_path / "contact.csv", newline="", encoding="utf-8") as stream:
        contacts = list(csv.DictReader(stream))
    emails = [c["email"] for c in contacts]
    normalised = [e.strip().lower() for e in emails if e.strip()]
    assert len(contacts) == counts["contact.csv"] == 600
    assert "" in emails  # missing emails
    assert len(set(normalised)) < len(normalised)  # the same human twice
    assert any(e != e.strip().lower() for e in emails if e)  # in mixed case or with spaces
    assert any(ch in "éüøłçñ" for c in contacts for ch in c["lastname"] + c["firstname"])  # accents
    with open(tmp_path / "patient.csv", newline="", encoding="utf-8") as stream:
        patients = list(csv.DictReader(stream))
    ids = {c["contactid"] for c in contacts}
    assert any(p["contact_record"] and p["contact_record"] not in ids for p in patients)  # dangling

    navigator = NavigatorFactory()
    files = ImportFiles.from_folder(tmp_path, pattern="*.csv")
    report = execute(kind=ImportKind.LEGACY_CRM, files=files, options={"navigator": navigator.email})
    assert report.count() == sum(counts.values())
    assert {f: report.count(f) for f in report.files} == counts
    assert report.count("patient.csv", Outcome.CONFLICT) > 0  # conflicting conditions, dangling references
    persons = Person.objects.count()
    again = execute(kind=ImportKind.LEGACY_CRM, files=files, options={"navigator": navigator.email})
    assert again.count(outcome=Outcome.CREATED) == 0 and Person.objects.count() == persons
