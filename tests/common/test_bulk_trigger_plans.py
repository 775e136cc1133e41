"""Statement-level triggers plan a bulk statement for its size, even after small ones in the same session.

PL/pgSQL caches the plans of a trigger function's statements for the session, made when the function first ran,
with the transition tables sized by their rows *then*. Before ``common.db.planned_for_size`` a session that first
updated one patient ran a later 12,000-patient UPDATE with plans made for one row: nested loops re-reading the old
and new rows once per row (54 s instead of 0.6 s; the legacy import's CT journeys took 148 s of a 205 s run). These
tests read the executed plans of every statement the triggers run (``auto_explain`` with nested statements, sent to
this connection as notices) and fail when, in the bulk statement, a transition table or a CTE of more than one row
is read more than once, or a statement joining a transition table was planned for one of its rows.
"""

from __future__ import annotations

import json
from contextlib import contextmanager

import pytest
from django.db import connection

from common.db import BULK_STATEMENT_ROWS
from patients.models import CallHistory
from tests.factories.cm_program import CMEnrollmentFactory, CMProgramFactory, CMProviderFactory
from tests.factories.journeys import ClinicalTrialJourneyFactory, EAPJourneyFactory
from tests.factories.patients import CallHistoryFactory, PatientFactory, PatientLeadFactory, PhysicianFactory
from tests.factories.people import NavigatorFactory

pytestmark = pytest.mark.django_db

BULK = BULK_STATEMENT_ROWS + 20


def _superuser() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        return bool(cursor.fetchone()[0])


@contextmanager
def executed_plans():
    """Every statement's executed plan (JSON, with row counts and loops) while the block runs, nested ones
    included. The settings are the test transaction's and end with it."""
    if not _superuser():
        pytest.skip("auto_explain needs LOAD, which only a superuser may run on this server")
    connection.ensure_connection()
    plans: list[dict] = []

    def on_notice(diag) -> None:
        message = diag.message_primary or ""
        if "plan:" in message:
            plans.append(json.loads(message.split("plan:", 1)[1]))

    raw = connection.connection
    with connection.cursor() as cursor:
        cursor.execute("LOAD 'auto_explain'")
        for setting, value in (  # the level first: nothing goes to the server's log
            ("auto_explain.log_level", "notice"),
            ("client_min_messages", "notice"),
            ("auto_explain.log_analyze", "on"),
            ("auto_explain.log_timing", "off"),
            ("auto_explain.log_nested_statements", "on"),
            ("auto_explain.log_format", "json"),
            ("auto_explain.log_min_duration", "0"),
        ):
            cursor.execute("SELECT set_config(%s, %s, true)", [setting, value])
    raw.add_notice_handler(on_notice)
    try:
        yield plans
    finally:
        raw.remove_notice_handler(on_notice)
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('auto_explain.log_min_duration', '-1', true)")


def _nodes(node: dict):
    yield node
    for child in node.get("Plans", ()):
        yield from _nodes(child)


def rereads(plans: list[dict]) -> list[str]:
    """The plan nodes that read a transition table (or a CTE of several rows) once per row of something else."""
    found = []
    for entry in plans:
        for node in _nodes(entry["Plan"]):
            loops = node.get("Actual Loops", 1)
            if loops <= 1:
                continue
            reads_transition_rows = any(n["Node Type"] == "Named Tuplestore Scan" for n in _nodes(node))
            rereads_cte = node["Node Type"] == "CTE Scan" and node.get("Actual Rows", 0) >= 2
            if reads_transition_rows or rereads_cte:
                query = " ".join(entry.get("Query Text", "").split())[:160]
                found.append(f"{node['Node Type']} x{loops} in: {query}")
    return found


JOINS = {"Nested Loop", "Hash Join", "Merge Join"}
READS = {"Named Tuplestore Scan", "Seq Scan", "Index Scan", "Index Only Scan", "Bitmap Heap Scan"}


def _joins_two_reads(node: dict) -> bool:
    """A join whose both sides read a table or a transition table (not a one-row CTE, not a UNION ALL)."""
    sides = [c for c in node.get("Plans", ()) if c.get("Parent Relationship") in ("Outer", "Inner")]
    return (
        node["Node Type"] in JOINS
        and len(sides) == 2
        and all(any(n["Node Type"] in READS for n in _nodes(side)) for side in sides)
    )


