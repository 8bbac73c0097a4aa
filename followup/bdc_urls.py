"""The BDC desk, mounted at /."""

from django.urls import path

from . import bdc_views as views

urlpatterns = [
    path("bdc/", views.BdcDeskView.as_view(), name="bdc"),
    path("bdc/next/", views.BdcClaimNextView.as_view(), name="bdc_next"),
    path("bdc/leads/<uuid:pk>/", views.BdcLeadView.as_view(), name="bdc_lead"),
    path("bdc/leads/<uuid:pk>/handover/", views.BdcHandoverView.as_view(), name="bdc_handover"),
]
