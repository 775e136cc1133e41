from __future__ import annotations

import datetime as dt

import factory
from django.utils import timezone

from journeys.models import ClinicalTrialJourney, EAPJourney, JourneyStatusChange
from journeys.transitions import CTStatus, EAPStatus
from tests.factories.patients import PatientFactory, PhysicianFactory


class ClinicalTrialJourneyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ClinicalTrialJourney

    patient = factory.SubFactory(PatientFactory)
    referring_physician = factory.SubFactory(PhysicianFactory)
    trial_id = factory.Sequence(lambda n: f"NCT{n:08d}")
    trial_name = factory.Sequence(lambda n: f"Phase II study {n}")
    referral_date = factory.LazyFunction(lambda: timezone.localdate() - dt.timedelta(days=20))
    status = CTStatus.REFERRED


class EAPJourneyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EAPJourney

    patient = factory.SubFactory(PatientFactory)
    physician = factory.SubFactory(PhysicianFactory)
    eap_number = factory.Sequence(lambda n: f"EAP-{n:05d}")
    product = "Investigational compound X"
    status = EAPStatus.PENDING


class JourneyStatusChangeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = JourneyStatusChange

    ct_journey = factory.SubFactory(ClinicalTrialJourneyFactory)
    eap_journey = None
    from_status = ""
    to_status = CTStatus.REFERRED
    note = "Opened"
