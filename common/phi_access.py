"""The PHI access log (HIPAA 164.312(b)): who viewed which patient's record, when, from where, through
which channel, and what they viewed.

What is logged:

* API: every successful ``GET`` of one record of patient data (the detail route and the record's detail
  actions: a patient's calls, a journey's timeline, a person's history, the complete patient view), and
  of one enrollment's ledger (``PHIAccessViewMixin`` on the API's base viewsets);
* admin: every successful ``GET`` of the change page or history page of a record of patient data
  (``PHIAccessAdminMixin`` on ``CrmModelAdmin``), the complete patient view, and the CSV exports
  (``phi_access_record_request`` from those views).

What counts as patient data is ``PHI_RESOURCES``: the models below, each with the way to the human the
record belongs to (their ``Person`` and / or CM canonical patient). Lookups, CM providers and programs
are not patient data. Physicians are not patients either: their records hold workforce data (name,
hospital, licence), so ``/physicians/`` is not logged; a physician's ``Person`` record is, like every
``Person`` (one cannot tell cheaply whose role a Person holds, and most Persons are patients).
Lists and searches are not logged per row: a list would need one entry per row shown (the issue asks
for detail views, exports and the complete view).

Cost: one ``INSERT`` after the view's reads, in the request's transaction (``ATOMIC_REQUESTS``; with read
replicas a ``GET`` has none, and the entry gets a short transaction of its own, on the primary), with
``SET LOCAL synchronous_commit = off`` in front of it in the same statement string (one round trip), so the
commit of a ``GET`` does not wait for the WAL flush. A database crash may lose the last fraction of a second
of entries (never corrupt them); the records they point at were only read. The subject ids are taken from
what the view already loaded, or looked up by a subquery inside that same INSERT: resolving them never costs a
query of its own.
"""

from __future__ import annotations

import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db import connection, models, transaction
from django.db.models import Expression, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils.http import urlencode

from common.http import client_ip
from common.models import PHIAccess, PHIAccessChannel, PHIAccessType

# ---------------------------------------------------------------------------------------------------
# Which records are patient data, and whose


@dataclass(frozen=True)
class Subject:
    """Attribute paths from a record to its human's ``Person`` id and canonical patient id. A path
    through a relation is read from the object when the view loaded it (``select_related``), else by a
    subquery of the log's INSERT. Several paths are alternatives (the first that gives an id wins)."""

    person: tuple[str, ...] = ()
    canonical_patient: tuple[str, ...] = ()


PHI_RESOURCES: dict[str, Subject] = {
    "people.person": Subject(person=("pk",)),
    "people.personcontacttype": Subject(person=("person_id",)),
    "patients.patient": Subject(person=("person_id",)),
    "patients.patientlead": Subject(person=("person_id",)),
    "patients.callhistory": Subject(person=("patient.person_id",)),
    "patients.patientphysicianrelationship": Subject(person=("patient.person_id",)),
    "journeys.clinicaltrialjourney": Subject(person=("patient.person_id",)),
    "journeys.eapjourney": Subject(person=("patient.person_id",)),
    "journeys.journeystatuschange": Subject(person=("ct_journey.patient.person_id", "eap_journey.patient.person_id")),
    "cm_program.canonicalpatient": Subject(person=("person_id",), canonical_patient=("pk",)),
    "cm_program.cmpatient": Subject(
        person=("canonical_patient.person_id",), canonical_patient=("canonical_patient_id",)
    ),
    "cm_program.cmenrollment": Subject(
        person=("canonical_patient.person_id",), canonical_patient=("canonical_patient_id",)
    ),
    "cm_program.cmpointstransaction": Subject(
        person=("canonical_patient.person_id",), canonical_patient=("canonical_patient_id",)
    ),
    "cm_program.intakeqlink": Subject(
        person=("canonical_patient.person_id",), canonical_patient=("canonical_patient_id",)
    ),
    "cm_program.intakeqpatient": Subject(canonical_patient=("canonical_link.canonical_patient_id",)),
    "cm_program.intakeqmatchcandidate": Subject(
        person=("canonical_patient.person_id",), canonical_patient=("canonical_patient_id",)
    ),
}

