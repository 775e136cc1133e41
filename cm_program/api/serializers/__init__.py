"""Shapes of the CM API. Serializers check types, required fields, lengths and choices only; every rule
(identity, one profile per human, caseload limits, the points schedule...) is the services' business.

Responses name foreign keys by their model field (``cpss_provider``, ``cm_program``...) holding the
UUID, and add a ``<field>_detail`` object with what a script usually needs next (names, date of birth).
Request bodies are strict: a field the resource does not take (unknown, or read-only such as
``total_points``) is a 400 naming it, rather than silently ignored.

The serializers live in sub-modules by sub-domain, all importable from here: ``identity`` (canonical
patients, CM profiles, IntakeQ clients and links), ``providers``, ``programs``, ``enrollment``
(enrollments and the ledger), ``flows`` (the two enrollment flows and the reads over several tables),
``matching`` (the IntakeQ match queue); ``_common`` holds the limits, enum fields, scoped relations and
nested summaries they share.
"""

from __future__ import annotations

from cm_program.api.serializers._common import (
    EMAIL_MAX,
    JSON_MAX_CHARS,
    NAME_MAX,
    NOTES_MAX,
    PHONE_MAX,
    POINTS_LIMIT,
    TEXT_MAX,
    CanonicalPatientSummarySerializer,
    CMProgramSummarySerializer,
    CMProviderSummarySerializer,
    CMStatusField,
    EnrollmentSourceField,
    IntakeQPatientSummarySerializer,
    PointsEventField,
    ProviderRoleField,
    ProviderStatusField,
    RecordableEventField,
    ScopedRelatedField,
    SmartphoneAccessField,
    StrictUUIDField,
    related,
    status_field,
    text,
)
from cm_program.api.serializers.enrollment import (
    CMEnrollmentCreateSerializer,
    CMEnrollmentSerializer,
    CMEnrollmentStatusSerializer,
    CMEnrollmentUpdateSerializer,
    CMEventSerializer,
    CMLedgerEntrySerializer,
    CMLedgerResultSerializer,
    CMReverseSerializer,
)
from cm_program.api.serializers.flows import (
    CMCaseloadSerializer,
    CMCompletePatientViewSerializer,
    CMDualEnrollmentSerializer,
    CMEnrollCreatedSerializer,
    CMEnrollFromIntakeQSerializer,
    CMEnrollNewSerializer,
    CMEnrollResultSerializer,
    CMPersonConflictSerializer,
)
from cm_program.api.serializers.identity import (
    CMCanonicalPatientCreateSerializer,
    CMCanonicalPatientSerializer,
    CMCanonicalPatientUpdateSerializer,
    CMIntakeQLinkCreateSerializer,
    CMIntakeQLinkSerializer,
    CMIntakeQLinkUpdateSerializer,
    CMIntakeQPatientInputSerializer,
    CMIntakeQPatientSerializer,
    CMPatientCreateSerializer,
    CMPatientSerializer,
    CMPatientUpdateSerializer,
)
from cm_program.api.serializers.matching import (
    CMIntakeQMatchCandidateSerializer,
    CMMatchDecisionSerializer,
    MatchComponentsSerializer,
)
from cm_program.api.serializers.programs import (
    CMProgramInputSerializer,
    CMProgramSerializer,
)
from cm_program.api.serializers.providers import (
    CMProviderInputSerializer,
    CMProviderSerializer,
)

# One list of profile fields: the service's (the serializer's fields and the service's rules agree).
from cm_program.services import PROFILE_FIELDS

__all__ = [
    "CMIntakeQMatchCandidateSerializer",
    "CMMatchDecisionSerializer",
    "MatchComponentsSerializer",
    "CanonicalPatientSummarySerializer",
    "CMCanonicalPatientCreateSerializer",
    "CMCanonicalPatientSerializer",
    "CMCanonicalPatientUpdateSerializer",
    "CMCaseloadSerializer",
    "CMCompletePatientViewSerializer",
    "CMDualEnrollmentSerializer",
    "CMEnrollCreatedSerializer",
    "CMEnrollFromIntakeQSerializer",
    "CMEnrollmentCreateSerializer",
    "CMEnrollmentSerializer",
    "CMEnrollmentStatusSerializer",
    "CMEnrollmentUpdateSerializer",
    "CMEnrollNewSerializer",
    "CMEnrollResultSerializer",
    "CMEventSerializer",
    "CMIntakeQLinkCreateSerializer",
    "CMIntakeQLinkSerializer",
    "CMIntakeQLinkUpdateSerializer",
    "CMIntakeQPatientInputSerializer",
    "CMIntakeQPatientSerializer",
    "CMLedgerEntrySerializer",
    "CMLedgerResultSerializer",
    "CMPatientCreateSerializer",
    "CMPatientSerializer",
    "CMPatientUpdateSerializer",
    "CMPersonConflictSerializer",
    "CMProgramInputSerializer",
    "CMProgramSerializer",
    "CMProgramSummarySerializer",
    "CMProviderInputSerializer",
    "CMProviderSerializer",
    "CMProviderSummarySerializer",
    "CMReverseSerializer",
    "CMStatusField",
    "EMAIL_MAX",
    "EnrollmentSourceField",
    "IntakeQPatientSummarySerializer",
    "JSON_MAX_CHARS",
    "NAME_MAX",
    "NOTES_MAX",
    "PHONE_MAX",
    "POINTS_LIMIT",
    "PointsEventField",
    "PROFILE_FIELDS",
    "ProviderRoleField",
    "ProviderStatusField",
    "RecordableEventField",
    "related",
    "ScopedRelatedField",
    "SmartphoneAccessField",
    "status_field",
    "StrictUUIDField",
    "text",
    "TEXT_MAX",
]
