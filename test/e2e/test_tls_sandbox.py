"""The TLS relay after the handshake: an account of its own, no new
privileges, resource limits, and a seccomp filter (mode 2) that kills it on
any system call outside its loop. A full session and a 20 MiB message run
under the filter in test_tls.py, the TLS faults in test_faults.py: a relay
killed by the filter would show there as a session killed by a signal."""

import os
import re
import shutil
import smtplib
import socket
import subprocess
import ssl
import time
from pathlib import Path

import pytest

import backends
from conftest import PATH, TIMEOUT, Server
from test_delivery import credentials, descendants

# The sandbox is the TLS relay's; the checks name mailfront's process.
pytestmark = pytest.mark.mailfront_only("the relay's sandbox does not depend on the backend")

EHLO = "EHLO client.test.example"


def status_of(pid):
    return dict(line.split(":\t", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                if ":\t" in line)


def limits_of(pid):
    """{name: soft limit} from /proc/PID/limits."""
    out = {}
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines()[1:]:
        name, soft = re.match(r"(.+?)\s{2,}(\S+)", line).groups()
        out[name] = soft
    return out


def relay_and_proxy(s):
    """Waits until the session's tlsrelay and smtpproxy run; returns the
    credentials of every process of the session by pid, and the two pids."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        procs = {p: credentials(p) for p in descendants(s.proc.pid)}
        relays = [p for p, c in procs.items() if c[0] == "tlsrelay"]
        proxies = [p for p, c in procs.items() if c[0] == "smtpproxy"]
        if (relays and proxies) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    [relay], [proxy] = relays, proxies
    return procs, relay, proxy


@pytest.mark.parametrize("implicit", [False, True], ids=["STARTTLS", "SMTPS"])
def test_the_relay_runs_sandboxed_on_its_own_account(server, passwd_file, tls_env, client_context,
                                                     test_account, tls_account, implicit):
    s = server(env=dict(tls_env, SMTPS="1") if implicit else tls_env)
    a = passwd_file.plain
    smtp = smtplib.SMTP_SSL if implicit else smtplib.SMTP
    kw = {"context": client_context} if implicit else {}
    with smtp("127.0.0.1", s.port, timeout=TIMEOUT, **kw) as client:
        if not implicit:
            client.starttls(context=client_context)
        client.ehlo()
        client.login(a.user, a.password)
        assert client.mail("alice@example.org")[0] == 250
        procs, relay, proxy = relay_and_proxy(s)
        assert sorted(c[0] for c in procs.values()) == ["mailfront", "smtpproxy", "tlsrelay"], procs
        # Its own account: it cannot signal, trace or read the environment
        # of smtpproxy and qmail-smtpd.
        assert procs[relay][1] == [tls_account[0]] * 4
        assert procs[proxy][1] == [test_account[0]] * 4
        status = status_of(relay)
        assert status["NoNewPrivs"] == "1"
        assert status["Seccomp"] == "2"
        limits = limits_of(relay)
        assert limits["Max core file size"] == "0"
        assert limits["Max processes"] == "0"
        assert int(limits["Max open files"]) <= 16
        # The session goes on through the filtered relay.
        assert client.rcpt("bob@example.org")[0] == 250
        assert client.data(b"Subject: sandboxed\r\n\r\nhello\r\n")[0] == 250
    s.sessions_ended(1)  # and the server fixture fails the test if the relay was killed


def test_the_relay_is_its_own_program_and_logs_with_the_sessions_pid(server, passwd_file, tls_env, client_context,
                                                                      bin_dir, tls_account):
    """tlsrelay, exec'd: its image is tlsrelay (none of smtp_auth's code),
    on the relay's account, the session (smtpproxy here) its child, and its
    log line about the handshake carries the session's pid, the pid of the
    session's own lines."""
    s = server(env=tls_env)
    a = passwd_file.plain
    with smtplib.SMTP("127.0.0.1", s.port, timeout=TIMEOUT) as client:
        client.starttls(context=client_context)
        client.ehlo()
        client.login(a.user, a.password)
        assert client.mail("alice@example.org")[0] == 250
        procs, relay, proxy = relay_and_proxy(s)
        assert Path(f"/proc/{relay}/exe").resolve() == (bin_dir / "tlsrelay").resolve()
        assert procs[relay][1] == [tls_account[0]] * 4
        assert parent_of(proxy) == relay
        # Only the relay's settings cross the exec, none of the launcher's.
        environ = Path(f"/proc/{relay}/environ").read_bytes().split(b"\0")
        assert not [v for v in environ if v and not v.startswith((b"TLS_", b"ASAN_", b"UBSAN_", b"LSAN_"))], environ
        # Descriptors: the client, the log and the session's socket, then
        # what the relay waits with (Asio's eventfd, the session's pidfd);
        # the verdict pipe and the key's file are closed by now.
        fds = {int(fd.name): os.readlink(fd) for fd in Path(f"/proc/{relay}/fd").iterdir()}
        assert sorted(fds)[:4] == [0, 1, 2, 3]
        assert sorted(target for fd, target in fds.items() if fd > 3) == ["anon_inode:[eventfd]",
                                                                          "anon_inode:[pidfd]"], fds
        assert client.rcpt("bob@example.org")[0] == 250
        assert client.data(b"Subject: own program\r\n\r\nhello\r\n")[0] == 250
    log = s.sessions_ended(1)
    # One pid for the connection: the relay's own (it is the process
    # tcpserver started), which the session names too.
    assert re.search(rf"^tlsrelay: pid {relay} from 127\.0\.0\.1: tls handshake: done \(TLSv1\.[23] \S+\)$",
                     log, re.M), log
    assert re.search(rf'^smtp_auth: pid {relay} from 127\.0\.0\.1: auth PLAIN user "{a.user}": accepted$',
                     log, re.M), log
    # The relay exits with the session's status, and tcpserver sees it.
    assert re.search(rf"^tcpserver: end {relay} status 0$", log, re.M), log


