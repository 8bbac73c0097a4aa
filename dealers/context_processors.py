from .access import dealer_accesses


def dealer_scope(request):
    """The current dealer (set by the scope mixin) and, lazily, the others the user may switch to."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "dealer_access": getattr(request, "dealer_access", None),
        "dealer_accesses": getattr(request, "dealer_accesses_list", None) or (lambda: dealer_accesses(user)),
    }
