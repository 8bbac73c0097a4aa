"""Manager settings pages of the follow-up app; mounted at /settings/ in config/urls.py."""

from django.urls import path, re_path

from . import import_views

urlpatterns = [
    path("import/", import_views.LeadImportView.as_view(), name="lead_import"),
    re_path(r"^import/(?P<sha256>[0-9a-f]{64})/$", import_views.LeadImportPreviewView.as_view(), name="lead_import_preview"),
    path("import/result/<int:pk>/", import_views.LeadImportResultView.as_view(), name="lead_import_result"),
    path("telephony/", import_views.TelephonySettingsView.as_view(), name="telephony_settings"),
]