def _rows(node: dict) -> float:
    return node.get("Actual Rows", 0) * node.get("Actual Loops", 1)


def planned_for_fewer_rows(plans: list[dict]) -> list[str]:
    """The statements that join a transition table with a table or another transition table (where a plan's size
    matters) but were planned for at most one of its rows: a cached plan made for an earlier, smaller statement.
    Deterministic where ``rereads`` depends on what the planner picks for one row (the statistics earlier tests
    left)."""
    found = []
    for entry in plans:
        nodes = list(_nodes(entry["Plan"]))
        transition_scans = [n for n in nodes if n["Node Type"] == "Named Tuplestore Scan"]
        if not transition_scans or not any(_joins_two_reads(n) for n in nodes):
            continue  # no join of a transition table with something: linear whatever the plan
        if max(_rows(n) for n in transition_scans) <= 1:
            continue  # a one-row statement
        if max(n["Plan Rows"] for n in transition_scans) <= 1:
            query = " ".join(entry.get("Query Text", "").split())[:160]
            found.append(f"planned for one row: {query}")
    return found


def run(sql: str, params=None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_the_check_sees_a_plan_cached_for_one_row():
    """The detector itself: a trigger joining its old and new rows in a cached plan, planned for a one-row UPDATE,
    re-reads the transition table per row of a later bulk UPDATE (what every trigger did before)."""
    run("CREATE TEMP TABLE bulk_probe (id integer PRIMARY KEY, v integer)")
    run(
        "CREATE FUNCTION pg_temp.bulk_probe_changed() RETURNS trigger LANGUAGE plpgsql AS $$ DECLARE n bigint; BEGIN"
        " SELECT count(*) INTO n FROM old_rows o JOIN new_rows r ON r.id = o.id WHERE o.v IS DISTINCT FROM r.v;"
        " RETURN NULL; END $$"
    )
    run(
        "CREATE TRIGGER bulk_probe_changed AFTER UPDATE ON bulk_probe REFERENCING OLD TABLE AS old_rows"
        " NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION pg_temp.bulk_probe_changed()"
    )
    run("INSERT INTO bulk_probe SELECT g, g FROM generate_series(1, %s) g", [BULK])
    with executed_plans() as plans:
        run("UPDATE bulk_probe SET v = v + 1 WHERE id = 1")
        run("UPDATE bulk_probe SET v = v + 1")
    assert rereads(plans), "a plan made for one row should re-read the transition table"
    assert planned_for_fewer_rows(plans), "the bulk UPDATE ran a plan made for one row"


@pytest.fixture
def navigation_rows():
    navigator, other = NavigatorFactory(), NavigatorFactory()
    physician = PhysicianFactory()
    patients = PatientFactory.create_batch(BULK, navigator=navigator)
    for patient in patients:
        CallHistoryFactory(patient=patient, navigator=navigator)
        ClinicalTrialJourneyFactory(patient=patient, referring_physician=physician)
    for patient in patients[:10]:
        EAPJourneyFactory(patient=patient, physician=physician)
    PatientLeadFactory.create_batch(BULK)
    # The planner's picture of these tables: the rows just made (inside the test's transaction, rolled back
    # with it), not whatever statistics earlier tests left, so that the plans are the same on every run.
    run(
        "ANALYZE person, patient, patient_lead, call_history, clinical_trial_journey, eap_journey,"
        " journey_status_change"
    )
    return navigator, other, patients


# (what, the one-row statement, the bulk statement): each table's triggers with old and new rows.
UPDATES = (
    (
        "patients change navigator",
        "UPDATE patient SET navigator_id = %(other)s WHERE id = %(first)s",
        "UPDATE patient SET navigator_id = %(other)s",
    ),
    (
        "persons renamed",
        "UPDATE person SET first_name = first_name || 'x'"
        " WHERE id = (SELECT person_id FROM patient WHERE id = %(first)s)",
        "UPDATE person SET first_name = first_name || 'y'",
    ),
    (
        "calls moved",
        "UPDATE call_history SET call_date = call_date - interval '1 hour' WHERE patient_id = %(first)s",
        "UPDATE call_history SET call_date = call_date - interval '1 hour'",
    ),
    (
        "CT journeys edited",
        "UPDATE clinical_trial_journey SET notes = notes || 'x' WHERE patient_id = %(first)s",
        "UPDATE clinical_trial_journey SET notes = notes || 'y', created_at = created_at - interval '1 day'",
    ),
    (
        "leads edited",
        "UPDATE patient_lead SET notes = notes || 'x' WHERE id = (SELECT min(id::text)::uuid FROM patient_lead)",
        "UPDATE patient_lead SET notes = notes || 'y', created_at = created_at - interval '1 day'",
    ),
    (
        "journey steps moved",
        "UPDATE journey_status_change SET changed_at = changed_at - interval '1 hour'"
        " WHERE id = (SELECT min(id::text)::uuid FROM journey_status_change)",
        "UPDATE journey_status_change SET changed_at = changed_at - interval '1 hour'",
    ),
)


@pytest.mark.parametrize(("what", "small", "bulk"), UPDATES, ids=[u[0] for u in UPDATES])
def test_a_bulk_update_after_a_one_row_update_is_planned_for_its_size(navigation_rows, what, small, bulk):
    navigator, other, patients = navigation_rows
    params = {"other": other.pk, "first": patients[0].pk}
    with executed_plans() as plans:
        run(small, params)
        after_small = len(plans)
        run(bulk, params)
    bulk_plans = plans[after_small:]
    assert bulk_plans, "auto_explain wrote no plans"
    assert rereads(bulk_plans) == []
    assert planned_for_fewer_rows(bulk_plans) == []


def test_bulk_inserted_calls_after_one_call(navigation_rows):
    navigator, _, patients = navigation_rows
    template = CallHistory.objects.filter(patient=patients[0]).get()
    with executed_plans() as plans:
        CallHistory.objects.bulk_create([_copy_call(template, patients[0])])
        after_small = len(plans)
        CallHistory.objects.bulk_create([_copy_call(template, patient) for patient in patients])
    assert rereads(plans[after_small:]) == []
    assert planned_for_fewer_rows(plans[after_small:]) == []


def _copy_call(call: CallHistory, patient) -> CallHistory:
    return CallHistory(
        patient=patient,
        navigator_id=call.navigator_id,
        direction=call.direction,
        call_date=call.call_date,
        outcome=call.outcome,
        call_duration_minutes=call.call_duration_minutes,
    )


def test_a_bulk_cm_enrollment_update_after_a_one_row_update():
    program, provider = CMProgramFactory(), CMProviderFactory()
    enrollments = CMEnrollmentFactory.create_batch(BULK, cm_program=program, cpss_provider=provider)
    other = CMProviderFactory()
    with executed_plans() as plans:
        run("UPDATE cm_enrollments SET cpss_provider_id = %s WHERE id = %s", [other.pk, enrollments[0].pk])
        after_small = len(plans)
        run("UPDATE cm_enrollments SET cpss_provider_id = %s, status = 'paused'", [other.pk])
        run("UPDATE patients_canonical SET is_active = false, deletion_reason = 'bulk test'")
    assert rereads(plans[after_small:]) == []
    assert planned_for_fewer_rows(plans[after_small:]) == []


def test_every_update_trigger_plans_bulk_statements_for_their_size():
    """Every statement-level trigger that sees an UPDATE's old and new rows (pghistory's audit events, the report
    rollups, cohorts and facts, the open-journey counts) plans its statements afresh for a bulk statement. (The
    open-journey counts were once left out as joining no transition rows with each other; their join of the summed
    rows with ``patient`` is what a one-row plan ran as a nested loop in CI.)"""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT DISTINCT p.proname, p.prosrc
            FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
            WHERE t.tgoldtable IS NOT NULL AND t.tgnewtable IS NOT NULL
            """
        )
        functions = cursor.fetchall()
    assert len(functions) > 20
    missing = sorted(name for name, source in functions if "EXECUTE $bulk$" not in source)
    assert missing == []
