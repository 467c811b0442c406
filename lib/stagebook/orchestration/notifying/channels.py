"""The channels a :class:`~stagebook.orchestration.notifying.messages.Message` goes to: a small registry.

``notifications.channels`` in params picks them; each is one function, registered
with :func:`channel`:

- ``log``: the task's log (logger ``stagebook.notify``);
- ``slack``: a Slack incoming webhook, through the Slack provider's hook;
- ``email``: SMTP, through the SMTP provider's hook;
- ``webhook``: a JSON ``POST`` of the message to any URL.

Credentials live in Airflow connections, never in params. Every send has a
bounded timeout (``notifications.timeout_s``, at most 10 s) and is not retried;
a channel that fails is logged with its name and never changes a task's state.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from typing import Any

from stagebook.errors import ParamsError
from stagebook.orchestration.notifying.messages import Message
from stagebook.schema import NotificationParams

log = logging.getLogger("stagebook.notify")

Send = Callable[[Message, NotificationParams], None]
CHANNELS: dict[str, Send] = {}


def channel(name: str) -> Callable[[Send], Send]:
    """Register a function as the channel ``name``."""

    def register(send: Send) -> Send:
        CHANNELS[name] = send
        return send

    return register


@channel("log")
def send_log(message: Message, config: NotificationParams) -> None:
    """Write the message to the task's log: a warning unless it is good news."""
    level = logging.INFO if message.event in ("success", "summary") else logging.WARNING
    log.log(level, "%s", message.text)


def slack_escaped(text: str) -> str:
    """Return ``text`` with Slack's control characters escaped, so ``<!channel>`` pings no one."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@channel("slack")
def send_slack(message: Message, config: NotificationParams) -> None:
    """Post the message to the Slack incoming webhook of ``slack_conn_id``."""
    from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

    hook = SlackWebhookHook(
        slack_webhook_conn_id=config.slack_conn_id,
        timeout=max(1, int(config.timeout_s)),
        retry_handlers=[],
    )
    hook.send(text=slack_escaped(message.text))


def smtp_hook(config: NotificationParams) -> Any:
    """Return the SMTP provider's hook with the notification's timeout and no retries."""
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    class BoundedSmtpHook(SmtpHook):
        """The provider's hook with the notification's timeout and no retries."""

        @property
        def timeout(self) -> int:
            return min(int(super().timeout), max(1, int(config.timeout_s)))

        @property
        def smtp_retry_limit(self) -> int:
            return 0

    return BoundedSmtpHook(smtp_conn_id=config.email_conn_id)


@channel("email")
def send_email(message: Message, config: NotificationParams) -> None:
    """Mail the message to ``email_to`` through the SMTP server of ``email_conn_id``."""
    if not config.email_to:
        raise ParamsError("notifications.email_to is empty: list the recipients in params")
    from html import escape

    body = "<pre>\n" + escape(message.text) + "\n</pre>\n"  # mail clients link the URLs
    with smtp_hook(config) as hook:
        hook.send_email_smtp(
            to=config.email_to,
            subject=message.subject,
            html_content=body,
            from_email=config.email_from,
        )


def webhook_url(conn: Any) -> str:
    """Return the URL of a webhook connection: extra ``url``, a URL as host, or its parts."""
    extra = conn.extra_dejson
    if extra.get("url"):
        return str(extra["url"])
    host = conn.host or ""
    if "://" in host:
        return host
    port = f":{conn.port}" if conn.port else ""
    return f"{conn.schema or 'http'}://{host}{port}/{str(extra.get('endpoint', '')).lstrip('/')}"


@channel("webhook")
def send_webhook(message: Message, config: NotificationParams) -> None:
    """POST the message as JSON to the URL of ``webhook_conn_id`` (headers from its extra)."""
    import urllib.request

    from airflow.sdk import Connection

    conn = Connection.get(config.webhook_conn_id)
    headers = {"Content-Type": "application/json", **(conn.extra_dejson.get("headers") or {})}
    request = urllib.request.Request(
        webhook_url(conn),
        data=json.dumps(message.as_dict()).encode(),
        headers=headers,
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=config.timeout_s) as response:  # noqa: S310
        response.read()


def send(message: Message, config: NotificationParams) -> dict[str, str]:
    """Send ``message`` to every configured channel; return ``ok`` or the error per channel.

    Never raises: a failing channel is logged with its name and the others still send.
    """
    from stagebook.orchestration.execution.secrets import redacted

    message = dataclasses.replace(message, error=redacted(message.error))  # never a secret
    results: dict[str, str] = {}
    for name in config.channels:
        try:
            CHANNELS[name](message, config)
            results[name] = "ok"
        except Exception as exc:  # a channel never changes the task's outcome
            results[name] = f"{type(exc).__name__}: {exc}"
            log.error(
                "notification channel %s failed for %r: %s", name, message.subject, results[name]
            )
    return results