def parent_of(pid):
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_without_tlsrelay_beside_smtp_auth_starttls_is_refused(bin_dir, workdir, passwd_file, tls_env,
                                                              test_account, smtp_backend):
    """smtp_auth runs the relay from its own folder and nowhere else (no
    variable names another): a copy of the programs without tlsrelay
    answers STARTTLS with 454, logged, and the session goes on in
    plaintext."""
    copy = workdir / "without-tlsrelay"
    copy.mkdir(mode=0o755, exist_ok=True)
    for program in ("smtp_auth", "checkpassword_nosu", "smtpproxy"):
        shutil.copy2(bin_dir / program, copy / program)
    s = Server(copy, workdir, "without-tlsrelay", "echo",
               {"PATH": PATH, "AUTH_DELAY": "0", "CHECKPASSWORD_FILE": str(passwd_file.path),
                "AUTH_PLAINTEXT": "1", **backends.BACKEND.env(), **tls_env}, (), None).start()
    try:
        with smtplib.SMTP("127.0.0.1", s.port, timeout=TIMEOUT) as client:
            client.ehlo()
            assert client.has_extn("starttls")
            assert client.docmd("STARTTLS")[0] == 454
            assert client.noop()[0] == 250
        log = s.sessions_ended(1)
        assert re.search(rf"^smtp_auth: pid \d+ from 127\.0\.0\.1: tls: unavailable \(cannot run the relay "
                         rf"{re.escape(str(copy / 'tlsrelay'))}\)$", log, re.M), log
    finally:
        s.stop()


def test_an_unusable_key_ends_the_session_logged_by_the_relay(server, workdir, tls_env, client_context):
    """smtp_auth only opens the files; tlsrelay reads them. A key file that
    opens but is not the certificate's key (made now, for this test): the
    handshake fails, the relay says why, and nothing is left behind."""
    bad = workdir / "another-key.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-out", str(bad)], check=True, capture_output=True)
    bad.chmod(0o600)  # root's alone: the relay reads it through the descriptor
    s = server(env=dict(tls_env, TLS_KEY=str(bad), SMTPS="1"))
    with pytest.raises((ssl.SSLError, ConnectionError)):
        with socket.create_connection(("127.0.0.1", s.port), timeout=TIMEOUT) as sock:
            with client_context.wrap_socket(sock) as tls:
                tls.recv(100)
    log = s.sessions_ended(1)
    assert re.search(r"^tlsrelay: pid \d+ from 127\.0\.0\.1: tls relay: failed \(cannot use the certificate and key: ", log, re.M), log
