"""The log collector: spools → stamped, rotated log files; lossless, crash-safe, cheap."""

from __future__ import annotations

import functools
import os
import re
import signal
import time
import types
from pathlib import Path

import psutil
import pytest
from harness import Project, holds_for, project, wait_until
from spool_feed import Feed, collector_alive, stop_collector

from taskmux.logs import collector, layout, linux, logwriter
from taskmux.logs import spool as logspool
from taskmux.logs.lines import TaskLog
from taskmux.logs.reading import read_lines, tail
from taskmux.statedir.claim import supervisor_running

__all__ = ["project"]

SHORT_GRACE = 0.2  # the collector's, in tests that wait for it to exit (its own: 1 s)
LINE_RE = re.compile(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ")


def _numbers(first: int, last: int) -> bytes:
    return b"".join(b"%d\r\n" % i for i in range(first, last + 1))


def _log(root: Path, task: str = "t") -> TaskLog:
    return TaskLog(task, root / "logs" / f"{task}.log")


def _texts(log: TaskLog) -> list[str]:
    return [line.text for line in read_lines(log)]


# Pure decisions -------------------------------------------------------------------------


def test_stamp_chunk_prefixes_each_line_that_starts_in_it() -> None:
    assert logwriter.stamp_chunk(b"a\nb\n", b"T ", True) == (b"T a\nT b\n", True)
    assert logwriter.stamp_chunk(b"rest\nhal", b"T ", False) == (b"rest\nT hal", False)
    assert logwriter.stamp_prefix(1700000000.5) == b"2023-11-14T22:13:20.500Z "


def test_split_point_keeps_lines_whole() -> None:
    assert logwriter.split_point(b"aaa\nbbb\n", 0, 100, True) is None  # fits
    assert logwriter.split_point(b"aaa\nbbb\n", 95, 100, True) == 4  # up to the line that fits
    assert logwriter.split_point(b"bbbbbbbbbb\n", 95, 100, True) == 0  # rotate first
    assert logwriter.split_point(b"x" * 400, 10, 100, False) == -1  # an endless line is cut


def test_reclaim_and_stamp_choices() -> None:
    assert collector.punch_end(5000, 0, step=4096) == 4096
    assert collector.punch_end(5000, 4096, step=4096) == 4096  # not worth a call yet
    assert collector.line_time(100.0, 99.9) == 100.0  # read as it came
    assert collector.line_time(100.0, 50.0) == 50.0  # waited in the spool: its write time
    assert layout.parse_read_mark(b"12 345\n  ") == (12, 345)
    assert layout.parse_log_mark(b"12 345 67 89\n") == (67, 89)
    assert layout.parse_log_mark(b"12 345\n") == (0, -1)
    assert layout.parse_read_mark(b"garbage") == (0, 0)
    assert layout.parse_settings(b"") == (layout.DEFAULT_MAX_BYTES, 3)


# The collector as a process -------------------------------------------------------------


@pytest.mark.parametrize(("max_bytes", "backups"), [(10 << 20, 3), (24 << 10, 40)])
def test_20000_lines_all_read_back_in_order(tmp_path: Path, max_bytes: int, backups: int) -> None:
    with Feed(tmp_path, "t", max_bytes, backups) as feed:
        data = _numbers(1, 20_000)
        for start in range(0, len(data), 4096):  # as fast as possible, in pane-sized chunks
            feed.send(data[start : start + 4096])
        feed.wait_caught_up()
    log = _log(tmp_path)
    assert _texts(log) == [str(i) for i in range(1, 20_001)]
    assert [line.text for line in tail(log, 40_000)] == [str(i) for i in range(1, 20_001)]
    if max_bytes < 1 << 20:
        assert len(log.files()) > 10
        for file in log.files():  # every file holds whole, stamped lines
            content = file.read_bytes()
            assert content.endswith(b"\n")
            assert all(LINE_RE.match(line) for line in content.splitlines())
            assert len(content) < max_bytes + collector.BATCH * 2


def test_lines_are_stamped_when_written_and_split_lines_join(tmp_path: Path) -> None:
    before = time.time()
    with Feed(tmp_path, "t") as feed:
        feed.send(b"half a line")
        path = tmp_path / "logs" / "t.log"
        # Nothing is held back: the partial line reaches the file before its end does.
        assert wait_until(lambda: path.exists() and path.read_bytes().endswith(b"half a line"))
        feed.send(b", the rest\nnext\n")
        feed.wait_caught_up()
    lines = list(read_lines(_log(tmp_path)))
    assert [line.text for line in lines] == ["half a line, the rest", "next"]
    assert before - 0.002 <= lines[0].ts <= lines[1].ts <= time.time()


def test_killed_mid_stream_and_restarted_loses_no_line(tmp_path: Path) -> None:
    """SIGKILL while a fast writer streams; the next collector resumes from its read mark
    (a batch may come twice, never go missing)."""
    total = 60_000
    with Feed(tmp_path, "t", max_bytes=64 << 10, backups=200) as feed:
        for first in range(1, total + 1, 1000):
            feed.send(_numbers(first, first + 999))
            if first == 30_001:
                pid = collector_alive(tmp_path)
                assert pid is not None
                os.kill(pid, signal.SIGKILL)
                assert wait_until(lambda: collector_alive(tmp_path) is None)
        assert not feed.caught_up()
        feed.start()
        feed.wait_caught_up()
    texts = _texts(_log(tmp_path))
    numbers = [int(text) for text in texts if text.isdigit()]
    assert len(texts) - len(numbers) <= 1  # a line the kill cut short while it was written
    unique = list(dict.fromkeys(numbers))
    assert unique == list(range(1, total + 1))
    assert len(numbers) - len(unique) <= collector.BATCH // 6  # the batch in flight, again


def test_a_line_goes_on_across_collectors_unless_a_crash_cut_it(tmp_path: Path) -> None:
    with Feed(tmp_path, "t") as feed:
        feed.send(b"prompt> ")
        feed.wait_caught_up()
        stop_collector(tmp_path)  # as recorded: the next one goes on with the line
        feed.send(b"yes\n")
        feed.start()
        feed.wait_caught_up()
        assert _texts(_log(tmp_path)) == ["prompt> yes"]
        stop_collector(tmp_path)
        with open(tmp_path / "logs" / "t.log", "ab") as log:
            log.write(b"2023-11-14T22:13:20.000Z half a batch, cut by a ki")  # not recorded
        feed.send(b"again\n")
        feed.start()
        feed.wait_caught_up()
    assert _texts(_log(tmp_path)) == ["prompt> yes", "half a batch, cut by a ki", "again"]


def test_a_grace_is_given_as_seconds() -> None:
    assert collector.parse_grace("0.2") == 0.2
    assert collector.parse_grace("1") == 1.0
    for bad in ("0", "-1", "nan", "inf", "soon", ""):
        assert collector.parse_grace(bad) is None, bad
    assert collector.main(["collector.py", "/nonexistent", "soon"]) == 2


def test_it_stays_while_a_writer_is_there_and_exits_after(tmp_path: Path) -> None:
    with Feed(tmp_path, "t", grace=SHORT_GRACE) as feed:
        feed.send(b"one\n")
        # Past its grace (three times over) with the writer there: it stays.
        holds_for(lambda: collector_alive(tmp_path) is not None, SHORT_GRACE * 3)
        feed.close()
        assert wait_until(lambda: collector_alive(tmp_path) is None, timeout=SHORT_GRACE + 5)
    assert _texts(_log(tmp_path)) == ["one"]


def test_a_touched_spool_keeps_an_exiting_collector(tmp_path: Path) -> None:
    """No writer: the collector is about to exit; a launch's touch keeps it."""
    grace = 0.6  # this test fails if it is paused this long between two touches: not short
    feed = Feed(tmp_path, "t", grace=grace)
    try:
        feed.close()
        pid = collector_alive(tmp_path)

        # touched far more often than the grace, for longer: it never finds the quiet it
        # waits for
        deadline = time.monotonic() + grace * 1.5
        while time.monotonic() < deadline:
            os.utime(feed.layout.spool("t"))
            time.sleep(0.03)
            assert collector_alive(tmp_path) == pid
        assert wait_until(lambda: collector_alive(tmp_path) is None, timeout=grace + 5)
    finally:
        stop_collector(tmp_path)


def test_the_consumed_spool_is_freed(tmp_path: Path) -> None:
    with Feed(tmp_path, "t", max_bytes=1 << 20, backups=1) as feed:
        for first in range(1, 1_000_001, 50_000):
            feed.send(_numbers(first, first + 49_999))
        feed.wait_caught_up()
        spool = Path(feed.layout.spool("t"))
        size = spool.stat().st_size
        assert size > 6 << 20
        assert spool.stat().st_blocks * 512 < 2 * collector.PUNCH_STEP  # holes, not data


def test_no_backups_truncates(tmp_path: Path) -> None:
    with Feed(tmp_path, "t", max_bytes=1000, backups=0) as feed:
        feed.send(_numbers(1, 500))
        feed.wait_caught_up()
    path = tmp_path / "logs" / "t.log"
    assert path.stat().st_size < 1000 + 64 * 1024
    assert not path.with_name("t.log.1").exists()


def test_an_endless_line_is_cut_so_the_file_stays_bounded(tmp_path: Path) -> None:
    log = _log(tmp_path)
    with Feed(tmp_path, "t", max_bytes=1000, backups=2) as feed:
        for count in range(20):
            piece = b"\r progress %02d" % count * 100
            feed.send(piece)  # one chunk at a time: wait until it is written
            feed.wait_caught_up()
    assert all(file.stat().st_size <= 4000 + 2 * len(piece) for file in log.files())
    assert len(log.files()) == 3
    assert tail(log, 1)[0].text == " progress 19"


def test_a_deleted_or_emptied_log_is_made_again(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "t.log"
    with Feed(tmp_path, "t") as feed:
        feed.send(b"first\n")
        feed.wait_caught_up()
        path.unlink()

        feed.send(b"again\n")  # the collector looks for its file before every batch
        feed.wait_caught_up()
        assert path.exists() and b"again" in path.read_bytes()
        os.truncate(path, 0)
        feed.send(b"third\n")
        feed.wait_caught_up()
    assert _texts(_log(tmp_path)) == ["third"]


def _inotify_fds() -> int:
    fds = Path("/proc/self/fd")
    return sum(1 for fd in fds.iterdir() if os.path.realpath(fd) == "anon_inode:inotify")


def test_waits_for_the_collector_share_one_inotify_instance(tmp_path: Path) -> None:
    """Each wait for a running collector is woken by its writes; between waits the one
    instance is kept unwatched (closing one costs the kernel milliseconds a read)."""
    log = _log(tmp_path)
    with Feed(tmp_path, "t") as feed:
        for number in range(20):
            feed.send(b"line %d\n" % number)
            unread = logspool.pending(tmp_path, ["t"])  # (the collector may be done already)
            logspool._wait_read(tmp_path, unread, 10)
            assert feed.caught_up()  # woken by the collector's writes
            assert [line.text for line in tail(log, 1)] == [f"line {number}"]
            if number == 0:
                kept = _inotify_fds()
        assert _inotify_fds() == kept and len(logspool._spare) == 1


def test_an_unwatched_instance_sleeps_through_changes_until_watched_again(
    tmp_path: Path,
) -> None:
    changes = linux.watch(str(tmp_path), linux.IN_MODIFY)
    assert changes is not None
    try:
        (tmp_path / "f").write_bytes(b"x")
        assert changes.wait(5) is not None
        changes.unwatch()
        (tmp_path / "f").write_bytes(b"y")
        assert changes.wait(0.05) is None
        assert not changes.rewatch(str(tmp_path / "missing"))
        assert changes.rewatch(str(tmp_path))
        (tmp_path / "f").write_bytes(b"z")
        assert changes.wait(5) is not None
    finally:
        changes.close()


def test_a_reader_collects_when_no_collector_runs(tmp_path: Path) -> None:
    """Bytes in a spool with no collector: a read has them stamped and shows them, and
    starts a collector for the writer still there."""
    with Feed(tmp_path, "t", start=False) as feed:
        feed.send(b"waiting\n")
        assert collector_alive(tmp_path) is None
        assert [line.text for line in tail(_log(tmp_path), 5)] == ["waiting"]
        assert wait_until(lambda: collector_alive(tmp_path) is not None)
        feed.send(b"live\n")
        assert wait_until(lambda: _texts(_log(tmp_path)) == ["waiting", "live"])


def test_spool_and_read_mark_are_private_and_never_followed(tmp_path: Path) -> None:
    root = tmp_path / "state"
    root.mkdir(mode=0o700)
    target = tmp_path / "victim"
    target.write_bytes(b"keep")
    (root / "spool").mkdir(mode=0o700)
    os.symlink(target, root / "spool" / "t")
    paths = type("P", (), {"root": root})()
    logspool.prepare(paths, "t")  # type: ignore[arg-type]
    spool = root / "spool" / "t"
    assert not spool.is_symlink() and spool.stat().st_mode & 0o777 == 0o600
    assert target.read_bytes() == b"keep"


# Through taskmux, on a real tmux server --------------------------------------------------


def _pss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/smaps_rollup") as handle:
        for line in handle:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    raise AssertionError(f"no Pss for {pid}")


def _pipe_processes(proj: Project) -> list[psutil.Process]:
    """The processes tmux runs for the panes' pipe-pane (children of the tmux server)."""
    result = proj.tmux("display-message", "-p", "#{pid}")
    server = psutil.Process(int(result.stdout))
    panes = {int(p) for p in proj.tmux("list-panes", "-a", "-F", "#{pane_pid}").stdout.split()}
    return [child for child in server.children() if child.pid not in panes]


def test_a_fast_task_is_logged_whole_by_a_cat_per_pane(project: Project) -> None:
    """20,000 lines of `seq`; each pane's pipe is a `cat` of well under 0.5 MB PSS."""
    project.write(
        """
        [tasks.seq]
        command = "seq 1 20000; sleep 600"
        [tasks.idle]
        command = "sleep 600"
        """
    )
    assert project.run("start").returncode == 0
    log = TaskLog("seq", project.paths.log_file("seq"))
    assert wait_until(lambda: [x.text for x in tail(log, 1)] == ["20000"], timeout=30)
    assert _texts(log) == [str(i) for i in range(1, 20_001)]
    pipes = _pipe_processes(project)
    assert sorted(p.name() for p in pipes) == ["cat", "cat"]
    assert all(_pss_kb(p.pid) < 512 for p in pipes), [_pss_kb(p.pid) for p in pipes]
    assert collector_alive(project.paths.root) is not None


def test_lines_are_kept_with_no_collector_and_shown_later(project: Project) -> None:
    """`start` returns; the collector is killed; the task keeps printing into its spool;
    the next `logs` shows every line, stamped, and starts a collector again."""
    project.write(
        """
        [tasks.ticker]
        command = "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.02; done"
        """
    )
    started = time.time()
    assert project.run("start").returncode == 0
    root = project.paths.root
    pid = collector_alive(root)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: collector_alive(root) is None)
    spool = Path(layout.Layout(str(root)).spool("ticker"))
    size = spool.stat().st_size
    assert wait_until(lambda: spool.stat().st_size > size + 200)  # still written, unread
    assert logspool.pending(root, ["ticker"])
    result = project.run("logs", "ticker", "-n", "100000", "--timestamps")
    read_done = time.time()
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    count = len(lines)
    assert count >= 10
    assert [line.split(" ", 1)[1] for line in lines] == [f"tick {i}" for i in range(1, count + 1)]
    assert all(LINE_RE.match(line.encode()) for line in lines)
    # The lines shown were stamped by the read itself (the collector started again goes on
    # appending lines stamped later: not those), and none before the task ran.
    log = TaskLog("ticker", project.paths.log_file("ticker"))
    shown = [line for line in read_lines(log) if line.text in {"tick 1", f"tick {count}"}]
    assert started - 1 <= shown[0].ts <= shown[-1].ts <= read_done + 0.05
    assert wait_until(lambda: collector_alive(root) is not None)  # it runs again


def test_logs_follow_goes_on_across_restarts(project: Project) -> None:
    project.write(
        """
        [tasks.once]
        command = "echo run-$(date +%s%N); sleep 600"
        """
    )
    assert project.run("start").returncode == 0
    follower = project.spawn("logs", "once", "-f", "-n", "10")
    assert follower.stdout is not None
    assert follower.stdout.readline().startswith("run-")
    for _ in range(2):
        assert project.run("restart", "once").returncode == 0
        assert follower.stdout.readline().startswith("run-")
    follower.kill()
    follower.wait()
    lines = _texts(TaskLog("once", project.paths.log_file("once")))
    assert len(lines) == 3 and len(set(lines)) == 3


def test_the_collector_exits_once_the_tasks_are_gone(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logspool, "spawn", functools.partial(logspool.spawn, grace=SHORT_GRACE))
    project.write(
        """
        [tasks.a]
        command = "echo a; sleep 600"
        """
    )
    assert project.run("start").returncode == 0
    root = project.paths.root
    assert collector_alive(root) is not None
    assert project.run("kill", "a").returncode == 0  # the window goes, and its `cat`
    assert wait_until(lambda: collector_alive(root) is None, timeout=SHORT_GRACE + 10)
    assert _texts(TaskLog("a", project.paths.log_file("a"))) == ["a"]


def test_clear_while_the_collector_writes(project: Project) -> None:
    project.write(
        """
        [tasks.ticker]
        command = "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.02; done"
        """
    )
    assert project.run("start").returncode == 0
    log = TaskLog("ticker", project.paths.log_file("ticker"))
    assert wait_until(lambda: len(_texts(log)) >= 5)
    cleared_at = time.time()
    result = project.run("logs", "--clear", "ticker")
    assert result.returncode == 0, result.stderr
    assert wait_until(lambda: len(_texts(log)) >= 3)
    lines = list(read_lines(log))
    assert all(line.ts >= cleared_at - 0.5 for line in lines)  # nothing from before
    numbers = [int(line.text.split()[1]) for line in lines]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))  # whole, in order


