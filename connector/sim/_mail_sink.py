"""A loopback SMTP server that keeps every message it is given, for the sandbox and the demo.

Where a shop platform sends no welcome e-mail the connector sends it (`connector.mail`), so a
sandbox of such a platform needs a mail server; this is the smallest one that smtplib talks
to (RFC 5321: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT), with no relaying and no TLS.
"""

from __future__ import annotations

import email
import email.policy
import socketserver
import threading
from email.message import EmailMessage
from typing import Any

from connector.sim._server import free_port

MAX_MESSAGE_BYTES = 10 * 1024 * 1024


class _Session(socketserver.StreamRequestHandler):
    server: _SinkServer

    def _say(self, line: str) -> None:
        self.wfile.write(line.encode("ascii") + b"\r\n")

    def handle(self) -> None:
        self._say("220 connector mail sink ESMTP")
        recipients: list[str] = []
        while True:
            raw = self.rfile.readline(4096)
            if not raw:
                return
            command = raw.decode("utf-8", "replace").strip()
            verb = command[:4].upper()
            if verb in ("EHLO", "HELO"):
                self._say("250-connector mail sink" if verb == "EHLO" else "250 connector mail sink")
                if verb == "EHLO":
                    self._say("250-8BITMIME")
                    self._say(f"250 SIZE {MAX_MESSAGE_BYTES}")
            elif verb == "MAIL":
                recipients = []
                self._say("250 OK")
            elif verb == "RCPT":
                recipients.append(command.partition(":")[2].strip().strip("<>"))
                self._say("250 OK")
            elif verb == "DATA":
                self._say("354 End data with <CR><LF>.<CR><LF>")
                self.server.keep(self._data(), recipients)
                self._say("250 OK: queued")
            elif verb in ("RSET", "NOOP"):
                recipients = [] if verb == "RSET" else recipients
                self._say("250 OK")
            elif verb == "QUIT":
                self._say("221 Bye")
                return
            else:
                self._say("502 Command not implemented")

    def _data(self) -> bytes:
        lines: list[bytes] = []
        size = 0
        while True:
            line = self.rfile.readline(MAX_MESSAGE_BYTES)
            if not line or line in (b".\r\n", b".\n"):
                return b"".join(lines)
            size += len(line)
            if size <= MAX_MESSAGE_BYTES:
                lines.append(line[1:] if line.startswith(b"..") else line)  # dot-unstuffing


class _SinkServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, _Session)
        self.lock = threading.Lock()
        self.messages: list[tuple[EmailMessage, tuple[str, ...]]] = []

    def keep(self, data: bytes, recipients: list[str]) -> None:
        message = email.message_from_bytes(data, policy=email.policy.default)
        with self.lock:
            self.messages.append((message, tuple(recipients)))


class MailSink:
    """`url` is where to send (smtp://127.0.0.1:port); `messages()` what arrived, in order."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._server = _SinkServer((host, free_port(host)))
        self.url = f"smtp://{host}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="mail-sink", daemon=True)
        self._thread.start()

    def messages(self) -> list[EmailMessage]:
        with self._server.lock:
            return [message for message, _ in self._server.messages]

    def summary(self) -> list[dict[str, Any]]:
        """Each message's recipients, Message-ID and Subject (what a test compares)."""
        with self._server.lock:
            return [
                {"to": list(rcpt), "message_id": str(m["Message-ID"]), "subject": str(m["Subject"])}
                for m, rcpt in self._server.messages
            ]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
