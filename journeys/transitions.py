"""The journeys' status lists and allowed transitions, as data.

Services refuse any move not listed here; the admin and the API ask ``allowed_next_statuses`` to offer
only legal moves. Final statuses have no way out: a withdrawn patient who comes back starts a new
journey, which keeps each journey's timeline honest.
"""

from __future__ import annotations

from django.db import models


class CTStatus(models.TextChoices):
    REFERRED = "referred", "Referred"
    PRE_SCREENING = "pre_screening", "Pre-screening"
    SCREENING = "screening", "Screening"
    ENROLLED = "enrolled", "Enrolled"
    COMPLETED = "completed", "Completed"
    INELIGIBLE = "ineligible", "Ineligible"
    WITHDRAWN = "withdrawn", "Withdrawn"
    DECLINED = "declined", "Declined"


class EAPStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUBMITTED = "submitted", "Submitted"
    APPROVED = "approved", "Approved"
    ACTIVE = "active", "Active"
    COMPLETED = "completed", "Completed"
    DECLINED = "declined", "Declined"
    WITHDRAWN = "withdrawn", "Withdrawn"


# Clinical trial: the main path, plus exits. Ineligible and declined only make sense before enrolment
# (screening decides eligibility; the patient declines before consenting); a patient can withdraw at any
# point until the trial is completed.
CT_TRANSITIONS: dict[str, tuple[str, ...]] = {
    CTStatus.REFERRED: (CTStatus.PRE_SCREENING, CTStatus.INELIGIBLE, CTStatus.DECLINED, CTStatus.WITHDRAWN),
    CTStatus.PRE_SCREENING: (CTStatus.SCREENING, CTStatus.INELIGIBLE, CTStatus.DECLINED, CTStatus.WITHDRAWN),
    CTStatus.SCREENING: (CTStatus.ENROLLED, CTStatus.INELIGIBLE, CTStatus.DECLINED, CTStatus.WITHDRAWN),
    CTStatus.ENROLLED: (CTStatus.COMPLETED, CTStatus.WITHDRAWN),
    CTStatus.COMPLETED: (),
    CTStatus.INELIGIBLE: (),
    CTStatus.DECLINED: (),
    CTStatus.WITHDRAWN: (),
}

# Expanded access: the request is prepared (pending), submitted to the manufacturer / regulator,
# approved, and the treatment becomes active. "Declined" (by the manufacturer, the regulator or the
# patient) is possible until treatment starts; withdrawal at any point until completion.
EAP_TRANSITIONS: dict[str, tuple[str, ...]] = {
    EAPStatus.PENDING: (EAPStatus.SUBMITTED, EAPStatus.DECLINED, EAPStatus.WITHDRAWN),
    EAPStatus.SUBMITTED: (EAPStatus.APPROVED, EAPStatus.DECLINED, EAPStatus.WITHDRAWN),
    EAPStatus.APPROVED: (EAPStatus.ACTIVE, EAPStatus.DECLINED, EAPStatus.WITHDRAWN),
    EAPStatus.ACTIVE: (EAPStatus.COMPLETED, EAPStatus.WITHDRAWN),
    EAPStatus.COMPLETED: (),
    EAPStatus.DECLINED: (),
    EAPStatus.WITHDRAWN: (),
}

CT_INITIAL = CTStatus.REFERRED
EAP_INITIAL = EAPStatus.PENDING

CT_FINAL = tuple(status for status, targets in CT_TRANSITIONS.items() if not targets)
EAP_FINAL = tuple(status for status, targets in EAP_TRANSITIONS.items() if not targets)


def transitions_for(journey) -> dict[str, tuple[str, ...]]:
    from journeys.models import ClinicalTrialJourney, EAPJourney

    if isinstance(journey, ClinicalTrialJourney):
        return CT_TRANSITIONS
    if isinstance(journey, EAPJourney):
        return EAP_TRANSITIONS
    raise TypeError(f"Not a journey: {journey!r}")


def allowed_next_statuses(journey) -> tuple[str, ...]:
    """The statuses ``journey`` may move to from its current status (empty when it is final)."""
    return transitions_for(journey).get(journey.status, ())
