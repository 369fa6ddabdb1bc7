"""Which files the local model may open. Staff name a catalog entry's GGUF file in admin; llama.cpp opens
whatever path it is given, so only .gguf files inside the operator's folders (LOCAL_MODEL_DIRS) are allowed,
compared as real paths (no `..` or symlink out), plus LOCAL_MODEL_PATH, which the operator chose."""

import os

from django.conf import settings

SUFFIX = ".gguf"


def refusal(path: str) -> str | None:
    """Why the local model may not open `path` (a sentence for staff), or None when it may."""
    if not path or not os.path.isabs(path):
        return f"Give the full path of a {SUFFIX} file (it starts with /)."
    real = os.path.realpath(path)
    if settings.LOCAL_MODEL_PATH and real == os.path.realpath(settings.LOCAL_MODEL_PATH):
        return None
    folders = [os.path.realpath(folder) for folder in settings.LOCAL_MODEL_DIRS]
    if not any(os.path.commonpath([real, folder]) == folder for folder in folders):
        allowed = ", ".join(folders) or "none are set"
        return f"The model file must be inside a folder allowed by LOCAL_MODEL_DIRS ({allowed})."
    if not real.endswith(SUFFIX):
        return f"The model file must be a GGUF file ending in {SUFFIX}."
    if not os.path.isfile(real):
        return "There is no such model file."
    return None
