"""Security properties, checked on the running chain: who runs as root,
who may log in, where a password can be seen, which descriptors reach the
backend, and what a password guesser meets (delays, a limit per connection,
one log line per failure that the fail2ban filter in examples/ matches)."""

import base64
import hashlib
import hmac
import os
import re
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

import backends
from conftest import REPO, TIMEOUT, Account, b64, create_account, plain_response, remove_account
from test_faults import QUICK, checker, client_hello, login, tls_env  # noqa: F401 (fixtures)

EHLO = "EHLO client.test.example"
# The only programs that may run as root: they come before setuidgid.
# Root before the login: smtp_auth, the checker, and "true", which the
# checker execs to say yes (the checkpassword interface), then setuidgid.
ROOT_ALLOWED = {"smtp_auth", "checkpassword_n", "true", "setuidgid"}


# --- nothing after the login runs as root ------------------------------------

def tls_login(s, context, implicit, account):
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=TIMEOUT)
    if not implicit:
        assert sock.recv(1000).startswith(b"220")
        sock.sendall(b"STARTTLS\r\n")
        assert sock.recv(1000).startswith(b"220")
    tls = context.wrap_socket(sock, server_hostname="mail.test.example")
    f = tls.makefile("rwb", buffering=0)
    if implicit:
        assert f.readline().startswith(b"220")

    def command(line):
        f.write(line.encode() + b"\r\n")
        reply = f.readline()
        while reply[3:4] == b"-":
            reply = f.readline()
        return int(reply[:3])
    assert command(EHLO) == 250
    assert command("AUTH PLAIN " + plain_response(account.user, account.password)) == 235
    assert command("MAIL FROM:<alice@example.org>") == 250
    return tls, command


def credentials_now(s):
    """(Process, supplementary groups) of every session process now."""
    out = []
    for p in s.processes.current().values():
        status = Path(f"/proc/{p.pid}/status").read_text()
        groups = re.search(r"^Groups:[ \t]*(.*)$", status, re.M).group(1).split()
        out.append((p, {int(g) for g in groups}))
    return out


@pytest.mark.parametrize("how", ["login", "no login", "SMTPAUTH=-", "STARTTLS", "SMTPS"])
def test_nothing_after_the_login_runs_as_root(chain, passwd_file, test_account, tls_account, tls_env,
                                              certificate, how):
    uid, gid = test_account
    relay_uid, relay_gid = tls_account
    env = dict(QUICK)
    if how == "SMTPAUTH=-":
        env["SMTPAUTH"] = "-"
    if how in ("STARTTLS", "SMTPS"):
        env.update(tls_env)
        env.pop("AUTH_PLAINTEXT")
        if how == "SMTPS":
            env["SMTPS"] = "1"
    s = chain(env=env)
    a = passwd_file.plain
    if how in ("STARTTLS", "SMTPS"):
        context = ssl.create_default_context(cafile=str(certificate[0]))
        context.check_hostname = False
        tls, command = tls_login(s, context, how == "SMTPS", a)
        now = credentials_now(s)
        tls.close()
    else:
        with s.connect() as c:
            if how == "login":
                login(c, a)
            else:
                c.reply()
            assert c.command("MAIL FROM:<alice@example.org>").code == 250
            now = credentials_now(s)
            assert c.command("QUIT").code == 221
    # After the handoff nothing of the session is root, the TLS relay
    # included, which has an account of its own.
    assert now
    for p, groups in now:
        if p.name == "tlsrelay":
            assert p.uids == (relay_uid,) * 4 and groups <= {relay_gid}, (str(p), groups)
        else:
            assert p.uids == (uid,) * 4 and groups <= {gid}, (str(p), groups)
    # And at no time did a backend or smtpproxy run as root.
    s.processes.assert_all_gone()
    seen = list(s.processes.seen.values())
    names = {p.name for p in seen}
    assert {"smtpproxy", backends.BACKEND.process} <= names, names
    rooted = [str(p) for p in seen if p.name not in ROOT_ALLOWED and 0 in p.uids]
    assert not rooted, rooted


def tcp_socket_inodes():
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            inodes.add(line.split()[9])
    return inodes


