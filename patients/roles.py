"""Model permissions of the patient-navigation models for each role (merged by ``common.roles``).

Navigators work with everything here but delete nothing: calls are voided and records soft-deleted
through the services (voiding a call needs only ``change``; soft-deleting a patient, physician or
lookup needs ``delete``, which only supervisors hold). CM staff see none of it.
"""

from common import roles

_MODELS = (
    "patients.medicalcondition",
    "patients.hospital",
    "patients.specialization",
    "patients.patientlead",
    "patients.patient",
    "patients.physician",
    "patients.patientphysicianrelationship",
    "patients.callhistory",
)

PERMISSIONS = {
    roles.PATIENT_NAVIGATORS: {
        **dict.fromkeys(_MODELS, roles.WORK),
        # The condition list is curated by supervisors; navigators pick from it.
        "patients.medicalcondition": roles.VIEW,
    },
    roles.CRM_SUPERVISORS: dict.fromkeys(_MODELS, roles.FULL),
    roles.CPSS: {},
    roles.CM_SUPERVISORS: {},
}
