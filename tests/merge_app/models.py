from __future__ import annotations

from django.db import models


class HomeVisit(models.Model):
    """A record of a kind the merge has never heard of, pointing at a Person."""

    person = models.ForeignKey("people.Person", on_delete=models.PROTECT, related_name="+")
    note = models.TextField(default="")

    class Meta:
        db_table = "merge_app_home_visit"
        verbose_name = "home visit"

    def __str__(self) -> str:
        return f"Home visit of {self.person_id}"
