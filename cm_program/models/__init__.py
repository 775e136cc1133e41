"""Contingency management (CM): the customer's clean-separation schema, table for table.

Table and column names, defaults, CHECK lists and UNIQUE rules are the CM document's
(``../shared/seeds/002_74083e6972e7e99a.txt``) so that its SQL runs unchanged against this schema.
Every default exists twice: as a Python ``default`` (what the ORM writes) and as a ``db_default``
(what PostgreSQL fills in for a raw ``INSERT`` that omits the column, as the document's SQL does).

Additions, each for a reason given where it is declared: the IntakeQ mirror ``patients``, the program
``contingency_management`` with its reinforcement schedule, the points ledger ``cm_points_transactions``,
a link from the canonical identity to ``people.Person`` and from a CPSS to their staff login, and
NOT NULL / range checks where a NULL or negative value would be meaningless.

The models live in sub-modules by sub-domain, as the services do, and are all importable from here
(``from cm_program.models import CMEnrollment``): ``identity`` (canonical patients), ``intakeq`` (the
IntakeQ mirror, links, match candidates and the matching's watermark), ``profiles`` (CM profiles),
``providers`` (CPSS staff), ``programs`` (CM programs and their schedule), ``enrollment`` (enrollments
and their status history), ``points`` (the points ledger), ``duplicates`` (possible duplicate canonical
patients), ``report_rollup`` (the CM report's weekly rollup of the ledger); ``base`` holds what they
share. pghistory adds each tracked model's event model
(``CanonicalPatientEvent``, ...) to this package.
"""

from __future__ import annotations

from cm_program.models.base import CMModel, CMStatus, normalised_name
from cm_program.models.duplicates import CanonicalPatientDuplicatePair
from cm_program.models.enrollment import CMEnrollment, EnrollmentStatusChange
from cm_program.models.identity import LIVE_CANONICAL, CanonicalPatient
from cm_program.models.intakeq import (
    IntakeQLink,
    IntakeQMatchCandidate,
    IntakeQMatchingWatermark,
    IntakeQPatient,
    MatchBand,
    MatchStatus,
)
from cm_program.models.points import BEHAVIOUR_EVENTS, REASON_REQUIRED_EVENTS, CMPointsTransaction, PointsEvent
from cm_program.models.profiles import CMPatient, EnrollmentSource, SmartphoneAccess
from cm_program.models.programs import CMProgram
from cm_program.models.providers import CMProvider, ProviderRole, ProviderStatus
from cm_program.models.report_rollup import CMEnrollmentReportFacts, CMPointsWeek

__all__ = [
    "LIVE_CANONICAL",
    "CMEnrollmentReportFacts",
    "CMPointsWeek",
    "BEHAVIOUR_EVENTS",
    "REASON_REQUIRED_EVENTS",
    "CanonicalPatient",
    "CanonicalPatientDuplicatePair",
    "CMEnrollment",
    "CMModel",
    "CMPatient",
    "CMPointsTransaction",
    "CMProgram",
    "CMProvider",
    "CMStatus",
    "EnrollmentSource",
    "EnrollmentStatusChange",
    "IntakeQLink",
    "IntakeQMatchCandidate",
    "IntakeQMatchingWatermark",
    "IntakeQPatient",
    "MatchBand",
    "MatchStatus",
    "PointsEvent",
    "ProviderRole",
    "ProviderStatus",
    "SmartphoneAccess",
    "normalised_name",
]
