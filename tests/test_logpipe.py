"""The log writer run by tmux pipe-pane: lossless, stamped, rotated, never holding bytes."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import kill_tmux_server

from taskmux import logs

WRITER = str(Path(logs.__file__).with_name("logpipe.py"))
LINE_RE = re.compile(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ")


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


class Writer:
    """logpipe.py as a real subprocess fed through a pipe."""

    def __init__(self, path: Path, max_bytes: int = 10 << 20, backups: int = 3) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-S", WRITER, str(path), str(max_bytes), str(backups)],
            stdin=subprocess.PIPE,
        )

    def send(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def close(self) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        return self.proc.wait(timeout=60)

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()


def _numbers(count: int) -> bytes:
    return b"".join(b"%d\r\n" % i for i in range(1, count + 1))


@pytest.mark.parametrize(("max_bytes", "backups"), [(10 << 20, 3), (64 << 10, 40)])
def test_50000_lines_all_read_back_in_order(tmp_path: Path, max_bytes: int, backups: int) -> None:
    path = tmp_path / "task.log"
    with Writer(path, max_bytes, backups) as writer:
        data = _numbers(50_000)
        for start in range(0, len(data), 4096):  # as fast as possible, in pane-sized chunks
            writer.send(data[start : start + 4096])
        assert writer.close() == 0
    log = logs.TaskLog("task", path)
    lines = list(logs.read_lines(log))
    assert [line.text for line in lines] == [str(i) for i in range(1, 50_001)]
    assert [line.text for line in logs.tail(log, 100_000)] == [str(i) for i in range(1, 50_001)]
    if max_bytes < 1 << 20:
        assert len(log.files()) > 10
        for file in log.files():  # every file holds whole, stamped lines
            content = file.read_bytes()
            assert content.endswith(b"\n")
            assert all(LINE_RE.match(line) for line in content.splitlines())
            assert len(content) < max_bytes + (64 << 10) * 2


def test_lines_are_stamped_and_stamps_do_not_go_back(tmp_path: Path) -> None:
    path = tmp_path / "t.log"
    before = time.time()
    with Writer(path) as writer:
        writer.send(b"one\ntwo\n")
        assert writer.close() == 0
    lines = path.read_bytes().splitlines()
    assert [line[25:] for line in lines] == [b"one", b"two"]
    assert all(LINE_RE.match(line) for line in lines)
    stamps = [line.ts for line in logs.read_lines(logs.TaskLog("t", path))]
    assert before - 0.002 <= stamps[0] <= stamps[1] <= time.time()


def test_bytes_are_written_at_once_and_split_lines_join(tmp_path: Path) -> None:
    path = tmp_path / "t.log"
    with Writer(path) as writer:
        writer.send(b"half a line")
        # Nothing is held back: the partial line reaches the file before its end does.
        assert wait_until(lambda: path.exists() and path.read_bytes().endswith(b"half a line"))
        writer.send(b", the rest\nnext\n")
        assert writer.close() == 0
    texts = [line.text for line in logs.read_lines(logs.TaskLog("t", path))]
    assert texts == ["half a line, the rest", "next"]


def test_a_new_writer_starts_on_a_fresh_line(tmp_path: Path) -> None:
    path = tmp_path / "t.log"
    path.write_bytes(b"2023-11-14T22:13:20.000Z died mid-li")
    with Writer(path) as writer:
        writer.send(b"restarted\n")
        assert writer.close() == 0
    texts = [line.text for line in logs.read_lines(logs.TaskLog("t", path))]
    assert texts == ["died mid-li", "restarted"]


def test_no_backups_truncates(tmp_path: Path) -> None:
    path = tmp_path / "t.log"
    with Writer(path, max_bytes=1000, backups=0) as writer:
        writer.send(_numbers(500))
        assert writer.close() == 0
    assert path.stat().st_size < 1000 + 64 * 1024
    assert not path.with_name("t.log.1").exists()


def test_an_endless_line_is_cut_so_the_file_stays_bounded(tmp_path: Path) -> None:
    path = tmp_path / "t.log"
    log = logs.TaskLog("t", path)
    with Writer(path, max_bytes=1000, backups=2) as writer:
        for count in range(20):
            piece = b"\r progress %02d" % count * 100
            writer.send(piece)  # one chunk at a time: wait until it is written
            assert wait_until(lambda p=piece: path.exists() and path.read_bytes().endswith(p))
        assert writer.close() == 0
    assert all(file.stat().st_size <= 4000 + 2 * len(piece) for file in log.files())
    assert len(log.files()) == 3
    assert logs.tail(log, 1)[0].text == " progress 19"


def test_writer_reopens_a_deleted_file(tmp_path: Path) -> None:
    path = tmp_path / "t.log"
    with Writer(path) as writer:
        writer.send(b"first\n")
        assert wait_until(lambda: path.exists() and path.stat().st_size > 0)
        path.unlink()

        def second_lands() -> bool:
            writer.send(b"again\n")  # the writer checks its file once a second
            return path.exists() and b"again" in path.read_bytes()

        assert wait_until(second_lands, timeout=5)
        assert writer.close() == 0


def test_writer_keeps_appending_after_external_truncation(tmp_path: Path) -> None:
    path = tmp_path / "t.log"
    with Writer(path) as writer:
        writer.send(b"first\n")
        assert wait_until(lambda: path.exists() and path.stat().st_size > 0)
        os.truncate(path, 0)
        writer.send(b"second\n")
        assert writer.close() == 0
    assert [x.text for x in logs.read_lines(logs.TaskLog("t", path))] == ["second"]


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_pipe_pane_with_new_window_captures_all_of_a_fast_task(tmp_path: Path) -> None:
    """The way taskmux wires it: pipe-pane in the same command list as new-window."""
    socket = f"taskmux-logtest-{uuid.uuid4().hex[:8]}"
    path = tmp_path / "seq.log"
    env = {**os.environ, "HOME": str(tmp_path), "SHELL": "/bin/sh"}
    env.pop("TMUX", None)
    pipe = f"{sys.executable} -I -S {WRITER} {path} 1000000 20"
    tmux = ["tmux", "-L", socket, "-f", "/dev/null"]
    try:
        subprocess.run(
            [*tmux, "new-session", "-d", "-s", "s", "-x", "80", "-y", "24", "sleep 600", ";",
             "set-option", "-g", "remain-on-exit", "on", ";",
             "new-window", "-d", "-n", "seq", "seq 1 50000", ";",
             "pipe-pane", "-t", "=s:=seq", pipe],
            env=env, check=True, timeout=30,
        )  # fmt: skip
        log = logs.TaskLog("seq", path)

        def complete() -> bool:
            tail = logs.tail(log, 1)
            return bool(tail) and tail[0].text == "50000"

        assert wait_until(complete, timeout=30)
        assert [x.text for x in logs.read_lines(log)] == [str(i) for i in range(1, 50_001)]
    finally:
        subprocess.run([*tmux, "kill-server"], env=env, check=False, capture_output=True)
        kill_tmux_server(socket)
