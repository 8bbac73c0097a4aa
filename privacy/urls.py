"""The manager's privacy pages, mounted at /settings/ in config/urls.py."""

from django.urls import path

from . import views

urlpatterns = [
    path("privacy/", views.PrivacySettingsView.as_view(), name="privacy_settings"),
    path("privacy/customers/", views.CustomerSearchView.as_view(), name="privacy_customers"),
    path("privacy/customers/<int:pk>/", views.CustomerDetailView.as_view(), name="privacy_customer"),
    path("privacy/customers/<int:pk>/export.json", views.CustomerExportDownloadView.as_view(), name="privacy_customer_export"),
    path("privacy/customers/<int:pk>/erase/", views.CustomerEraseView.as_view(), name="privacy_customer_erase"),
]
