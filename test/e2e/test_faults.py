"""Faults: a checker, a backend or a client that misbehaves. Every test runs
the real chain under tcpserver and, after the fault, checks that no process
of the session is left (zombies included), that nothing spun the CPU while
the fault lasted, and that the next connection works.

The checker and the backend are wrapper scripts that run the real programs
unless told otherwise through a mode file, so the same server shows the
fault and then a working session. Where a wrapper fakes a fault itself, it
is because no real program produces that fault on demand (a checker that
crashes, a backend that greets 554); each such mode says so."""

import os
import re
import signal
import socket
import ssl
import struct
import time

import pytest

import backends
from conftest import LOCAL_HOST, TIMEOUT, b64, deliver, plain_response

EHLO = "EHLO client.test.example"
QUICK = {"SMTP_TIMEOUT": "2", "SMTPPROXY_TIMEOUT": "2", "AUTH_TIMEOUT": "1"}
IDLE_CPU = 0.1  # seconds of CPU all session processes may use while idle for 2 s
FAULT_CPU = 1.5  # seconds of CPU all the sessions of one test may use (last look)


# --- the wrappers ---------------------------------------------------------

CHECKER = r"""#!/bin/sh
# The checker for the fault tests: the real checkpassword_nosu, unless the
# mode file says otherwise.
real='@REAL@'
case $(cat '@MODE@') in
crash)
    # FAKE: no real checker crashes on demand. Dies by SIGSEGV.
    ulimit -c 0
    kill -SEGV $$ ;;
hang)
    # Real: the passwd-file is a FIFO nobody writes to, so the real
    # checker blocks reading it.
    CHECKPASSWORD_FILE='@FIFO@' exec "$real" "$@" ;;
hang-with-child)
    # FAKE: a checker script whose child hangs.
    sleep 60
    exit 1 ;;
exit-111)
    # Real: the passwd-file is missing, a temporary failure.
    CHECKPASSWORD_FILE='@MISSING@' exec "$real" "$@" ;;
garbage)
    # FAKE output: junk on stdout and stderr (bytes, a forged reply, no
    # line end), then the real checker gives the verdict.
    printf '235 2.7.0 forged\r\n\000\377\r\n\001junk' >&1
    printf '\000\377 checker junk \033[2J no line end' >&2
    exec "$real" "$@" ;;
record-fd3)
    # Real, watched: notes which pipe is on fd 3, then runs the checker.
    readlink /proc/$$/fd/3 > '@FD3@'
    exec "$real" "$@" ;;
*)
    exec "$real" "$@" ;;
esac
"""

BACKEND = r"""#!/bin/sh
# The backend for the fault tests: mailfront, unless the mode file says
# otherwise. Runs as the unprivileged account.
dir='@DIR@'
case $(cat '@MODE@') in
no-greeting)
    # Real: mailfront without its protocol module exits before greeting.
    exec mailfront no-such-protocol echo ;;
greet-451)
    # Real: mailfront without its backend module greets 451 and exits.
    exec mailfront smtp no-such-backend ;;
greet-421)
    # FAKE: qmail-smtpd's greeting when its controls are unreadable.
    printf '421 unable to read controls (#4.3.0)\r\n'
    exit 1 ;;
greet-554)
    # FAKE: a server that refuses service (RFC 5321 3.1), then waits.
    printf '554 5.7.1 no SMTP service here\r\n'
    exec cat > /dev/null ;;
hang)
    # FAKE: a backend that never says anything.
    exec sleep 3600 ;;
slow)
    # Real, late: mailfront after a second.
    sleep 1
    exec "$@" ;;
close-output)
    # FAKE: greets, answers one line, closes its output, keeps reading.
    printf '220 fake ESMTP\r\n'
    read -r line
    printf '250 fake\r\n'
    exec 1>&-
    exec cat > "$dir/after-close" ;;
stop-reading)
    # FAKE: greets, answers the replayed EHLO, then never reads again.
    printf '220 fake ESMTP\r\n'
    read -r line
    printf '250 fake\r\n'
    exec sleep 3600 ;;
record)
    # Real, recorded: what mailfront reads goes to a file too.
    exec /usr/bin/python3 "$dir/record" "$dir/received" "$@" ;;
*)
    exec "$@" ;;
esac
"""


RECORD = r"""
# Runs the backend given as arguments with stdin passed on through a pipe,
# and copies every byte it reads to FILE first. Exits with the backend, so
# that the backend's end is seen as it would be without us. The backend's
# stdout is ours: we close our copy.
import os, subprocess, sys, threading
path, argv = sys.argv[1], sys.argv[2:]
child = subprocess.Popen(argv, stdin=subprocess.PIPE)
os.close(1)

def copy():
    with open(path, "wb", buffering=0) as record:
        while data := os.read(0, 65536):
            record.write(data)
            try:
                child.stdin.write(data)
                child.stdin.flush()
            except BrokenPipeError:
                pass
    child.stdin.close()

threading.Thread(target=copy, daemon=True).start()
status = child.wait()
os._exit(status if status >= 0 else 128 - status)
"""


