from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DealersConfig(AppConfig):
    name = "dealers"
    verbose_name = _("Dealers and people")

    def ready(self):
        from . import schema  # noqa: F401  registers the Api-Key scheme with drf-spectacular
