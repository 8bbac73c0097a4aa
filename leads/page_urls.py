"""Manager pages of the leads app; mounted at /settings/ in config/urls.py."""

from django.urls import path

from . import views

urlpatterns = [
    path("mail/", views.InboundMailListView.as_view(), name="inbound_mail"),
    path("mail/<int:pk>/promote/", views.InboundMailPromoteView.as_view(), name="inbound_mail_promote"),
]
