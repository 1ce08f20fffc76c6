import pytest

from tests.integration.harness import Stack, flush_broker


@pytest.fixture(scope="module")
def stack(django_db_setup, django_db_blocker, tmp_path_factory):
    """A real worker and two beats for the whole module (slow to start)."""
    with django_db_blocker.unblock():
        flush_broker()
    running = Stack(tmp_path_factory.mktemp("stack"))
    running.start_worker()
    running.start_beat("beat1")
    running.start_beat("beat2")
    yield running
    running.stop_all()
