"""CM programs (contingency_management)."""

from __future__ import annotations

from rest_framework import serializers

from cm_program.api.serializers._common import NAME_MAX, NOTES_MAX, POINTS_LIMIT, text
from cm_program.models import (
    CMProgram,
)
from common.api.serializers import StrictCharField, StrictInputSerializer, StrictModelSerializer


class CMProgramSerializer(StrictModelSerializer):
    class Meta:
        model = CMProgram
        fields = ("id", "name", "description", "is_active", *CMProgram.SCHEDULE_FIELDS, "created_at", "updated_at")
        read_only_fields = fields


def _points_setting() -> serializers.IntegerField:
    return serializers.IntegerField(required=False, min_value=0, max_value=POINTS_LIMIT)


class CMProgramInputSerializer(StrictInputSerializer):
    name = StrictCharField(max_length=NAME_MAX)
    description = text(NOTES_MAX)
    is_active = serializers.BooleanField(required=False)
    points_group_attendance = _points_setting()
    points_negative_test_base = _points_setting()
    points_negative_test_increment = _points_setting()
    points_negative_test_cap = _points_setting()
    points_weekly_checkin = _points_setting()
    points_peer_support = _points_setting()
    points_enrollment_bonus = _points_setting()