# Exports (one entry each, with the number of rows and the scope).
NAVIGATOR_CASELOADS_EXPORT = "export.navigator_caseloads"
CPSS_CASELOADS_EXPORT = "export.cpss_caseloads"
PATIENT_POOL_EXPORT = "export.cm_patient_pool"
EXPORTS = {
    NAVIGATOR_CASELOADS_EXPORT: "Navigator caseloads (CSV)",
    CPSS_CASELOADS_EXPORT: "CPSS caseloads (CSV)",
    PATIENT_POOL_EXPORT: "CM patient pool for billing (CSV, API)",
}


def resource_type_of(obj: Any) -> str:
    return obj._meta.label_lower


def is_phi(obj: Any) -> bool:
    return obj is not None and hasattr(obj, "_meta") and resource_type_of(obj) in PHI_RESOURCES


def _loaded(obj: Any, path: str) -> Any:
    """``obj.a.b.c`` when every relation on the way is already loaded, else ``None`` (no query)."""
    current = obj
    *relations, attribute = path.split(".")
    for name in relations:
        field = current._meta.get_field(name)
        if not field.is_cached(current):
            return None
        current = field.get_cached_value(current)
        if current is None:
            return None
    return getattr(current, attribute, None)


def _first(obj: Any, paths: tuple[str, ...]) -> uuid.UUID | Expression | None:
    """The first id the paths give from what the view loaded; else a subquery that the log's INSERT
    runs to find it (part of the same statement: still one query)."""
    for path in paths:
        value = _loaded(obj, path)
        if value is not None:
            return value
    lookups = [
        Subquery(type(obj)._base_manager.filter(pk=obj.pk).values(path.replace(".", "__"))[:1])
        for path in paths
        if "." in path
    ]
    if not lookups:
        return None
    return lookups[0] if len(lookups) == 1 else Coalesce(*lookups, output_field=models.UUIDField())


def subject_of(obj: Any) -> tuple[uuid.UUID | Expression | None, uuid.UUID | Expression | None]:
    """(person id, canonical patient id) of a record of patient data: values when the view loaded them,
    else expressions for the log's INSERT."""
    subject = PHI_RESOURCES[resource_type_of(obj)]
    return _first(obj, subject.person), _first(obj, subject.canonical_patient)


# ---------------------------------------------------------------------------------------------------
# Writing entries


def phi_access_record(
    *,
    user,
    channel: str,
    access_type: str,
    resource_type: str,
    resource_id: str = "",
    person_id: uuid.UUID | Expression | None = None,
    canonical_patient_id: uuid.UUID | Expression | None = None,
    record_count: int | None = None,
    scope: str = "",
    path: str = "",
    client_ip: str | None = None,
    request_id: str = "",
    asynchronous_commit: bool = False,
) -> None:
    """Append one entry to the PHI access log: one ``INSERT``.

    ``asynchronous_commit`` (reads only, ``GET``): first switch the enclosing transaction to
    ``synchronous_commit = off``, so its commit does not wait for the WAL flush. Never for a transaction
    that writes records: their commit must be durable when the user is told it happened.
    """
    # A GET served outside the request's transaction (read replicas configured) gets a short one of its
    # own, so that its commit too skips the WAL flush wait. ``SET LOCAL`` is sent with the INSERT, in one
    # round trip (a statement of its own was one more query per GET).
    own_transaction = asynchronous_commit and not connection.in_atomic_block
    with (
        transaction.atomic() if own_transaction else nullcontext(),
        connection.execute_wrapper(_asynchronous_commit_first) if asynchronous_commit else nullcontext(),
    ):
        _create_entry(
            user=user,
            channel=channel,
            access_type=access_type,
            resource_type=resource_type,
            resource_id=resource_id,
            person_id=person_id,
            canonical_patient_id=canonical_patient_id,
            record_count=record_count,
            scope=scope,
            path=path,
            client_ip=client_ip,
            request_id=request_id,
        )


def _create_entry(*, resource_type, resource_id, path, request_id, **fields) -> None:
    PHIAccess.objects.create(
        resource_type=resource_type[:64],
        resource_id=str(resource_id)[:64],
        path=path[:2000],
        request_id=(request_id or "")[:64],
        **fields,
    )


def _asynchronous_commit_first(execute, sql, params, many, context):
    """``SET LOCAL synchronous_commit = off`` in front of the log's INSERT, in the same statement string (the
    driver binds parameters on the client; pghistory prefixes its context the same way). The cursor is then
    moved to the INSERT's result."""
    result = execute(f"SET LOCAL synchronous_commit = off; {sql}", params, many, context)
    while result is not None and result.nextset():
        pass
    return result