def _holds_a_pidfd_of(holder: int, pid: int) -> bool:
    """Whether process `holder` has a pidfd open on `pid` (its fdinfo names the pid)."""
    for info in Path(f"/proc/{holder}/fdinfo").glob("*"):
        try:
            if f"Pid:\t{pid}\n" in info.read_text():
                return True
        except OSError:
            continue
    return False


def test_a_supervisor_starts_a_crashed_collector_again(project: Project) -> None:
    """Under `start -m` the collector's death wakes the supervisor (its pidfd), which
    starts another at once: lines are stamped as they come, not when someone reads.
    (The supervisor runs in a thread: the pidfd is this process's.)"""
    project.write('[tasks.ticker]\ncommand = "while true; do echo tick; sleep 0.05; done"\n')
    project.supervise()
    root = project.paths.root
    first = _steady_collector(project, "ticker")
    wait_until(lambda: _holds_a_pidfd_of(os.getpid(), first), timeout=15)  # it watches it
    os.kill(first, signal.SIGKILL)
    second = wait_until(lambda: (pid := collector_alive(root)) and pid != first and pid, timeout=5)
    assert second != first
    assert wait_until(
        lambda: any(e["event"] == "collector_restarted" for e in project.events()), timeout=5
    )


def _steady_collector(project: Project, task: str) -> int:
    """The collector's pid once it has read the task's first lines: from then on it stays
    (a writer is there). One started before the pane's `cat` opened the spool may exit
    cleanly after its grace, on a loaded machine, and a successor take its place, which a
    test that kills "the collector" must not take for a crash."""
    log = project.paths.root / "logs" / f"{task}.log"
    wait_until(lambda: log.exists() and log.stat().st_size > 0, timeout=15)
    pid: int = wait_until(lambda: collector_alive(project.paths.root), timeout=15)
    return pid


