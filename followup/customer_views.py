"""A manager's page for the customer record behind a lead: merge it with another customer, or split the lead off.

Reached from the lead page's customer block. Each action is a form POST that calls one service and redirects.
"""

from django import forms as django_forms
from django.contrib import messages
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.generic import TemplateView

from dealers.access import MANAGING_ROLES
from leads.models import Customer
from leads.selectors import customer_contact_points, customer_merge_candidates, leads_workable
from leads.services import CustomerChangeRefused, customer_merge, customer_split

from .views import WorkPage

CUSTOMER_LEADS_SHOWN = 50


class CustomerSearchForm(django_forms.Form):
    q = django_forms.CharField(label=gettext_lazy("Find a customer by name, e-mail or phone"), required=False,
                               max_length=100)


class CustomerMergeForm(django_forms.Form):
    other = django_forms.IntegerField(min_value=1, max_value=2**63 - 1)


class LeadCustomerMixin(WorkPage):
    """The lead (any of this dealer's, for a manager) whose customer record is being changed; another dealer's is a 404."""

    allowed_roles = MANAGING_ROLES

    def get_scoped_queryset(self):
        return leads_workable(access=self.access).select_related("customer")

    def get_lead(self):
        return get_object_or_404(self.get_queryset(), pk=self.kwargs["pk"])


class LeadCustomerView(LeadCustomerMixin, TemplateView):
    template_name = "followup/customer.html"

    def get(self, request, *args, **kwargs):
        context = self.get_context_data(**kwargs)
        return self.render_to_response(context, status=400 if context["search_form"].errors else 200)

    def get_context_data(self, **kwargs):
        lead = self.get_lead()
        customer = lead.customer
        points = customer_contact_points(customer=customer)
        search = CustomerSearchForm(self.request.GET or None)
        query = search.cleaned_data["q"] if search.is_valid() else ""
        leads = list(customer.leads.select_related("assignee").defer("payload", "message", "trade_in")
                     .order_by("-received_at")[:CUSTOMER_LEADS_SHOWN])
        return {**super().get_context_data(**kwargs), **self.notice_context(),
                "lead": lead, "customer": customer, "contact_points": points, "customer_leads": leads,
                "can_split": len(leads) > 1, "search_form": search, "query": query,
                "candidates": customer_merge_candidates(customer=customer, points=points, query=query)}


class LeadCustomerMergeView(LeadCustomerView):
    """Merge another customer of this dealer into the lead's customer."""

    http_method_names = ["post"]

    def post(self, request, pk):
        lead = self.get_lead()
        form = CustomerMergeForm(request.POST)
        if not form.is_valid():  # not a customer id: show the page again, with what is wrong
            context = {**self.get_context_data(pk=pk), "merge_error": _("Choose a customer to merge with.")}
            return self.render_to_response(context, status=400)
        other = get_object_or_404(Customer.objects.for_access(self.access), pk=form.cleaned_data["other"])
        try:
            customer_merge(into=lead.customer, other=other, by=request.user)
        except CustomerChangeRefused as refused:
            messages.error(request, str(refused))
        else:
            messages.success(request, _("%(other)s merged into this customer: their leads and contact details are now "
                                        "here.") % {"other": other})
        return HttpResponseRedirect(reverse("lead_customer", args=[lead.pk]))


class LeadCustomerSplitView(LeadCustomerMixin, View):
    """Give the lead a new customer of its own, built from the contact details given in it."""

    http_method_names = ["post"]

    def post(self, request, pk):
        lead = self.get_lead()
        try:
            customer_split(lead=lead, by=request.user)
        except CustomerChangeRefused as refused:
            messages.error(request, str(refused))
            return HttpResponseRedirect(reverse("lead_customer", args=[lead.pk]))
        messages.success(request, _("This lead now has a customer record of its own."))
        return HttpResponseRedirect(reverse("lead_detail", args=[lead.pk]))
