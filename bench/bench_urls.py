"""The product's URLs plus /bench/bare/: a DRF endpoint that only stores one row — the intake benchmark's yardstick."""

from django.db import connection
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import urlpatterns as product_urlpatterns


class BareStoreView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    def post(self, request):
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO bench_row (body) VALUES (%s) RETURNING id", [request.body.decode()])
            row_id = cursor.fetchone()[0]
        return Response({"id": row_id}, status=201)


urlpatterns = [path("bench/bare/", BareStoreView.as_view()), *product_urlpatterns]