def _restarts(project: Project) -> list[int]:
    return [e["previous_pid"] for e in project.events() if e["event"] == "collector_restarted"]


def test_a_crash_is_found_while_someone_probes_the_lock(tmp_path: Path) -> None:
    """A probe (`collector_pid`: any `status` or read in another shell) holds the lock for
    an instant: a look for a crash meanwhile waits it out rather than missing the crash
    (the collector started next would write over the dead one's pid: CI saw that)."""
    import fcntl
    import subprocess
    import threading

    dead = subprocess.Popen(["true"])
    dead.wait()
    lock = str(tmp_path / "collector.lock")
    Path(lock).write_text(f"{dead.pid}\n")
    os.chmod(lock, 0o600)
    probe = os.open(lock, os.O_RDONLY)
    fcntl.flock(probe, fcntl.LOCK_SH)
    threading.Timer(0.02, os.close, [probe]).start()  # the probe lets go 20 ms later
    assert logspool.crashed_collector(tmp_path) == dead.pid
    assert logspool.crashed_collector(tmp_path) is None  # reported once


def test_a_collector_that_takes_the_lock_from_a_dead_one_reports_the_crash(
    tmp_path: Path,
) -> None:
    """A collector started meanwhile (a launch's and the supervisor's may race) can take the
    lock first, before any look for the crash: it reports it itself, once."""
    import json
    import subprocess

    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / "spool").mkdir(mode=0o700)
    lock = tmp_path / "collector.lock"
    lock.write_text(f"{dead.pid}\n")
    os.chmod(lock, 0o600)
    for _ in range(2):
        taker = collector.Collector(layout.Layout(str(tmp_path)))
        assert taker.acquire()
        taker.release()
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert [(e["event"], e["previous_pid"]) for e in events] == [("collector_restarted", dead.pid)]
    assert logspool.crashed_collector(tmp_path) is None  # nothing left to report


