"""A stage's kernel client: ready at the kernel's answer, with nothing of the answer left over."""

import asyncio
import os
import signal

import pytest

from stagebook.orchestration.execution import readiness, secrets


def _manager():
    return secrets.kernel_manager(secrets.kernel_environ({}))(kernel_name="stagebook")


async def _output_of(client, code):
    """Run ``code``; return the IOPub messages up to its idle status, and the code's request id."""
    request = client.execute(code)
    seen = []
    while True:
        msg = await client.get_iopub_msg(timeout=60)
        seen.append(msg)
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            if msg["parent_header"].get("msg_id") == request:
                return seen, request


async def _ready_twice():
    manager = _manager()
    await manager.start_kernel()
    try:
        results = []
        for _ in range(2):  # a kernel just started, then the same kernel long started (a spare)
            client = manager.client()
            assert isinstance(client, readiness.ReadyKernelClient)
            client.start_channels()
            await client.wait_for_ready(timeout=60)
            results.append(await _output_of(client, "print('first cell')"))
            client.stop_channels()
        return results
    finally:
        await manager.shutdown_kernel(now=True)


def test_a_kernel_is_ready_at_its_answer_and_the_first_cell_gets_only_its_own_messages():
    for seen, request in asyncio.run(_ready_twice()):
        # nothing of the kernel_info request waits on IOPub for the first cell to read
        assert {m["parent_header"].get("msg_id") for m in seen} == {request}
        streams = [m["content"]["text"] for m in seen if m["msg_type"] == "stream"]
        assert streams == ["first cell\n"]


async def _ready_after_death():
    manager = _manager()
    await manager.start_kernel()
    client = manager.client()
    client.start_channels()
    await client.wait_for_ready(timeout=60)
    os.kill(manager.provisioner.pid, signal.SIGKILL)
    await manager.provisioner.wait()
    try:
        await client.wait_for_ready(timeout=30)
    finally:
        client.stop_channels()
        await manager.cleanup_resources()


def test_a_dead_kernel_is_reported_not_waited_for():
    with pytest.raises(RuntimeError, match="Kernel died before replying to kernel_info"):
        asyncio.run(_ready_after_death())
