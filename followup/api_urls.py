"""The team API, mounted at /api/v1/team/."""

from django.urls import path

from . import api

urlpatterns = [
    path("leads/", api.LeadListView.as_view(), name="team-leads"),
    path("leads/<uuid:pk>/", api.LeadDetailView.as_view(), name="team-lead-detail"),
    path("leads/<uuid:pk>/attempts/", api.AttemptCreateView.as_view(), name="team-lead-attempts"),
    path("leads/<uuid:pk>/appointments/", api.AppointmentCreateView.as_view(), name="team-lead-appointments"),
    path("leads/<uuid:pk>/appointments/<int:appointment_id>/outcome/", api.AppointmentOutcomeView.as_view(),
         name="team-lead-appointment-outcome"),
    path("leads/<uuid:pk>/close/", api.LeadCloseView.as_view(), name="team-lead-close"),
    path("leads/<uuid:pk>/handover/", api.LeadHandoverView.as_view(), name="team-lead-handover"),
    path("leads/<uuid:pk>/score/", api.LeadScoreView.as_view(), name="team-lead-score"),
    path("bdc/next/", api.BdcNextView.as_view(), name="team-bdc-next"),
    path("policy/", api.PolicyView.as_view(), name="team-policy"),
    path("notifications/", api.NotificationListView.as_view(), name="team-notifications"),
    path("notifications/read/", api.NotificationReadView.as_view(), name="team-notifications-read"),
    path("push-subscriptions/", api.PushSubscriptionListView.as_view(), name="team-push-subscriptions"),
    path("push-subscriptions/<int:pk>/", api.PushSubscriptionDetailView.as_view(), name="team-push-subscription"),
]
