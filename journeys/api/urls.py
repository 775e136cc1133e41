from common.api.routers import OptionalSlashRouter
from journeys.api.views import ClinicalTrialJourneyViewSet, EAPJourneyViewSet

router = OptionalSlashRouter()
router.register("ct-journeys", ClinicalTrialJourneyViewSet, basename="ct-journey")
router.register("eap-journeys", EAPJourneyViewSet, basename="eap-journey")

urlpatterns = router.urls
