"""``Idempotency-Key`` on API POSTs: a retried POST runs once; its retries get the first answer."""

from __future__ import annotations

import datetime as dt
import io
import threading
import uuid

import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient

from cm_program import services as cm_services
from cm_program.models import CMEnrollment, CMPointsTransaction
from common import idempotency, roles
from common.idempotency import IdempotentViewMixin, applies_to, request_fingerprint
from common.models import IdempotencyKey
from patients import services as patient_services
from patients.models import CallHistory, PatientLead
from tests.cm_program.api_support import World, build_world, lonely_canonical_patient, token_client
from tests.conftest import make_user
from tests.factories.patients import PatientFactory
from tests.factories.people import NavigatorFactory

API = "/api/v1"
CALLS = f"{API}/call-history/"


@pytest.fixture
def caller(db):
    user = make_user("nina", roles.PATIENT_NAVIGATORS)
    NavigatorFactory(user=user)
    return user


@pytest.fixture
def patient(db):
    return PatientFactory()


def call(patient, **overrides) -> dict:
    return {"patient": str(patient.pk), "direction": "outbound", "outcome": "voicemail", "notes": "Left a message."} | (
        overrides
    )


def post(client, url: str, body: dict, key: str | None, **extra):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(url, body, format="json", **headers, **extra)


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, (response.status_code, response.content)
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code and body["error"]["message"], body
    return body["error"]


def replayed(response) -> bool:
    return response.get("Idempotent-Replayed") == "true"


# --- Retries ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_retry_after_success_gets_the_first_answer_and_writes_nothing(caller, patient):
    client = token_client(caller)
    first = post(client, CALLS, call(patient), "call-2026-01-05-a")
    assert first.status_code == 201 and not replayed(first)
    retry = post(client, f"{API}/call-history", call(patient), "call-2026-01-05-a")  # no slash: the same call
    assert retry.status_code == 201 and replayed(retry)
    assert retry.json() == first.json() and retry["Content-Type"] == first["Content-Type"]
    assert [str(pk) for pk in CallHistory.objects.values_list("pk", flat=True)] == [first.json()["id"]]
    stored = IdempotencyKey.objects.get()
    assert (stored.user, stored.key) == (caller, "call-2026-01-05-a")
    assert (stored.state, stored.status_code) == ("completed", 201)


@pytest.mark.django_db
def test_the_same_key_for_another_request_is_422(caller, patient):
    client = token_client(caller)
    assert post(client, CALLS, call(patient, notes="First."), "k-422").status_code == 201
    error = assert_error(post(client, CALLS, call(patient, notes="Second."), "k-422"), 422, "idempotency_key_reused")
    assert error["fields"] == {"Idempotency-Key": ["Already used for a different request."]}
    other_path = post(client, f"{API}/leads/", {"first_name": "Ann", "last_name": "Lee"}, "k-422")
    assert_error(other_path, 422, "idempotency_key_reused")
    assert list(CallHistory.objects.values_list("notes", flat=True)) == ["First."]
    assert PatientLead.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "   ", "x" * 256, "ключ", "tab\there", "bell\x07", "del\x7f"])
def test_a_malformed_key_is_400_naming_the_header_and_changes_nothing(caller, patient, key):
    response = post(token_client(caller), CALLS, call(patient), key)
    error = assert_error(response, 400, "invalid")
    assert "Idempotency-Key" in error["message"] and list(error["fields"]) == ["Idempotency-Key"]
    assert CallHistory.objects.count() == 0 and IdempotencyKey.objects.count() == 0


@pytest.mark.django_db
def test_keys_of_1_to_255_printable_characters_work(caller, patient):
    client = token_client(caller)
    for key in ("k", "order 42: retry #1", "~" * 255):
        first = post(client, CALLS, call(patient, notes=f"Key of {len(key)}."), key)
        assert first.status_code == 201 and not replayed(first)
        assert replayed(post(client, CALLS, call(patient, notes=f"Key of {len(key)}."), f"  {key} "))
    assert CallHistory.objects.count() == 3


