"""The manager's privacy pages: find a customer, download what is held about them, erase it; the retention periods.

Managers and group admins only (others 403); another dealer's customer is a 404 (looked up through the scope).
Pages with customer data are never cached. Each page validates, calls a service, and redirects or renders.
"""

import json

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.generic import TemplateView

from dealers.access import MANAGING_ROLES
from dealers.views import DealerScopedMixin
from leads.models import ConsentRecord, Lead

from .forms import CustomerSearchForm, EraseConfirmForm, PrivacySettingsForm
from .selectors import customer_queryset, customer_search
from .services import customer_erase, customer_export, privacy_settings_get, privacy_settings_update


@method_decorator(never_cache, name="dispatch")
class PrivacyPage(DealerScopedMixin, TemplateView):
    allowed_roles = MANAGING_ROLES

    def get_scoped_queryset(self):
        return customer_queryset(dealer=self.access.dealer)

    def get_context_data(self, **kwargs):
        kwargs.setdefault("dealer", self.access.dealer)
        kwargs.setdefault("section", "privacy")
        return super().get_context_data(**kwargs)

    def customer(self):
        return get_object_or_404(self.get_queryset(), pk=self.kwargs["pk"])


class CustomerSearchView(PrivacyPage):
    template_name = "privacy/customers.html"

    def get_context_data(self, **kwargs):
        form = CustomerSearchForm(self.request.GET or None)
        query = form.cleaned_data["q"] if form.is_valid() else ""
        results = list(customer_search(dealer=self.access.dealer, query=query)) if query else []
        return super().get_context_data(form=form, query=query, results=results, **kwargs)


class CustomerDetailView(PrivacyPage):
    template_name = "privacy/customer.html"

    def get_context_data(self, **kwargs):
        customer = self.customer()
        leads = list(Lead.objects.for_dealer(self.access.dealer).filter(customer=customer).order_by("-received_at"))
        consents = list(ConsentRecord.objects.for_dealer(self.access.dealer).filter(customer=customer).order_by("-given_at"))
        return super().get_context_data(customer=customer, leads=leads, consents=consents,
                                        erase_form=kwargs.pop("erase_form", None) or EraseConfirmForm(), **kwargs)


class CustomerExportDownloadView(PrivacyPage):
    def get(self, request, *args, **kwargs):
        customer = self.customer()
        data = customer_export(dealer=self.access.dealer, customer=customer, by=request.user)
        response = HttpResponse(json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2),
                                content_type="application/json; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="customer-{customer.pk}.json"'
        return response


class CustomerEraseView(CustomerDetailView):
    template_name = "privacy/customer_erase.html"

    def post(self, request, *args, **kwargs):
        customer = self.customer()
        form = EraseConfirmForm(request.POST)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(erase_form=form, **kwargs))
        customer_erase(dealer=self.access.dealer, customer=customer, by=request.user)
        messages.success(request, _("The customer's personal data is erased. The leads stay as anonymous rows in the figures."))
        return HttpResponseRedirect(reverse("privacy_customer", args=[customer.pk]))


class PrivacySettingsView(PrivacyPage):
    template_name = "privacy/settings.html"

    def get(self, request, *args, **kwargs):
        row = privacy_settings_get(dealer=self.access.dealer)
        form = PrivacySettingsForm(initial={"raw_retention_days": row.raw_retention_days,
                                            "inactive_lead_months": row.inactive_lead_months})
        return self.render_to_response(self.get_context_data(form=form))

    def post(self, request, *args, **kwargs):
        form = PrivacySettingsForm(request.POST)
        if form.is_valid():
            try:
                privacy_settings_update(dealer=self.access.dealer, by=request.user, changes=form.cleaned_data)
            except ValidationError as error:
                form.add_error(None, error)  # the model's clean() names the field
            else:
                messages.success(request, _("The retention periods are saved. The nightly run applies them."))
                return HttpResponseRedirect(reverse("privacy_settings"))
        return self.render_to_response(self.get_context_data(form=form))
