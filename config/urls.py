from csp.constants import SELF
from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from followup.health import healthz
from followup.pwa import service_worker

urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("healthz", healthz, name="healthz"),
    path("sw.js", service_worker, name="service_worker"),
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view loads its start-up script from a URL (no inline script); Swagger UI's CSS draws icons as data: SVGs.
    path("api/v1/docs/", csp_update({"img-src": [SELF, "data:"]})(SpectacularSwaggerSplitView.as_view(url_name="api-schema")),
         name="api-docs"),
    path("api/v1/", include("leads.urls")),  # portal API
    path("api/v1/", include("dealers.api_urls")),  # auth token
    path("api/v1/team/", include("followup.api_urls")),  # team API: leads, attempts, appointments, policy
    path("api/v1/team/reports/", include("reporting.api_urls")),
    path("api/v1/team/", include("privacy.api_urls")),  # customers' personal data, retention settings
    path("api/v1/telephony/", include("followup.webhook_urls")),
    path("", include("dealers.urls")),  # home, login, dealer switch
    path("settings/", include("dealers.settings_urls")),  # manager's settings pages
    path("settings/", include("followup.import_urls")),  # lead import, telephony secret
    path("settings/", include("leads.page_urls")),  # inbound mail set aside
    path("settings/", include("leads.mailbox_urls")),  # the dealer's own mailbox (IMAP)
    path("settings/", include("privacy.urls")),  # customers' data, retention
    path("", include("followup.urls")),  # /inbox/, lead pages
    path("", include("followup.bdc_urls")),  # /bdc/
    path("", include("reporting.urls")),  # /dashboard/
]

handler404 = "config.errors.not_found"
handler500 = "config.errors.server_error"
