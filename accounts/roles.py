"""What the login-security models give each role (merged by ``common.roles``).

Supervisors may see and lift the login lockouts of their own program's staff (the scope is applied in
``accounts.selectors.lockouts_visible_to``) and read the record of unlocks. ``delete`` on a lockout
is what the admin's recorded "unlock" action needs; nothing deletes lockouts without recording it.
"""

from common import roles

_SUPERVISOR = {
    "accounts.loginlockout": ("view", "delete"),
    "accounts.loginunlock": roles.VIEW,
}

PERMISSIONS = {
    roles.PATIENT_NAVIGATORS: {},
    roles.CRM_SUPERVISORS: dict(_SUPERVISOR),
    roles.CPSS: {},
    roles.CM_SUPERVISORS: dict(_SUPERVISOR),
}
