"""The review queue of the IntakeQ matching: candidate pairs and the decision on one."""

from __future__ import annotations

from rest_framework import serializers

from cm_program.api.serializers._common import CanonicalPatientSummarySerializer, IntakeQPatientSummarySerializer
from cm_program.models import IntakeQMatchCandidate
from common.api.serializers import StrictCharField, StrictInputSerializer, StrictModelSerializer


class MatchComponentsSerializer(serializers.Serializer):
    """The parts of the score (docs/MIGRATION.md, section 3); a part the row lacks is left out."""

    name = serializers.FloatField(required=False, help_text="1: names equal ignoring case, accents, spaces.")
    first_name = serializers.FloatField(required=False, help_text="Trigram similarity of the first names.")
    last_name = serializers.FloatField(required=False, help_text="Trigram similarity of the last names.")
    same_name = serializers.BooleanField(required=False)
    date_of_birth = serializers.ChoiceField(choices=["exact", "transposed", "different", "missing"], required=False)
    email = serializers.CharField(required=False, help_text="agrees, differs or missing (on either side).")
    phone = serializers.CharField(required=False, help_text="agrees, differs or missing (last 10 digits).")


class CMIntakeQMatchCandidateSerializer(StrictModelSerializer):
    canonical_patient_detail = CanonicalPatientSummarySerializer(source="canonical_patient", read_only=True)
    intakeq_patient_detail = IntakeQPatientSummarySerializer(source="intakeq_patient", read_only=True)
    score = serializers.DecimalField(max_digits=3, decimal_places=2, coerce_to_string=False, read_only=True)
    components = MatchComponentsSerializer(read_only=True)
    decided_by_username = StrictCharField(source="decided_by.username", read_only=True, allow_null=True)

    class Meta:
        model = IntakeQMatchCandidate
        fields = (
            "id",
            "canonical_patient",
            "canonical_patient_detail",
            "intakeq_patient",
            "intakeq_patient_detail",
            "score",
            "band",
            "components",
            "status",
            "decided_by",
            "decided_by_username",
            "decided_at",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


class CMMatchDecisionSerializer(StrictInputSerializer):
    """No body is needed: the decision is the URL (accept or reject); any field sent is refused by name."""