def test_a_running_collector_is_no_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """While the pid in the lock runs, the look does not wait: the lock is a collector's."""
    import fcntl

    lock = str(tmp_path / "collector.lock")
    Path(lock).write_text(f"{os.getpid()}\n")
    os.chmod(lock, 0o600)
    pauses: list[float] = []
    clock = types.SimpleNamespace(sleep=pauses.append, monotonic=time.monotonic, time=time.time)
    monkeypatch.setattr(logspool, "time", clock)  # this module's `time` alone
    holder = os.open(lock, os.O_RDONLY)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        assert logspool.crashed_collector(tmp_path) is None
        assert pauses == []  # no try again
    finally:
        os.close(holder)


def test_a_read_restarts_a_killed_collector_and_records_it(project: Project) -> None:
    """No supervisor: the next read finds the collector that died holding its lock, starts
    another and says so, once (issue 23, item 4)."""
    project.write('[tasks.ticker]\ncommand = "while true; do echo tick; sleep 0.05; done"\n')
    assert project.run("start").returncode == 0
    root = project.paths.root
    first = wait_until(lambda: collector_alive(root), timeout=15)
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: collector_alive(root) != first, timeout=5)
    assert project.run("logs", "ticker", "-n", "3").returncode == 0
    second = wait_until(lambda: collector_alive(root), timeout=15)
    assert second != first
    assert _restarts(project) == [first]
    assert project.run("logs", "ticker", "-n", "3").returncode == 0
    assert _restarts(project) == [first]  # one crash, one event


