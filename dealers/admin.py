"""Admin, scoped: a superuser sees everything; a manager or group admin only their own dealers."""

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.http import Http404
from django.utils.translation import gettext_lazy as _

from .access import managed_dealer_ids
from .models import ApiKey, AuditEntry, BdcCompany, Dealer, DealerGroup, Membership, OpeningHours, User, hash_api_key
from .tenancy import TenantManager


def _admin_has_permission(request):
    user = request.user
    return user.is_active and (user.is_superuser or (user.is_staff and bool(managed_dealer_ids(user))))


admin.site.has_permission = _admin_has_permission
admin.site.site_header = _("Opvolger administration")


class DealerScopedAdmin(admin.ModelAdmin):
    """A ModelAdmin whose rows, lookups and dropdowns are limited to the dealers the user manages."""

    dealer_path = "dealer"

    def _dealers(self, request):
        if not hasattr(request, "_managed_dealers"):
            request._managed_dealers = managed_dealer_ids(request.user)
        return request._managed_dealers

    def get_queryset(self, request):
        if isinstance(self.model._default_manager, TenantManager):
            # Admin tooling: every dealer's rows for a superuser, narrowed below to the managed dealers for the rest.
            qs = self.model.objects.unscoped()
            if ordering := self.get_ordering(request):
                qs = qs.order_by(*ordering)
        else:
            qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(**{f"{self.dealer_path}__in": self._dealers(request)})

    def _allowed(self, request, obj=None):
        return request.user.is_superuser or bool(self._dealers(request))

    has_view_permission = has_change_permission = has_add_permission = has_delete_permission = _allowed

    def has_module_permission(self, request):
        return self._allowed(request)

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        raise Http404  # another dealer's object: never confirm it exists

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if not request.user.is_superuser:
            if db_field.related_model is Dealer:
                kwargs["queryset"] = Dealer.objects.filter(pk__in=self._dealers(request))
            elif db_field.related_model is User:
                kwargs["queryset"] = User.objects.filter(memberships__dealer__in=self._dealers(request)).distinct()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class OpeningHoursInline(admin.TabularInline):
    model = OpeningHours
    extra = 0

    def get_queryset(self, request):
        return OpeningHours.objects.unscoped()  # the inline formset narrows it to the dealer being edited

    def _allowed(self, request, obj=None):
        return True  # shown only inside DealerAdmin, which has already scoped the dealer

    has_view_permission = has_change_permission = has_add_permission = has_delete_permission = _allowed


@admin.register(Dealer)
class DealerAdmin(DealerScopedAdmin):
    dealer_path = "pk"
    list_display = ["name", "slug", "group", "routing_model", "country", "time_zone"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [OpeningHoursInline]

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    def get_readonly_fields(self, request, obj=None):
        return [] if request.user.is_superuser else ["group", "slug"]


@admin.register(DealerGroup)
class DealerGroupAdmin(DealerScopedAdmin):
    dealer_path = "dealers"
    list_display = ["name", "slug"]

    def get_queryset(self, request):
        return super().get_queryset(request).distinct()

    def has_add_permission(self, request):
        return request.user.is_superuser

    has_change_permission = has_delete_permission = lambda self, request, obj=None: request.user.is_superuser  # noqa: E731


@admin.register(Membership)
class MembershipAdmin(DealerScopedAdmin):
    list_display = ["user", "dealer", "role", "on_duty", "is_active"]
    list_filter = ["role", "on_duty", "is_active"]
    list_select_related = ["user", "dealer"]
    search_fields = ["user__email", "user__first_name", "user__last_name"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user" and not request.user.is_superuser:
            # A manager may add any existing user by e-mail; the dropdown itself stays limited to colleagues.
            kwargs["queryset"] = User.objects.filter(memberships__dealer__in=self._dealers(request)).distinct()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(ApiKey)
class ApiKeyAdmin(DealerScopedAdmin):
    list_display = ["source", "dealer", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["source"]
    list_select_related = ["dealer"]
    fields = ["dealer", "source", "rate_per_minute", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "created_at", "last_used_at"]
    actions = ["revoke"]

    def has_delete_permission(self, request, obj=None):
        return False  # keys are revoked, never deleted, so the audit trail keeps its meaning

    def save_model(self, request, obj, form, change):
        if not change:
            obj.prefix, raw_key = ApiKey.generate()
            obj.key_hash = hash_api_key(raw_key)
            obj.created_by = request.user
            messages.warning(request, _("The new key, shown only now: %(key)s") % {"key": raw_key})
        super().save_model(request, obj, form, change)

    @admin.action(description=_("Revoke the selected keys"))
    def revoke(self, request, queryset):
        from django.utils import timezone

        queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())


@admin.register(AuditEntry)
class AuditEntryAdmin(DealerScopedAdmin):
    list_display = ["at", "dealer", "actor", "action", "target"]
    list_select_related = ["dealer", "actor"]
    readonly_fields = ["dealer", "actor", "action", "target", "changes", "at"]

    def has_add_permission(self, request):
        return False

    has_change_permission = has_delete_permission = lambda self, request, obj=None: False  # noqa: E731


@admin.register(BdcCompany)
class BdcCompanyAdmin(admin.ModelAdmin):
    list_display = ["name", "slug"]
    filter_horizontal = ["agents", "dealers"]


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "first_name", "last_name", "is_staff", "is_active"]
    search_fields = ["email", "first_name", "last_name"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Personal info"), {"fields": ("first_name", "last_name", "phone")}),
        (_("Permissions"), {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "first_name", "last_name", "password1", "password2")}),)