@pytest.mark.django_db
def test_keys_belong_to_their_user(caller, patient):
    other = make_user("otto", roles.PATIENT_NAVIGATORS)
    NavigatorFactory(user=other)
    mine = post(token_client(caller), CALLS, call(patient), "shared-key")
    theirs = post(token_client(other), CALLS, call(patient), "shared-key")
    assert mine.status_code == theirs.status_code == 201
    assert not replayed(theirs) and theirs.json()["id"] != mine.json()["id"]
    again = post(token_client(other), CALLS, call(patient), "shared-key")
    assert replayed(again) and again.json() == theirs.json()
    assert CallHistory.objects.count() == 2
    assert {row.user for row in IdempotencyKey.objects.all()} == {caller, other}


@pytest.mark.django_db
def test_a_4xx_is_kept_and_a_retry_gets_the_same_4xx(caller, patient):
    client = token_client(caller)
    invalid = call(patient, outcome="teleported")
    first = post(client, CALLS, invalid, "k-400")
    assert_error(first, 400, "invalid")
    retry = post(client, CALLS, invalid, "k-400")
    assert retry.status_code == 400 and replayed(retry) and retry.json() == first.json()
    # A corrected body is another request: it needs a new key.
    assert_error(post(client, CALLS, call(patient), "k-400"), 422, "idempotency_key_reused")
    assert post(client, CALLS, call(patient), "k-400-fixed").status_code == 201
    assert CallHistory.objects.count() == 1


@pytest.mark.django_db
def test_without_a_key_or_a_login_nothing_is_claimed(caller, patient):
    assert post(token_client(caller), CALLS, call(patient), None).status_code == 201
    assert post(token_client(caller), CALLS, call(patient), None).status_code == 201
    assert post(token_client(None), CALLS, call(patient), "anonymous").status_code == 401
    assert CallHistory.objects.count() == 2 and IdempotencyKey.objects.count() == 0


# --- Failures, abandoned claims, expiry ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_request_whose_view_fails_is_500_not_kept_and_the_retry_runs(caller, patient, monkeypatch):
    real_call_log = patient_services.call_log

    def crash_after_writing(**kwargs):
        real_call_log(**kwargs)
        raise RuntimeError("the process died half-way")

    monkeypatch.setattr(patient_services, "call_log", crash_after_writing)
    client = token_client(caller)
    client.raise_request_exception = False
    assert post(client, CALLS, call(patient), "k-500").status_code == 500
    assert CallHistory.objects.count() == 0 and IdempotencyKey.objects.count() == 0

    monkeypatch.setattr(patient_services, "call_log", real_call_log)
    retry = post(client, CALLS, call(patient), "k-500")
    assert retry.status_code == 201 and not replayed(retry)
    assert replayed(post(client, CALLS, call(patient), "k-500"))
    assert CallHistory.objects.count() == 1


def _claim(user, key: str, body: dict, *, age: dt.timedelta, url: str = CALLS) -> IdempotencyKey:
    # The body exactly as the test client sends it.
    fingerprint = request_fingerprint(method="POST", path=url, query="", body=JSONRenderer().render(body))
    return IdempotencyKey.objects.create(
        user=user, key=key, request_hash=fingerprint, method="POST", path=url, created_at=timezone.now() - age
    )


