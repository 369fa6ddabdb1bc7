"""A catalog entry for the local model names a file; llama.cpp opens whatever it is given. Only .gguf files
inside the allowed folders (LOCAL_MODEL_DIRS; the operator's LOCAL_MODEL_PATH too) are accepted in admin,
and an entry saved before this check is never opened: the model is not offered."""

import os
import shutil

import pytest

from chat.models import CatalogEntry, Message
from chat.providers import GenerationRequest, ProviderError
from chat.providers.local import NOT_ALLOWED, LocalProvider, _loaded
from tests.ws import prompt_frame

pytestmark = pytest.mark.django_db(transaction=True)

OUTSIDE_FOLDER = "must be inside a folder allowed by LOCAL_MODEL_DIRS"


@pytest.fixture
def models_dir(settings, tmp_path):
    """The default folders (the bundled model's and DATA_DIR/models), with DATA_DIR in a fresh folder."""
    assert settings.LOCAL_MODEL_PATH, "the bundled model is installed by `make setup`"
    folder = tmp_path / "data" / "models"
    folder.mkdir(parents=True)
    settings.BEDROCK_MODEL_ID = ""
    settings.LOCAL_MODEL_DIRS = [os.path.dirname(os.path.realpath(settings.LOCAL_MODEL_PATH)), os.path.realpath(folder)]
    return folder


@pytest.fixture(scope="module")
def working_copy(tmp_path_factory):
    """A working model that is not LOCAL_MODEL_PATH itself (a copy of the bundled one): opened, it would answer."""
    from django.conf import settings

    path = tmp_path_factory.mktemp("copy") / "smollm.gguf"
    shutil.copyfile(settings.LOCAL_MODEL_PATH, path)
    return path


@pytest.fixture
def outside(tmp_path, working_copy):
    """A folder that is not allowed, holding a working model."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "smollm.gguf").symlink_to(working_copy)
    return folder


def add_local_model(client, model_id: str, key: str = "mine"):
    return client.post("/admin/chat/catalogentry/add/", {
        "key": key, "label": "My model", "provider": "local", "model_id": model_id, "defaults": "{}",
        "enabled": "on", "position": "1",
    })


def refused_with(response, sentence: str) -> bool:
    return response.status_code == 200 and sentence in response.content.decode() and not CatalogEntry.objects.exists()


def offered_keys(client) -> list[str]:
    return [model["key"] for model in client.get("/api/models/").json()["models"]]


def test_admin_refuses_a_file_outside_the_allowed_folders(client, staff, models_dir, outside):
    client.force_login(staff)
    assert refused_with(add_local_model(client, "/etc/passwd"), OUTSIDE_FOLDER)
    assert refused_with(add_local_model(client, str(outside / "smollm.gguf")), OUTSIDE_FOLDER)
    assert refused_with(add_local_model(client, f"{models_dir}/../../elsewhere/smollm.gguf"), OUTSIDE_FOLDER)  # `..`
    (models_dir / "passwd.gguf").symlink_to("/etc/passwd")
    assert refused_with(add_local_model(client, str(models_dir / "passwd.gguf")), OUTSIDE_FOLDER)  # a symlink out
    (models_dir / "linked.gguf").symlink_to(outside / "smollm.gguf")
    assert refused_with(add_local_model(client, str(models_dir / "linked.gguf")), OUTSIDE_FOLDER)


def test_admin_refuses_what_is_not_a_gguf_file_inside_the_folder(client, staff, models_dir):
    client.force_login(staff)
    (models_dir / "notes.txt").write_text("not a model")
    assert refused_with(add_local_model(client, str(models_dir / "notes.txt")), "must be a GGUF file ending in .gguf")
    assert refused_with(add_local_model(client, str(models_dir / "missing.gguf")), "There is no such model file.")
    assert refused_with(add_local_model(client, "models/small.gguf"), "Give the full path of a .gguf file")


def test_admin_accepts_a_gguf_file_inside_data_models(client, staff, models_dir):
    client.force_login(staff)
    (models_dir / "small.gguf").write_bytes(b"GGUF")  # need not load: it is only checked, not opened, here
    form = client.get("/admin/chat/catalogentry/add/").content.decode()
    assert str(models_dir) in form  # the help text names the allowed folders
    response = add_local_model(client, str(models_dir / "small.gguf"))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert CatalogEntry.objects.get().model_id == str(models_dir / "small.gguf")
    assert "mine" in offered_keys(client)


def test_the_operators_local_model_path_stays_allowed_wherever_it_is(client, staff, settings, models_dir, outside):
    settings.LOCAL_MODEL_PATH = str(outside / "smollm.gguf")
    client.force_login(staff)
    assert add_local_model(client, str(outside / "smollm.gguf")).status_code == 302
    assert offered_keys(client) == ["local", "mine"]


async def test_an_entry_saved_before_the_check_is_never_opened(async_client, alice, models_dir, outside, socket_for):
    sneaky = str(outside / "smollm.gguf")
    await CatalogEntry.objects.acreate(key="sneaky", label="Sneaky", provider="local", model_id=sneaky)
    await CatalogEntry.objects.acreate(key="passwd", label="Passwd", provider="local", model_id="/etc/passwd")
    await async_client.aforce_login(alice)
    response = await async_client.get("/api/models/")
    assert [model["key"] for model in response.json()["models"]] == ["local"]  # neither is offered

    socket = await socket_for(alice)
    for key in ("sneaky", "passwd"):
        await socket.send_json_to(prompt_frame(model=key, request_id=key))
        error = await socket.receive_json_from(timeout=10)
        assert (error["type"], error["code"], error["detail"]) == ("error", "unknown_model", f"Unknown model '{key}'.")
    assert await Message.objects.acount() == 0

    # And the provider, given such a path some other way, refuses it before llama.cpp sees it.
    loaded_before = set(_loaded)
    for path in (sneaky, "/etc/passwd"):
        request = GenerationRequest(model_id=path, messages=[{"role": "user", "text": "Hello"}], params={"max_tokens": 4})
        with pytest.raises(ProviderError) as refused:
            async for _ in LocalProvider().stream(request):
                pass
        assert (refused.value.code, refused.value.message) == ("local_model_error", NOT_ALLOWED)
    assert set(_loaded) == loaded_before
