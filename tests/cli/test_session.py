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
    # An earlier command's session installed the filter for the rest of the process.
    installed = _session._drop_abandoned_gather_waits in log.filters
    log.removeFilter(_session._drop_abandoned_gather_waits)
    keep = Keep()
    log.addHandler(keep)
    try:
        yield records
    finally:
        log.removeHandler(keep)
        log.removeFilter(_session._drop_abandoned_gather_waits)
        if installed:
            log.addFilter(_session._drop_abandoned_gather_waits)


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


NOTICE = "compiling chunkml kernels for float32 X; first use only"


def _args(json=False, quiet=False):
    import argparse

    return argparse.Namespace(json=json, quiet=quiet)


@pytest.mark.parametrize("json, quiet, stream", [
    (False, False, "out"), (True, False, "err"), (False, True, None), (True, True, None),
])
def test_chunkml_warnings_are_lines_of_the_command(capsys, monkeypatch, json, quiet,
                                                   stream):
    log = logging.getLogger("chunkml")
    # No handler anywhere, as in `chunkml ...` (pytest's own are on the root logger):
    # a record nobody handles goes to logging's last resort, on stderr.
    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    log.warning("unhandled")
    assert capsys.readouterr().err == "unhandled\n"
    with _session.log_records_as_lines(_args(json, quiet)):
        print("before")
        log.warning(NOTICE)
        # Below WARNING, as for a user who never configured logging: not shown.
        log.info("persisting X (160 bytes) once for the fit")
    captured = capsys.readouterr()
    shown = {"out": "", "err": ""}
    if stream is not None:
        shown[stream] = f"{NOTICE}\n"
    assert captured.out == "before\n" + shown["out"]
    assert captured.err == shown["err"]
    assert not log.handlers


def test_the_handler_is_removed_when_the_block_raises():
    with pytest.raises(KeyboardInterrupt):
        with _session.log_records_as_lines(_args()):
            assert len(logging.getLogger("chunkml").handlers) == 1
            raise KeyboardInterrupt
    assert not logging.getLogger("chunkml").handlers
