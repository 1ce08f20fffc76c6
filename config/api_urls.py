"""Routes under /api/v1/ (the REST API)."""

urlpatterns: list = []
