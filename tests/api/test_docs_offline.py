import pytest


@pytest.mark.django_db
def test_swagger_ui_is_served_from_local_static_files(client, staff_user):
    client.force_login(staff_user)
    page = client.get("/api/v1/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in page
    assert "cdn.jsdelivr.net" not in page
