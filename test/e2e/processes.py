"""The processes of the end-to-end tests, as /proc shows them: a server's
sessions (to count them, read their uids and CPU time, and check that none
is left behind, not even as a zombie), and the stopping of a process group
a fixture started."""

import dataclasses
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def stop_process_group(proc, grace=5):
    """Ends the process group PROC leads (started with start_new_session):
    SIGTERM, then SIGKILL after GRACE seconds. Nothing if it has ended."""
    if not proc or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


@dataclasses.dataclass(frozen=True)
class Process:
    pid: int
    ppid: int
    name: str
    state: str      # R, S, D, Z, T...
    cpu: float      # user + system seconds
    start: int      # clock ticks after boot: tells a reused pid apart
    uids: tuple     # real, effective, saved, filesystem

    def __str__(self):
        return f"{self.name}[{self.pid}] state {self.state} uid {self.uids[1]} cpu {self.cpu:.2f}s"


def read_process(pid):
    """The process PID as /proc shows it, or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    name = stat[stat.index("(") + 1:stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2:].split()
    uids = next((tuple(int(u) for u in line.split()[1:])
                 for line in status.splitlines() if line.startswith("Uid:")), ())
    return Process(pid=pid, ppid=int(fields[1]), name=name, state=fields[0],
                   cpu=(int(fields[11]) + int(fields[12])) / CLOCK_TICKS,
                   start=int(fields[19]), uids=uids)


def all_processes():
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            p = read_process(int(entry.name))
            if p:
                out[p.pid] = p
    return out


class SessionProcesses:
    """The processes of a server's sessions: tcpserver's descendants, and
    anything carrying the server's tag in its environment (a process that
    left the tree, reparented to init, still has it). A thread looks every
    `interval` seconds so that short-lived processes are seen too."""

    def __init__(self, server, tag, interval, timeout):
        self.server = server
        self.timeout = timeout  # seconds, for the waits below that name none
        self.tag = f"SMTPAUTH_E2E_TAG={tag}".encode()
        self.tagged = {}     # (pid, start) -> carries the tag
        self.seen = {}       # (pid, start) -> Process, every session process ever seen
        self.most = 0        # most session processes alive at one time
        self.interval = interval
        self._stop = False
        self._thread = None

    def _carries_tag(self, p):
        key = (p.pid, p.start)
        if key not in self.tagged:
            try:
                environ = Path(f"/proc/{p.pid}/environ").read_bytes()
            except OSError:
                environ = b""  # gone, or a zombie: it has no environment left
            self.tagged[key] = self.tag in environ.split(b"\0")
        return self.tagged[key]

    def current(self):
        """{pid: Process} of the session processes alive (or zombie) now."""
        procs = all_processes()
        root = self.server.proc.pid if self.server.proc else None
        children = {}
        for p in procs.values():
            children.setdefault(p.ppid, []).append(p.pid)
        found = {}
        todo = list(children.get(root, []))
        while todo:
            pid = todo.pop()
            found[pid] = procs[pid]
            todo.extend(children.get(pid, []))
        for p in procs.values():
            if p.pid != root and p.pid not in found and (
                    (p.pid, p.start) in self.seen or self._carries_tag(p)):
                found[p.pid] = p
        for p in found.values():
            self.seen[(p.pid, p.start)] = p
        self.most = max(self.most, len(found))
        return found

    def start(self):
        def sample():
            while not self._stop:
                self.current()
                time.sleep(self.interval)
        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop = True
        if self._thread:
            self._thread.join()

    def names(self):
        return sorted(p.name for p in self.current().values())

    def wait_for_names(self, wanted, timeout=None):
        """Waits until the names of the session processes are `wanted`
        (a sorted list), or include it (a set); returns them."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            names = self.names()
            if (names == wanted if isinstance(wanted, list) else wanted <= set(names)):
                return names
            assert time.monotonic() < deadline, f"processes {names}, not {wanted}"
            time.sleep(0.02)

    def cpu_during(self, seconds):
        """CPU seconds the session processes use in the next `seconds`."""
        before = self.current()
        time.sleep(seconds)
        after = self.current()
        used = 0.0
        for pid, p in after.items():
            old = before.get(pid)
            used += p.cpu - (old.cpu if old and old.start == p.start else 0.0)
        return used

    def leftovers(self, timeout=None):
        """Waits up to `timeout` for every session process to be gone and
        reaped; returns those still there (zombies included)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            left = list(self.current().values())
            if not left or time.monotonic() > deadline:
                return left

    def assert_all_gone(self, timeout=None):
        left = self.leftovers(timeout)
        assert not left, "left behind: " + ", ".join(map(str, left))

    def kill_all(self):
        """Teardown: SIGKILL whatever of ours survived a failed test."""
        for p in self.current().values():
            try:
                os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
