"""Team API for personal data, mounted at /api/v1/team/."""

from django.urls import path

from . import api

urlpatterns = [
    path("customers/<int:pk>/export/", api.CustomerExportView.as_view(), name="team-customer-export"),
    path("customers/<int:pk>/erase/", api.CustomerEraseView.as_view(), name="team-customer-erase"),
    path("privacy/", api.PrivacySettingsView.as_view(), name="team-privacy"),
]
