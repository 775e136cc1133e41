"""Every CM write that has a rule. Keyword-only, typed, one transaction each.

Bad input raises ``ValidationError({field: [reason]})`` before anything is written; a clash with
existing data raises ``ConflictError`` naming the existing row. Because each service is atomic, a
failure part-way (a conflict found after the identity was created) leaves nothing behind either.

Lock order, to keep concurrent services free of deadlocks: canonical patient, then enrollment, then
CPSS provider.

The services live in sub-modules by sub-domain and are all importable from here
(``from cm_program.services import cm_event_record``): ``identity`` (canonical patients), ``profiles``
(CM profiles), ``intakeq`` (IntakeQ clients and links), ``matching`` (the review queue of match
candidates), ``providers``, ``programs``, ``enrollment``
(enrollments, the caseload limit, the two enrollment flows), ``points`` (the ledger),
``merge`` (merging duplicate canonical patients); ``_common`` holds
the input checks and helpers they share.
"""

from __future__ import annotations

from cm_program.models import CanonicalPatient, CMPatient, CMPointsTransaction
from cm_program.services._common import (
    OLDEST_DATE_OF_BIRTH,
    PROFILE_FIELDS,
    UNSET,
)
from cm_program.services.duplicates import canonical_patient_mark_not_duplicate
from cm_program.services.enrollment import (
    ENROLLMENT_TRANSITIONS,
    CMEnrollmentResult,
    cm_enrollment_assign_cpss,
    cm_enrollment_create,
    cm_enrollment_set_status,
    cm_enrollment_update,
    cm_patient_enroll_from_intakeq,
    cm_patient_enroll_new,
)
from cm_program.services.identity import (
    CanonicalIdentity,
    canonical_patient_create,
    canonical_patient_find_or_create,
    canonical_patient_update,
)
from cm_program.services.identity import (
    _canonical_lookup as _canonical_lookup,
)
from cm_program.services.intakeq import (
    INTAKEQ_FIELDS,
    intakeq_link_create,
    intakeq_link_update,
    intakeq_patient_create,
    intakeq_patient_update,
)
from cm_program.services.matching import (
    intakeq_match_candidate_link,
    intakeq_match_candidate_reject,
)
from cm_program.services.merge import (
    CANONICAL_PATIENT_MERGE_FIELDS,
    canonical_patient_merge,
    canonical_patient_unmerge,
)
from cm_program.services.points import (
    RECORDABLE_EVENTS,
    cm_enrollment_totals_repair,
    cm_event_record,
    cm_points_reverse,
)
from cm_program.services.profiles import (
    cm_patient_profile_create,
    cm_patient_profile_get_or_create,
    cm_patient_profile_update,
)
from cm_program.services.programs import (
    PROGRAM_FIELDS,
    cm_program_create,
    cm_program_update,
)
from cm_program.services.providers import (
    PROVIDER_FIELDS,
    cm_provider_create,
    cm_provider_update,
)
from common.errors import ConflictError  # raised by every service here; kept importable from this module

# The services that create and change these models, whose names are not ``<model>_create`` /
# ``_update`` / ``_register`` (or, for the canonical patient, not the API's ``canonical_patient_create``):
# the admin saves through them (tests/common/test_admin_services.py).
WRITE_SERVICES = {
    CanonicalPatient: (canonical_patient_find_or_create, canonical_patient_update),
    CMPatient: (cm_patient_profile_get_or_create, cm_patient_profile_update),
    CMPointsTransaction: (cm_event_record,),
}


__all__ = [
    "CANONICAL_PATIENT_MERGE_FIELDS",
    "canonical_patient_merge",
    "canonical_patient_unmerge",
    "ConflictError",
    "canonical_patient_mark_not_duplicate",
    "canonical_patient_create",
    "canonical_patient_find_or_create",
    "canonical_patient_update",
    "CanonicalIdentity",
    "cm_enrollment_assign_cpss",
    "cm_enrollment_create",
    "cm_enrollment_set_status",
    "cm_enrollment_totals_repair",
    "cm_enrollment_update",
    "cm_event_record",
    "cm_patient_enroll_from_intakeq",
    "cm_patient_enroll_new",
    "cm_patient_profile_create",
    "cm_patient_profile_get_or_create",
    "cm_patient_profile_update",
    "cm_points_reverse",
    "cm_program_create",
    "cm_program_update",
    "cm_provider_create",
    "cm_provider_update",
    "CMEnrollmentResult",
    "ENROLLMENT_TRANSITIONS",
    "INTAKEQ_FIELDS",
    "intakeq_link_create",
    "intakeq_link_update",
    "intakeq_patient_create",
    "intakeq_patient_update",
    "intakeq_match_candidate_link",
    "intakeq_match_candidate_reject",
    "OLDEST_DATE_OF_BIRTH",
    "PROFILE_FIELDS",
    "PROGRAM_FIELDS",
    "PROVIDER_FIELDS",
    "RECORDABLE_EVENTS",
    "UNSET",
    "WRITE_SERVICES",
]
