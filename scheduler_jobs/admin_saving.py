"""Admin pages whose form saves through a service in clean().

The service is what validates, so saving there lets its errors show next to
their fields with everything typed kept; the admin's own save does nothing.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest


class ServiceSavedAdminMixin:
    """Hands the request to the form (the service needs the user) and skips the
    admin's save, which the form's clean() has already done."""

    def get_form(self, request: HttpRequest, obj=None, change=False, **kwargs: Any):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.request = request
        return form

    def save_model(self, request, obj, form, change) -> None:
        pass

    def save_related(self, request, form, formsets, change) -> None:
        pass