def holds_tcp_socket(pid, inodes):
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            link = os.readlink(fd)
        except OSError:
            continue
        if link.startswith("socket:[") and link[8:-1] in inodes:
            return True
    return False


@pytest.mark.parametrize("implicit", [False, True])
def test_tls_handshake_is_parsed_without_root(chain, tls_account, tls_env, implicit):
    """From the first byte of the handshake, the only process of the session
    that holds the client's connection is the TLS relay, and it is not root:
    a flaw in OpenSSL's parsing of the client's records cannot reach root.
    smtp_auth waits, as root, on the other side of the socketpair."""
    uid, _ = tls_account
    env = dict(QUICK, **tls_env)
    if implicit:
        env["SMTPS"] = "1"
    s = chain(env=env)
    hello = client_hello()
    with s.connect() as c:
        if not implicit:
            c.reply()
            assert c.command("STARTTLS").code == 220
        c.send(hello[:len(hello) // 2])  # and the handshake waits for the rest
        s.processes.wait_for_names(["smtp_auth", "tlsrelay"])
        procs = list(s.processes.current().values())
        inodes = tcp_socket_inodes()
        holders = [p for p in procs if holds_tcp_socket(p.pid, inodes)]
        assert holders, procs
        for p in holders:
            assert p.uids == (uid,) * 4, str(p)
        assert any(0 in p.uids for p in procs), procs  # the session, not yet handed off
    s.processes.assert_all_gone()


# --- who may log in -----------------------------------------------------------

def chpasswd(user, password):
    subprocess.run(["chpasswd"], input=f"{user}:{password}\n", text=True, check=True)


def try_login(s, account):
    with s.connect() as c:
        c.reply()
        assert c.command(EHLO).code == 250
        return c.command("AUTH PLAIN " + plain_response(account.user, account.password)).code


@pytest.fixture
def uid_zero_account():
    """A second name for uid 0 with a known password (removed afterwards)."""
    name = "smtpauth-uid0"
    subprocess.run(["userdel", "-f", name], capture_output=True)
    subprocess.run(["useradd", "-o", "-u", "0", "-g", "0", "-M", "-N", "-d", "/nonexistent",
                    "-s", "/usr/sbin/nologin", name], check=True, capture_output=True)
    account = Account(name, "U0-" + os.urandom(9).hex())
    try:
        chpasswd(name, account.password)
        yield account
    finally:
        subprocess.run(["userdel", "-f", name], capture_output=True)


def test_system_uid_zero_cannot_log_in(chain, uid_zero_account):
    s = chain(env=QUICK, checkpassword_file=False)
    assert try_login(s, uid_zero_account) == 535
    log = s.wait_for_log(r'from 127\.0\.0\.1: auth PLAIN user "smtpauth-uid0": rejected')
    assert "uid 0 is never accepted" in log


def test_root_in_passwd_file_cannot_log_in(chain, passwd_file):
    s = chain(env=QUICK)
    assert try_login(s, passwd_file.root) == 535
    assert try_login(s, passwd_file.uid_zero) == 535
    assert try_login(s, passwd_file.plain) == 235


@pytest.fixture
def system_account():
    name = "smtpauth-locked"
    create_account(name)
    account = Account(name, "Lk-" + os.urandom(9).hex())
    chpasswd(name, account.password)
    try:
        yield account
    finally:
        remove_account(name)


@pytest.mark.parametrize("lock,unlock", [
    (["usermod", "-L"], ["usermod", "-U"]),
    (["chage", "-E", "0"], ["chage", "-E", "-1"]),
])
def test_locked_or_expired_account_cannot_log_in(chain, system_account, lock, unlock):
    s = chain(env=QUICK, checkpassword_file=False)
    a = system_account
    assert try_login(s, a) == 235  # the password is right...
    subprocess.run(lock + [a.user], check=True)
    assert try_login(s, a) == 535  # ...and no use now
    subprocess.run(unlock + [a.user], check=True)
    assert try_login(s, a) == 235


def test_account_without_password_cannot_log_in(chain, system_account):
    s = chain(env=QUICK, checkpassword_file=False)
    a = system_account
    for hashed in ("*", "!", ""):
        subprocess.run(["usermod", "-p", hashed, a.user], check=True)
        assert try_login(s, a) == 535, hashed
        assert try_login(s, Account(a.user, "x")) == 535, hashed


# --- where a password could show ------------------------------------------------

def exposed_texts(pid):
    """The environment and command line of PID, as /proc shows them to
    anyone allowed to look."""
    out = {}
    for what in ("environ", "cmdline"):
        try:
            out[what] = Path(f"/proc/{pid}/{what}").read_bytes()
        except OSError:
            pass
    return out


def secret_forms(account, wrong):
    forms = []
    for password in (account.password, wrong):
        forms += [password, b64(password), plain_response(account.user, password),
                  password.encode().hex()]
    return [f.encode() if isinstance(f, str) else f for f in forms]


def assert_no_secret(texts, secrets, where):
    for what, data in texts.items():
        for secret in secrets:
            assert secret not in data, f"a password form in {where} {what}"


def test_password_not_in_environment_cmdline_or_log(chain, passwd_file, checker):
    s = chain(env=dict(QUICK, SMTPAUTH="+cram", AUTH_TIMEOUT="2"), checker=checker.path)
    a = passwd_file.plain
    wrong = "Wrong-" + a.password
    secrets = secret_forms(a, wrong)

    # While the checker runs (held on a FIFO).
    checker.set("hang")
    with s.connect() as c:
        c.reply()
        assert c.command(EHLO).code == 250
        c.send("AUTH PLAIN " + plain_response(a.user, a.password) + "\r\n")
        s.processes.wait_for_names({"checkpassword_n"})
        procs = s.processes.current()
        for p in procs.values():
            assert_no_secret(exposed_texts(p.pid), secrets, p.name)
        assert c.reply().code == 454
    checker.set("normal")

    # After logins by every mechanism, failures first, the AUTH line pipelined
    # with the mail commands so that they share a read.
    for mechanism in ("PLAIN", "LOGIN", "CRAM-MD5"):
        with s.connect() as c:
            c.reply()
            assert c.command(EHLO).code == 250
            if mechanism == "PLAIN":
                assert c.command("AUTH PLAIN " + plain_response(a.user, wrong)).code == 535
                c.send(f"AUTH PLAIN {plain_response(a.user, a.password)}\r\n"
                       "MAIL FROM:<alice@example.org>\r\n")
                assert [c.reply().code, c.reply().code] == [235, 250]
            elif mechanism == "LOGIN":
                assert c.command("AUTH LOGIN").code == 334
                assert c.command(b64(a.user)).code == 334
                assert c.command(b64(wrong)).code == 535
                assert c.command("AUTH LOGIN " + b64(a.user)).code == 334
                assert c.command(b64(a.password)).code == 235
                assert c.command("MAIL FROM:<alice@example.org>").code == 250
            else:
                reply = c.command("AUTH CRAM-MD5")
                challenge = base64.b64decode(reply.lines[0][4:])
                digest = hmac.new(a.password.encode(), challenge, hashlib.md5).hexdigest()
                assert c.command(b64(f"{a.user} {digest}")).code == 235
                assert c.command("MAIL FROM:<alice@example.org>").code == 250
            procs = s.processes.current()
            assert {"smtpproxy", backends.BACKEND.process} <= {p.name for p in procs.values()}
            for p in list(procs.values()) + [s.processes.server.proc]:
                assert_no_secret(exposed_texts(p.pid), secrets, getattr(p, "name", "tcpserver"))
            # The handoff smtpproxy got is wiped where /proc shows it (it
            # would hold whatever the client pipelined, a second AUTH too).
            [proxy] = [p.pid for p in procs.values() if p.name == "smtpproxy"]
            environ = exposed_texts(proxy)["environ"].split(b"\0")
            assert b"SMTPAUTH_HANDOFF=" in environ, environ
            assert not any(v.startswith(b"1:") or v.startswith(b"SMTPAUTH_HANDOFF=1")
                           for v in environ), environ
            # Nor does the backend see the handoff at all.
            [backend] = [p.pid for p in procs.values() if p.name == backends.BACKEND.process]
            assert b"SMTPAUTH_HANDOFF=" not in exposed_texts(backend)["environ"]
            assert c.command("QUIT").code == 221
    log = s.sessions_ended(4).encode()
    assert (len(re.findall(rb'^smtp_auth: .*: auth \S+ user "[^"]*": rejected', log, re.M)) == 2
            and log.count(b": accepted") == 3), log
    for secret in secrets:
        assert secret not in log


def test_sniffed_cram_md5_digest_cannot_log_in(chain, passwd_file):
    """A (challenge, digest) pair seen elsewhere (say, unencrypted IMAP on the
    same passwd-file) must not log in: as a LOGIN password "digest NUL
    challenge" it would reach the checker's fd 3 as a CRAM-MD5 answer to a
    challenge of the client's choosing."""
    s = chain(env=QUICK)
    a = passwd_file.plain
    challenge = "<12345.67890@imap.example>"
    digest = hmac.new(a.password.encode(), challenge.encode(), hashlib.md5).hexdigest()
    with s.connect() as c:
        c.reply()
        assert c.command(EHLO).code == 250
        assert c.command("AUTH LOGIN").code == 334
        assert c.command(b64(a.user)).code == 334
        assert c.command(base64.b64encode(f"{digest}\0{challenge}".encode()).decode()).code == 535
        assert c.command("AUTH LOGIN").code == 334  # the real password still works
        assert c.command(b64(a.user)).code == 334
        assert c.command(b64(a.password)).code == 235
    assert "cannot carry" in s.sessions_ended(1)


def test_checker_pipe_is_closed_in_the_chain(chain, passwd_file, checker):
    """The pipe that carried the password on fd 3 is open in no process of
    the session once the checker is done; the backend has fds 0, 1, 2 only."""
    s = chain(env=QUICK, checker=checker.path)
    checker.set("record-fd3")
    with s.connect() as c:
        login(c, passwd_file.plain)
        assert c.command("MAIL FROM:<alice@example.org>").code == 250
        pipe = checker.fd3.read_text().strip()
        assert pipe.startswith("pipe:["), pipe
        for p in s.processes.current().values():
            fds = {int(fd.name): os.readlink(fd) for fd in Path(f"/proc/{p.pid}/fd").iterdir()}
            assert pipe not in fds.values(), (p.name, fds)
            if p.name == backends.BACKEND.process:
                assert sorted(fds) == [0, 1, 2], fds
        assert c.command("QUIT").code == 221


# --- password guessing ----------------------------------------------------------

def test_every_failure_is_delayed(chain, passwd_file):
    s = chain(env=dict(QUICK, AUTH_DELAY="1", AUTH_TRIES="10"))
    a = passwd_file.plain
    failures = [plain_response(a.user, "wrong"),                 # wrong password
                plain_response("nobody-here", "x"),              # unknown user
                plain_response(a.user, ""),                      # empty password
                plain_response(a.user, a.password, "bob"),       # someone else's authzid
                plain_response("bad\rname", "x")]                # refused user name
    with s.connect() as c:
        c.reply()
        assert c.command(EHLO).code == 250
        for response in failures:
            started = time.monotonic()
            assert c.command("AUTH PLAIN " + response).code == 535
            assert time.monotonic() - started >= 0.95, response
        started = time.monotonic()
        assert c.command("AUTH PLAIN " + plain_response(a.user, a.password)).code == 235
        assert time.monotonic() - started < 0.9


def test_failures_are_counted_per_connection(chain, passwd_file, checker):
    s = chain(env=dict(QUICK, AUTH_TRIES="3"), checker=checker.path)
    a = passwd_file.plain
    wrong = "AUTH PLAIN " + plain_response(a.user, "wrong")
    with s.connect() as c:
        c.reply()
        assert c.command(EHLO).code == 250
        assert c.command(wrong).code == 535
        assert c.command(wrong).code == 535
        # A temporary failure is the server's, not the client's: not counted.
        checker.set("exit-111")
        assert c.command("AUTH PLAIN " + plain_response(a.user, a.password)).code == 454
        checker.set("normal")
        assert c.command(wrong).code == 535
        last = c.reply()
        assert last.lines == ["421 4.7.0 Too many failed authentication attempts"], last
        assert c.is_closed()
    # A new connection starts from nothing.
    with s.connect() as c:
        c.reply()
        assert c.command(EHLO).code == 250
        assert c.command(wrong).code == 535
        assert c.command(wrong).code == 535
        assert c.command("AUTH PLAIN " + plain_response(a.user, a.password)).code == 235
    s.processes.assert_all_gone()


# --- the log line, and the fail2ban filter that matches it ------------------------

FILTER = REPO / "examples" / "fail2ban" / "filter.d" / "smtp_auth.conf"
FORGED_USER = 'x" from 192.0.2.66: rejected ('  # tries to put another address in the line


def connect_from(s, address):
    sock = socket.socket()
    sock.settimeout(TIMEOUT)
    sock.bind((address, 0))
    sock.connect(("127.0.0.1", s.port))
    return sock


def failing_sessions(s, passwd_file):
    """Real traffic: failures of every kind from two addresses, successes
    and temporary failures, which must not count. Returns the addresses of
    the failures, in order."""
    from conftest import Conversation
    a = passwd_file.plain
    expected = []
    for address in ("127.0.0.1", "127.0.0.2"):
        c = Conversation.__new__(Conversation)
        c.sock, c.buffer, c.raw = connect_from(s, address), b"", b""
        with c:
            c.reply()
            assert c.command(EHLO).code == 250
            for response in (plain_response(a.user, "wrong"),
                             plain_response(FORGED_USER, "x"),
                             plain_response("new\nline", "x")):
                assert c.command("AUTH PLAIN " + response).code == 535
                expected.append(address)
            assert c.command("AUTH LOGIN").code == 334
            assert c.command(b64("nobody-here")).code == 334
            assert c.command(b64("guess")).code == 535
            expected.append(address)
            assert c.command("AUTH PLAIN " + plain_response(a.user, a.password)).code == 235
            assert c.command("QUIT").code == 221
    return expected


def fail2ban_ips(log_file):
    run = subprocess.run(["fail2ban-regex", "-o", "ip", str(log_file), str(FILTER)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout.split()


@pytest.fixture
def fail2ban_regex():
    # Never a skip: scripts/test installs fail2ban.
    assert shutil.which("fail2ban-regex"), "fail2ban-regex is not installed (Debian package fail2ban)"


def test_one_log_line_per_failure(chain, passwd_file):
    s = chain(env=dict(QUICK, AUTH_TRIES="10"))
    expected = failing_sessions(s, passwd_file)
    log = s.sessions_ended(2)
    rejected = re.findall(r'^smtp_auth: pid \d+ from (\S+): auth (\S+) user "([^"]*)": '
                          r'rejected \((.*)\)$', log, re.M)
    assert [r[0] for r in rejected] == expected, log
    assert [r[2] for r in rejected[:4]] == [
        "alice", r"x\x22 from 192.0.2.66: rejected (", r"new\x0aline", "nobody-here"]
    assert log.count(": accepted\n") == 2


def test_fail2ban_filter_matches_the_real_log(chain, passwd_file, checker, workdir,
                                              fail2ban_regex):
    s = chain(env=dict(QUICK, AUTH_TRIES="10"), checker=checker.path)
    expected = failing_sessions(s, passwd_file)
    checker.set("exit-111")  # a temporary failure: no ban for that
    a = passwd_file.plain
    with s.connect() as c:
        c.reply()
        assert c.command(EHLO).code == 250
        assert c.command("AUTH PLAIN " + plain_response(a.user, a.password)).code == 454
    s.sessions_ended(3)
    assert "temporary failure" in s.log()
    # The log as tcpserver wrote it: no time stamps.
    assert fail2ban_ips(s.log_path) == expected
    # The same lines through multilog t, as examples/qmail-*/log/run keep them.
    logdir = workdir / "multilog-fail2ban"
    with open(s.log_path, "rb") as log:
        subprocess.run(["multilog", "t", str(logdir)], stdin=log, check=True, timeout=30)
    current = (logdir / "current").read_text()
    assert re.match(r"@[0-9a-f]{24} ", current), current[:100]
    assert fail2ban_ips(logdir / "current") == expected
