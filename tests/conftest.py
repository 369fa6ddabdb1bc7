import os

import pytest

from chat.providers.bedrock import bedrock_client
from tests.bedrock_server import BedrockTestServer
from tests.ws import open_socket

TEST_MODEL_ID = "test.streamer-model-v1"


@pytest.fixture(scope="session", autouse=True)
def close_database_thread_connections(django_db_setup):
    """Async tests reach the database through asgiref's one thread-sensitive executor thread, whose
    connection stays checked out of the PostgreSQL pool; close it before the test database is dropped."""
    yield
    from asgiref.sync import SyncToAsync
    from django.db import connections

    SyncToAsync.single_thread_executor.submit(connections.close_all).result(timeout=30)


@pytest.fixture(scope="session")
def bedrock_server():
    """One Bedrock-compatible server for the session; the real boto3 client finds it through its own variable."""
    server = BedrockTestServer()
    server.start()
    saved = {name: os.environ.get(name) for name in _AWS_TEST_ENV}
    os.environ.update(_AWS_TEST_ENV | {"AWS_ENDPOINT_URL_BEDROCK_RUNTIME": server.url})
    bedrock_client.cache_clear()
    yield server
    bedrock_client.cache_clear()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    server.stop()


_AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_SESSION_TOKEN": "test",
    # One attempt: each test queues exactly the answers it expects the server to serve.
    "AWS_MAX_ATTEMPTS": "1",
    "AWS_RETRY_MODE": "standard",
}


@pytest.fixture
def bedrock(bedrock_server, settings):
    """The test server, emptied, with Bedrock configured as the default model."""
    bedrock_server.reset()
    settings.BEDROCK_MODEL_ID = TEST_MODEL_ID
    yield bedrock_server
    bedrock_server.reset()


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", password="alice-password-1")


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", password="bob-password-1")


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("sam", password="sam-password-1", is_staff=True, is_superuser=True)


@pytest.fixture
async def socket_for():
    """Open connected sockets for users; all are disconnected and all runs finished at the end."""
    from chat.runs import stop_background_tasks, wait_for_runs

    opened = []

    async def connect(user):
        communicator = await open_socket(user)
        connected, _ = await communicator.connect()
        assert connected
        opened.append(communicator)
        return communicator

    yield connect
    try:
        for communicator in opened:
            # A receive that timed out has already cancelled its application (asgiref does): disconnecting
            # it would re-raise that and skip the clean-up below, and every later test would inherit this
            # one's runs and rows.
            if not communicator.future.done():
                await communicator.disconnect()
    finally:
        await wait_for_runs()
        await stop_background_tasks()
        await fresh_channel_layers()


async def fresh_channel_layers():
    """Each test has its own event loop; channels_redis keeps loop-bound locks and connections in its
    layer objects, so the next test gets new ones (the in-memory layer is simply emptied)."""
    from channels.layers import channel_layers

    for layer in channel_layers.backends.values():
        if hasattr(layer, "close_pools"):
            await layer.close_pools()
    channel_layers.backends.clear()
