"""chat.providers.threaded: producers run on kept reader threads (issue #16), each on a thread of its own
while it lasts, and a reader that is done takes the next producer instead of a new thread being started."""

import asyncio
import threading

from chat.providers import threaded


async def read_all(produce) -> list:
    return [item async for item in threaded.relay_from_thread(produce, lambda: None, name="test")]


async def test_a_reader_that_is_done_reads_the_next_stream(monkeypatch):
    monkeypatch.setattr(threaded, "_readers", threaded._Readers())
    threads = []

    def produce(emit):
        threads.append(threading.current_thread())
        emit("word")

    assert await read_all(produce) == ["word"]
    await asyncio.sleep(0.05)  # the reader is waiting for work again
    assert await read_all(produce) == ["word"]
    assert threads[0] is threads[1] and threaded._readers.count == 1


async def test_streams_at_once_each_get_a_reader_of_their_own(monkeypatch):
    """Twenty producers that each wait for all the others to start: they can only end if each has a thread."""
    monkeypatch.setattr(threaded, "_readers", threaded._Readers())
    together = threading.Barrier(20, timeout=10)

    def produce(emit):
        together.wait()
        emit(threading.current_thread().name)

    names = await asyncio.gather(*(read_all(produce) for _ in range(20)))
    assert len({name[0] for name in names}) == 20


async def test_warm_readers_wait_for_work(monkeypatch):
    readers = threaded._Readers()
    monkeypatch.setattr(threaded, "_readers", readers)
    monkeypatch.setattr(threaded._Readers, "KEEP", 3)
    threaded.warm_up()
    for _ in range(100):
        if readers.count == 3:
            break
        await asyncio.sleep(0.01)
    assert (readers.count, readers.idle) == (3, 3)
    assert await read_all(lambda emit: emit(1)) == [1]
    assert readers.count == 3  # one of the three read it
