"""Patient-navigation admin: the navigators' daily workplace.

The patient page is the hub (contact block, recent calls with a "log a call" form, journeys, treating
physicians, audit history); the patient list opens on "my patients" for a navigator. Every write goes
through ``services``; the custom pages live in ``admin_views``, the list filters in ``admin_filters``.

The admins live in sub-modules by sub-domain; importing this package (Django's admin autodiscovery does)
imports them all, which registers them: ``lookups`` (medical conditions, hospitals, specializations),
``leads``, ``patient`` (the patient list and hub), ``physicians`` (and their relationships with
patients), ``calls``; ``_common`` holds the forms and mixins they share.
"""

from __future__ import annotations

from common.admin import register_dashboard_link
from patients import admin_views, reports
from patients.admin._common import (
    RECORD_FIELDS,
    NavigatorChoiceMixin,
    PersonDetailsForm,
)
from patients.admin.calls import (
    CallHistoryAdmin,
)
from patients.admin.leads import (
    LeadAddForm,
    PatientLeadAdmin,
)
from patients.admin.lookups import (
    HospitalAdmin,
    MedicalConditionAdmin,
    SpecializationAdmin,
)
from patients.admin.patient import (
    PatientAddForm,
    PatientAdmin,
)
from patients.admin.physicians import (
    PatientPhysicianRelationshipAdmin,
    PhysicianAddForm,
    PhysicianAdmin,
    RelationshipForm,
)

# The admin index: each role's way in.
register_dashboard_link(
    title="Navigator caseloads",
    url_name="admin:patients_caseload",
    description="Active patients, recent calls and overdue follow-ups per navigator, with a CSV download.",
    allowed=admin_views.may_see_caseloads,
)
register_dashboard_link(
    title="Navigation report",
    url_name="admin-report-navigation",
    description="Calls, reach rate, outcomes, consults and overdue follow-ups per week and navigator; the pipeline.",
    allowed=reports.may_see_navigation_report,
)
register_dashboard_link(
    title="My patients",
    url_name="admin:patients_patient_changelist",
    description="The patients assigned to you, with their follow-ups and journeys.",
    allowed=admin_views.is_navigator,
)
register_dashboard_link(
    title="My follow-ups due",
    url_name="admin:patients_my_follow_ups",
    description="Your patients whose follow-up date has come.",
    allowed=admin_views.is_navigator,
)


__all__ = [
    "CallHistoryAdmin",
    "HospitalAdmin",
    "LeadAddForm",
    "MedicalConditionAdmin",
    "NavigatorChoiceMixin",
    "PatientAddForm",
    "PatientAdmin",
    "PatientLeadAdmin",
    "PatientPhysicianRelationshipAdmin",
    "PersonDetailsForm",
    "PhysicianAddForm",
    "PhysicianAdmin",
    "RECORD_FIELDS",
    "RelationshipForm",
    "SpecializationAdmin",
]
