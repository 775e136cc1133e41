from django.urls import re_path

from common.api.routers import OptionalSlashRouter
from patients.api.reports import NavigationReportView
from patients.api.views import (
    CallHistoryViewSet,
    HospitalViewSet,
    MedicalConditionViewSet,
    PatientLeadViewSet,
    PatientViewSet,
    PhysicianViewSet,
    SpecializationViewSet,
)

router = OptionalSlashRouter()
router.register("patients", PatientViewSet, basename="patient")
router.register("call-history", CallHistoryViewSet, basename="call-history")
router.register("medical-conditions", MedicalConditionViewSet, basename="medical-condition")
router.register("leads", PatientLeadViewSet, basename="lead")
router.register("physicians", PhysicianViewSet, basename="physician")
router.register("hospitals", HospitalViewSet, basename="hospital")
router.register("specializations", SpecializationViewSet, basename="specialization")

urlpatterns = [
    *router.urls,
    re_path(r"^reports/navigation/?$", NavigationReportView.as_view(), name="report-navigation"),
]
