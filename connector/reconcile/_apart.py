"""One side of the comparison read in a forked child process.

Both sides' records are decoded in Python, and in one process the two readers share one
interpreter lock: the e-shop's pages wait while POHODA's are read. A child reads POHODA on a
core of its own and hands back what the comparison keeps of that side (the link ids seen,
the few records that differ or are unlinked, the versions): a few thousand records, not
the listing.

The child builds its own peer (`open_peer`, called in the child: its own HTTP connections,
its own store connections for mServer's gate) and never touches the parent's. What it
reads, how far and why it stopped come back as the thread would have left them; a child
that dies without an answer leaves its side unread to the end (`SideRead.complete` False,
the error saying so), so no absence on that side is acted on.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from connector.peers import Peer, PeerRecord

if TYPE_CHECKING:
    from connector.codec import Fingerprinted
    from connector.reconcile._compare import ReadProgress, _Reader

Listing = Callable[[Peer], "Iterator[PeerRecord | Fingerprinted[PeerRecord]]"]

# A child that sends nothing for this long (it reports every 1,000 records, and each request
# to a peer has its own deadline) is taken for hung and stopped: say, on a lock that another
# thread of the parent held when it forked. Its side is then unread to its end.
SILENCE_S = 900.0


def can_fork() -> bool:
    """Forked children are available here (not on Windows, where the thread reads instead)."""
    return "fork" in multiprocessing.get_all_start_methods()


def _own_peak_rss_mb() -> float | None:
    """This process's own peak resident set (VmHWM), where /proc says it."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def _child(reader: _Reader, open_peer: Callable[[], Peer], listing: Listing, conn: Connection) -> None:
    """In the child: read the side to its end (or its first fault), then answer once."""
    try:
        reader.progress = lambda side, done, total: conn.send(("progress", side, done, total))
        peer = open_peer()
        try:
            reader.consume(listing(peer))
        finally:
            peer.close()
        reader.read.peak_rss_mb = _own_peak_rss_mb()
        conn.send(("done", (reader.read, reader.seen, reader.kept, reader.unlinked, reader.versions)))
    except BaseException as exc:
        try:
            conn.send(("raise", exc))
        except Exception:
            conn.send(("raise", RuntimeError(f"{type(exc).__name__}: {exc}")))
    finally:
        conn.close()


class ReadApart:
    """`reader.consume(listing(open_peer()))` in a forked child; `result()` waits for it and
    leaves `reader` as the thread would have. The child's progress is passed on here."""

    def __init__(self, reader: _Reader, open_peer: Callable[[], Peer], listing: Listing) -> None:
        self.reader = reader
        reader.read.process = "child"
        self._progress: ReadProgress = reader.progress
        self._answer: tuple[Any, ...] | None = None
        self._failure: BaseException | None = None
        self._silent_for: float | None = None
        context = multiprocessing.get_context("fork")
        receiving, sending = context.Pipe(duplex=False)
        self._receiving = receiving
        self._process = context.Process(
            target=_child,
            args=(reader, open_peer, listing, sending),
            name=f"reconcile-{reader.side}",
            daemon=True,
        )
        self._process.start()
        sending.close()  # the child's end: its closing (or the child's death) ends the relay
        self._relay = threading.Thread(target=self._listen, name=f"reconcile-{reader.side}-relay", daemon=True)
        self._relay.start()

    def _listen(self) -> None:
        silence = SILENCE_S
        try:
            while True:
                if not self._receiving.poll(silence):
                    self._silent_for = silence
                    self.stop()
                    return
                message = self._receiving.recv()
                if message[0] == "progress":
                    self._progress(*message[1:])
                    continue
                self._answer = message
                return
        except EOFError:
            return  # the child ended without an answer: see result()
        except BaseException as exc:
            self._failure = exc
            self.stop()
        finally:
            self._receiving.close()

    def stop(self) -> None:
        """End the child now (the comparison is abandoned)."""
        if self._process.is_alive():
            self._process.kill()

    def result(self) -> None:
        """Wait for the child; its reading becomes `reader`'s, its exception is raised here."""
        self._relay.join()
        self._process.join()
        if self._failure is not None:
            raise self._failure
        answer = self._answer
        read = self.reader.read
        if answer is None:
            # Killed, out of memory, or hung: nothing of the side can be trusted to be complete.
            read.complete = False
            code = self._process.exitcode
            read.error = f"the process reading {self.reader.side} ended without an answer (exit code {code})"
            if self._silent_for is not None:
                read.error += f": it sent nothing for {self._silent_for:.0f} s and was stopped"
            self._progress(self.reader.side, read.records, max(self.reader.expected, read.records))
            return
        if answer[0] == "raise":
            raise answer[1]
        reader = self.reader
        reader.read, reader.seen, reader.kept, reader.unlinked, reader.versions = answer[1]


__all__ = ["ReadApart", "can_fork"]