def channel_of(request) -> str:
    return PHIAccessChannel.ADMIN if request.path.startswith("/admin/") else PHIAccessChannel.API


def phi_access_record_request(
    request,
    *,
    obj: Any = None,
    access_type: str = PHIAccessType.DETAIL,
    scope: str = "",
    resource_type: str | None = None,
    record_count: int | None = None,
) -> None:
    """Log what ``request`` showed: the record ``obj`` (a record of patient data) or, for an export,
    ``resource_type`` with its ``record_count`` and ``scope``. Who, when, from where and through which
    channel come from the request."""
    person_id = canonical_patient_id = None
    resource_id = ""
    if obj is not None:
        person_id, canonical_patient_id = subject_of(obj)
        resource_type = resource_type or resource_type_of(obj)
        resource_id = str(obj.pk)
    phi_access_record(
        user=request.user,
        channel=channel_of(request),
        access_type=access_type,
        resource_type=resource_type or "",
        resource_id=resource_id,
        person_id=person_id,
        canonical_patient_id=canonical_patient_id,
        record_count=record_count,
        scope=scope,
        path=request.path,
        client_ip=client_ip(request),
        request_id=getattr(request, "request_id", "") or "",
        asynchronous_commit=request.method == "GET",
    )


def _shown(request, response) -> bool:
    """A successful ``GET`` by a signed-in user: the only requests that show a record."""
    user = getattr(request, "user", None)
    return request.method == "GET" and 200 <= response.status_code < 300 and user is not None and user.is_authenticated


# ---------------------------------------------------------------------------------------------------
# The two hooks: API viewsets and admin pages


class PHIAccessViewMixin:
    """For DRF viewsets: logs a successful ``GET`` of a record of patient data that the view fetched
    with ``get_object()`` (or named with ``note_phi_access``), once, after the view's reads, in
    ``finalize_response``. A 404 or 403 never reaches the log (``get_object`` raised first)."""

    # Actions that are more than "a record viewed".
    phi_access_types = {"complete": PHIAccessType.COMPLETE_VIEW}

    def get_object(self):
        obj = super().get_object()
        self.note_phi_access(obj)
        return obj

    def note_phi_access(self, obj: Any) -> None:
        """Name the record this request shows (the last one named wins)."""
        self._phi_access_object = obj

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        obj = getattr(self, "_phi_access_object", None)
        if is_phi(obj) and _shown(request, response):
            action = getattr(self, "action", None) or request.method.lower()
            access_type = self.phi_access_types.get(action, PHIAccessType.DETAIL)
            phi_access_record_request(request, obj=obj, access_type=access_type, scope=action)
        return response


class PHIAccessAdminMixin:
    """For ModelAdmins: logs a successful ``GET`` of the change page or the history page of a record of
    patient data, once per page, after ``get_object`` found it within the user's scope. The link "who
    looked at this patient" on those pages (superusers) comes from ``admin/change_form.html``."""

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            request._phi_access_object = obj
        return obj

    def _log_phi_access(self, request, response, scope: str) -> None:
        obj = getattr(request, "_phi_access_object", None)
        if is_phi(obj) and _shown(request, response):
            phi_access_record_request(request, obj=obj, scope=scope)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        self._log_phi_access(request, response, "change")
        return response

    def history_view(self, request, object_id, extra_context=None):
        response = super().history_view(request, object_id, extra_context)
        self._log_phi_access(request, response, "history")
        return response


def _resolved(obj: Any, path: str) -> Any:
    """``obj.a.b.c``, loading relations as needed; ``None`` where a link is missing."""
    current = obj
    for name in path.split("."):
        try:
            current = getattr(current, name)
        except ObjectDoesNotExist:
            return None
        if current is None:
            return None
    return current


def who_looked_url(obj: Any) -> str | None:
    """The PHI access log filtered to the human ``obj`` belongs to, or ``None`` when ``obj`` is not
    patient data. May load a relation the page did not (it is shown to superusers only)."""
    if not is_phi(obj):
        return None
    subject = PHI_RESOURCES[resource_type_of(obj)]
    ids = [_resolved(obj, path) for path in (*subject.person, *subject.canonical_patient)]
    found = next((value for value in ids if value is not None), None)
    query = {"patient": str(found)} if found is not None else {"q": str(obj.pk)}
    return reverse("admin:common_phiaccess_changelist") + "?" + urlencode(query)
