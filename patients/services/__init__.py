"""Writes of patient navigation: registering patients (the returning-patient rule), leads and their
conversion, physicians, calls, medical conditions, soft delete.

Every service is keyword-only, atomic, validates before it writes (a ``ValidationError`` leaves
nothing behind), reports clashes with existing data as ``ConflictError`` carrying the existing id,
and names its actor in the audit trail.

The services live in sub-modules by sub-domain and are all importable from here
(``from patients.services import call_log``): ``registration`` (patients), ``leads``, ``physicians``
(and their relationships with patients), ``calls``, ``lookups`` (medical conditions, hospitals,
specializations); ``_common`` holds the input checks and save helpers they share.
"""

from __future__ import annotations

from common.errors import ConflictError  # raised by every service here; kept importable from this module
from patients.models import CallHistory, PatientLead, PatientPhysicianRelationship
from patients.services._common import (
    CLOCK_SKEW,
    MAX_CALL_MINUTES,
    NOTES_MAX_LENGTH,
    check_navigator,
    resolve_medical_condition,
    update_with_person,
)
from patients.services.calls import (
    CALL_EDITABLE_FIELDS,
    call_log,
    call_restore,
    call_update,
    call_void,
)
from patients.services.leads import (
    LEAD_EDITABLE_FIELDS,
    LeadConversion,
    LeadCreation,
    lead_convert,
    lead_create,
    lead_set_status,
    lead_update,
)
from patients.services.lookups import (
    HOSPITAL_EDITABLE_FIELDS,
    MEDICAL_CONDITION_EDITABLE_FIELDS,
    hospital_create,
    hospital_restore,
    hospital_soft_delete,
    hospital_update,
    medical_condition_create,
    medical_condition_restore,
    medical_condition_soft_delete,
    medical_condition_update,
    specialization_create,
    specialization_restore,
    specialization_soft_delete,
    specialization_update,
)
from patients.services.physicians import (
    PHYSICIAN_EDITABLE_FIELDS,
    PhysicianRegistration,
    patient_physician_end,
    patient_physician_link,
    physician_register,
    physician_restore,
    physician_soft_delete,
    physician_update,
)
from patients.services.registration import (
    PATIENT_EDITABLE_FIELDS,
    PatientRegistration,
    patient_register,
    patient_restore,
    patient_soft_delete,
    patient_update,
)

# The services that create and change these models, whose names are not ``<model>_create`` /
# ``_update`` / ``_register``: the admin saves through them (tests/common/test_admin_services.py).
WRITE_SERVICES = {
    PatientLead: (lead_create, lead_update),
    PatientPhysicianRelationship: (patient_physician_link, patient_physician_end),
    CallHistory: (call_log, call_update),
}


__all__ = [
    "ConflictError",
    "CALL_EDITABLE_FIELDS",
    "call_log",
    "call_restore",
    "call_update",
    "call_void",
    "check_navigator",
    "CLOCK_SKEW",
    "hospital_create",
    "HOSPITAL_EDITABLE_FIELDS",
    "hospital_restore",
    "hospital_soft_delete",
    "hospital_update",
    "lead_convert",
    "lead_create",
    "LEAD_EDITABLE_FIELDS",
    "lead_set_status",
    "lead_update",
    "LeadConversion",
    "LeadCreation",
    "MAX_CALL_MINUTES",
    "medical_condition_create",
    "MEDICAL_CONDITION_EDITABLE_FIELDS",
    "medical_condition_restore",
    "medical_condition_soft_delete",
    "medical_condition_update",
    "NOTES_MAX_LENGTH",
    "PATIENT_EDITABLE_FIELDS",
    "patient_physician_end",
    "patient_physician_link",
    "patient_register",
    "patient_restore",
    "patient_soft_delete",
    "patient_update",
    "PatientRegistration",
    "PHYSICIAN_EDITABLE_FIELDS",
    "physician_register",
    "physician_restore",
    "physician_soft_delete",
    "physician_update",
    "PhysicianRegistration",
    "resolve_medical_condition",
    "specialization_create",
    "specialization_restore",
    "specialization_soft_delete",
    "specialization_update",
    "update_with_person",
    "WRITE_SERVICES",
]
