from django.urls import path

from . import api

urlpatterns = [
    path("leads/", api.LeadCreateView.as_view(), name="api-leads-create"),
    path("leads/mail/", api.MailLeadCreateView.as_view(), name="api-leads-mail"),
    path("leads/adf/", api.AdfLeadCreateView.as_view(), name="api-leads-adf"),
    path("leads/<uuid:pk>/", api.LeadReadBackView.as_view(), name="api-leads-detail"),
]
