"""Manager page: the mails kept without a lead (auto-replies, bounces, portal marketing, answered calls, unreadable
ones), each with its reason, and the button that makes a lead of one."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views import View
from rest_framework.exceptions import ValidationError

from dealers.access import MANAGING_ROLES
from dealers.views import DealerScopedMixin
from routing.services import lead_route_new

from .mail_intake import mail_promote
from .selectors import mail_list

RECENT = 100


class InboundMailListView(DealerScopedMixin, View):
    allowed_roles = MANAGING_ROLES
    template_name = "leads/mail_list.html"

    def get_scoped_queryset(self):
        return mail_list(dealer=self.access.dealer)

    def get(self, request):
        show_all = request.GET.get("all") == "1"
        mails = mail_list(dealer=self.access.dealer, set_aside_only=not show_all).prefetch_related("leads__customer")
        return render(request, self.template_name, {"mails": mails[:RECENT], "show_all": show_all})


class InboundMailPromoteView(DealerScopedMixin, View):
    allowed_roles = MANAGING_ROLES

    def get_scoped_queryset(self):
        return mail_list(dealer=self.access.dealer)

    def post(self, request, pk):
        mail = get_object_or_404(self.get_queryset(), pk=pk)
        try:
            result = mail_promote(mail=mail, by=request.user, route=lead_route_new)
        except ValidationError:
            messages.error(request, _("This mail names no e-mail address or phone number to follow up."))
            return redirect("inbound_mail")
        if result.created:
            messages.success(request, _("The mail is now a lead."))
        return redirect("lead_detail", pk=result.lead.pk)