def test_a_read_restarts_a_killed_collector_while_the_tasks_are_quiet(
    project: Project,
) -> None:
    """A read that finds nothing waiting in the spools still finds the dead collector (what
    the ticker above hits whenever it prints nothing between the kill and the read)."""
    project.write('[tasks.quiet]\ncommand = "echo once; exec sleep 600"\n')
    assert project.run("start").returncode == 0
    root = project.paths.root
    first = wait_until(lambda: collector_alive(root), timeout=15)
    wait_until(lambda: (root / "logs" / "quiet.log").exists(), timeout=5)
    wait_until(lambda: not logspool.pending(root, ["quiet"]), timeout=5)  # all read
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: collector_alive(root) != first, timeout=5)
    assert project.run("logs", "quiet", "-n", "3").stdout.count("once") == 1
    second = wait_until(lambda: collector_alive(root), timeout=15)
    assert second != first
    assert _restarts(project) == [first]
    assert project.run("logs", "quiet", "-n", "3").returncode == 0
    assert _restarts(project) == [first]  # one crash, one event


def test_a_supervisor_restarts_at_once_a_collector_a_cli_launch_started(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The collector a `taskmux start` (not the supervisor) started is watched too: killed,
    it is back at once with a `collector_restarted` event, not at the next sweep (a
    minute away here, so a look at the sweep could not pass for one at once)."""
    from dataclasses import replace

    from taskmux.runtime import timing

    monkeypatch.setattr(timing, "DEFAULT", replace(timing.DEFAULT, sweep=60.0))
    project.write(
        """
        [tasks.ticker]
        command = "while true; do echo tick; sleep 0.05; done"
        auto_start = false
        """
    )
    project.supervise()  # starts nothing, supervises (in a thread)
    root = project.paths.root
    assert supervisor_running(project.paths.supervisor_lock)
    assert collector_alive(root) is None
    assert project.run("start", "ticker").returncode == 0  # a CLI launch starts it
    launched = _steady_collector(project, "ticker")
    # The supervisor has read the launch's poke once it watches the collector (a pidfd).
    wait_until(lambda: _holds_a_pidfd_of(os.getpid(), launched), timeout=10)
    os.kill(launched, signal.SIGKILL)
    began = time.monotonic()
    # Nothing else is due meanwhile (no probe, no restart): only the collector's end can
    # wake the supervisor before its sweep.
    back = wait_until(lambda: (pid := collector_alive(root)) != launched and pid, timeout=30)
    assert back, time.monotonic() - began
    recorded = timing.wait_until(lambda: launched in _restarts(project), 5, interval=0.05)
    assert recorded, (launched, back, project.events())


def test_a_collector_carries_nothing_of_its_starters_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Started from inside a task (`taskmux logs -f` in a pane), it must not carry that
    task's marker (a stop of the task would end it) nor its secrets."""
    monkeypatch.setenv("TASKMUX_MARKER", "somewhere/api")
    monkeypatch.setenv("API_TOKEN", "s3cret")
    with Feed(tmp_path, "t") as feed:
        pid = collector_alive(tmp_path)
        assert pid is not None
        with open(f"/proc/{pid}/environ", "rb") as handle:
            environ = handle.read()
        assert b"TASKMUX_MARKER" not in environ and b"s3cret" not in environ
        feed.close()
