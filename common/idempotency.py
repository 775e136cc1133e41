"""``Idempotency-Key`` on API POSTs: a client whose answer was lost can send the same POST again.

A POST under ``/api/v1/`` that carries ``Idempotency-Key: <key>`` (1-255 printable ASCII characters)
is run at most once per user and key within ``IDEMPOTENCY_KEY_TTL`` (24 hours):

* the same key with the same request (method, path without its trailing slash, query string and body,
  hashed) answers the first request's status, body and ``Content-Type`` / ``Location`` again, with
  ``Idempotent-Replayed: true``, and writes nothing;
* the same key with another request is a 422; a retry while the first request still runs is a 409
  (with ``Retry-After``);
* 4xx answers are kept like 2xx ones (the retry gets the same 4xx; send a new key with a corrected
  body); 5xx answers and 429 are not kept: the key is free again and a retry runs the request.

How it stays correct under concurrency and crashes, with ``ATOMIC_REQUESTS`` (each view runs in one
transaction):

1. ``IdempotencyMiddleware`` runs outside the view's transaction. It authenticates the request with the
   API's own authentication classes (the key belongs to a user, and DRF would only authenticate inside
   the view), then *claims* the key: ``INSERT ... ON CONFLICT DO NOTHING`` in autocommit, so the claim
   is committed and visible to any concurrent request before the view starts. A concurrent request
   with the same key finds the claim and answers 409; after the first finished, it finds the answer.
2. The view runs in its transaction. ``IdempotentViewMixin.finalize_response`` (on the API's base views)
   renders a 2xx/3xx answer and stores it on the claim in that same transaction: the view's writes and
   the stored answer commit together or not at all, so a crash can never leave a write whose retry
   would run it again. The store is conditional on the claim's token: if the claim was taken over in
   the meantime (see 4), the view's writes are rolled back and the answer is a 409.
3. Back in the middleware, outside the transaction: a 4xx answer (whose writes were rolled back) is
   stored; a 5xx answer releases the claim (deleted, unless step 2 already committed an answer). A view
   without the mixin (none today: a test walks every POST route) gets its answer stored here too.
4. A claim left ``in_progress`` by a process that died is abandoned after ``IDEMPOTENCY_CLAIM_TIMEOUT``
   (5 minutes, far beyond any request's run time): the next request with the key takes it over (a
   conditional UPDATE, so only one does) and runs.

Rows live 24 hours: every claim deletes up to 100 expired rows (``FOR UPDATE SKIP LOCKED``, so pruning
requests never wait for each other), and ``manage.py prune_idempotency_keys`` deletes them all (cron).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

from common.api.exceptions import error_body
from common.models import IdempotencyKey

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# Printable ASCII (space inside only): what an HTTP header carries unchanged through every proxy.
KEY_PATTERN = re.compile(r"^[\x21-\x7e](?:[\x20-\x7e]{0,253}[\x21-\x7e])?$")
STORED_HEADERS = ("Content-Type", "Location", "Content-Language")
PRUNE_BATCH = 100
API_PREFIX = "/api/v1/"
# Not replayable, and their answers are credentials that must never be stored: a rotated token's retry
# arrives with the old, now dead key (401), and a kept answer would hold the new key in plain text.
EXEMPT_PREFIXES = ("/api/v1/auth/",)


def applies_to(path: str) -> bool:
    """Whether a POST to ``path`` honours ``Idempotency-Key`` (every API POST but the token endpoints)."""
    return path.startswith(API_PREFIX) and not path.startswith(EXEMPT_PREFIXES)


def ttl() -> dt.timedelta:
    return getattr(settings, "IDEMPOTENCY_KEY_TTL", dt.timedelta(hours=24))


def claim_timeout() -> dt.timedelta:
    return getattr(settings, "IDEMPOTENCY_CLAIM_TIMEOUT", dt.timedelta(minutes=5))


def request_fingerprint(*, method: str, path: str, query: str, body: bytes) -> str:
    """SHA-256 of what makes two requests "the same": ``/patients`` and ``/patients/`` are one path."""
    digest = hashlib.sha256()
    for part in (method.upper(), path.rstrip("/") or "/", query):
        digest.update(part.encode("utf-8", "surrogateescape") + b"\n")
    digest.update(body)
    return digest.hexdigest()


def key_is_valid(key: str) -> bool:
    return bool(KEY_PATTERN.match(key))


# ---------------------------------------------------------------------------------------------------
# The claim and its outcomes (each an autocommit statement, or part of the view's transaction)


@dataclass
class Claim:
    pk: int
    token: uuid.UUID
    stored_in_view: bool = False


@dataclass(frozen=True)
class Outcome:
    """What ``idempotency_key_claim`` found: ``claim`` to run the request, or an answer to give now."""

    claim: Claim | None = None
    replay: IdempotencyKey | None = None
    conflict: str | None = None  # "in_progress" or "mismatch"


def prune_expired(*, now: dt.datetime | None = None, limit: int | None = PRUNE_BATCH) -> int:
    """Delete rows older than the retention (at most ``limit``; all when ``None``). Returns how many."""
    cutoff = (now or timezone.now()) - ttl()
    limit_sql = "LIMIT %s" if limit is not None else ""
    params: list = [cutoff] + ([limit] if limit is not None else [])
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM idempotency_key WHERE id IN (SELECT id FROM idempotency_key WHERE created_at < %s "
            f"ORDER BY created_at {limit_sql} FOR UPDATE SKIP LOCKED)",
            params,
        )
        return cursor.rowcount


def idempotency_key_claim(*, user, key: str, fingerprint: str, method: str, path: str) -> Outcome:
    """Claim ``key`` for ``user`` or tell why not. Must run outside any transaction (autocommit), so
    that the claim is visible to concurrent requests at once."""
    now = timezone.now()
    prune_expired(now=now)
    for _attempt in range(3):
        token = uuid.uuid4()
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO idempotency_key (user_id, key, request_hash, method, path, state, claim_token, "
                "response_headers, created_at) VALUES (%s, %s, %s, %s, %s, 'in_progress', %s, '{}', %s) "
                "ON CONFLICT (user_id, key) DO NOTHING RETURNING id",
                [user.pk, key, fingerprint, method, path, token, now],
            )
            row = cursor.fetchone()
        if row is not None:
            return Outcome(claim=Claim(row[0], token))
        existing = IdempotencyKey.objects.filter(user=user, key=key).first()
        if existing is None:
            continue  # expired and pruned meanwhile: claim again
        expired = existing.created_at < now - ttl()
        if not expired and existing.request_hash != fingerprint:
            return Outcome(conflict="mismatch")
        if not expired and existing.state == IdempotencyKey.State.COMPLETED:
            return Outcome(replay=existing)
        abandoned = existing.state == IdempotencyKey.State.IN_PROGRESS and existing.created_at < now - claim_timeout()
        if not (expired or abandoned):
            return Outcome(conflict="in_progress")
        # Take the expired row or abandoned claim over. Only one request can: the token and state must be
        # what we read (a late answer committed meanwhile makes this match nothing, and we replay it).
        taken = IdempotencyKey.objects.filter(
            pk=existing.pk, claim_token=existing.claim_token, state=existing.state
        ).update(
            request_hash=fingerprint,
            method=method,
            path=path,
            state=IdempotencyKey.State.IN_PROGRESS,
            claim_token=token,
            status_code=None,
            response_body=None,
            response_headers={},
            created_at=now,
            completed_at=None,
        )
        if taken:
            logger.info("idempotency key %s of user %s: claim taken over (%s)", key, user.pk, existing.state)
            return Outcome(claim=Claim(existing.pk, token))
    return Outcome(conflict="in_progress")


def idempotency_key_complete(*, claim: Claim, response) -> bool:
    """Store the answer on the claim, if the claim is still ours. Returns whether it was stored."""
    headers = {name: response[name] for name in STORED_HEADERS if response.has_header(name)}
    return bool(
        IdempotencyKey.objects.filter(
            pk=claim.pk, claim_token=claim.token, state=IdempotencyKey.State.IN_PROGRESS
        ).update(
            state=IdempotencyKey.State.COMPLETED,
            status_code=response.status_code,
            response_body=bytes(response.content),
            response_headers=headers,
            completed_at=timezone.now(),
        )
    )


def idempotency_key_release(*, claim: Claim) -> None:
    """Free the key after a failure, unless an answer was committed for it."""
    IdempotencyKey.objects.filter(pk=claim.pk, claim_token=claim.token, state=IdempotencyKey.State.IN_PROGRESS).delete()


# ---------------------------------------------------------------------------------------------------
# HTTP


def _error(status: int, code: str, message: str, **kwargs) -> JsonResponse:
    return JsonResponse(error_body(code, message, **kwargs), status=status)


def _authenticated_user(request):
    """The user DRF will see in the view (token or session), or ``None``. Any failure is left to the view
    to report (401 / 403): then the key is not claimed."""
    drf_request = Request(request, authenticators=[auth() for auth in api_settings.DEFAULT_AUTHENTICATION_CLASSES])
    try:
        user = drf_request.user
    except exceptions.APIException:
        return None
    return user if user is not None and user.is_authenticated else None


def _replay(record: IdempotencyKey) -> HttpResponse:
    response = HttpResponse(bytes(record.response_body or b""), status=record.status_code)
    for name, value in (record.response_headers or {}).items():
        response[name] = value
    response[REPLAYED_HEADER] = "true"
    return response


def _kept(status_code: int) -> bool:
    # 5xx: the server failed, the client may retry. 429: a retry later is the whole point.
    return status_code < 500 and status_code != 429


class IdempotencyMiddleware:
    """See the module docstring. Place it after ``AuthenticationMiddleware`` (session logins)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method != "POST" or not applies_to(request.path) or HEADER not in request.headers:
            return self.get_response(request)
        user = _authenticated_user(request)
        if user is None:
            return self.get_response(request)
        key = request.headers[HEADER].strip()
        if not key_is_valid(key):
            return _error(
                400,
                "invalid",
                f"{HEADER}: give 1 to 255 printable ASCII characters.",
                fields={HEADER: ["Give 1 to 255 printable ASCII characters (letters, digits, - _ . : etc.)."]},
            )
        try:
            body = request.body
        except Exception:  # too large or unreadable: let the view answer it, without a claim
            return self.get_response(request)
        fingerprint = request_fingerprint(
            method=request.method, path=request.path, query=request.META.get("QUERY_STRING", ""), body=body
        )
        outcome = idempotency_key_claim(
            user=user, key=key, fingerprint=fingerprint, method=request.method, path=request.path
        )
        if outcome.replay is not None:
            return _replay(outcome.replay)
        if outcome.conflict == "mismatch":
            return _error(
                422,
                "idempotency_key_reused",
                f"This {HEADER} was used for a different request (method, path or body) in the last "
                f"{int(ttl().total_seconds() // 3600)} hours; use a new key for a new request.",
                fields={HEADER: ["Already used for a different request."]},
            )
        if outcome.conflict == "in_progress":
            response = _error(
                409,
                "idempotency_key_in_progress",
                f"A request with this {HEADER} is still being processed; retry when it has finished.",
            )
            response["Retry-After"] = "1"
            return response

        claim = outcome.claim
        request.idempotency_claim = claim
        try:
            response = self.get_response(request)
        except BaseException:
            idempotency_key_release(claim=claim)
            raise
        if claim.stored_in_view and response.status_code < 400:
            pass  # committed with the view's writes
        elif _kept(response.status_code) and not getattr(response, "streaming", False):
            # 4xx (their writes were rolled back), or a 2xx the view did not store itself.
            idempotency_key_complete(claim=claim, response=response)
        else:
            idempotency_key_release(claim=claim)
        return response


class IdempotentViewMixin:
    """For the API's base views: stores a successful POST's answer on its idempotency claim inside the
    view's transaction (see the module docstring, step 2)."""

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        claim: Claim | None = getattr(request, "idempotency_claim", None)
        if claim is None or request.method != "POST" or response.status_code >= 400:
            return response
        response.render()  # the body is stored now, in this transaction; Django will not render it again
        if idempotency_key_complete(claim=claim, response=response):
            claim.stored_in_view = True
            return response
        # The claim was taken over (this request ran longer than the claim timeout): undo its writes.
        if connection.in_atomic_block:
            transaction.set_rollback(True)
        logger.warning("idempotency claim %s lost while its request ran; its writes were rolled back", claim.pk)
        lost = Response(
            error_body(
                "idempotency_key_in_progress",
                f"This request ran too long and another request with its {HEADER} took over; nothing was saved.",
            ),
            status=409,
        )
        return super().finalize_response(request, lost, *args, **kwargs)
