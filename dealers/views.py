"""Page-view foundations: the dealer scope mixin, the home redirect and the dealer switch."""

from django.contrib.auth import views as auth_views
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View

from .lockout import lockout_response, reset_mail_allowed
from .models import Role
from .scope import DealerAccess, ScopedQuerysetMixin, dealer_accesses, resolve_dealer_access

SESSION_DEALER_KEY = "dealer_slug"


def access_for_page(request) -> DealerAccess:
    """Resolve the dealer once per request: `?dealer=` first, else the one chosen earlier in the session."""
    accesses = dealer_accesses(request.user)
    request.dealer_accesses_list = accesses  # the menu's dealer switch reuses it
    slug = request.GET.get("dealer")
    if slug is None:
        slug = request.session.get(SESSION_DEALER_KEY)
        try:
            access = resolve_dealer_access(request.user, slug, accesses=accesses)
        except Http404:
            access = resolve_dealer_access(request.user, accesses=accesses)  # a stale choice falls back to the first
    else:
        access = resolve_dealer_access(request.user, slug, accesses=accesses)
    if request.session.get(SESSION_DEALER_KEY) != access.dealer.slug:
        request.session[SESSION_DEALER_KEY] = access.dealer.slug  # write the session only when the choice changes
    request.dealer_access = access
    return access


class DealerScopedMixin(LoginRequiredMixin, ScopedQuerysetMixin):
    """For page views: the dealer is resolved before any handler runs; querysets carry the dealer filter."""

    allowed_roles: frozenset | None = None
    access: DealerAccess

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.access = access_for_page(request)
        if self.allowed_roles is not None and self.access.role not in self.allowed_roles:
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def scope_filters(self):
        return {"dealer": self.access.dealer}


HOME_FOR_ROLE = {
    Role.SALESPERSON: "inbox",
    Role.BDC_AGENT: "bdc",
    Role.MANAGER: "dashboard",
    Role.GROUP_ADMIN: "dashboard",
}


class HomeView(LoginRequiredMixin, View):
    """Send each person to where they work."""

    def get(self, request):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        try:
            access = access_for_page(request)
        except Http404:
            if request.user.is_superuser:
                return redirect("admin:index")
            raise
        return redirect(HOME_FOR_ROLE[access.role])


class SwitchDealerView(LoginRequiredMixin, View):
    def post(self, request):
        access = resolve_dealer_access(request.user, request.POST.get("dealer"))
        request.session[SESSION_DEALER_KEY] = access.dealer.slug
        target = request.POST.get("next") or reverse("home")
        if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
            target = reverse("home")
        return HttpResponseRedirect(target)


class LimitedPasswordResetView(auth_views.PasswordResetView):
    """Django's reset form, with a limit on the mails it sends per address and per client (dealers/lockout.py)."""

    def form_valid(self, form):
        if not reset_mail_allowed(request=self.request, email=form.cleaned_data["email"]):
            return lockout_response(self.request, minutes=60)
        return super().form_valid(form)
