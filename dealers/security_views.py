"""The second sign-in step (authenticator app + recovery codes) and the account's security page."""

import uuid
from base64 import b32encode

import qrcode
import qrcode.image.svg
from django import forms
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views import View
from django.views.decorators.cache import never_cache
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice

from . import services
from .selectors import authenticator_for, team_token_list, user_must_use_second_factor


class CodeForm(forms.Form):
    code = forms.CharField(label=_("Code"), max_length=64, strip=True,
                           widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "text",
                                                         "autofocus": True, "spellcheck": "false"}))


def _safe_next(request, fallback: str = "home") -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        return reverse(fallback)
    return target


def _qr_svg(text: str) -> str:
    """The enrolment link as an inline SVG (no external image, nothing for the CSP to allow)."""
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    svg = image.to_string(encoding="unicode")
    return mark_safe(svg.replace("<svg ", '<svg class="qr" aria-hidden="true" focusable="false" ', 1))


def _manual_key(device) -> str:
    """The secret in groups of four, for typing into an app that cannot scan."""
    key = b32encode(device.bin_key).decode()
    return " ".join(key[i:i + 4] for i in range(0, len(key), 4))


@method_decorator(never_cache, name="dispatch")
class TwoFactorSetupView(LoginRequiredMixin, View):
    """Link an authenticator app: scan, type the first code, get the recovery codes once."""

    template_name = "registration/two_factor_setup.html"

    def dispatch(self, request, *args, **kwargs):
        if (request.user.is_authenticated and not request.user.is_verified()
                and authenticator_for(user=request.user) is not None):
            # Replacing an app needs the current one: half-signed-in, only the second step is offered.
            return redirect(f"{reverse('two_factor_verify')}?{request.GET.urlencode()}")
        return super().dispatch(request, *args, **kwargs)

    def _page(self, request, device, form, status=200):
        return render(request, self.template_name, {
            "form": form, "qr_svg": _qr_svg(device.config_url), "manual_key": _manual_key(device),
            "next": _safe_next(request, "two_factor"), "required": user_must_use_second_factor(user=request.user),
        }, status=status)

    def get(self, request):
        return self._page(request, services.second_factor_enrolment_start(user=request.user), CodeForm())

    def post(self, request):
        device = services.second_factor_enrolment_start(user=request.user)
        form = CodeForm(request.POST)
        codes = services.second_factor_enrolment_confirm(device=device, code=form.cleaned_data["code"]) \
            if form.is_valid() else None
        if codes is None:
            form.add_error("code", _("That code is not right. Check the time on your phone and type the newest code."))
            return self._page(request, device, form, status=400)
        request.session.cycle_key()
        otp_login(request, device)
        return render(request, "registration/two_factor_codes.html",
                      {"codes": codes, "next": _safe_next(request, "two_factor"), "just_enrolled": True})


@method_decorator(never_cache, name="dispatch")
class TwoFactorVerifyView(LoginRequiredMixin, View):
    """The second step after the password: a code from the app, or one recovery code."""

    template_name = "registration/two_factor_verify.html"

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and authenticator_for(user=request.user) is None \
                and not StaticDevice.objects.filter(user=request.user, token_set__isnull=False).exists():
            return redirect(f"{reverse('two_factor_setup')}?{request.GET.urlencode()}")
        return super().dispatch(request, *args, **kwargs)

    def get(self, request):
        if request.user.is_verified():
            return redirect(_safe_next(request))
        return render(request, self.template_name, {"form": CodeForm(), "next": _safe_next(request)})

    def post(self, request):
        form = CodeForm(request.POST)
        device = services.second_factor_verify(user=request.user, code=form.cleaned_data["code"]) \
            if form.is_valid() else None
        if device is None:
            form.add_error("code", _("That code is not right, or was used already. Wait for a new code and try again."))
            return render(request, self.template_name, {"form": form, "next": _safe_next(request)}, status=400)
        request.session.cycle_key()
        otp_login(request, device)
        if isinstance(device, StaticDevice):
            left = device.token_set.count()
            messages.warning(request, ngettext(
                "You signed in with a recovery code. %(count)d code is left: set up your app again or make new codes.",
                "You signed in with a recovery code. %(count)d codes are left: set up your app again or make new "
                "codes.", left) % {"count": left})
        return redirect(_safe_next(request))


@method_decorator(never_cache, name="dispatch")
class TwoFactorAccountView(LoginRequiredMixin, View):
    """The account's security page: the second factor, recovery codes, and the team-API tokens per device."""

    template_name = "registration/two_factor.html"

    def get(self, request):
        user = request.user
        return render(request, self.template_name, {
            "authenticator": authenticator_for(user=user),
            "recovery_codes_left": sum(d.token_set.count() for d in StaticDevice.objects.filter(user=user)),
            "required": user_must_use_second_factor(user=user),
            "tokens": team_token_list(user=user),
        })

    def post(self, request):
        user = request.user
        action = request.POST.get("action")
        if action == "new-codes" and authenticator_for(user=user) is not None:
            codes = services.recovery_codes_replace(user=user)
            return render(request, "registration/two_factor_codes.html",
                          {"codes": codes, "next": reverse("two_factor"), "just_enrolled": False})
        if action == "turn-off" and not user_must_use_second_factor(user=user):
            services.second_factor_reset(user=user)
            messages.success(request, _("Two-step sign-in is off."))
        elif action == "revoke-token":
            if services.team_token_revoke(user=user, public_id=_uuid_or_none(request.POST.get("token"))):
                messages.success(request, _("The device is signed out of the team API."))
        return redirect("two_factor")


def _uuid_or_none(value):
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None