@pytest.mark.django_db
def test_a_claim_still_running_is_409_an_abandoned_one_is_taken_over(caller, patient):
    client = token_client(caller)
    body = call(patient)
    _claim(caller, "running", body, age=dt.timedelta(seconds=30))
    busy = post(client, CALLS, body, "running")
    assert_error(busy, 409, "idempotency_key_in_progress")
    assert busy["Retry-After"] == "1"
    assert CallHistory.objects.count() == 0

    # A claim whose process died (older than the claim timeout) does not block its key forever.
    _claim(caller, "abandoned", body, age=dt.timedelta(minutes=6))
    taken_over = post(client, CALLS, body, "abandoned")
    assert taken_over.status_code == 201 and not replayed(taken_over)
    assert IdempotencyKey.objects.get(key="abandoned").status_code == 201
    # An abandoned claim of another request is still another request.
    _claim(caller, "abandoned-other", call(patient, notes="Other."), age=dt.timedelta(minutes=6))
    assert_error(post(client, CALLS, body, "abandoned-other"), 422, "idempotency_key_reused")
    assert CallHistory.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_request_whose_claim_was_taken_over_while_it_ran_saves_nothing(caller, patient, monkeypatch):
    real_call_log = patient_services.call_log

    def slower_than_the_claim_timeout(**kwargs):
        # Meanwhile another request (another connection) found the claim abandoned and took it over.
        def take_over():
            return IdempotencyKey.objects.filter(key="slow").update(claim_token=uuid.uuid4())

        done: dict = {}
        _in_thread(take_over, done, "taken").join(30)
        assert done["taken"] == 1
        return real_call_log(**kwargs)

    monkeypatch.setattr(patient_services, "call_log", slower_than_the_claim_timeout)
    assert_error(post(token_client(caller), CALLS, call(patient), "slow"), 409, "idempotency_key_in_progress")
    assert CallHistory.objects.count() == 0
    assert IdempotencyKey.objects.get(key="slow").state == "in_progress"  # the other request's claim


@pytest.mark.django_db
def test_keys_expire_after_24_hours_and_are_pruned(caller, patient):
    client = token_client(caller)
    first = post(client, CALLS, call(patient), "daily")
    IdempotencyKey.objects.update(created_at=timezone.now() - dt.timedelta(hours=24, minutes=1))
    again = post(client, CALLS, call(patient), "daily")
    assert again.status_code == 201 and not replayed(again) and again.json()["id"] != first.json()["id"]
    assert CallHistory.objects.count() == 2

    other = make_user("otto", roles.PATIENT_NAVIGATORS)
    _claim(other, "old-1", {}, age=dt.timedelta(hours=30))
    _claim(other, "fresh", {}, age=dt.timedelta(hours=23))
    # Every claim prunes a few expired rows, whoever they belong to.
    assert post(client, CALLS, call(patient), "next").status_code == 201
    assert set(IdempotencyKey.objects.values_list("key", flat=True)) == {"daily", "fresh", "next"}

    _claim(other, "old-2", {}, age=dt.timedelta(days=3))
    _claim(other, "old-3", {}, age=dt.timedelta(hours=25))
    out = io.StringIO()
    call_command("prune_idempotency_keys", stdout=out)
    assert out.getvalue().strip() == "Deleted 2 expired idempotency keys."
    assert set(IdempotencyKey.objects.values_list("key", flat=True)) == {"daily", "fresh", "next"}


# --- Concurrency (real threads, real transactions) -----------------------------------------------------


def _in_thread(target, results: dict, name: str) -> threading.Thread:
    def run():
        try:
            results[name] = target()
        except Exception as exc:  # the test inspects it
            results[name] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
