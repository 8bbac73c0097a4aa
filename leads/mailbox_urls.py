"""The mailbox settings page; mounted at /settings/ in config/urls.py."""

from django.urls import path

from . import mailbox_views as views

urlpatterns = [
    path("mailbox/", views.MailboxSettingsView.as_view(), name="mailbox_settings"),
    path("mailbox/<int:pk>/active/", views.MailboxActiveView.as_view(), name="mailbox_active"),
]
