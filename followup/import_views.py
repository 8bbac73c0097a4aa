"""Manager pages: import passive leads from a CSV (upload → preview → confirm → result) and the telephony webhook secret.

Between preview and confirm the uploaded file waits in the cache (Redis) under the dealer and its SHA-256, so the
manager confirms exactly the file that was checked, without uploading it again.
"""

import hashlib

from django import forms
from django.contrib import messages
from django.core.cache import cache
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.generic import DetailView

from dealers.scope import MANAGING_ROLES
from dealers.views import DealerScopedMixin
from leads.models import Reason

from .imports import ImportInvalid, ImportPreview, import_preview, import_run
from .models import LeadImport, TelephonyEndpoint, TelephonyEvent
from .telephony import ENDPOINT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, telephony_endpoint_create, telephony_secret_rotate

MAX_UPLOAD_BYTES = 25 * 1024 * 1024  # ~200,000 rows; a bigger export should be split
UPLOAD_KEPT_SECONDS = 60 * 60
RECENT = 20
ERRORS_SHOWN = 200


def _upload_key(dealer_id: int, sha256: str) -> str:
    return f"lead-import:{dealer_id}:{sha256}"


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
        return LeadImport.objects.select_related("uploaded_by").order_by("-created_at", "-pk")

    def _render(self, form):
        return render(self.request, self.template_name, {"form": form, "imports": self.get_queryset()[:RECENT]})

    def get(self, request):
        return self._render(LeadImportForm())

    def post(self, request):
        form = LeadImportForm(request.POST, request.FILES)
        if not form.is_valid():
            return self._render(form)
        upload = form.cleaned_data["file"]
        content = upload.read()
        sha256 = hashlib.sha256(content).hexdigest()
        cache.set(_upload_key(self.access.dealer.pk, sha256), {
            "content": content, "filename": upload.name, "default_reason": form.cleaned_data["default_reason"],
        }, UPLOAD_KEPT_SECONDS)
        return redirect("lead_import_preview", sha256=sha256)


class _StoredUploadMixin(DealerScopedMixin):
    allowed_roles = MANAGING_ROLES

    def get_scoped_queryset(self):
        return LeadImport.objects.all()

    def stored_upload(self, sha256: str) -> dict | None:
        # The key carries the dealer: another dealer's upload is simply not there.
        return cache.get(_upload_key(self.access.dealer.pk, sha256))

    def upload_expired(self):
        messages.warning(self.request, _("That upload is no longer available (uploads are kept for an hour). "
                                         "Please upload the file again."))
        return redirect("lead_import")

    def render_preview(self, preview: ImportPreview, status: int = 200):
        reasons = dict(Reason.choices)
        return render(self.request, "followup/import/preview.html", {
            "preview": preview,
            "errors_shown": preview.errors[:ERRORS_SHOWN],
            "errors_not_shown": preview.error_rows - min(len(preview.errors), ERRORS_SHOWN),
            "counts": [(reasons[r], n) for r, n in preview.counts_by_reason.items()],
            "new_count": preview.new_leads,
            "default_reason_label": reasons.get(preview.default_reason, ""),
        }, status=status)


class LeadImportPreviewView(_StoredUploadMixin, View):
    """What the file would import, with every row's errors; confirm imports it (POST)."""

    def get(self, request, sha256):
        stored = self.stored_upload(sha256)
        if stored is None:
            return self.upload_expired()
        preview = import_preview(dealer=self.access.dealer, content=stored["content"], filename=stored["filename"],
                                 default_reason=stored["default_reason"])
        return self.render_preview(preview)

    def post(self, request, sha256):
        stored = self.stored_upload(sha256)
        if stored is None:
            return self.upload_expired()
        try:
            result = import_run(dealer=self.access.dealer, by=request.user, content=stored["content"],
                                filename=stored["filename"], default_reason=stored["default_reason"])
        except ImportInvalid as exc:
            return self.render_preview(exc.preview, status=400)
        cache.delete(_upload_key(self.access.dealer.pk, sha256))
        messages.success(request, _("%(count)s new lead(s) are waiting in the BDC queue.") % {"count": result.created_leads})
        return redirect("lead_import_result", pk=result.pk)


class LeadImportResultView(DealerScopedMixin, DetailView):
    allowed_roles = MANAGING_ROLES
    template_name = "followup/import/result.html"
    context_object_name = "lead_import"

    def get_scoped_queryset(self):
        return LeadImport.objects.select_related("uploaded_by")

    def get_context_data(self, **kwargs):
        reasons = dict(Reason.choices)
        counts = [(reasons.get(r, r), n) for r, n in self.object.counts_by_reason.items()]
        return super().get_context_data(counts=counts, **kwargs)


class TelephonySettingsView(DealerScopedMixin, View):
    """The call-tracking webhook: endpoint id, secret (create, rotate) and the last events received."""

    allowed_roles = MANAGING_ROLES
    template_name = "followup/import/telephony.html"

    def get_scoped_queryset(self):
        return TelephonyEvent.objects.select_related("lead__customer", "attempt").order_by("-received_at", "-pk")

    def get(self, request):
        return render(request, self.template_name, {
            "endpoint": TelephonyEndpoint.objects.filter(dealer=self.access.dealer).first(),
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
