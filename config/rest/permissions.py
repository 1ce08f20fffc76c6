"""Who may use the API: staff only, then Django's model permissions."""

from __future__ import annotations

from rest_framework.permissions import BasePermission, DjangoModelPermissions


class IsStaff(BasePermission):
    """The first authorisation step: only staff use the API.

    An anonymous request is refused with 401 by DRF before this (the first
    authentication class sends WWW-Authenticate), so this answers 403 only for a
    logged-in user who is not staff.
    """

    message = "Only staff users may use the API."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_active and user.is_staff)


class ModelPermissions(DjangoModelPermissions):
    """Django model permissions, with `view` required for reads too."""

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }

    def has_permission(self, request, view) -> bool:
        # A method the view does not offer is a 405, not a missing permission.
        if getattr(view, request.method.lower(), None) is None:
            return True
        return super().has_permission(request, view)


def permission(*perms: str) -> type[BasePermission]:
    """A permission class requiring these Django permissions (403 naming them)."""

    class HasPermissions(BasePermission):
        message = f"You need the permission {', '.join(perms)} for this."

        def has_permission(self, request, view) -> bool:
            return request.user.has_perms(perms)

    HasPermissions.__name__ = f"HasPermissions({', '.join(perms)})"
    return HasPermissions