class Wrapper:
    """A wrapper script and its mode file."""

    def __init__(self, path, mode_file):
        self.path = path
        self.mode_file = mode_file
        self.set("normal")

    def set(self, mode):
        self.mode_file.write_text(mode + "\n")


@pytest.fixture
def checker(workdir, bin_dir, request):
    folder = workdir / ("checker-" + re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name))
    folder.mkdir()
    fifo = folder / "passwd-fifo"
    os.mkfifo(fifo)
    script = folder / "checker"
    script.write_text(CHECKER
                      .replace("@REAL@", str(bin_dir / "checkpassword_nosu"))
                      .replace("@MODE@", str(folder / "mode"))
                      .replace("@FIFO@", str(fifo))
                      .replace("@MISSING@", str(folder / "no-such-passwd-file"))
                      .replace("@FD3@", str(folder / "fd3")))
    script.chmod(0o755)
    w = Wrapper(script, folder / "mode")
    w.fd3 = folder / "fd3"
    return w


@pytest.fixture
def backend(backend_dir):
    """The backend wrapper; its files (recordings) go into backend_dir."""
    script = backend_dir / "backend"
    script.write_text(BACKEND.replace("@DIR@", str(backend_dir))
                      .replace("@MODE@", str(backend_dir / "mode")))
    script.chmod(0o755)
    (backend_dir / "record").write_text(RECORD)
    w = Wrapper(script, backend_dir / "mode")
    w.dir = backend_dir
    return w


def start(chain, checker=None, backend=None, mailfront="echo", env=None, **kw):
    argv = None
    if backend:
        argv = [backend.path, *backends.BACKEND.argv(mailfront)]
    return chain(env=dict(QUICK, **(env or {})), checker=checker and checker.path,
                 backend=mailfront, backend_argv=argv, **kw)


def after_fault(s, account, wrappers=(), timeout=TIMEOUT):
    """Every session process gone and reaped, none of them having spent
    much CPU time; then a normal session works."""
    s.processes.assert_all_gone(timeout)
    spent = sum(p.cpu for p in s.processes.seen.values())
    assert spent < FAULT_CPU, f"the sessions used {spent:.2f} s of CPU"
    for w in wrappers:
        w.set("normal")
    deliver(s, account)
    s.processes.assert_all_gone()


def assert_idle(s, seconds=2.0):
    used = s.processes.cpu_during(seconds)
    assert used < IDLE_CPU, f"{used:.2f} s of CPU in {seconds} s idle: {s.processes.current()}"


def replies_until_gone(c):
    """The replies until the server closes the connection. A reset counts as
    a close: a program that ends with client input unread closes with RST,
    after the replies it wrote."""
    replies = []
    while True:
        try:
            replies.append(c.reply())
        except (EOFError, ConnectionResetError):
            assert b"\n" not in c.buffer, f"unread reply at close: {c.buffer!r}"
            return replies


def login(c, account):
    assert c.reply().code == 220
    assert c.command(EHLO).code == 250
    assert c.command("AUTH PLAIN " + plain_response(account.user, account.password)).code == 235


# --- the checker ------------------------------------------------------------

@pytest.mark.parametrize("mode,detail", [
    ("crash", "checker killed by signal 11"),
    ("exit-111", "checker exit 111"),
])
def test_checker_failure_is_temporary(chain, checker, passwd_file, mode, detail):
    s = start(chain, checker=checker)
    a = passwd_file.plain
    checker.set(mode)
    with s.connect() as c:
        c.reply()
        assert c.command(EHLO).code == 250
        reply = c.command("AUTH PLAIN " + plain_response(a.user, a.password))
        assert reply.lines == ["454 4.7.0 Temporary authentication failure"], reply
        # The session goes on, and a temporary failure is no failed login.
        checker.set("normal")
        assert c.command("NOOP").code == 250
        assert c.command("AUTH PLAIN " + plain_response(a.user, a.password)).code == 235
        assert c.command("QUIT").code == 221
    s.wait_for_log(rf'from 127\.0\.0\.1: auth PLAIN user "alice": temporary failure \({detail}\)')
    after_fault(s, a)


