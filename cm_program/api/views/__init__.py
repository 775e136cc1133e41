"""The CM REST API under /api/v1/cm/: thin views over ``cm_program.services`` and ``cm_program.selectors``.

Each view checks the request's shape with a serializer and calls one service with keyword arguments and
``actor=request.user``; the services' ``ValidationError`` (400) and ``ConflictError`` (409) reach the
shared error handler untouched. Every queryset goes through the ``*_visible_to`` scopes, so a row outside
the user's scope (another CPSS's patient) is a 404 for reads and writes alike.

The views live in sub-modules by sub-domain, all importable from here: ``identity`` (canonical
patients, CM profiles, IntakeQ clients and links), ``providers``, ``programs``, ``enrollment``
(enrollments, events, the ledger), ``flows`` (the two enrollment flows, dual enrollments); ``_common``
holds the base viewset, the ordering filter and the permission they share.
"""

from __future__ import annotations

from cm_program.api.views._common import (
    FILTER_BACKENDS,
    CMViewSet,
    SeesAllCM,
    StableOrderingFilter,
)
from cm_program.api.views.enrollment import (
    ENROLLMENT_ID,
    CMEnrollmentViewSet,
    CMLedgerViewSet,
)
from cm_program.api.views.flows import (
    ENROLL_PERMISSIONS,
    DualEnrollmentViewSet,
    EnrollFromIntakeQView,
    EnrollNewView,
)
from cm_program.api.views.identity import (
    CanonicalPatientMergeLogViewSet,
    CanonicalPatientViewSet,
    CMPatientViewSet,
    IntakeQLinkViewSet,
    IntakeQPatientViewSet,
)
from cm_program.api.views.matching import (
    IntakeQMatchCandidateViewSet,
)
from cm_program.api.views.programs import (
    CMProgramViewSet,
)
from cm_program.api.views.providers import (
    CMProviderViewSet,
)
from cm_program.api.views.reports import (
    CMProgramReportView,
    PatientPoolView,
)

__all__ = [
    "CanonicalPatientMergeLogViewSet",
    "CanonicalPatientViewSet",
    "CMEnrollmentViewSet",
    "CMLedgerViewSet",
    "CMPatientViewSet",
    "CMProgramReportView",
    "CMProgramViewSet",
    "CMProviderViewSet",
    "CMViewSet",
    "DualEnrollmentViewSet",
    "ENROLL_PERMISSIONS",
    "EnrollFromIntakeQView",
    "ENROLLMENT_ID",
    "EnrollNewView",
    "FILTER_BACKENDS",
    "IntakeQLinkViewSet",
    "IntakeQMatchCandidateViewSet",
    "IntakeQPatientViewSet",
    "PatientPoolView",
    "SeesAllCM",
    "StableOrderingFilter",
]
