"""Routes under /api/v1/cm/. Route names carry a ``cm-`` prefix: the patient-navigation API has its own
``patients`` and ``providers``-like names under the same URL namespace."""

from django.urls import re_path

from cm_program.api import views
from common.api.routers import OptionalSlashRouter
from common.api.views import UUID_PATTERN

# Like every route of the API, each path answers with and without its trailing slash (no redirect).
router = OptionalSlashRouter()
router.register("canonical-patients", views.CanonicalPatientViewSet, basename="cm-canonical-patient")
router.register("merges", views.CanonicalPatientMergeLogViewSet, basename="cm-merge")
router.register("patients", views.CMPatientViewSet, basename="cm-patient")
router.register("providers", views.CMProviderViewSet, basename="cm-provider")
router.register("programs", views.CMProgramViewSet, basename="cm-program")
router.register("enrollments", views.CMEnrollmentViewSet, basename="cm-enrollment")
router.register(
    rf"enrollments/(?P<enrollment_id>{UUID_PATTERN})/ledger", views.CMLedgerViewSet, basename="cm-ledger-entry"
)
router.register("intakeq-patients", views.IntakeQPatientViewSet, basename="cm-intakeq-patient")
router.register("intakeq-links", views.IntakeQLinkViewSet, basename="cm-intakeq-link")
router.register("intakeq-match-candidates", views.IntakeQMatchCandidateViewSet, basename="cm-intakeq-match-candidate")
router.register("dual-enrollments", views.DualEnrollmentViewSet, basename="cm-dual-enrollment")

urlpatterns = [
    re_path(r"^enroll/?$", views.EnrollNewView.as_view(), name="cm-enroll"),
    re_path(r"^enroll-from-intakeq/?$", views.EnrollFromIntakeQView.as_view(), name="cm-enroll-from-intakeq"),
    re_path(r"^reports/patient-pool/?$", views.PatientPoolView.as_view(), name="cm-report-patient-pool"),
    *router.urls,
]