def test_hanging_checker_is_killed(chain, checker, passwd_file):
    s = start(chain, checker=checker)
    a = passwd_file.plain
    checker.set("hang")
    with s.connect() as c:
        c.reply()
        assert c.command(EHLO).code == 250
        c.send("AUTH PLAIN " + plain_response(a.user, a.password) + "\r\n")
        s.processes.wait_for_names(["checkpassword_n", "smtp_auth"])
        assert_idle(s, 0.5)
        reply = c.reply()
        assert reply.lines == ["454 4.7.0 Temporary authentication failure"], reply
        # The checker is gone, reaped, and smtp_auth goes on alone.
        assert s.processes.names() == ["smtp_auth"]
        checker.set("normal")
        assert c.command("AUTH PLAIN " + plain_response(a.user, a.password)).code == 235
        assert c.command("MAIL FROM:<alice@example.org>").code == 250
    s.wait_for_log(r'temporary failure \(checker timed out\)')
    after_fault(s, a)


def test_hanging_checker_script_leaves_no_child(chain, checker, passwd_file):
    """A checker that is a script: its child must not outlive the timeout."""
    s = start(chain, checker=checker)
    a = passwd_file.plain
    checker.set("hang-with-child")
    with s.connect() as c:
        c.reply()
        assert c.command(EHLO).code == 250
        assert c.command("AUTH PLAIN " + plain_response(a.user, a.password)).code == 454
        assert c.command("QUIT").code == 221
    after_fault(s, a, [checker], timeout=3)


@pytest.mark.parametrize("good", [True, False])
def test_checker_garbage_goes_nowhere_near_the_client(chain, checker, passwd_file, good):
    s = start(chain, checker=checker)
    a = passwd_file.plain
    checker.set("garbage")
    password = a.password if good else "wrong"
    with s.connect() as c:
        c.reply()
        assert c.command(EHLO).code == 250
        reply = c.command("AUTH PLAIN " + plain_response(a.user, password))
        assert reply.lines == (["235 2.7.0 Authentication successful"] if good else
                               ["535 5.7.8 Authentication credentials invalid"]), reply
        assert c.command("MAIL FROM:<alice@example.org>").code == 250
        assert c.command("QUIT").code == 221
        assert c.is_closed()
        assert b"forged" not in c.raw and b"junk" not in c.raw
    after_fault(s, a, [checker])


def test_missing_checker(chain, passwd_file, workdir):
    missing = workdir / "no-such-checker"
    s = chain(env=QUICK, checker=missing)
    a = passwd_file.plain
    with s.connect() as c:
        c.reply()
        assert c.command(EHLO).code == 250
        reply = c.command("AUTH PLAIN " + plain_response(a.user, a.password))
        assert reply.lines == ["454 4.7.0 Temporary authentication failure"], reply
        assert c.command("NOOP").code == 250
        assert c.command("QUIT").code == 221
    log = s.wait_for_log(r"temporary failure \(checker exit 111\)")
    assert f"from 127.0.0.1: checker: failed (unable to run {missing}: No such file or directory)" in log
    s.processes.assert_all_gone()


# --- the backend ------------------------------------------------------------

@pytest.mark.parametrize("mode,expected", [
    ("no-greeting", "421 4.3.0 backend closed the connection"),
    ("greet-451", "451 4.3.0 Error loading backend no-such-backend"),
    ("greet-421", "421 unable to read controls (#4.3.0)"),
    ("greet-554", "554 5.7.1 no SMTP service here"),
])
@pytest.mark.parametrize("authenticated", [True, False])
def test_backend_refuses_or_fails_to_greet(chain, backend, passwd_file, mode, expected,
                                           authenticated):
    """The client has had smtp_auth's greeting: the backend's failure to
    greet reaches it as the reply to its first mail command."""
    s = start(chain, backend=backend)
    a = passwd_file.plain
    backend.set(mode)
    with s.connect() as c:
        if authenticated:
            login(c, a)
        else:
            c.reply()
        c.send("MAIL FROM:<alice@example.org>\r\n")
        replies = replies_until_gone(c)
    assert len(replies) == 1 and replies[0].lines[0].startswith(expected), replies
    after_fault(s, a, [backend])


def test_refusing_backend_ends_without_a_reset(chain, backend, passwd_file):
    """The client pipelined its commands; they sit unread when smtpproxy
    gives up on a backend that greets 421. Closing then would reset the
    connection (and a reset can cost a client the reply it has not read
    yet): the client gets the 421 and then a clean end of file."""
    s = start(chain, backend=backend)
    a = passwd_file.plain
    backend.set("greet-421")
    with s.connect() as c:
        login(c, a)
        c.send("MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n"
               + "Subject: pipelined\r\n\r\n" + "x" * 4000 + "\r\n.\r\nQUIT\r\n")
        assert c.reply().lines == ["421 unable to read controls (#4.3.0)"]
        try:
            rest = c.sock.recv(4096)
        except ConnectionResetError:
            pytest.fail("the connection was reset, not closed")
        assert c.buffer + rest == b""
    after_fault(s, a, [backend])


