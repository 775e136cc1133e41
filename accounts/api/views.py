"""The caller's own API token: see when it expires, rotate it, revoke it."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from common.api.serializers import refuse_body


class TokenStatusSerializer(serializers.Serializer):
    created = serializers.DateTimeField(help_text="When the token was issued or last rotated.")
    expires = serializers.DateTimeField(help_text="After this the token answers 401 (API_TOKEN_TTL_DAYS).")
    expired = serializers.BooleanField()


class NewTokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="The new key. It is shown once; the previous key is dead.")
    created = serializers.DateTimeField()
    expires = serializers.DateTimeField()


class ApiTokenView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["auth"],
        summary="Your API token: when it was issued and when it expires",
        responses={200: TokenStatusSerializer},
    )
    def get(self, request):
        token = selectors.api_token_status(request.user)
        if token is None:
            raise NotFound("You have no API token.")
        data = {"created": token.created, "expires": token.expires, "expired": token.expired}
        return Response(TokenStatusSerializer(data).data)

    @extend_schema(
        tags=["auth"],
        summary="Revoke your API token (it answers 401 from now on)",
        request=None,
        responses={204: OpenApiResponse(description="Revoked.")},
    )
    def delete(self, request):
        refuse_body(request)
        if not services.api_token_revoke(user=request.user, actor=request.user):
            raise NotFound("You have no API token.")
        return Response(status=status.HTTP_204_NO_CONTENT)


class ApiTokenRotateView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["auth"],
        summary="Replace your API token with a new one; the old key stops at once",
        request=None,
        responses={200: NewTokenSerializer},
    )
    def post(self, request):
        refuse_body(request)
        token = services.api_token_rotate(user=request.user)
        data = {"token": token.key, "created": token.created, "expires": selectors.token_expires_at(token)}
        return Response(NewTokenSerializer(data).data)
