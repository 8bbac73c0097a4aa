"""The salesperson's pages, mounted at /: the inbox, its feed, the lead page and the lead's actions (all POST)."""

from django.urls import path

from . import customer_views, views

urlpatterns = [
    path("inbox/", views.InboxView.as_view(), name="inbox"),
    path("inbox/feed/", views.InboxFeedView.as_view(), name="inbox_feed"),
    path("notices/read/", views.NoticesReadView.as_view(), name="notices_read"),
    path("appointments/", views.AppointmentDayView.as_view(), name="appointments"),
    path("leads/<uuid:pk>/", views.LeadDetailView.as_view(), name="lead_detail"),
    path("leads/<uuid:pk>/attempts/", views.AttemptLogView.as_view(), name="lead_attempt"),
    path("leads/<uuid:pk>/appointments/", views.AppointmentSetView.as_view(), name="lead_appointment"),
    path("leads/<uuid:pk>/appointments/<int:appointment_id>/move/", views.AppointmentMoveView.as_view(),
         name="lead_appointment_move"),
    path("leads/<uuid:pk>/appointments/<int:appointment_id>/outcome/", views.AppointmentOutcomeView.as_view(),
         name="lead_appointment_outcome"),
    path("leads/<uuid:pk>/close/", views.LeadCloseView.as_view(), name="lead_close"),
    path("leads/<uuid:pk>/score/", views.ScoreUpdateView.as_view(), name="lead_score"),
    path("leads/<uuid:pk>/notes/", views.NoteAddView.as_view(), name="lead_note"),
    path("leads/<uuid:pk>/email/", views.CustomerEmailView.as_view(), name="lead_email"),
    path("leads/<uuid:pk>/customer/", customer_views.LeadCustomerView.as_view(), name="lead_customer"),
    path("leads/<uuid:pk>/customer/merge/", customer_views.LeadCustomerMergeView.as_view(), name="lead_customer_merge"),
    path("leads/<uuid:pk>/customer/split/", customer_views.LeadCustomerSplitView.as_view(), name="lead_customer_split"),
]
