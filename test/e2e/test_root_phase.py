"""The root phase, bounded: before the login or the handoff smtp_auth runs
as root, so a client may not hold it there with harmless commands, with a
reply it does not read, or with AUTH out of turn; and what smtp_auth hands
on in the environment is only what it set itself."""

import contextlib
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import PATH, TIMEOUT, plain_response
from test_delivery import descendants

EHLO = "EHLO client.test.example"


def wait_for_end(s, seconds):
    """Seconds until tcpserver saw the session end; fails past `seconds`."""
    start = time.monotonic()
    while "tcpserver: end " not in s.log():
        assert time.monotonic() - start < seconds, f"session still running:\n{s.log()}"
        time.sleep(0.05)
    return time.monotonic() - start


def test_login_commands_bounds_the_commands_answered_before_a_login(server):
    s = server(env={"LOGIN_COMMANDS": "5"})
    with s.connect() as c:
        assert c.reply().code == 220
        # NOOP, RSET, HELO, EHLO and refused AUTHs used to go on for ever.
        c.send(f"NOOP\r\nRSET\r\n{EHLO}\r\nAUTH X-NONE\r\nHELP\r\nNOOP\r\nNOOP\r\n")
        replies = c.replies_until_close()
    assert [r.code for r in replies] == [250, 250, 250, 504, 214, 421]
    assert replies[-1].lines == ["421 4.7.0 Too many commands without logging in, closing connection"]
    wait_for_end(s, TIMEOUT)
    assert "from 127.0.0.1: session: closed (too many commands without a login)" in s.log()


def test_login_timeout_bounds_a_busy_client(server):
    s = server(env={"LOGIN_TIMEOUT": "2", "SMTP_TIMEOUT": "60", "LOGIN_COMMANDS": "1000"})
    start = time.monotonic()
    with s.connect() as c:
        assert c.reply().code == 220
        # A NOOP every 0.2 s: never idle, so SMTP_TIMEOUT never comes.
        while True:
            assert time.monotonic() - start < 8, "still answered after 8 s"
            c.send("NOOP\r\n")
            reply = c.reply()
            if reply.code != 250:
                break
            time.sleep(0.2)
    assert reply.lines == ["421 4.4.2 Too long without logging in, closing connection"]
    assert 1.5 < time.monotonic() - start < 5
    wait_for_end(s, TIMEOUT)
    assert "from 127.0.0.1: session: timeout (no login within LOGIN_TIMEOUT)" in s.log()


def test_a_client_that_does_not_read_its_replies_is_cut_off(server):
    """A large EHLO reply, asked for again and again by a client that never
    reads: smtp_auth used to block in write(2) for ever, as root."""
    ehloresp = "\n".join("250-" + f"{i:02d}" + "x" * 490 for i in range(64))  # 32 KiB a reply
    s = server(env={"EHLORESP": ehloresp, "SMTP_TIMEOUT": "2", "LOGIN_COMMANDS": "10000"})
    sock = socket.socket()
    # Before connect: the smallest window, and small segments as on a real
    # network, so that the server's send buffer stays small (under 96 KiB)
    # too: on loopback's 64 KiB segments it would take every reply whole.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
    sock.settimeout(TIMEOUT)
    sock.connect(("127.0.0.1", s.port))
    try:
        sock.sendall(f"{EHLO}\r\n".encode() * 400)  # 13 MB of replies
        took = wait_for_end(s, 10)
        assert took < 6, took
        assert not descendants(s.proc.pid)
    finally:
        sock.close()


def test_auth_before_ehlo_gets_503(server, passwd_file):
    s = server()
    a = passwd_file.plain
    good = "AUTH PLAIN " + plain_response(a.user, a.password)
    with s.connect() as c:
        assert c.reply().code == 220
        assert c.command(good).lines == ["503 5.5.1 EHLO first"]
        assert c.command(EHLO).code == 250
        assert c.command(good).code == 235


