from common.api.routers import OptionalSlashRouter
from people.api.views import ContactTypeViewSet, PersonMergeLogViewSet, PersonMergeRequestViewSet, PersonViewSet

router = OptionalSlashRouter()
router.register("persons", PersonViewSet, basename="person")
router.register("contact-types", ContactTypeViewSet, basename="contact-type")
router.register("merges", PersonMergeLogViewSet, basename="person-merge")
router.register("merge-requests", PersonMergeRequestViewSet, basename="person-merge-request")

urlpatterns = router.urls