def test_missing_backend(chain, passwd_file, workdir):
    s = chain(env=QUICK, backend_argv=[workdir / "no-such-backend"])
    a = passwd_file.plain
    with s.connect() as c:
        login(c, a)
        c.send("MAIL FROM:<alice@example.org>\r\n")
        replies = replies_until_gone(c)
    assert [r.lines for r in replies] == [["421 4.3.0 service temporarily unavailable"]]
    assert re.search(r"^smtpproxy: pid \d+ from 127\.0\.0\.1: backend: failed \(unable to run ",
                     s.sessions_ended(1), re.M)
    s.processes.assert_all_gone()


def mailfront_pid(s):
    """The backend's pid: mailfront's, or qmail-smtpd's (backends.py)."""
    [pid] = [p.pid for p in s.processes.current().values() if p.name == backends.BACKEND.process]
    return pid


def test_backend_dies_mid_data(chain, passwd_file, queue):
    """mailfront killed while the message comes in: the client gets no 250,
    nothing is queued."""
    s = start(chain, mailfront="queuedir", env=queue.env())
    a = passwd_file.plain
    with s.connect() as c:
        login(c, a)
        assert c.command("MAIL FROM:<alice@example.org>").code == 250
        assert c.command("RCPT TO:<someone@remote.example>").code == 250
        assert c.command("DATA").code == 354
        c.send("Subject: half\r\n\r\nthe first half\r\n")
        time.sleep(0.2)
        os.kill(mailfront_pid(s), signal.SIGKILL)
        c.sock.settimeout(5)
        replies = replies_until_gone(c)
        assert all(r.code != 250 for r in replies), replies
    assert queue.messages() == []
    after_fault(s, a)


def test_backend_hangs_before_greeting(chain, backend, passwd_file):
    """SMTPPROXY_TIMEOUT ends the wait for the greeting; the fake is killed."""
    s = start(chain, backend=backend)
    a = passwd_file.plain
    backend.set("hang")
    with s.connect() as c:
        login(c, a)
        started = time.monotonic()
        c.send("MAIL FROM:<alice@example.org>\r\n")
        assert_idle(s, 1.0)
        c.sock.settimeout(10)
        assert replies_until_gone(c) == []
        assert time.monotonic() - started < 5
    assert ": backend: timeout (waiting for its " in s.log()
    after_fault(s, a, [backend])


def test_backend_hangs_mid_session(chain, passwd_file):
    """mailfront stopped (SIGSTOP) after MAIL: SMTPPROXY_TIMEOUT closes the
    session and mailfront is killed even though it cannot run."""
    s = start(chain)
    a = passwd_file.plain
    with s.connect() as c:
        login(c, a)
        assert c.command("MAIL FROM:<alice@example.org>").code == 250
        os.kill(mailfront_pid(s), signal.SIGSTOP)
        started = time.monotonic()
        c.send("RCPT TO:<someone@remote.example>\r\n")
        assert_idle(s, 1.0)
        c.sock.settimeout(10)
        assert replies_until_gone(c) == []
        assert time.monotonic() - started < 5
    assert re.search(r"^smtpproxy: pid \d+ from 127\.0\.0\.1: session: timeout \(idle for SMTPPROXY_TIMEOUT\)$",
                     s.log(), re.M)
    after_fault(s, a)


def test_backend_closes_output_but_keeps_reading(chain, backend, passwd_file):
    s = start(chain, backend=backend)
    a = passwd_file.plain
    backend.set("close-output")
    with s.connect() as c:
        login(c, a)
        c.send("MAIL FROM:<alice@example.org>\r\n")
        # The client hears the end at once...
        assert replies_until_gone(c) == []
        # ...and what it still sends reaches the backend, which reads on.
        c.send("RCPT TO:<someone@remote.example>\r\n")
        time.sleep(0.3)
        assert_idle(s, 1.0)
    deadline = time.monotonic() + TIMEOUT
    while b"RCPT" not in (backend.dir / "after-close").read_bytes():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert (backend.dir / "after-close").read_bytes() == (
        b"MAIL FROM:<alice@example.org>\r\nRCPT TO:<someone@remote.example>\r\n")
    after_fault(s, a, [backend])


def test_backend_closes_output_and_client_stays(chain, backend, passwd_file):
    """Neither side says a word: SMTPPROXY_TIMEOUT ends it."""
    s = start(chain, backend=backend)
    a = passwd_file.plain
    backend.set("close-output")
    with s.connect() as c:
        login(c, a)
        c.send("MAIL FROM:<alice@example.org>\r\n")
        assert replies_until_gone(c) == []
        assert_idle(s, 1.0)
        s.processes.assert_all_gone(5)
    after_fault(s, a, [backend])


# --- the client -------------------------------------------------------------

