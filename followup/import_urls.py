"""Manager settings pages of the follow-up app; mounted at /settings/ in config/urls.py."""

from django.urls import path

from . import import_views

urlpatterns = [
    path("import/", import_views.LeadImportView.as_view(), name="lead_import"),
    path("import/<int:pk>/", import_views.LeadImportDetailView.as_view(), name="lead_import_detail"),
    path("telephony/", import_views.TelephonySettingsView.as_view(), name="telephony_settings"),
]
