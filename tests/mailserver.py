"""A real SMTP server for the suite (aiosmtpd), on a free local port: it keeps every message it accepts, and refuses
the recipients it is told to, as a mail server would (``550``)."""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller


@dataclass
class MailServer:
    port: int
    received: list[email.message.EmailMessage] = field(default_factory=list)
    refused: set[str] = field(default_factory=set)
    """Recipients the server refuses."""

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refused:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.received.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return f"250 2.0.0 Ok: queued as Q{len(self.received)}"


@contextmanager
def mail_server() -> Iterator[MailServer]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = MailServer(port)
    controller = Controller(server, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()