@pytest.mark.parametrize("stage", ["user prompt", "password prompt", "checker", "delay"])
def test_client_disconnects_during_auth(chain, checker, passwd_file, stage):
    s = start(chain, checker=checker, env={"AUTH_DELAY": "1"})
    a = passwd_file.plain
    with s.connect() as c:
        c.reply()
        assert c.command(EHLO).code == 250
        if stage == "checker":
            checker.set("hang")
            c.send("AUTH PLAIN " + plain_response(a.user, a.password) + "\r\n")
            s.processes.wait_for_names({"checkpassword_n"})
        elif stage == "delay":
            c.send("AUTH PLAIN " + plain_response(a.user, "wrong") + "\r\n")
            time.sleep(0.3)
        else:
            assert c.command("AUTH LOGIN").code == 334
            if stage == "password prompt":
                assert c.command(b64(a.user)).code == 334
    after_fault(s, a, [checker], timeout=5)


def test_client_disconnects_during_replay(chain, backend, passwd_file, queue):
    """The client logs in, pipelines a message and goes while the backend
    is still starting: nothing of it is sent, nothing is left."""
    s = start(chain, backend=backend, mailfront="queuedir", env=queue.env())
    a = passwd_file.plain
    backend.set("slow")
    with s.connect() as c:
        c.reply()
        c.send(f"{EHLO}\r\nAUTH PLAIN {plain_response(a.user, a.password)}\r\n"
               "MAIL FROM:<alice@example.org>\r\nRCPT TO:<someone@remote.example>\r\n"
               "DATA\r\nSubject: gone\r\n\r\n")
        assert c.reply().code == 250
        assert c.reply().code == 235
        # smtpproxy waits for the (slow) greeting when the client goes.
        s.processes.wait_for_names({"smtpproxy", "sleep"})
    s.processes.assert_all_gone()
    assert queue.messages() == []
    after_fault(s, a, [backend])


def test_client_disconnects_mid_data(chain, passwd_file, queue):
    s = start(chain, mailfront="queuedir", env=queue.env())
    a = passwd_file.plain
    with s.connect() as c:
        login(c, a)
        c.send("MAIL FROM:<alice@example.org>\r\nRCPT TO:<someone@remote.example>\r\nDATA\r\n")
        assert [c.reply().code for _ in range(3)] == [250, 250, 354]
        c.send("Subject: cut\r\n\r\nno end\r\n")
        time.sleep(0.2)
    s.processes.assert_all_gone()
    assert queue.messages() == []
    after_fault(s, a)


# --- TLS handshakes cut short ------------------------------------------------

@pytest.fixture
def tls_env(tls_env):
    return dict(tls_env, AUTH_PLAINTEXT="1")  # so that after_fault can log in in the clear


def client_hello():
    """The first flight of a real TLS client."""
    context = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=LOCAL_HOST)
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


