"""Amazon Bedrock through the real boto3 client and ConverseStream."""

import functools
import logging
import threading
from contextlib import aclosing

import boto3
import botocore.config
import botocore.exceptions
import urllib3.exceptions
from django.conf import settings

from chat.providers.base import Alive, GenerationRequest, Provider, ProviderError, Started
from chat.providers.bedrock_request import converse_arguments
from chat.providers.converse_events import ConverseReader
from chat.providers.threaded import relay_from_thread

log = logging.getLogger(__name__)

# Bedrock's error names (HTTP `x-amzn-ErrorType` before the stream, `:exception-type` inside it, which
# is camel-cased) mapped to our stable codes.
ERROR_CODES = {
    "throttlingexception": "throttled",
    "servicequotaexceededexception": "throttled",
    "accessdeniedexception": "access_denied",
    "unrecognizedclientexception": "access_denied",
    "expiredtokenexception": "access_denied",
    "invalidsignatureexception": "access_denied",
    "validationexception": "validation",
    "resourcenotfoundexception": "model_not_found",
    "serviceunavailableexception": "service_unavailable",
    "internalserverexception": "service_unavailable",
    "modelnotreadyexception": "service_unavailable",
    "modeltimeoutexception": "timeout",
    "modelerrorexception": "model_error",
    "modelstreamerrorexception": "model_error",
}


@functools.cache
def bedrock_client():
    """One client per process: creating one loads the service model (about 0.25 s), and clients are thread-safe.

    Region, credentials, retries (AWS_MAX_ATTEMPTS, AWS_RETRY_MODE) and the endpoint
    (AWS_ENDPOINT_URL_BEDROCK_RUNTIME) come from boto3's own configuration chain.
    """
    config = botocore.config.Config(
        connect_timeout=settings.BEDROCK_CONNECT_TIMEOUT,
        read_timeout=settings.BEDROCK_READ_TIMEOUT,
        max_pool_connections=settings.BEDROCK_MAX_CONNECTIONS,
        user_agent_extra="streamer",
    )
    return boto3.session.Session().client("bedrock-runtime", region_name=settings.AWS_REGION, config=config)


def warm_up() -> None:
    """Create the client in the background at server start, so the first user's time to first token
    does not include loading the service model."""
    if settings.BEDROCK_MODEL_ID:
        threading.Thread(target=bedrock_client, name="bedrock-warm-up", daemon=True).start()


# What reading a stream raises when the connection breaks in the middle: boto3's event-stream iterator
# lets urllib3's ProtocolError (wrapping ConnectionResetError or an IncompleteRead) through unwrapped;
# botocore wraps the same in ResponseStreamingError where it reads a body itself.
CONNECTION_LOST = (urllib3.exceptions.ProtocolError, botocore.exceptions.ResponseStreamingError, ConnectionError)


def provider_error(error: Exception, request_id: str = "") -> ProviderError:
    """Map a botocore exception to our error, logging the full detail with Bedrock's request id."""
    if isinstance(error, botocore.exceptions.ClientError):
        name = error.response.get("Error", {}).get("Code", "")
        request_id = error.response.get("ResponseMetadata", {}).get("RequestId", "") or request_id
        code = ERROR_CODES.get(name.lower(), "internal")
    elif isinstance(error, CONNECTION_LOST):
        code = "connection_lost"
    elif isinstance(error, (botocore.exceptions.ReadTimeoutError, botocore.exceptions.ConnectTimeoutError,
                            urllib3.exceptions.ReadTimeoutError)):  # the last: a read timeout mid-stream
        code = "timeout"
    elif isinstance(error, botocore.exceptions.NoCredentialsError):
        code = "access_denied"
    elif isinstance(error, (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectionClosedError)):
        code = "service_unavailable"
    else:
        code = "internal"
    log.warning("Bedrock call failed: code=%s request_id=%s detail=%r", code, request_id or "-", error)
    return ProviderError(code, request_id=request_id)


def release(event_stream) -> None:
    """Close the HTTP connection under a boto3 event stream, waking a thread blocked reading it."""
    raw = getattr(event_stream, "_raw_stream", None)  # urllib3's response; botocore keeps no public handle
    if raw is not None and hasattr(raw, "shutdown"):
        try:
            raw.shutdown()  # urllib3 >= 2.3: interrupts a read in progress in another thread
        except OSError:
            pass
    event_stream.close()


async def stream_from_bedrock(call, stream_key: str, reader, name: str):
    """Run a blocking boto3 streaming `call()` in a worker thread and yield `reader.events(event)` items.

    Shared by both Bedrock providers: errors are mapped to ProviderError, and closing this iterator
    (a stop) closes the HTTP connection so Bedrock stops generating and billing. A body that ends before
    `reader.complete` (Converse's messageStop and metadata, a family's final chunk) is `incomplete`:
    a truncated answer is never passed off as whole.
    """
    cancelled = threading.Event()
    held = {}  # the open event stream, once there is one, so cancel() can close it
    lock = threading.Lock()

    def produce(emit):
        try:
            response = call()
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            raise provider_error(error) from error
        event_stream = response[stream_key]
        with lock:
            held["stream"] = event_stream
            if cancelled.is_set():
                event_stream.close()
                return
        request_id = response.get("ResponseMetadata", {}).get("RequestId", "")
        emit(Started(request_id))
        try:
            for event in event_stream:
                if cancelled.is_set():
                    return
                items = list(reader.events(event))
                for item in items or [Alive()]:
                    emit(item)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, *CONNECTION_LOST,
                urllib3.exceptions.ReadTimeoutError) as error:
            if cancelled.is_set():
                return  # the read failed because we closed the connection ourselves
            raise provider_error(error, request_id) from error
        except Exception:
            if cancelled.is_set():
                return
            raise
        finally:
            event_stream.close()
        if not reader.complete and not cancelled.is_set():
            log.warning("Bedrock stream ended early: code=incomplete request_id=%s", request_id or "-")
            raise ProviderError("incomplete", request_id=request_id)

    def cancel():
        with lock:
            cancelled.set()
            event_stream = held.get("stream")
        if event_stream is not None:
            release(event_stream)

    async with aclosing(relay_from_thread(produce, cancel, name=name)) as items:
        async for item in items:
            yield item


class BedrockConverseProvider(Provider):
    async def stream(self, request: GenerationRequest):
        # The arguments are built in the worker thread: they read the attachments' files.
        call = lambda: bedrock_client().converse_stream(**converse_arguments(request))  # noqa: E731
        async with aclosing(stream_from_bedrock(call, "stream", ConverseReader(), "bedrock-stream")) as items:
            async for item in items:
                yield item
