from django.urls import path

from . import api

urlpatterns = [
    path("summary/", api.ReportSummaryView.as_view(), name="api_report_summary"),
]