def test_a_retry_while_the_first_request_runs_is_409_then_gets_the_answer(caller, patient, monkeypatch):
    real_call_log = patient_services.call_log
    started, release = threading.Event(), threading.Event()

    def slow(**kwargs):
        started.set()
        assert release.wait(30)
        return real_call_log(**kwargs)

    monkeypatch.setattr(patient_services, "call_log", slow)
    results: dict = {}
    thread = _in_thread(lambda: post(token_client(caller), CALLS, call(patient), "k-race"), results, "first")
    assert started.wait(30)
    second = post(token_client(caller), CALLS, call(patient), "k-race")
    release.set()
    thread.join(60)

    assert_error(second, 409, "idempotency_key_in_progress")
    first = results["first"]
    assert first.status_code == 201 and not replayed(first)
    third = post(token_client(caller), CALLS, call(patient), "k-race")
    assert third.status_code == 201 and replayed(third) and third.json() == first.json()
    assert CallHistory.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_identical_requests_write_one_row(caller, patient):
    count = 6
    barrier = threading.Barrier(count)
    results: dict = {}

    def attempt():
        barrier.wait(30)
        return post(token_client(caller), CALLS, call(patient), "k-stampede")

    threads = [_in_thread(attempt, results, str(i)) for i in range(count)]
    for thread in threads:
        thread.join(60)

    responses = list(results.values())
    assert len(responses) == count and all(not isinstance(r, Exception) for r in responses), responses
    ran = [r for r in responses if r.status_code == 201 and not replayed(r)]
    assert len(ran) == 1
    for response in responses:
        if response is ran[0]:
            continue
        if response.status_code == 409:
            assert_error(response, 409, "idempotency_key_in_progress")
        else:
            assert response.status_code == 201 and replayed(response) and response.json() == ran[0].json()
    assert CallHistory.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_answer_commits_with_the_views_writes_or_not_at_all(caller, patient, monkeypatch):
    real_complete = idempotency.idempotency_key_complete
    stored, release = threading.Event(), threading.Event()
    crash = {"on": False}

    def complete_then_wait(**kwargs):
        done = real_complete(**kwargs)
        if connection.in_atomic_block:  # inside the view's transaction
            if crash["on"]:
                raise RuntimeError("the process died before COMMIT")
            stored.set()
            assert release.wait(30)
        return done

    monkeypatch.setattr(idempotency, "idempotency_key_complete", complete_then_wait)
    results: dict = {}
    thread = _in_thread(lambda: post(token_client(caller), CALLS, call(patient), "k-atomic"), results, "first")
    assert stored.wait(30)
    # Stored, not yet committed: another connection sees neither the call nor the answer.
    assert IdempotencyKey.objects.get(key="k-atomic").state == "in_progress"
    assert CallHistory.objects.count() == 0
    release.set()
    thread.join(60)
    assert results["first"].status_code == 201
    assert IdempotencyKey.objects.get(key="k-atomic").state == "completed"
    assert CallHistory.objects.count() == 1

    # A crash between storing the answer and COMMIT leaves neither, and frees the key.
    crash["on"] = True
    client = token_client(caller)
    client.raise_request_exception = False
    assert post(client, CALLS, call(patient, notes="Crash."), "k-crash").status_code == 500
    assert not IdempotencyKey.objects.filter(key="k-crash").exists()
    assert CallHistory.objects.count() == 1


# --- CM: events and enrollments --------------------------------------------------------------------------


@pytest.fixture
def world(db) -> World:
    return build_world()


@pytest.mark.django_db
def test_a_retried_cm_event_records_once(world):
    enrollment = world.own.enrollment
    url = f"{API}/cm/enrollments/{enrollment.pk}/events/"
    client = world.client("cpss")
    before = CMPointsTransaction.objects.filter(enrollment=enrollment).count()
    first = post(client, url, {"event_type": "test_negative"}, "event-2026-03-02")
    retry = post(client, url, {"event_type": "test_negative"}, "event-2026-03-02")
    assert first.status_code == retry.status_code == 201
    assert replayed(retry) and retry.json() == first.json()
    assert CMPointsTransaction.objects.filter(enrollment=enrollment).count() == before + 1
    enrollment.refresh_from_db()
    assert enrollment.total_points == first.json()["total_points"]


