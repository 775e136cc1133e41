"""``python -m bench.generate`` at a small size: counts, proportions, constraints, the ledger, and the
audit events it writes in place of the history triggers (compared with what the trigger writes).

The data set is generated once per module into the test database, inside a transaction that is
rolled back when the module is done; each test runs in a savepoint of it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from io import StringIO

import pgtrigger
import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import connection, transaction

from bench.generate import indexes
from bench.generate.__main__ import development_database, main, prepare_database
from bench.generate.loader import context_metadata, event_model
from bench.generate.rand import Ids
from bench.generate.run import generate, table_name, tables, tracked_models
from bench.generate.sizes import DEFAULTS, Sizes
from common import roles
from common.audit import record_history
from people.models import ContactType, Person
from tests.db import truncate_trigger_uris

SIZES = Sizes.scaled(persons=2000)
SEED = 7
AS_OF = dt.date(2026, 6, 30)


def _generated_tables() -> list[str]:
    from bench.generate.plan import Plan

    plan = Plan(sizes=SIZES, seed=SEED, as_of=AS_OF)
    names = [table_name(make().model) for make in tables(plan, {}, "!")]
    return names + [event_model(m)._meta.db_table for m in tracked_models()]


def _scalar(sql: str, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def _rows(sql: str, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


@pytest.fixture(scope="module")
def generated(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), transaction.atomic():
        names = _generated_tables()
        before = indexes.snapshot(names)
        # Rows the migrations shipped (roles, three conditions) are not the generator's.
        shipped = {
            m._meta.db_table: [str(pk) for pk in m._default_manager.values_list("pk", flat=True)]
            for m in tracked_models()
        }
        stats = generate(sizes=SIZES, seed=SEED, as_of=AS_OF, show_progress=False)
        yield {"stats": {s.table: s for s in stats}, "before": before, "tables": names, "shipped": shipped}
        transaction.set_rollback(True)


pytestmark = pytest.mark.usefixtures("generated")


@pytest.mark.django_db
def test_sizes_follow_persons_in_proportion():
    assert Sizes.scaled(persons=10_000).as_dict() == {name: value // 100 for name, value in DEFAULTS.items()}
    given = Sizes.scaled(persons=10_000, calls=7)
    assert (given.calls, given.patients, given.ledger) == (7, 5_000, 20_000)


@pytest.mark.django_db
def test_ids_are_distinct_version_4_uuids():
    import uuid

    make = Ids(3).of("person")
    ids = [make(i) for i in range(20_000)]
    assert len(set(ids)) == len(ids)
    assert {uuid.UUID(pk).version for pk in ids} == {4} and {uuid.UUID(pk).variant for pk in ids} == {uuid.RFC_4122}
    assert make(5) == Ids(3).of("person")(5) != Ids(4).of("person")(5)


@pytest.mark.django_db
def test_counts_per_table(generated):
    expected = {
        "person": 2000, "patient": 1000, "patient_lead": 400, "physician": 10, "call_history": 10_000,
        "clinical_trial_journey": 400, "eap_journey": 200, "patients_canonical": 100, "patients_cm": 100,
        "cm_enrollments": 110, "cm_points_transactions": 4000, "patients": 110, "patients_intakeq_link": 60,
        "providers_cm": 4, "contingency_management": 3, "hospital": 3, "crm_user": 9,
    }  # fmt: skip
    assert {table: _scalar(f'SELECT count(*) FROM "{table}"') for table in expected} == expected
    stats = generated["stats"]
    assert stats["call_history"].rows == stats["call_history"].events == 10_000
    assert stats["cm_points_transactions"].events == 0  # the ledger is its own history
    # Every CT / EAP journey has a timeline that opens with its first status.
    assert _scalar("SELECT count(*) FROM journey_status_change WHERE from_status = ''") == 600
    assert _scalar("SELECT count(*) FROM journey_status_change") > 600
    # Every CM enrollment's status history opens active at its enrollment date, and ends in its status.
    assert _scalar("SELECT count(*) FROM cm_enrollment_status_changes WHERE from_status IS NULL") == 110
    assert (
        _scalar(
            "SELECT count(*) FROM cm_enrollments e WHERE e.status <> (SELECT s.to_status "
            "FROM cm_enrollment_status_changes s WHERE s.enrollment_id = e.id ORDER BY s.changed_at DESC LIMIT 1)"
        )
        == 0
    )


@pytest.mark.django_db
def test_navigators_are_persons_with_the_role_and_a_staff_login():
    rows = _rows(
        """
        SELECT p.id, u.username, u.is_staff FROM person p
        JOIN person_contact_type r ON r.person_id = p.id AND r.valid_to IS NULL
        JOIN contact_type ct ON ct.id = r.contact_type_id AND ct.code = %s
        JOIN crm_user u ON u.id = p.user_id
        """,
        [ContactType.PATIENT_NAVIGATOR],
    )
    assert sorted(username for _, username, _ in rows) == ["navigator0000", "navigator0001"]
    assert all(is_staff for _, _, is_staff in rows)
    group = Group.objects.get(name=roles.PATIENT_NAVIGATORS)
    assert sorted(group.user_set.values_list("username", flat=True)) == ["navigator0000", "navigator0001"]
    # Every patient's navigator, and every call's, is one of them.
    navigator_ids = {pk for pk, _, _ in rows}
    assert {pk for (pk,) in _rows("SELECT DISTINCT navigator_id FROM patient WHERE navigator_id IS NOT NULL")} <= (
        navigator_ids
    )
    assert {pk for (pk,) in _rows("SELECT DISTINCT pn_id FROM call_history")} <= navigator_ids
    # ... and held the role when they made each call (what call_log checks).
    early = _scalar(
        """
        SELECT count(*) FROM call_history c
        JOIN person_contact_type r ON r.person_id = c.pn_id
        JOIN contact_type ct ON ct.id = r.contact_type_id AND ct.code = %s
        WHERE c.call_date < r.valid_from
        """,
        [ContactType.PATIENT_NAVIGATOR],
    )
    assert early == 0


@pytest.mark.django_db
def test_role_periods_match_the_roles():
    def holders(code: str, *, open_only: bool = True) -> int:
        return _scalar(
            "SELECT count(DISTINCT r.person_id) FROM person_contact_type r JOIN contact_type ct ON ct.id = "
            f"r.contact_type_id WHERE ct.code = %s {'AND r.valid_to IS NULL' if open_only else ''}",
            [code],
        )

    assert holders(ContactType.PATIENT) == 1000  # every patient holds the patient role
    assert holders(ContactType.PHYSICIAN) == 10
    assert holders(ContactType.PATIENT_LEAD, open_only=False) == 400
    open_leads = _scalar("SELECT count(*) FROM patient_lead WHERE status IN ('new', 'contacted', 'qualified')")
    assert holders(ContactType.PATIENT_LEAD) == open_leads  # lost and converted leads closed their period
    # A converted lead names the patient of its own person, and its lead period ends when the patient
    # period starts.
    converted = _rows(
        """
        SELECT l.converted_at, lead_role.valid_to, patient_role.valid_from, pa.person_id = l.person_id
        FROM patient_lead l
        JOIN patient pa ON pa.id = l.converted_patient_id
        JOIN person_contact_type lead_role ON lead_role.person_id = l.person_id
        JOIN contact_type lct ON lct.id = lead_role.contact_type_id AND lct.code = 'patient_lead'
        JOIN person_contact_type patient_role ON patient_role.person_id = l.person_id
        JOIN contact_type pct ON pct.id = patient_role.contact_type_id AND pct.code = 'patient'
        WHERE l.status = 'converted'
        """
    )
    assert len(converted) == 100
    assert all(at == lead_end == patient_start and same for at, lead_end, patient_start, same in converted)


@pytest.mark.django_db
def test_realistic_distributions():
    # Calls per patient: most have a few, a few have very many.
    per_patient = [
        n
        for (n,) in _rows(
            "SELECT count(c.id) FROM patient p LEFT JOIN call_history c ON c.patient_id = p.id GROUP BY p.id ORDER BY 1"
        )
    ]
    median, top = per_patient[len(per_patient) // 2], per_patient[-1]
    assert median <= 6 and top >= 15 * max(median, 1), (median, top)
    # Surnames are shared (Zipf-like): the most common one is frequent, and there is a long tail.
    counts = [n for (n,) in _rows("SELECT count(*) FROM person GROUP BY last_name ORDER BY 1 DESC")]
    assert counts[0] >= 0.015 * 2000 and len(counts) > 300
    # Accented and other non-ASCII names.
    accented = _scalar("SELECT count(*) FROM person WHERE first_name || last_name ~ '[^\\x01-\\x7f]'")
    assert accented >= 0.08 * 2000, accented
    assert _scalar("SELECT count(*) FROM person WHERE first_name IN ('José', 'Zoë') OR last_name = 'Müller'") > 0
    # About 5% of the patients, leads and others have no email; staff always have one.
    missing = _scalar("SELECT count(*) FROM person WHERE email IS NULL") / 2000
    assert 0.03 <= missing <= 0.07, missing
    # Phones in E.164 (or blank), dates over several years.
    assert _scalar("SELECT count(*) FROM person WHERE phone !~ '^\\+[1-9][0-9]{6,14}$' AND phone <> ''") == 0
    years = _scalar("SELECT extract(epoch FROM max(call_date) - min(call_date)) / 86400 / 365 FROM call_history")
    assert years > 4
    # Follow-ups: about half the calls set a reminder; some patients' latest reminder is overdue.
    reminders = _scalar("SELECT avg((reminder_date IS NOT NULL)::int) FROM call_history")
    assert 0.45 < reminders < 0.65
    overdue = _scalar(
        """
        SELECT count(*) FROM (
            SELECT DISTINCT ON (patient_id) reminder_date FROM call_history
            WHERE is_active ORDER BY patient_id, call_date DESC, created_at DESC
        ) latest WHERE reminder_date < %s
        """,
        [AS_OF],
    )
    assert overdue > 0


@pytest.mark.django_db
def test_constraints_and_indexes_are_back_exactly_as_the_migrations_made_them(generated):
    assert indexes.snapshot(generated["tables"]) == generated["before"]
    # Foreign keys were re-created with a full check; deferred checks of the load pass too.
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    # The history triggers are on again.
    disabled = _scalar("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'pgtrigger_%%' AND tgenabled = 'D'")
    assert disabled == 0


@pytest.mark.django_db
def test_ledger_agrees_with_the_enrollments():
    out = StringIO()
    call_command("cm_check_ledger", stdout=out)
    assert "All 110 enrollments agree with their ledger." in out.getvalue()
    # ... and it is not trivially so: streaks, resets, reversals and adjustments all occur.
    kinds = dict(_rows("SELECT event_type, count(*) FROM cm_points_transactions GROUP BY 1"))
    assert {"enrollment_bonus", "test_negative", "test_positive", "reversal", "manual_adjustment"} <= set(kinds)
    assert _scalar("SELECT max(current_streak) FROM cm_enrollments") >= 3


@pytest.mark.django_db
def test_the_cm_report_rollup_agrees_with_the_ledger():
    out = StringIO()
    call_command("check_cm_report_rollups", stdout=out)
    assert "cm_points_weekly and cm_enrollment_report_facts are exact" in out.getvalue()
    assert _scalar("SELECT count(*) FROM cm_points_weekly WHERE negative_tests > 0") >= 10
    assert _scalar("SELECT count(*) FROM cm_enrollment_report_facts WHERE cardinality(status_to) > 0") >= 10
    # The triggers are on again after the load.
    assert _scalar("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'cm_points_weekly_%%' AND tgenabled = 'O'") == 3
    assert _scalar("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'cm_report_facts_%%' AND tgenabled = 'O'") == 5


@pytest.mark.django_db
def test_patients_follow_up_dates_agree_with_their_calls():
    out = StringIO()
    call_command("check_follow_up_dates", "--no-progress", stdout=out)
    assert re.fullmatch(r"All \d+ patients agree with their calls.\n", out.getvalue())
    # ... and it is not trivially so: many patients have a follow-up and a last call.
    assert _scalar("SELECT count(*) FROM patient WHERE follow_up_date IS NOT NULL") >= 10
    assert _scalar("SELECT count(*) FROM patient WHERE last_call_at IS NOT NULL") >= 50


@pytest.mark.django_db
def test_the_navigation_reports_summary_tables_agree_with_the_calls():
    out = StringIO()
    call_command("check_report_rollups", stdout=out)
    assert "The 8 summary tables agree with the calls and patients" in out.getvalue()
    # ... and it is not trivially so: every non-void call is in a day's row, and some patients are overdue.
    assert _scalar("SELECT sum(calls) FROM call_day_rollup") == _scalar(
        "SELECT count(*) FROM call_history WHERE is_active"
    )
    assert _scalar("SELECT count(*) FROM follow_up_overdue_span") >= 10
    assert _scalar("SELECT count(DISTINCT navigator_id) FROM follow_up_overdue_delta") >= 2
    # The cohorts (their triggers were off during the load too): a row per lead and per EAP journey not deleted.
    assert _scalar("SELECT count(*) FROM lead_cohort") == _scalar("SELECT count(*) FROM patient_lead") > 0
    assert _scalar("SELECT count(*) FROM eap_cohort") == _scalar("SELECT count(*) FROM eap_journey WHERE is_active")


@pytest.mark.django_db
def test_person_search_is_filled_in_name_order_and_kept_again():
    """Loaded with its triggers off, then filled once in name order (people.search_table.rebuild)."""
    out = StringIO()
    call_command("person_search", stdout=out)
    assert "person_search agrees with person" in out.getvalue()
    assert _scalar("SELECT count(*) FROM person_search") == _scalar("SELECT count(*) FROM person") > 100
    # Its rows in name order: the physical order (ctid) follows the order index.
    assert (
        _scalar(
            "SELECT count(*) FROM (SELECT ctid < lead(ctid) OVER (ORDER BY last_name, first_name, person_id) AS up "
            "FROM person_search) o WHERE up IS FALSE"
        )
        == 0
    )
    assert _scalar("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'person_search_%%' AND tgenabled = 'O'") == 4


@pytest.mark.django_db
def test_the_patients_open_journey_counts_agree_with_their_journeys():
    out = StringIO()
    call_command("check_open_journeys", stdout=out)
    assert "Every patient's open journey count agrees with their journeys." in out.getvalue()
    # ... and it is not trivially so (its triggers were off during the load, then one pass filled it), and the
    # triggers are on again.
    assert _scalar("SELECT count(*) FROM patient WHERE open_journeys > 0") >= 5
    assert _scalar("SELECT count(*) FROM pg_trigger WHERE tgname LIKE '%%_open_journeys_%%' AND tgenabled = 'O'") == 8


def _generated_rows(generated) -> list[tuple]:
    """(model, event model, ids of rows shipped by the migrations) of each tracked table the generator fills."""
    found = []
    for model in tracked_models():
        shipped = generated["shipped"][model._meta.db_table]
        if model._default_manager.exclude(pk__in=shipped).exists():
            found.append((model, event_model(model), shipped))
    return found


@pytest.mark.django_db
def test_every_row_has_exactly_one_insert_event_with_its_values(generated):
    tables_ = _generated_rows(generated)
    assert {"person", "call_history", "cm_enrollments", "journey_status_change"} <= {
        m._meta.db_table for m, _, _ in tables_
    }
    for model, events, shipped in tables_:
        table, event_table = model._meta.db_table, events._meta.db_table
        pgh = ["pgh_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "pgh_context_id"]
        # Columns the history leaves out (the patient's follow-up columns, derived from the calls).
        untracked = sorted({f.column for f in model._meta.concrete_fields} - {f.column for f in events._meta.fields})
        mismatched = _scalar(
            f"""
            SELECT count(*) FROM "{table}" t
            LEFT JOIN "{event_table}" e ON e.pgh_obj_id = t.id AND e.pgh_label = 'insert'
            WHERE NOT (t.id::text = ANY(%s))
              AND (e.pgh_id IS NULL OR to_jsonb(t) - %s::text[] <> to_jsonb(e) - %s::text[])
            """,
            [shipped, untracked, pgh],
        )
        per_row = _scalar(f'SELECT max(n) FROM (SELECT count(*) n FROM "{event_table}" GROUP BY pgh_obj_id) c')
        assert (mismatched, per_row) == (0, 1), table


@pytest.mark.django_db
def test_generated_event_equals_what_the_trigger_writes(generated):
    """For one generated row of each tracked table: delete it and insert it again with the trigger on,
    under the generator's audit context, and compare the trigger's event with the generated one field
    by field (in the same transaction, so even ``pgh_created_at`` = NOW() must agree)."""
    context_id = Ids(SEED).of("context")(0)
    stored = _scalar("SELECT metadata::text FROM pghistory_context WHERE id = %s", [context_id])
    assert json.loads(stored) == context_metadata(SEED)
    for model, events, _ in _generated_rows(generated):
        table, event_table = model._meta.db_table, events._meta.db_table
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT set_config('pghistory.context_id', %s, true), "
                    "set_config('pghistory.context_metadata', %s, true)",
                    [context_id, json.dumps(context_metadata(SEED))],
                )
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")
                pk = _scalar(
                    f'SELECT pgh_obj_id FROM "{event_table}" WHERE pgh_context_id = %s ORDER BY pgh_obj_id LIMIT 1',
                    [context_id],
                )
                cursor.execute(f'CREATE TEMP TABLE again ON COMMIT DROP AS SELECT * FROM "{table}" WHERE id = %s', [pk])
                cursor.execute(f'DELETE FROM "{table}" WHERE id = %s', [pk])
                # Columns PostgreSQL computes (a person's search keys) are computed again, not copied.
                columns = ", ".join(f'"{f.column}"' for f in model._meta.concrete_fields if not f.generated)
                cursor.execute(f'INSERT INTO "{table}" ({columns}) SELECT {columns} FROM again')
                cursor.execute("DROP TABLE again")
                cursor.execute(
                    f"SELECT to_jsonb(e) - 'pgh_id' FROM \"{event_table}\" e "
                    "WHERE pgh_obj_id = %s AND pgh_label = 'insert' ORDER BY pgh_id",
                    [pk],
                )
                generated_event, trigger_event = (
                    json.loads(v) if isinstance(v, str) else v for (v,) in cursor.fetchall()
                )
            transaction.set_rollback(True)
        assert generated_event.keys() == trigger_event.keys()
        for name in trigger_event:
            assert generated_event[name] == trigger_event[name], (table, name)
        assert trigger_event["pgh_context_id"] == context_id


@pytest.mark.django_db
def test_record_history_shows_each_generated_insert(generated):
    for model, _, shipped in _generated_rows(generated):
        for obj in model._default_manager.exclude(pk__in=shipped).order_by("pk")[:5]:
            history = record_history(obj)
            assert len(history) == 1, (model.__name__, obj.pk)
            entry = history[0]
            assert (entry.action, entry.channel, entry.object_id) == ("insert", "command", str(obj.pk))
            assert entry.context["command"] == "bench.generate"
            assert entry.changes["id"] == [None, str(obj.pk)]
    person = Person.all_objects.order_by("pk").first()
    entry = record_history(person)[0]
    assert entry.changes["first_name"] == [None, person.first_name]
    assert entry.changes["email"] == [None, person.email]


@pytest.mark.django_db
def test_the_same_seed_gives_the_same_data(generated):
    shipped_conditions = generated["shipped"]["medical_condition"]

    def digest() -> dict[str, str]:
        found = {}
        for table in (
            "person",
            "crm_user",
            "call_history",
            "cm_points_transactions",
            "cm_enrollments",
            "people_personevent",
        ):
            found[table] = _scalar(
                f"SELECT md5(string_agg((to_jsonb(t) - 'pgh_id')::text, '|' ORDER BY (to_jsonb(t) - 'pgh_id')::text)) "
                f'FROM "{table}" t'
            )
        return found

    small = Sizes.scaled(persons=300)
    tables_ = ", ".join(f'"{name}"' for name in _generated_tables() if name != "medical_condition")

    def regenerate(seed: int) -> dict[str, str]:
        # Append-only tables refuse TRUNCATE; this test's own (rolled-back) data may go.
        with pgtrigger.ignore(*truncate_trigger_uris()), connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {tables_} CASCADE")
            cursor.execute("DELETE FROM medical_condition WHERE NOT (id::text = ANY(%s))", [shipped_conditions])
        generate(sizes=small, seed=seed, as_of=AS_OF, show_progress=False)
        return digest()

    first = regenerate(11)
    assert regenerate(11) == first
    assert regenerate(12)["person"] != first["person"]


@pytest.mark.django_db
def test_refuses_the_development_and_test_databases():
    development = development_database()
    for name in (development, connection.settings_dict["NAME"], "test_crm"):
        with pytest.raises(SystemExit) as refused:
            main(["--persons", "2000", "--database", name])
        assert "refuses" in str(refused.value) and name in str(refused.value)
    # A database this command did not create is never dropped, even with --drop.
    with pytest.raises(SystemExit) as refused:
        prepare_database(connection.settings_dict["NAME"], connection.settings_dict, drop=True)
    assert "was not created by bench.generate" in str(refused.value)
    assert Person.all_objects.count() == 2000  # still there