def test_auth_after_starttls_needs_a_new_ehlo(server, passwd_file, tls_env, client_context):
    s = server(env=tls_env)
    a = passwd_file.plain
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=TIMEOUT)
    f = sock.makefile("rb")
    assert f.readline().startswith(b"220")
    sock.sendall(f"{EHLO}\r\nSTARTTLS\r\n".encode())
    while not f.readline().startswith(b"250 "):
        pass
    assert f.readline().startswith(b"220 2.0.0")
    tls = client_context.wrap_socket(sock, server_hostname="mail.test.example")
    g = tls.makefile("rwb", buffering=0)

    def command(line):
        g.write(line.encode() + b"\r\n")
        reply = g.readline()
        while reply[3:4] == b"-":
            reply = g.readline()
        return reply.decode().rstrip("\r\n")
    good = "AUTH PLAIN " + plain_response(a.user, a.password)
    assert command(good) == "503 5.5.1 EHLO first"
    assert command(EHLO).startswith("250 ")
    assert command(good).startswith("235 ")
    tls.close()


def chain_environment(s):
    """The backend's environment, once the session has been handed off."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        for pid in descendants(s.proc.pid):
            try:
                if Path(f"/proc/{pid}/comm").read_text().strip() == "mailfront":
                    data = Path(f"/proc/{pid}/environ").read_bytes()
                    return dict(item.split(b"=", 1) for item in data.split(b"\0") if b"=" in item)
            except OSError:
                pass
        assert time.monotonic() < deadline, "no backend"
        time.sleep(0.05)


FORGED = {"AUTHUSER": "forged", "SSL_PROTOCOL": "TLSv1.3", "SSL_CIPHER": "FORGED",
          "SSL_CLIENT_S_DN": "CN=forged"}


@pytest.mark.mailfront_only("reads the environment mailfront was started with")
def test_the_launchers_authuser_and_ssl_variables_never_reach_the_chain(server, passwd_file):
    s = server(env=FORGED)
    with s.connect() as c:  # no login
        assert c.reply().code == 220
        assert c.command(EHLO).code == 250
        assert c.command("MAIL FROM:<a@example.org>").code == 250
        environ = chain_environment(s)
        assert not [k for k in environ if k == b"AUTHUSER" or k.startswith(b"SSL_")], environ
    s.sessions_ended(1)
    a = passwd_file.plain
    with s.connect() as c:  # a login: AUTHUSER is ours, still no SSL_
        assert c.reply().code == 220
        assert c.command(EHLO).code == 250
        assert c.command("AUTH PLAIN " + plain_response(a.user, a.password)).code == 235
        assert c.command("MAIL FROM:<a@example.org>").code == 250
        environ = chain_environment(s)
        assert environ[b"AUTHUSER"] == a.user.encode()
        assert not [k for k in environ if k.startswith(b"SSL_")], environ


@contextlib.contextmanager
def smtp_auth_alone(bin_dir, passwd_file, chain, **popen):
    """smtp_auth without tcpserver, CHAIN what it execs, its fds 0 and 1 one
    end of a socketpair: yields (process, the other end as a file). A
    process the test leaves running is killed."""
    ours, theirs = socket.socketpair()
    env = {"PATH": PATH, "CHECKPASSWORD_FILE": str(passwd_file.path), "AUTH_DELAY": "0",
           "TCPLOCALHOST": "mail.test.example", "TCPREMOTEIP": "127.0.0.1"}
    proc = subprocess.Popen([str(bin_dir / "smtp_auth"), str(bin_dir / "checkpassword_nosu"), *chain],
                            stdin=theirs, stdout=theirs, env=env, **popen)
    theirs.close()
    try:
        ours.settimeout(TIMEOUT)
        yield proc, ours.makefile("rwb", buffering=0)
    finally:
        ours.close()
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def log_in(f, account):
    """EHLO and AUTH PLAIN on F, after the greeting: the login succeeds."""
    f.write(f"{EHLO}\r\n".encode())
    while not (line := f.readline()).startswith(b"250 "):
        assert line.startswith(b"250-"), line
    f.write(f"AUTH PLAIN {plain_response(account.user, account.password)}\r\n".encode())
    assert f.readline().startswith(b"235")


def test_closed_standard_descriptors_are_opened_on_dev_null(bin_dir, passwd_file):
    """With fd 2 closed, the checker's fd-3 pipe could land on fd 2."""
    with smtp_auth_alone(bin_dir, passwd_file, ["true"], preexec_fn=lambda: os.close(2)) as (proc, f):
        assert f.readline().startswith(b"220")
        assert os.readlink(f"/proc/{proc.pid}/fd/2") == "/dev/null"
        log_in(f, passwd_file.plain)
        assert proc.wait(TIMEOUT) == 0  # then "true" ran as the chain
