"""Real servers on loopback that receive notifications: HTTP (Slack and JSON webhooks) and SMTP."""

from __future__ import annotations

import email
import json
import re
import threading
import urllib.parse
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class HttpReceiver:
    """A standard-library HTTP server that records each POST's path and JSON body.

    ``status`` is what it answers (500 plays a broken receiver).
    """

    def __init__(self, status: int = 200) -> None:
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append((self.path, json.loads(body or b"null")))
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"broken")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> HttpReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def bodies(self, path: str) -> list:
        """Return the bodies posted to ``path``, in order."""
        return [body for p, body in self.received if p == path]


class SmtpReceiver:
    """A real SMTP server (aiosmtpd) that keeps every message it accepts."""

    def __init__(self, port: int) -> None:
        from aiosmtpd.controller import Controller

        messages = self.messages = []

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
                return "250 OK"

        self.port = port
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=port)

    def __enter__(self) -> SmtpReceiver:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()

    def texts(self) -> list[tuple[str, str]]:
        """Return each message's subject and plain body."""
        out = []
        for message in self.messages:
            body = message.get_body(("html", "plain")).get_content()
            out.append((str(message["subject"]), body))
        return out


SUBJECT = re.compile(
    r"\[stagebook\] (?P<event>\w+): (?:run of \S+|\S+?\.(?P<task>(?:prod\.|beta\.)?\w+)) "
    r"ds (?P<ds>\S+) phase (?P<phase>\S+)(?: try (?P<try>\d+))?"
)


def parse(subject: str, text: str) -> dict:
    """Return event, task, ds, phase, try and the report file of one message."""
    found = SUBJECT.search(subject)
    assert found, subject
    got = found.groupdict()
    got["try"] = int(got["try"]) if got["try"] else None
    reports = re.findall(r"^report: (\S+)$", text, flags=re.M)
    got["report"] = Path(urllib.parse.urlsplit(reports[0]).path) if reports else None
    got["summary_reports"] = [
        Path(urllib.parse.urlsplit(u).path) for u in re.findall(r"report (file://\S+)", text)
    ]
    got["text"] = text
    return got


def messages(http: HttpReceiver, smtp: SmtpReceiver) -> dict[str, list[dict]]:
    """Return the parsed messages each channel received."""
    slack = [parse(b["text"].splitlines()[0], b["text"]) for b in http.bodies("/slack")]
    hooks = []
    for body in http.bodies("/webhook"):
        got = parse(body["subject"], body["text"])
        assert (got["ds"], got["phase"], got["try"]) == (
            body["ds"],
            body["phase"],
            body["try_number"],
        )
        hooks.append(got)
    mails = [parse(subject, text) for subject, text in smtp.texts()]
    return {"slack": slack, "webhook": hooks, "email": mails}
