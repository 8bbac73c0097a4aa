"""Writes for tenancy: API keys and the audit trail."""

from django.db import transaction
from django.utils import timezone

from .models import ApiKey, AuditEntry, Dealer, FollowUpPolicy, hash_api_key


def audit_record(*, dealer: Dealer, actor, action: str, target: str = "", changes: dict | None = None) -> AuditEntry:
    return AuditEntry.objects.create(dealer=dealer, actor=actor, action=action, target=target, changes=changes or {})


@transaction.atomic
def api_key_create(*, dealer: Dealer, source: str, created_by=None, rate_per_minute: int | None = None) -> tuple[ApiKey, str]:
    """Create a key; the raw key is returned once and never stored."""
    prefix, raw_key = ApiKey.generate()
    fields = {"rate_per_minute": rate_per_minute} if rate_per_minute else {}
    api_key = ApiKey.objects.create(dealer=dealer, source=source, prefix=prefix, key_hash=hash_api_key(raw_key),
                                    created_by=created_by, **fields)
    audit_record(dealer=dealer, actor=created_by, action="api_key.created", target=f"{source} {prefix}")
    return api_key, raw_key


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, by=None) -> ApiKey:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
        audit_record(dealer=api_key.dealer, actor=by, action="api_key.revoked", target=f"{api_key.source} {api_key.prefix}")
    return api_key


def policy_get(*, dealer: Dealer) -> FollowUpPolicy:
    """The dealer's follow-up policy, created with the domain's defaults on first use."""
    policy, _created = FollowUpPolicy.objects.get_or_create(dealer=dealer)
    return policy
