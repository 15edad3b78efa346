"""What a supervisor sleeps on: the kernel's notice that a watched process ended.

Each task's pane process, and the tmux server itself, is held by a pidfd (Linux ≥ 5.3):
it becomes readable the moment the process exits, whoever its parent is. One `epoll`
over all of them, plus the wake-up socket (`wakeup.py`) and a pipe for the supervisor's
own threads, lets supervision sleep with no timer and wake within a millisecond of a
death. tmux then tells what the death was (`pane_dead_status`, `pane_dead_signal`): the
supervisor reads it in its one `list-panes` round trip.

Measured against tmux's own notices on tmux 3.3a: a `pane-died` hook does not fire for
about half of the exits until another child of the server exits (TMUX-NOTES), and a
control-mode client has no notification for a pane's death; the pidfd fires every time.
Where pidfds are missing (an old kernel, not Linux) `available` is False and the
supervisor falls back to polling.
"""

from __future__ import annotations

import contextlib
import os
import selectors
from collections.abc import Iterable
from dataclasses import dataclass, field

from taskmux.runtime.wakeup import Listener


@dataclass
class Woken:
    """Why a wait ended: processes that ended, a poke from another process, our own wake."""

    ended: set[int] = field(default_factory=set)
    poked: bool = False
    woken: bool = False

    def __bool__(self) -> bool:
        return bool(self.ended) or self.poked or self.woken


def _probe() -> bool:
    try:
        fd = os.pidfd_open(os.getpid())
    except (AttributeError, OSError):
        return False
    os.close(fd)
    return True


class ExitWatch:
    """A set of watched pids, the wake-up listener and a self-pipe, on one selector."""

    def __init__(self, listener: Listener | None = None) -> None:
        self.available = _probe()
        self.selector = selectors.DefaultSelector()
        self.listener = listener
        self.pidfds: dict[int, int] = {}  # pid → its pidfd
        self.gone: set[int] = set()  # pids found already ended when first watched
        # Pids reported gone that tmux may still list for a moment (or for good, if its
        # server sees another pid namespace): reported once, not on every wait.
        self.missing: set[int] = set()
        self._read, self._write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.selector.register(self._read, selectors.EVENT_READ, "wake")
        if listener is not None:
            self.selector.register(listener.fileno(), selectors.EVENT_READ, "poke")

    def follow(self, pids: Iterable[int]) -> None:
        """Watch exactly these pids from now on (new ones added, others dropped)."""
        wanted = set(pids)
        for pid in set(self.pidfds) - wanted:
            self._drop(pid)
        self.missing &= wanted
        if not self.available:
            return
        for pid in wanted - set(self.pidfds) - self.missing:
            try:
                fd = os.pidfd_open(pid)
            except ProcessLookupError:
                self.gone.add(pid)  # ended between tmux's answer and now: look again
                self.missing.add(pid)
                continue
            except OSError:
                continue  # e.g. out of file descriptors: the sweep still sees it
            self.pidfds[pid] = fd
            self.selector.register(fd, selectors.EVENT_READ, pid)

    def _drop(self, pid: int) -> None:
        fd = self.pidfds.pop(pid)
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(fd)
        os.close(fd)

    def wake(self) -> None:
        """End the current (or next) wait from another thread."""
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._write, b"w")

    def wait(self, timeout: float) -> Woken:
        """Sleep until something watched happens or `timeout` seconds pass."""
        self._keep_listening()
        woken = Woken(ended=self.gone)
        self.gone = set()
        if woken:
            return woken
        for key, _events in self.selector.select(max(0.0, timeout)):
            what = key.data
            if what == "wake":
                with contextlib.suppress(BlockingIOError, OSError):
                    while os.read(self._read, 512):
                        pass
                woken.woken = True
            elif what == "poke":
                assert self.listener is not None
                woken.poked = self.listener.drain() or woken.poked
            else:
                woken.ended.add(what)
                self._drop(what)  # readable for good: never watched twice
                self.missing.add(what)  # nor reported twice while tmux still lists it
        return woken

    def _keep_listening(self) -> None:
        """Bind the wake-up socket again once its file is gone (the state folder was
        deleted, then made again): else no launch's poke would reach us. A stat a wait."""
        listener = self.listener
        if listener is None or listener.is_reachable():
            return
        again = Listener.bind(listener.path.parent)
        if again is None:
            return  # the folder is not back yet: looked at on the next wait
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(listener.fileno())
        listener.close()
        self.listener = again
        self.selector.register(again.fileno(), selectors.EVENT_READ, "poke")

    def close(self) -> None:
        for pid in list(self.pidfds):
            self._drop(pid)
        self.selector.close()
        os.close(self._read)
        os.close(self._write)
        if self.listener is not None:
            self.listener.close()