@pytest.mark.parametrize("implicit", [False, True])
@pytest.mark.parametrize("sent", ["nothing", "half a hello"])
@pytest.mark.parametrize("leaves", [True, False])
def test_client_stops_mid_tls_handshake(chain, passwd_file, tls_env, implicit, sent, leaves):
    """The client goes (or goes quiet: SMTP_TIMEOUT) in the middle of the
    handshake."""
    env = dict(tls_env, SMTPS="1") if implicit else tls_env
    s = start(chain, env=env)
    hello = client_hello()
    with s.connect() as c:
        if not implicit:
            c.reply()
            assert c.command("STARTTLS").code == 220
        if sent != "nothing":
            c.send(hello[:len(hello) // 2])
        if not leaves:
            # Let the session finish starting (under ASan a program's
            # start-up alone costs a tenth of a second) before it must idle.
            time.sleep(0.5)
            assert_idle(s, 1.0)
            c.sock.settimeout(10)
            started = time.monotonic()
            assert c.sock.recv(100) == b""
            assert time.monotonic() - started < 3
    s.wait_for_log(r"from 127\.0\.0\.1: tls handshake: failed \(")
    if implicit:
        s.processes.assert_all_gone()
    else:
        after_fault(s, passwd_file.plain)


class TlsClient:
    """A TLS client over a plain socket, so that the test decides where the
    encrypted bytes are cut into writes."""

    def __init__(self, sock, context):
        self.sock = sock
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_hostname=LOCAL_HOST)
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.flush()
                self.incoming.write(self.sock.recv(65536))
        self.flush()

    def flush(self):
        if data := self.outgoing.read():
            self.sock.sendall(data)

    def records(self, text):
        """The encrypted bytes for `text`, not sent."""
        self.tls.write(text)
        return self.outgoing.read()

    def reply(self):
        """One whole reply, multi-line or not."""
        data = b""
        while not (data.endswith(b"\r\n") and data.splitlines()[-1][3:4] == b" "):
            try:
                chunk = self.tls.read(65536)
                assert chunk, f"TLS closed after {data!r}"
                data += chunk
            except ssl.SSLWantReadError:
                chunk = self.sock.recv(65536)
                assert chunk, f"closed after {data!r}"
                self.incoming.write(chunk)
        return data


def test_tls_records_split_across_writes_with_pauses(chain, passwd_file, tls_env, certificate):
    """Half a TLS record, then a pause: the TLS relay waits without spinning."""
    s = start(chain, env=tls_env)
    context = ssl.create_default_context(cafile=str(certificate[0]))
    context.check_hostname = False
    a = passwd_file.plain
    with s.connect() as c:
        c.reply()
        assert c.command("STARTTLS").code == 220
        tls = TlsClient(c.sock, context)
        used = 0.0
        for command, expected in [(EHLO, b"250-"),
                                  ("AUTH PLAIN " + plain_response(a.user, a.password), b"235 "),
                                  ("MAIL FROM:<alice@example.org>", b"250 "),  # via smtpproxy
                                  ("RCPT TO:<someone@remote.example>", b"250 ")]:
            data = tls.records(command.encode() + b"\r\n")
            c.send(data[:7])  # inside the record header
            used += s.processes.cpu_during(0.5)
            c.send(data[7:-3])
            used += s.processes.cpu_during(0.5)
            c.send(data[-3:])
            assert tls.reply().startswith(expected)
        assert used < 4 * IDLE_CPU, f"{used:.2f} s of CPU in 4 s of pauses"
    after_fault(s, a)


def test_tls_relay_passes_on_the_last_reply(chain, passwd_file, tls_env, certificate):
    """The backend answers QUIT and exits at once: its 221 must still reach
    the client through the TLS relay."""
    s = start(chain, env=tls_env)
    context = ssl.create_default_context(cafile=str(certificate[0]))
    context.check_hostname = False
    a = passwd_file.plain
    lost = 0
    for _ in range(20):
        with s.connect() as c:
            c.reply()
            assert c.command("STARTTLS").code == 220
            tls = TlsClient(c.sock, context)
            c.send(tls.records(f"{EHLO}\r\nAUTH PLAIN {plain_response(a.user, a.password)}\r\n"
                               "MAIL FROM:<alice@example.org>\r\nQUIT\r\n".encode()))
            replies = b""
            try:
                while not replies.endswith(b"\r\n") or b"\r\n221 " not in replies:
                    replies += tls.reply()
            except (AssertionError, ssl.SSLError, OSError):
                lost += 1
    assert lost == 0, f"the 221 was lost in {lost} sessions of 20"
    s.processes.assert_all_gone()


def test_tls_client_resets_while_the_backend_does_not_read(chain, backend, passwd_file, tls_env,
                                                          certificate):
    """The backend stops reading; the client fills every buffer on the way,
    then resets the connection. The TLS relay, left with bytes for a session
    that does not take them, must wait for it quietly, not spin on the
    reset."""
    env = dict(tls_env, SMTPS="1", SMTP_TIMEOUT="4", SMTPPROXY_TIMEOUT="4")
    s = start(chain, backend=backend, env=env)
    backend.set("stop-reading")
    context = ssl.create_default_context(cafile=str(certificate[0]))
    context.check_hostname = False
    a = passwd_file.plain
    raw = socket.create_connection(("127.0.0.1", s.port), timeout=TIMEOUT)
    tls = context.wrap_socket(raw)
    replies = tls.makefile("rb")

    def reply():
        while (line := replies.readline())[3:4] == b"-":
            pass
        return line

    assert reply().startswith(b"220 ")
    tls.sendall(f"{EHLO}\r\n".encode())
    assert reply().startswith(b"250 ")
    tls.sendall(f"AUTH PLAIN {plain_response(a.user, a.password)}\r\n".encode())
    assert reply().startswith(b"235 ")
    tls.sendall(b"MAIL FROM:<alice@example.org>\r\n")
    tls.settimeout(1)
    with pytest.raises(TimeoutError):
        while True:
            tls.sendall(b"x" * 16384)
    tls.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    replies.close()
    tls.close()  # RST
    time.sleep(0.3)
    assert_idle(s, 1.0)
    s.processes.assert_all_gone()  # SMTPPROXY_TIMEOUT ends the backend that does not read


# --- slow, split and idle clients --------------------------------------------

def split_send(c, parts, pause, s=None):
    """Sends the parts one write each with a pause between; measures the
    session's CPU time during the pauses."""
    used = 0.0
    for part in parts[:-1]:
        c.send(part)
        used += s.processes.cpu_during(pause) if s else (time.sleep(pause) or 0.0)
    c.send(parts[-1])
    return used


def test_commands_split_across_writes_with_pauses(chain, passwd_file, queue):
    s = start(chain, mailfront="queuedir", env=queue.env())
    a = passwd_file.plain
    auth = f"AUTH PLAIN {plain_response(a.user, a.password)}\r\n"
    used = 0.0
    with s.connect() as c:
        assert c.reply().code == 220
        # Read by smtp_auth.
        used += split_send(c, [b"EH", b"LO client.te", b"st.example\r", b"\n"], 0.4, s)
        assert c.reply().code == 250
        used += split_send(c, [auth[:7], auth[7:20], auth[20:-1], auth[-1:]], 0.4, s)
        assert c.reply().code == 235
        # Relayed by smtpproxy to mailfront.
        used += split_send(c, [b"MAIL FR", b"OM:<alice@example.org>\r\nRC",
                               b"PT TO:<someone@remote.example>\r\nDA", b"TA\r\n"], 0.4, s)
        assert [c.reply().code for _ in range(3)] == [250, 250, 354]
        used += split_send(c, [b"Subject: split\r\n\r\nbody\r", b"\n.", b"\r", b"\nQUIT\r\n"],
                           0.4, s)
        assert [r.code for r in c.replies_until_close()] == [250, 221]
    assert used < 4 * IDLE_CPU, f"{used:.2f} s of CPU in 4.8 s of pauses"
    assert queue.messages() == [("alice@example.org", ["someone@remote.example"],
                                 b"Subject: split\n\nbody\n")]
    after_fault(s, a)


def test_one_byte_per_write_for_a_whole_session(chain, passwd_file, queue):
    s = start(chain, mailfront="queuedir", env=queue.env())
    a = passwd_file.plain
    session = (f"{EHLO}\r\nAUTH PLAIN {plain_response(a.user, a.password)}\r\n"
               "MAIL FROM:<alice@example.org>\r\nRCPT TO:<someone@remote.example>\r\n"
               "DATA\r\nSubject: bytes\r\n\r\n..dot\r\none byte at a time\r\n.\r\nQUIT\r\n"
               ).encode()
    with s.connect() as c:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        assert c.reply().code == 220
        for i in range(len(session)):
            c.send(session[i:i + 1])
            time.sleep(0.002)
        replies = c.replies_until_close()
    assert [r.code for r in replies] == [250, 235, 250, 250, 354, 250, 221], replies
    assert queue.messages() == [("alice@example.org", ["someone@remote.example"],
                                 b"Subject: bytes\n\n.dot\none byte at a time\n")]
    cpu = sum(p.cpu for p in s.processes.seen.values())
    assert cpu < 1.0, f"{cpu:.2f} s of CPU for one slow session"
    after_fault(s, a)


@pytest.mark.parametrize("where", ["greeting", "mid-line", "auth prompt"])
def test_silent_client_before_handoff(chain, passwd_file, where):
    s = start(chain)
    with s.connect() as c:
        c.reply()
        if where == "mid-line":
            c.send("NOOP")
        elif where == "auth prompt":
            assert c.command(EHLO).code == 250
            assert c.command("AUTH LOGIN").code == 334
        started = time.monotonic()
        assert_idle(s, 1.5)
        reply = c.reply()
        assert reply.lines[0].startswith("421 4.4.2"), reply
        assert 1.5 <= time.monotonic() - started < 4
        assert c.is_closed()
    after_fault(s, passwd_file.plain)


@pytest.mark.parametrize("authenticated", [True, False])
def test_silent_client_after_handoff(chain, passwd_file, authenticated):
    """SMTPPROXY_TIMEOUT: the session ends and mailfront goes with it."""
    s = start(chain)
    a = passwd_file.plain
    with s.connect() as c:
        if authenticated:
            login(c, a)
        else:
            c.reply()
        assert c.command("MAIL FROM:<alice@example.org>").code == 250
        c.send("RCPT TO:<someone@remote.ex")
        started = time.monotonic()
        assert_idle(s, 1.5)
        c.sock.settimeout(10)
        assert replies_until_gone(c) == []
        assert time.monotonic() - started < 4
    after_fault(s, a)


# --- hostile bytes ------------------------------------------------------------

def high_water_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def only(s, name):
    [pid] = [p.pid for p in s.processes.current().values() if p.name == name]
    return pid


@pytest.mark.parametrize("where", ["command", "sasl response"])
def test_one_mib_line_before_handoff(chain, passwd_file, where):
    s = start(chain)
    a = passwd_file.plain
    with s.connect() as c:
        c.reply()
        assert c.command(EHLO).code == 250
        if where == "sasl response":
            assert c.command("AUTH LOGIN").code == 334
        pid = only(s, "smtp_auth")
        before = high_water_kib(pid)
        line = b"NOOP " + b"x" * (1 << 20)
        for i in range(0, len(line), 65536):
            c.send(line[i:i + 65536])
        time.sleep(0.2)
        grown = high_water_kib(pid) - before
        c.send(b"\r\n")
        assert c.reply().lines == ["500 5.5.6 Line too long"]
        assert grown < 256, f"smtp_auth grew by {grown} KiB"
        assert c.command("NOOP").code == 250
        assert c.command("AUTH PLAIN " + plain_response(a.user, a.password)).code == 235
        assert c.command("QUIT").code == 221
    after_fault(s, a)


def test_one_mib_line_after_handoff(chain, passwd_file):
    """smtpproxy passes it on in bounded memory; the backend answers."""
    s = start(chain)
    a = passwd_file.plain
    with s.connect() as c:
        login(c, a)
        assert c.command("MAIL FROM:<alice@example.org>").code == 250
        pid = only(s, "smtpproxy")
        before = high_water_kib(pid)
        c.send(b"RCPT TO:<" + b"x" * (1 << 20) + b"@remote.example>\r\n")
        c.reply()  # mailfront has no limit; qmail-smtpd has none either
        assert high_water_kib(pid) - before < 512
        assert c.command("NOOP").code == 250
        assert c.command("QUIT").code == 221
    after_fault(s, a)


HOSTILE_DATA = (b"MAIL FROM:<alice@example.org>\0 NUL\r\n"
                b"RCPT TO:<someone@remote.example>\r\n"
                b"RCPT TO:<bare-cr@remote.example>\rX\r\n"
                b"DATA\r\n"
                b"Subject: hostile\r\n\r\n"
                b"bare LF\nbare CR\rNUL\0byte\r\n"
                b"smuggled\n.\nMAIL FROM:<evil@example.org>\r\n"
                b"\r\n.\r\n"
                b"QUIT\r\n")


@pytest.mark.parametrize("authenticated", [True, False])
@pytest.mark.parametrize("writes", ["one write", "line by line"])
def test_nul_bare_cr_and_bare_lf_reach_the_backend_unchanged(chain, backend, passwd_file,
                                                              authenticated, writes):
    """What the backend reads is what the client sent after the handoff,
    byte for byte (SMTP smuggling needs a proxy that normalises line ends)."""
    s = start(chain, backend=backend)
    a = passwd_file.plain
    backend.set("record")
    greeting = b"EHLO client.test.example\n"  # a bare LF, answered by smtp_auth
    with s.connect() as c:
        assert c.reply().code == 220
        c.send(greeting)
        assert c.reply().code == 250
        if authenticated:
            assert c.command("AUTH PLAIN " + plain_response(a.user, a.password)).code == 235
        if writes == "one write":
            c.send(HOSTILE_DATA)
        else:
            for line in HOSTILE_DATA.splitlines(keepends=True):
                try:
                    c.send(line)
                except (BrokenPipeError, ConnectionResetError):
                    break  # qmail-smtpd ends the session at the bare LF
                time.sleep(0.02)
        replies = c.replies_until_close()
    received = (backend.dir / "received").read_bytes()
    if authenticated and backends.BACKEND.name == backends.QMAIL_SMTPD:
        # qmail-smtpd answers the bare LF in DATA with 451 and stops reading.
        assert replies[-1].lines == ["451 See https://cr.yp.to/docs/smtplf.html."], replies
        assert b"bare LF\n" in received and (greeting + HOSTILE_DATA).startswith(received)
    else:
        assert replies[-1].code == 221, replies
        assert received == greeting + HOSTILE_DATA
    s.processes.assert_all_gone()
    after_fault(s, a, [backend])


def test_hostile_bytes_before_handoff_keep_smtp_auth_in_step(chain, backend, passwd_file):
    """NUL, bare CR and bare LF in lines smtp_auth answers: one reply per
    line, and the EHLO line is replayed as it came. (A NUL or CR in the verb
    makes it a command smtp_auth does not know: it goes to the backend, as
    the tests above show.)"""
    s = start(chain, backend=backend)
    a = passwd_file.plain
    backend.set("record")
    with s.connect() as c:
        assert c.reply().code == 220
        c.send(b"NOOP \0x\r\nNOOP x\ry\r\nNOOP\nRSET \r\r\nEHLO a\0b\rc\r\n")
        replies = [c.reply() for _ in range(5)]
        assert [r.code for r in replies] == [250, 250, 250, 250, 250], replies
        assert replies[4].lines[-1] == "250 AUTH LOGIN PLAIN"
        assert c.command("AUTH PLAIN " + plain_response(a.user, a.password)).code == 235
        assert c.command("QUIT").code == 221
    s.processes.assert_all_gone()
    assert (backend.dir / "received").read_bytes() == b"EHLO a\0b\rc\r\nQUIT\r\n"
    after_fault(s, a, [backend])
