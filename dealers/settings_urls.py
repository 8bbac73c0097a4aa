"""The manager's settings pages, mounted at /settings/ (namespace "settings")."""

from django.urls import path

from . import settings_views as views

app_name = "settings"

urlpatterns = [
    path("", views.OverviewView.as_view(), name="overview"),
    path("policy/", views.PolicyView.as_view(), name="policy"),
    path("routing/", views.RoutingView.as_view(), name="routing"),
    path("hours/", views.HoursView.as_view(), name="hours"),
    path("hours/closing-days/", views.ClosingDayAddView.as_view(), name="closing_day_add"),
    path("hours/closing-days/<int:pk>/remove/", views.ClosingDayRemoveView.as_view(), name="closing_day_remove"),
    path("team/", views.TeamView.as_view(), name="team"),
    path("team/add/", views.TeamAddView.as_view(), name="team_add"),
    path("team/<int:pk>/", views.MemberUpdateView.as_view(), name="member_update"),
    path("team/<int:pk>/invite/", views.MemberInviteView.as_view(), name="member_invite"),
    path("team/invitations/<int:pk>/resend/", views.InvitationResendView.as_view(), name="invitation_resend"),
    path("keys/", views.KeysView.as_view(), name="keys"),
    path("keys/new/", views.KeyCreatedView.as_view(), name="key_created"),
    path("keys/<int:pk>/revoke/", views.KeyRevokeView.as_view(), name="key_revoke"),
    path("scripts/", views.ScriptsView.as_view(), name="scripts"),
    path("scripts/<slug:reason>/", views.ScriptSaveView.as_view(), name="script_save"),
    path("audit/", views.AuditView.as_view(), name="audit"),
]
