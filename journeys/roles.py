"""Model permissions of the journey models for each role (merged by ``common.roles``).

The timeline (``journeystatuschange``) is written only by the journey services, so everyone merely
views it; a supervisor's ``delete`` on a journey is a soft delete with a reason.
"""

from common import roles

PERMISSIONS = {
    roles.PATIENT_NAVIGATORS: {
        "journeys.clinicaltrialjourney": roles.WORK,
        "journeys.eapjourney": roles.WORK,
        "journeys.journeystatuschange": roles.VIEW,
    },
    roles.CRM_SUPERVISORS: {
        "journeys.clinicaltrialjourney": roles.FULL,
        "journeys.eapjourney": roles.FULL,
        "journeys.journeystatuschange": roles.VIEW,
    },
    roles.CPSS: {},
    roles.CM_SUPERVISORS: {},
}
