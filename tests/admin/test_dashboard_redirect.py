import pytest


@pytest.mark.django_db
def test_short_dashboard_url_redirects_to_the_admin_dashboard(client, staff_user):
    client.force_login(staff_user)
    response = client.get("/admin/dashboard/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/executions/jobexecution/dashboard/"
