"""Page-view foundations: the dealer scope mixin, the page base, the home redirect and the dealer switch."""

from django import forms
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import SetPasswordForm
from django.contrib.auth.mixins import LoginRequiredMixin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View

from .access import DealerAccess, dealer_switch, page_access
from .lockout import lockout_response, reset_mail_allowed
from .models import Role, User
from .services import invitation_accept, invitation_accept_new, invitation_from_token
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


class LimitedPasswordResetView(auth_views.PasswordResetView):
    """Django's reset form, with a limit on the mails it sends per address and per client (dealers/lockout.py)."""

    def form_valid(self, form):
        if not reset_mail_allowed(request=self.request, email=form.cleaned_data["email"]):
            return lockout_response(self.request, minutes=60)
        return super().form_valid(form)


class InvitationAccountForm(SetPasswordForm):
    """Someone new to Opvolger accepting an invitation: their name and a password (Django's password rules)."""

    first_name = forms.CharField(label=gettext_lazy("First name"), max_length=150, required=False)
    last_name = forms.CharField(label=gettext_lazy("Last name"), max_length=150, required=False)


class InvitationAcceptView(View):
    """The link in an invitation. An existing account accepts once signed in as that address; someone new chooses a
    password, which makes the account. Nothing is on the team before this."""

    template_name = "registration/invitation.html"

    def dispatch(self, request, *args, **kwargs):
        self.invitation = invitation_from_token(kwargs["token"])
        if self.invitation is None:
            return render(request, self.template_name, {"invalid": True}, status=404)
        self.account = User.objects.filter(email__iexact=self.invitation.email).first()
        return super().dispatch(request, *args, **kwargs)

    def page(self, request, form=None, status=200):
        wrong_user = request.user.is_authenticated and request.user != self.account
        return render(request, self.template_name, {"invitation": self.invitation, "account": self.account, "form": form,
                                                    "wrong_user": wrong_user}, status=status)

    def new_form(self, data=None):
        unsaved = User(email=self.invitation.email, first_name=self.invitation.first_name,
                       last_name=self.invitation.last_name)  # for the password rules' "too similar" check
        return InvitationAccountForm(unsaved, data, initial={"first_name": self.invitation.first_name,
                                                             "last_name": self.invitation.last_name})

    def get(self, request, token):
        if self.account is not None and not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return self.page(request, form=self.new_form() if self.account is None else None)

    def post(self, request, token):
        if self.account is not None:
            if request.user != self.account:
                return redirect_to_login(request.get_full_path())
            try:
                invitation_accept(invitation=self.invitation, user=request.user)
            except ValidationError as error:
                messages.error(request, " ".join(error.messages))
                return redirect("home")
        else:
            form = self.new_form(request.POST)
            if not form.is_valid():
                return self.page(request, form=form, status=400)
            try:
                user = invitation_accept_new(invitation=self.invitation, password=form.cleaned_data["new_password1"],
                                             first_name=form.cleaned_data["first_name"],
                                             last_name=form.cleaned_data["last_name"])
            except ValidationError as error:
                form.add_error(None, error)
                return self.page(request, form=form, status=400)
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, _("Welcome to the team of %(dealer)s.") % {"dealer": self.invitation.dealer.name})
        return redirect(reverse("home") + "?" + urlencode({"dealer": self.invitation.dealer.slug}))
