"""The embedded local model: a GGUF file run by llama-cpp-python, so Streamer answers with no AWS at all."""

import atexit
import itertools
import logging
import os
import threading
from contextlib import aclosing

from django.conf import settings

from chat.providers import local_files
from chat.providers.base import GenerationRequest, Provider, ProviderError, Queued, Started, StopReason, TextDelta, Usage
from chat.providers.local_documents import with_document_text
from chat.providers.threaded import relay_from_thread

log = logging.getLogger(__name__)


class Job:
    def __init__(self, request: GenerationRequest, emit, cancelled: threading.Event):
        self.request, self.emit, self.cancelled = request, emit, cancelled
        self.position = 0
        self.error: BaseException | None = None
        self.done = threading.Event()


class GenerationWorker:
    """One long-lived thread per loaded model runs its generations one at a time, users in turn.

    A llama.cpp context holds one conversation's state, so two generations at once would interleave;
    the others wait and are told their place. Fair to users: the next job is the oldest of the user
    served least recently (a newcomer first of all), so one user's ten prompts cannot hold everyone
    else back; each user's own prompts keep their order. One thread rather than one per generation:
    llama.cpp's OpenMP team belongs to the calling thread, and a fresh thread per answer decoded about
    15% slower than the same call made from a long-lived thread (bench/local_model.py).
    """

    def __init__(self, model: "LoadedModel"):
        self.model = model
        self._changed = threading.Condition()
        self._waiting: list[Job] = []  # in arrival order; _order() gives the order they will be served
        self._generating: Job | None = None
        self._turns = itertools.count(1)
        self._served: dict[str, int] = {}  # user -> turn number of their last job, while the line is busy
        threading.Thread(target=self._serve, name="local-model-worker", daemon=True).start()

    def run(self, job: Job) -> None:
        """Queue the job and block until it has run, or until it is cancelled while still waiting."""
        with self._changed:
            self._waiting.append(job)
            self._report_positions()
            self._changed.notify_all()
        while not job.done.wait(0.05):
            if job.cancelled.is_set() and self._withdraw(job):
                return
        if job.error is not None:
            raise job.error

    def _withdraw(self, job: Job) -> bool:
        with self._changed:
            if job not in self._waiting:
                return False  # generating: it notices the cancel itself, within one token
            self._waiting.remove(job)
            self._report_positions()
            return True

    def _order(self) -> list[Job]:
        """The waiting jobs in the order they will be served: one per user in turn, the user served least
        recently first (one not yet served before all, by arrival); each user's own jobs in arrival order."""
        by_user: dict[str, list[Job]] = {}
        for job in self._waiting:
            by_user.setdefault(job.request.user_key, []).append(job)
        users = sorted(by_user, key=lambda user: self._served.get(user, 0))  # stable: ties keep arrival order
        turns = itertools.zip_longest(*(by_user[user] for user in users))  # each user's first, then each one's second…
        return [job for turn in turns for job in turn if job is not None]

    def _report_positions(self) -> None:
        """Tell each waiting job how many generations are ahead of it, when that changed (up or down)."""
        ahead_of_all = 0 if self._generating is None else 1
        for index, job in enumerate(self._order()):
            position = index + ahead_of_all
            if position and position != job.position:
                job.position = position
                job.emit(Queued(position))

    def _next(self) -> Job:
        job = self._order()[0]
        self._waiting.remove(job)
        self._generating = job
        self._served[job.request.user_key] = next(self._turns)
        self._report_positions()
        return job

    def _serve(self) -> None:
        while True:
            with self._changed:
                while not self._waiting:
                    self._served.clear()  # idle: the next busy spell starts with every user even
                    self._changed.wait()
                job = self._next()
            try:
                if not job.cancelled.is_set():
                    generate(self.model, job.request, job.emit, job.cancelled)
            except BaseException as error:  # handed back to the waiting stream
                job.error = error
            finally:
                with self._changed:
                    self._generating = None
                job.done.set()


