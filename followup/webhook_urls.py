from django.urls import path

from .webhooks import TelephonyEventView

urlpatterns = [
    path("events/", TelephonyEventView.as_view(), name="telephony-events"),
]
