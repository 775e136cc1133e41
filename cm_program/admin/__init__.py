"""CM admin: the CM desk. Shows data, writes through the services, and limits a CPSS to their own caseload.

Writes with a rule go through ``services``: the form runs the service once inside a savepoint that is
always rolled back (a dry run), so its ``ValidationError`` / ``ConflictError`` appear as form errors
instead of a 500; ``save_model`` then runs it for real, and if that second run loses a race the page
says so (nothing is saved) instead of failing. Querysets, autocompletes, filters and foreign-key
choices all come from the scope selectors, so a CPSS cannot see or pick another CPSS's patients (an
object outside the scope is "not found").

The desk's own pages (enrollment header and "record event", caseloads and CSV, complete patient view,
dual enrollments, "Enroll in CM") live in ``cm_program.admin_views``.

The admins live in sub-modules by sub-domain; importing this package (Django's admin autodiscovery does)
imports them all, which registers them: ``identity`` (canonical patients, IntakeQ clients, CM profiles,
links), ``matching`` (the review queue of IntakeQ match candidates), ``providers``, ``programs``,
``enrollment``, ``points`` (the ledger); ``filters`` holds the
scoped list filters and ``_common`` the base form and admins, the scopes and the dashboard links.
"""

from __future__ import annotations

from cm_program.admin._common import (
    SCOPES,
    SaveRefused,
    ScopedAdmin,
    ServiceAdmin,
    ServiceForm,
)
from cm_program.admin.duplicates import (
    CanonicalPatientDuplicatePairAdmin,
)
from cm_program.admin.enrollment import (
    CMEnrollmentAdmin,
    EnrollmentForm,
)
from cm_program.admin.filters import (
    CPSSFilter,
    LastEventFilter,
    LedgerCPSSFilter,
    OccurredFilter,
    PresenceFilter,
)
from cm_program.admin.identity import (
    CanonicalPatientAdmin,
    CMPatientAdmin,
    IntakeQLinkAdmin,
    IntakeQPatientAdmin,
)
from cm_program.admin.matching import (
    IntakeQMatchCandidateAdmin,
)
from cm_program.admin.points import (
    CMPointsTransactionAdmin,
    PointsTransactionForm,
)
from cm_program.admin.programs import (
    CMProgramAdmin,
)
from cm_program.admin.providers import (
    CMProviderAdmin,
)
from cm_program.admin.reports import cm_report_view

__all__ = [
    "cm_report_view",
    "CanonicalPatientAdmin",
    "CanonicalPatientDuplicatePairAdmin",
    "CMEnrollmentAdmin",
    "CMPatientAdmin",
    "CMPointsTransactionAdmin",
    "CMProgramAdmin",
    "CMProviderAdmin",
    "CPSSFilter",
    "EnrollmentForm",
    "IntakeQLinkAdmin",
    "IntakeQMatchCandidateAdmin",
    "IntakeQPatientAdmin",
    "LastEventFilter",
    "LedgerCPSSFilter",
    "OccurredFilter",
    "PointsTransactionForm",
    "PresenceFilter",
    "SaveRefused",
    "ScopedAdmin",
    "SCOPES",
    "ServiceAdmin",
    "ServiceForm",
]
