from django.urls import path

from . import views

urlpatterns = [
    path("dashboard/", views.DashboardView.as_view(), name="dashboard"),
    path("dashboard/export/<slug:table>.csv", views.ReportExportView.as_view(), name="dashboard_export"),
    path("dashboard/leads/<uuid:pk>/reassign/", views.LeadReassignView.as_view(), name="dashboard_reassign"),
]
