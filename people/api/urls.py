from common.api.routers import OptionalSlashRouter
from people.api.views import ContactTypeViewSet, PersonViewSet

router = OptionalSlashRouter()
router.register("persons", PersonViewSet, basename="person")
router.register("contact-types", ContactTypeViewSet, basename="contact-type")

urlpatterns = router.urls
