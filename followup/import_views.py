"""Manager pages: import passive leads from a CSV (upload → check → confirm → result) and the telephony webhook secret.

The worker checks and imports the file (a big one takes longer than a web request may); the page shows where it is
and refreshes itself until there is something to read or to confirm.
"""

from django import forms
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View

from dealers.access import MANAGING_ROLES
from dealers.views import DealerScopedMixin
from leads.models import Reason

from .imports import import_confirm, import_upload
from .models import ImportStatus, LeadImport, TelephonyEndpoint, TelephonyEvent
from .telephony import ENDPOINT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, telephony_endpoint_create, telephony_secret_rotate

MAX_UPLOAD_BYTES = 25 * 1024 * 1024  # ~200,000 rows; a bigger export should be split
RECENT = 20
REFRESH_SECONDS = 2


REASON_LABELS = dict(Reason.choices)  # lazy labels: translated when rendered


def _reason_counts(counts_by_reason: dict) -> list[tuple]:
    return [(REASON_LABELS.get(reason, reason), n) for reason, n in counts_by_reason.items()]


class LeadImportForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("CSV file"),
                           help_text=gettext_lazy("Separated by ; or , as Excel saves it (CSV). At most 25 MB."))
    default_reason = forms.ChoiceField(
        label=gettext_lazy("Reason for rows without one"), required=False,
        choices=[("", gettext_lazy("(every row has a reason)")), *Reason.choices])

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(_("The file is larger than 25 MB; split it into smaller files."))
        return upload


class LeadImportView(DealerScopedMixin, View):
    """Upload a CSV; the recent imports below."""

    allowed_roles = MANAGING_ROLES
    template_name = "followup/import/upload.html"

    def get_scoped_queryset(self):
        return (LeadImport.objects.for_access(self.access).select_related("uploaded_by")
                .defer("content", "summary")  # a file can be 25 MB
                .order_by("-created_at", "-pk"))

    def _render(self, form):
        return render(self.request, self.template_name, {"form": form, "imports": self.get_queryset()[:RECENT]})

    def get(self, request):
        return self._render(LeadImportForm())

    def post(self, request):
        form = LeadImportForm(request.POST, request.FILES)
        if not form.is_valid():
            return self._render(form)
        upload = form.cleaned_data["file"]
        lead_import = import_upload(dealer=self.access.dealer, by=request.user, content=upload.read(), filename=upload.name,
                                    default_reason=form.cleaned_data["default_reason"], language=translation.get_language())
        return redirect("lead_import_detail", pk=lead_import.pk)


class LeadImportDetailView(DealerScopedMixin, View):
    """One upload wherever it is: being checked, the check (confirm imports it), being imported, the result."""

    allowed_roles = MANAGING_ROLES

    def get_scoped_queryset(self):
        return LeadImport.objects.for_access(self.access).select_related("uploaded_by").defer("content")

    def get(self, request, pk):
        lead_import = get_object_or_404(self.get_queryset(), pk=pk)
        if lead_import.status in (ImportStatus.CHECKING, ImportStatus.QUEUED):
            return render(request, "followup/import/waiting.html", {"lead_import": lead_import, "refresh": REFRESH_SECONDS})
        if lead_import.status == ImportStatus.DONE:
            return self.render_result(lead_import)
        return self.render_check(lead_import)

    def post(self, request, pk):
        lead_import = get_object_or_404(self.get_queryset(), pk=pk)
        if not import_confirm(lead_import=lead_import) and lead_import.status == ImportStatus.FAILED:
            return self.render_check(lead_import, status=400)  # a file with errors is never imported
        return redirect("lead_import_detail", pk=lead_import.pk)  # on its way (or already done): show where it is

    def render_check(self, lead_import: LeadImport, status: int = 200):
        preview = lead_import.summary  # empty when it failed before the check could say anything
        return render(self.request, "followup/import/preview.html", {
            "lead_import": lead_import, "preview": preview,
            "errors_not_shown": preview.get("error_rows", 0) - len(preview.get("errors", [])),
            "counts": _reason_counts(preview.get("counts_by_reason", {})),
            "default_reason_label": REASON_LABELS.get(preview.get("default_reason", ""), ""),
            "can_import": lead_import.status == ImportStatus.CHECKED,
        }, status=status)

    def render_result(self, lead_import: LeadImport):
        return render(self.request, "followup/import/result.html",
                      {"lead_import": lead_import, "counts": _reason_counts(lead_import.counts_by_reason)})


class TelephonySettingsView(DealerScopedMixin, View):
    """The call-tracking webhook: endpoint id, secret (create, rotate) and the last events received."""

    allowed_roles = MANAGING_ROLES
    template_name = "followup/import/telephony.html"

    def get_scoped_queryset(self):
        return (TelephonyEvent.objects.for_access(self.access).select_related("lead", "attempt")
                .order_by("-received_at", "-pk"))

    def get(self, request):
        return render(request, self.template_name, {
            "endpoint": TelephonyEndpoint.objects.for_dealer(self.access.dealer).first(),
            "events": self.get_queryset()[:RECENT],
            "webhook_url": request.build_absolute_uri(reverse("telephony-events")),
            "endpoint_header": ENDPOINT_HEADER, "timestamp_header": TIMESTAMP_HEADER, "signature_header": SIGNATURE_HEADER,
        })

    def post(self, request):
        if request.POST.get("action") == "rotate":
            telephony_secret_rotate(dealer=self.access.dealer, by=request.user)
            messages.success(request, _("A new secret is active; the old one no longer works. Give the new one to your "
                                        "telephony provider now."))
        else:
            telephony_endpoint_create(dealer=self.access.dealer, by=request.user)
        return redirect("telephony_settings")
