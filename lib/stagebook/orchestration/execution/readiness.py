"""A kernel client that knows its kernel is ready as soon as the kernel says so.

Before a notebook runs, nbclient waits for the kernel with ``jupyter_client``'s
``wait_for_ready``: a ``kernel_info`` request, its reply, and then the IOPub
channel drained until it has been silent for 0.2 s. That last wait is spent on
every stage, however ready the kernel (a spare kernel, long started: 0.21 s,
of which 0.01 s the kernel's answer). Here the drain ends at the message that
closes the request instead: the kernel's ``idle`` status whose parent is that
``kernel_info`` request, which the kernel publishes after everything the request
made it publish. If IOPub missed it (not connected yet when the kernel published
it), the request is sent again, as ``jupyter_client`` does.

The class is the ``client_factory`` of the stages' kernel manager
(:func:`stagebook.orchestration.execution.secrets.kernel_manager`), a setting
``jupyter_client`` documents; nbclient takes its client from that manager.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from queue import Empty
from typing import Any

from jupyter_client.asynchronous import AsyncKernelClient

# How long one kernel_info request may go unanswered before it is sent again.
ANSWER_S = 1.0
# How long IOPub may take to deliver the request's closing status once the reply came.
CLOSING_S = 0.2


class ReadyKernelClient(AsyncKernelClient):
    """``AsyncKernelClient`` whose ``wait_for_ready`` ends with the kernel's answer."""

    async def wait_for_ready(self, timeout: float | None = None) -> None:  # type: ignore[override]
        """Return once the kernel answered ``kernel_info`` and IOPub carried its closing status.

        Raises RuntimeError, as ``jupyter_client`` does, if the kernel dies or does
        not answer within ``timeout`` seconds (None: no limit).
        """
        deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
        while True:
            request = self.kernel_info()
            reply = await self._reply(request, deadline)
            if reply is not None and await self._closed(request, deadline):
                self._handle_kernel_info_reply(reply)
                return
            if not await self.is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout:.0f} seconds")

    async def _reply(self, request: str, deadline: float) -> dict[str, Any] | None:
        """Return the reply to ``request`` on the shell channel, or None after ANSWER_S."""
        return await _first(self.get_shell_msg, min(time.monotonic() + ANSWER_S, deadline), request)

    async def _closed(self, request: str, deadline: float) -> bool:
        """Drain IOPub up to the ``idle`` status of ``request``; False if it does not come."""
        until = min(time.monotonic() + CLOSING_S, deadline)
        return await _first(self.get_iopub_msg, until, request, _closing) is not None


def _closing(msg: dict[str, Any]) -> bool:
    return msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle"


async def _first(
    get: Callable[..., Awaitable[dict[str, Any]]],
    until: float,
    request: str,
    wanted: Callable[[dict[str, Any]], bool] = lambda msg: True,
) -> dict[str, Any] | None:
    """Return the first message from ``get`` that answers ``request`` and is ``wanted``.

    Messages before it are dropped; None once ``until`` (monotonic) has passed.
    """
    while (left := until - time.monotonic()) > 0:
        try:
            msg = await get(timeout=left)
        except Empty:
            return None
        if msg["parent_header"].get("msg_id") == request and wanted(msg):
            return msg
    return None
