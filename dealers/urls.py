from django.contrib.auth import views as auth_views
from django.urls import path

from . import security_views, views

urlpatterns = [
    path("", views.HomeView.as_view(), name="home"),
    path("switch-dealer/", views.SwitchDealerView.as_view(), name="switch_dealer"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/two-factor/", security_views.TwoFactorAccountView.as_view(), name="two_factor"),
    path("accounts/two-factor/setup/", security_views.TwoFactorSetupView.as_view(), name="two_factor_setup"),
    path("accounts/two-factor/verify/", security_views.TwoFactorVerifyView.as_view(), name="two_factor_verify"),
    path("accounts/password-reset/", views.LimitedPasswordResetView.as_view(), name="password_reset"),
    path("accounts/password-reset/done/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path("accounts/reset/<uidb64>/<token>/", auth_views.PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path("accounts/invitation/<str:token>/", views.InvitationAcceptView.as_view(), name="invitation_accept"),
    path("accounts/reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
]
