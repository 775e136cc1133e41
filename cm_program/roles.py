"""Model permissions that the CM models give each role (merged by ``common.roles``).

Which rows a CPSS sees within these models (their own caseload only) is the scope applied by
``cm_program.selectors.*_visible_to``, in the admin and the API alike.
"""

from common import roles

CM_MODELS = (
    "cm_program.canonicalpatient",
    "cm_program.cmpatient",
    "cm_program.intakeqpatient",
    "cm_program.intakeqlink",
    "cm_program.cmprovider",
    "cm_program.cmprogram",
    "cm_program.cmenrollment",
)
LEDGER = "cm_program.cmpointstransaction"
# The matching's review queue: CM supervisors decide (change = link or reject); rows are made by imports.
MATCH_CANDIDATES = "cm_program.intakeqmatchcandidate"
# The queue of possible duplicate canonical patients: CM supervisors decide ("not the same person"); rows are
# made by find_duplicates.
DUPLICATE_PAIRS = "cm_program.canonicalpatientduplicatepair"
# The ledger is append-only: nobody changes or deletes an entry (the database refuses it as well).
RECORD = ("view", "add")

PERMISSIONS = {
    # Patient navigation sees no CM data.
    roles.PATIENT_NAVIGATORS: {},
    roles.CRM_SUPERVISORS: {},
    # A CPSS records events (ledger entries) and manages their patients' enrollments (status, notes).
    roles.CPSS: {
        **dict.fromkeys(CM_MODELS, roles.VIEW),
        "cm_program.cmenrollment": ("view", "change"),
        LEDGER: RECORD,
    },
    roles.CM_SUPERVISORS: {
        **dict.fromkeys(CM_MODELS, roles.FULL),
        # ... and merge duplicate canonical patients (and undo merges): cm_program/services/merge.py.
        "cm_program.canonicalpatient": (*roles.FULL, "merge"),
        LEDGER: RECORD,
        MATCH_CANDIDATES: ("view", "change"),
        DUPLICATE_PAIRS: ("view", "change"),
    },
}
