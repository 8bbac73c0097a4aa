"""Page-view foundations: the dealer scope mixin, the page base, the home redirect and the dealer switch."""

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View

from .access import DealerAccess, dealer_switch, page_access
from .models import Role
from .tenancy import ScopedQuerysetMixin


class DealerScopedMixin(LoginRequiredMixin, ScopedQuerysetMixin):
    """For page views: the dealer is resolved before any handler runs; querysets carry the dealer filter; times are
    the dealer's wall-clock time (the response is rendered before the zone is reset)."""

    allowed_roles: frozenset | None = None
    access: DealerAccess

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.access = page_access(request)
        if self.allowed_roles is not None and self.access.role not in self.allowed_roles:
            raise PermissionDenied
        timezone.activate(self.access.dealer.tz)
        try:
            response = super().dispatch(request, *args, **kwargs)
            if hasattr(response, "render") and not response.is_rendered:
                response.render()
            return response
        finally:
            timezone.deactivate()

    def scope_filters(self):
        return {"dealer": self.access.dealer}


class DealerPage(DealerScopedMixin):
    """A working page in the current dealer (inbox, lead page, BDC desk)."""

    def safe_next(self) -> str:
        """The `next` the page was given, if it is a path on this site."""
        target = self.request.POST.get("next") or self.request.GET.get("next") or ""
        if target.startswith("/") and url_has_allowed_host_and_scheme(
                target, allowed_hosts={self.request.get_host()}, require_https=self.request.is_secure()):
            return target
        return ""


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
            access = page_access(request)
        except Http404:
            if request.user.is_superuser:
                return redirect("admin:index")
            raise
        return redirect(HOME_FOR_ROLE[access.role])


class SwitchDealerView(LoginRequiredMixin, View):
    """The one way to change the current dealer: an explicit POST from the menu's switch."""

    def post(self, request):
        dealer_switch(request, request.POST.get("dealer"))
        target = request.POST.get("next") or reverse("home")
        if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
            target = reverse("home")
        return HttpResponseRedirect(target)
