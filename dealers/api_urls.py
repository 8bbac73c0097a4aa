from django.urls import path

from . import api_views

urlpatterns = [
    path("auth/token/", api_views.TokenObtainView.as_view(), name="api-auth-token"),
    path("auth/tokens/", api_views.TeamTokenListView.as_view(), name="api-auth-tokens"),
    path("auth/tokens/<uuid:token_id>/", api_views.TeamTokenDetailView.as_view(), name="api-auth-token-detail"),
]