@pytest.mark.django_db
def test_a_retried_cm_enrollment_enrolls_once(world):
    profile = cm_services.cm_patient_profile_get_or_create(canonical_patient=lonely_canonical_patient())[0]
    client = world.client("cm_supervisor")
    body = {"cm_patient": str(profile.pk), "cpss_provider": str(world.cpss.pk)}
    first = post(client, f"{API}/cm/enrollments/", body, "enroll-khan")
    retry = post(client, f"{API}/cm/enrollments", body, "enroll-khan")
    assert first.status_code == retry.status_code == 201 and replayed(retry) and retry.json() == first.json()
    assert CMEnrollment.objects.filter(cm_patient=profile).count() == 1

    new_patient = {
        "first_name": "Amanda",
        "last_name": "Lee",
        "date_of_birth": "1995-12-01",
        "enrollment_source": "acute_care",
        "cpss_provider_id": str(world.cpss.pk),
    }
    first = post(client, f"{API}/cm/enroll/", new_patient, "enroll-lee")
    retry = post(client, f"{API}/cm/enroll/", new_patient, "enroll-lee")
    assert first.status_code == retry.status_code == 201 and replayed(retry) and retry.json() == first.json()
    assert CMEnrollment.objects.filter(canonical_patient__last_name="Lee").count() == 1


# --- Every POST endpoint -------------------------------------------------------------------------------


def _api_routes(resolver: URLResolver | None = None, prefix: str = ""):
    for pattern in (resolver or get_resolver()).url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _api_routes(pattern, route)
        elif isinstance(pattern, URLPattern) and route.lstrip("^").startswith("api/v1/"):
            yield route, pattern.callback


def test_every_post_route_of_the_api_stores_its_answer_in_the_views_transaction():
    posts = []
    for route, callback in _api_routes():
        view = getattr(callback, "cls", None)
        if view is None:
            continue
        actions = getattr(callback, "actions", None)
        if (actions is not None and "post" in actions) or (actions is None and hasattr(view, "post")):
            posts.append((route, view))
    assert len(posts) >= 30, posts  # the walk found the API
    missing = [(route, view.__name__) for route, view in posts if not issubclass(view, IdempotentViewMixin)]
    # The token endpoints are exempt (common.idempotency.EXEMPT_PREFIXES): see the test below.
    assert missing == [("api/v1/auth/^token/rotate/?$", "ApiTokenRotateView")]


@pytest.mark.django_db
def test_every_post_operation_of_the_schema_replays_its_answer(world):
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = [path for path, item in schema["paths"].items() if "post" in item and applies_to(path)]
    assert len(operations) >= 30
    for path in operations:  # documented for client generators
        operation = schema["paths"][path]["post"]
        headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
        assert "Idempotency-Key" in headers and "422" in operation["responses"], path
    client = world.client("superuser")
    for index, path in enumerate(operations):
        url = path
        while "{" in url:
            start, end = url.index("{"), url.index("}")
            url = url[:start] + str(uuid.uuid4()) + url[end + 1 :]
        first = post(client, url, {}, f"sweep-{index}")
        retry = post(client, url, {}, f"sweep-{index}")
        assert first.status_code < 500, (path, first.status_code)
        assert replayed(retry) and (retry.status_code, retry.content) == (first.status_code, first.content), path
    assert IdempotencyKey.objects.count() == len(operations)


@pytest.mark.django_db
def test_a_keyed_token_rotation_is_never_kept_or_replayed(caller):
    """A new API key is a credential: it must not sit in plain text in the idempotency table, and the
    retry of a rotation arrives with the old key, which the rotation killed."""
    client = token_client(caller)
    first = post(client, "/api/v1/auth/token/rotate/", {}, "rotate-1")
    assert first.status_code == 200 and not replayed(first)
    new_key = first.json()["token"]
    assert IdempotencyKey.objects.count() == 0
    retry = post(client, "/api/v1/auth/token/rotate/", {}, "rotate-1")  # the old key is dead
    assert_error(retry, 401, "not_authenticated")
    assert not replayed(retry)
    # With the new key, the same Idempotency-Key runs the rotation again: nothing was kept to replay.
    again = post(APIClient(HTTP_AUTHORIZATION=f"Token {new_key}"), "/api/v1/auth/token/rotate/", {}, "rotate-1")
    assert again.status_code == 200 and not replayed(again) and again.json()["token"] != new_key
    assert IdempotencyKey.objects.count() == 0
