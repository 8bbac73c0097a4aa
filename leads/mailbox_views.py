"""Manager page: the dealer's own mailbox (connect with a connection test, its state, the mails it brought in).

Mounted at /settings/mailbox/ in config/urls.py beside the other settings pages. Managers and group admins only;
another dealer's mailbox or mail is a 404 because every object is looked up through the scoped queryset.
"""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views import View

from dealers.access import MANAGING_ROLES
from dealers.views import DealerScopedMixin

from .mailbox import MailboxError, mailbox_check, mailbox_connect, mailbox_set_active
from .mailbox_forms import MailboxForm
from .models import Mailbox
from .selectors import mails_recent

RECENT_MAILS = 50


class MailboxSettingsMixin(DealerScopedMixin):
    allowed_roles = MANAGING_ROLES

    def get_scoped_queryset(self):
        return Mailbox.objects.for_access(self.access).order_by("pk")


class MailboxSettingsView(MailboxSettingsMixin, View):
    """GET: the mailboxes and the newest mails. POST: test the connection, or test and connect."""

    template_name = "leads/mailbox_settings.html"

    def _render(self, form, check=None, status=200):
        dealer = self.access.dealer
        return render(self.request, self.template_name, {
            "dealer": dealer, "section": "mailbox", "form": form, "check": check,
            "mailboxes": list(self.get_queryset()),
            "mails": mails_recent(dealer=dealer, limit=RECENT_MAILS),
        }, status=status)

    def get(self, request):
        return self._render(MailboxForm())

    def post(self, request):
        form = MailboxForm(request.POST)
        if not form.is_valid():
            return self._render(form, status=400)
        server = form.server()
        try:
            check = mailbox_check(server=server)  # also before saving: a mailbox is stored only once it answers
        except MailboxError as exc:
            form.add_error(None, str(exc))
            return self._render(form, status=400)
        if request.POST.get("action") != "connect":
            return self._render(form, check=check)
        mailbox_connect(dealer=self.access.dealer, server=server, after_read=form.cleaned_data["after_read"],
                        by=request.user)
        messages.success(request, ngettext(
            "Mailbox connected. The %(count)d mail in the folder is read within a minute.",
            "Mailbox connected. The %(count)d mails in the folder are read within a minute.",
            check.messages) % {"count": check.messages})
        return redirect("mailbox_settings")


class MailboxActiveView(MailboxSettingsMixin, View):
    """Turn reading a mailbox off (it stays listed with its mails) or on again."""

    def post(self, request, pk):
        mailbox = get_object_or_404(self.get_queryset(), pk=pk)
        active = request.POST.get("active") == "1"
        mailbox_set_active(mailbox=mailbox, active=active)
        messages.success(request, _("The mailbox is read again.") if active else _("The mailbox is no longer read."))
        return redirect("mailbox_settings")
