"""A CM program (the document's ``contingency_management``) and its reinforcement schedule."""

from __future__ import annotations

import pghistory
from django.db import models
from django.db.models import F, Q

from cm_program.models.base import CMModel
from common.db import name_key


@pghistory.track()
class CMProgram(CMModel):
    """A CM program (the document's ``contingency_management``) and its reinforcement schedule.

    The schedule is stored as integer columns rather than a JSON document so that PostgreSQL checks
    each value (never negative, cap not below base) and the admin edits them as plain fields.
    Negative drug tests follow an escalating schedule with reset: the first verified negative earns
    ``points_negative_test_base``, each consecutive one ``points_negative_test_increment`` more, up to
    ``points_negative_test_cap``; a positive or missed test resets the streak and the value to the base.
    """

    name = models.TextField(unique=True)
    description = models.TextField(null=True, blank=True)
    is_active = models.BooleanField(default=True, db_default=True)
    points_group_attendance = models.IntegerField(default=25, db_default=25)
    points_negative_test_base = models.IntegerField(default=50, db_default=50)
    points_negative_test_increment = models.IntegerField(default=10, db_default=10)
    points_negative_test_cap = models.IntegerField(default=100, db_default=100)
    points_weekly_checkin = models.IntegerField(default=10, db_default=10)
    points_peer_support = models.IntegerField(default=20, db_default=20)
    points_enrollment_bonus = models.IntegerField(default=25, db_default=25)

    SCHEDULE_FIELDS = (
        "points_group_attendance",
        "points_negative_test_base",
        "points_negative_test_increment",
        "points_negative_test_cap",
        "points_weekly_checkin",
        "points_peer_support",
        "points_enrollment_bonus",
    )

    class Meta:
        db_table = "contingency_management"
        ordering = ["name"]
        verbose_name = "CM program"
        constraints = [
            # The document's UNIQUE(name) compares exactly; "Moonlit CM" and "moonlit cm" are one program.
            models.UniqueConstraint(
                name_key("name"),
                name="contingency_management_name_ci_uniq",
                violation_error_message="A CM program with this name already exists.",
            ),
            models.CheckConstraint(
                condition=Q(
                    points_group_attendance__gte=0,
                    points_negative_test_base__gte=0,
                    points_negative_test_increment__gte=0,
                    points_negative_test_cap__gte=0,
                    points_weekly_checkin__gte=0,
                    points_peer_support__gte=0,
                    points_enrollment_bonus__gte=0,
                ),
                name="contingency_management_points_not_negative",
                violation_error_message="Point values cannot be negative.",
            ),
            models.CheckConstraint(
                condition=Q(points_negative_test_cap__gte=F("points_negative_test_base")),
                name="contingency_management_cap_not_below_base",
                violation_error_message="The cap of the negative-test schedule cannot be below its base value.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def negative_test_points(self, *, streak_before: int) -> int:
        """Points for a verified negative test after ``streak_before`` consecutive negatives."""
        value = self.points_negative_test_base + self.points_negative_test_increment * max(streak_before, 0)
        return min(value, self.points_negative_test_cap)
