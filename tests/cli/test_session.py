"""chunkml/cli/_session.py: what a command's dask session prints on its way out."""

import asyncio
import gc
import logging

import pytest
from distributed.client import AllExit

from chunkml.cli import _session


def _abandon_a_failed_task(exc):
    """A task that ended with ``exc`` that nothing retrieves, collected: asyncio logs
    "Task exception was never retrieved" for it."""
    async def fail():
        raise exc

    async def start():
        task = asyncio.ensure_future(fail())
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert task.done()

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(start())
    finally:
        loop.close()
    gc.collect()


@pytest.fixture
def asyncio_records():
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    log = logging.getLogger("asyncio")
    keep = Keep()
    log.addHandler(keep)
    try:
        yield records
    finally:
        log.removeHandler(keep)
        log.removeFilter(_session._drop_abandoned_gather_waits)


def test_an_abandoned_gather_wait_is_not_printed(asyncio_records):
    # Client.gather's per-future waits end with AllExit after the gather stopped (an
    # interrupt, a failed task): that is how a run printed a traceback before
    # "interrupted".
    _abandon_a_failed_task(AllExit())
    assert len(asyncio_records) == 1
    assert asyncio_records[0].getMessage().startswith("Task exception was never retrieved")
    asyncio_records.clear()

    _session.drop_abandoned_gather_waits()
    _session.drop_abandoned_gather_waits()  # once, however many sessions
    assert logging.getLogger("asyncio").filters.count(
        _session._drop_abandoned_gather_waits) == 1
    _abandon_a_failed_task(AllExit())
    assert asyncio_records == []
    # Any other abandoned exception is still reported.
    _abandon_a_failed_task(ValueError("boom"))
    assert len(asyncio_records) == 1
    assert isinstance(asyncio_records[0].exc_info[1], ValueError)