class LoadedModel:
    """A Llama instance, its chat template and its line of waiting generations."""

    def __init__(self, path: str):
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.llama = Llama(
            model_path=path,
            n_ctx=settings.LOCAL_MODEL_CONTEXT,
            n_threads=settings.LOCAL_MODEL_THREADS,
            verbose=False,
        )
        template = self.llama.metadata.get("tokenizer.chat_template")
        if not template:
            raise ProviderError("local_model_error", "The local model file has no chat template.")
        eos, bos = self.llama.token_eos(), self.llama.token_bos()
        # The same formatter llama-cpp-python builds from the GGUF metadata, kept so the prompt can be
        # tokenised here and its length reported as the input token count.
        self.formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=self.llama._model.token_get_text(eos) if eos != -1 else "",
            bos_token=self.llama._model.token_get_text(bos) if bos != -1 else "",
            stop_token_ids=[eos],
        )
        self.worker = GenerationWorker(self)

    def prompt_tokens(self, request: GenerationRequest) -> tuple[list[int], list[str], object]:
        messages = [{"role": "system", "content": request.system}] if request.system else []
        messages += [{"role": m["role"], "content": m["text"]} for m in request.messages]
        formatted = self.formatter(messages=messages)
        tokens = self.llama.tokenize(formatted.prompt.encode("utf-8"), add_bos=not formatted.added_special, special=True)
        stop = formatted.stop if isinstance(formatted.stop, list) else [formatted.stop] if formatted.stop else []
        return tokens, stop, formatted.stopping_criteria


_loaded: dict[str, LoadedModel] = {}
_loading = threading.Lock()


NOT_ALLOWED = "This model's file is not one this server may open. Ask an administrator to check the model catalog."


def loaded_model(path: str) -> LoadedModel:
    """Load each model file once per process, on first use, and share it; only a file the operator allows
    (chat.providers.local_files): llama.cpp itself would open any path, and keep it loaded."""
    refused = local_files.refusal(path)
    if refused:
        log.warning("Refused to open %r as the local model: %s", path, refused)
        raise ProviderError("local_model_error", NOT_ALLOWED)
    path = os.path.realpath(path)  # the file checked, and one load for every name it goes by
    with _loading:
        if path not in _loaded:
            log.info("Loading local model %s", path)
            _loaded[path] = LoadedModel(path)
            # Free it before the interpreter tears down llama.cpp's bindings (else a noisy __del__).
            atexit.register(_loaded[path].llama.close)
        return _loaded[path]


def warm_up() -> None:
    """Load the model in the background at server start when it is the default, so the first
    answer does not wait for it."""
    import importlib.util

    if not settings.BEDROCK_MODEL_ID and settings.LOCAL_MODEL_PATH and importlib.util.find_spec("llama_cpp"):
        threading.Thread(target=loaded_model, args=(settings.LOCAL_MODEL_PATH,), name="local-warm-up", daemon=True).start()


def completion_arguments(request: GenerationRequest, stop: list[str], room: int) -> dict:
    params = request.params
    return {
        "max_tokens": min(params.get("max_tokens", 512), room),
        "temperature": params.get("temperature", 0.2),
        "top_p": params.get("top_p", 0.95),
        "top_k": params.get("top_k", 40),
        "stop": stop + params.get("stop_sequences", []),
        "stream": True,
    }


class LocalProvider(Provider):
    async def stream(self, request: GenerationRequest):
        cancelled = threading.Event()

        def produce(emit):
            try:
                model = loaded_model(request.model_id)
            except ProviderError:
                raise
            except Exception as error:
                log.exception("Could not load the local model %s", request.model_id)
                raise ProviderError("local_model_error") from error
            # Documents become text here, in this worker thread (reading files and PDFs takes time).
            model.worker.run(Job(with_document_text(request, settings.LOCAL_MODEL_CONTEXT), emit, cancelled))

        async with aclosing(relay_from_thread(produce, cancelled.set, name="local-model")) as items:
            async for item in items:
                yield item


def generate(model: LoadedModel, request: GenerationRequest, emit, cancelled: threading.Event) -> None:
    llama = model.llama
    tokens, stop, stopping_criteria = model.prompt_tokens(request)
    room = llama.n_ctx() - len(tokens)
    if room < 1:
        raise ProviderError(
            "validation", "The conversation is too long for the local model. Start a new conversation."
        )
    emit(Started())
    finish_reason = ""
    try:
        chunks = llama.create_completion(
            prompt=tokens, stopping_criteria=stopping_criteria, **completion_arguments(request, stop, room)
        )
        try:
            for chunk in chunks:
                if cancelled.is_set():
                    return  # closing the generator below ends llama.cpp's loop: stop within one token
                choice = chunk["choices"][0]
                if choice.get("text"):
                    emit(TextDelta(choice["text"]))
                finish_reason = choice.get("finish_reason") or finish_reason
        finally:
            chunks.close()
    except ProviderError:
        raise
    except Exception as error:
        log.exception("The local model failed")
        raise ProviderError("local_model_error") from error
    # The context now holds the prompt and the generated tokens, except the last one when the length
    # limit cut generation (it was sampled but never evaluated); this matches llama.cpp's own usage.
    generated = llama.n_tokens - len(tokens) + (1 if finish_reason == "length" else 0)
    emit(Usage(len(tokens), max(0, generated)))
    emit(StopReason({"stop": "end_turn", "length": "max_tokens"}.get(finish_reason, finish_reason)))
