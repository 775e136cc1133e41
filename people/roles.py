"""Model permissions that the people app's models give each role (merged by ``common.roles``).

Navigators never get ``delete``: people are soft-deleted (with a reason) by supervisors through the
services, and role periods are closed, never removed.
"""

from common import roles

PERMISSIONS = {
    roles.PATIENT_NAVIGATORS: {
        "people.person": roles.WORK,
        "people.contacttype": roles.VIEW,
        "people.personcontacttype": roles.WORK,
        # The queue of possible duplicates (made by find_duplicates): a navigator decides "not the same
        # person" within their scope; the merge is the supervisors'.
        "people.personduplicatepair": ("view", "change"),
        # Navigators ask for merges; a CRM supervisor decides (people/merge.py).
        "people.personmergerequest": ("view", "add"),
    },
    roles.CRM_SUPERVISORS: {
        # ... and merge duplicates (and undo merges): people/merge.py.
        "people.person": (*roles.FULL, "merge"),
        "people.contacttype": roles.FULL,
        "people.personcontacttype": roles.WORK,
        "people.personduplicatepair": ("view", "change"),
        "people.personmergerequest": ("view", "change"),
    },
    # CPSS and CM supervisors reach people only through CM records (canonical patient -> Person).
    roles.CPSS: {},
    roles.CM_SUPERVISORS: {},
}
