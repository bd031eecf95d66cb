"""Dovecot's auth service as the verifier: smtp_auth dovecot ...

The chain is the usual one with CHECKPROG "dovecot": tcpserver, smtp_auth,
setuidgid, smtpproxy, mailfront; behind smtp_auth a real Dovecot
(dovecot_fixture) whose users have {PLAIN}, {SHA512-CRYPT} and
{SCRAM-SHA-256} passwords."""

import os
import re
import socket
import subprocess
import threading
import time

import pytest

from conftest import LOCAL_HOST, MAILFRONT, PATH, TIMEOUT, Account, Chain, b64, plain_response
from dovecot_fixture import dovecot, dovecot_users, own_dovecot  # noqa: F401 (fixtures)
from test_auth import REMOTE, SENDER, assert_refuses_relay, assert_relays, login, smtp_client

# What is tested is smtp_auth's Dovecot verifier; its checks read mailfront's replies.
pytestmark = pytest.mark.mailfront_only("the Dovecot verifier is smtp_auth's; the backend is incidental")

TEMPORARY = "454 4.7.0 Temporary authentication failure"


@pytest.fixture
def dovecot_chain(chain, dovecot):
    """Factory: the chain with CHECKPROG "dovecot"; DOVECOT_AUTH is the
    session Dovecot's UNIX socket unless env names another."""
    def start(env=None, **kwargs):
        full = {"DOVECOT_AUTH": str(dovecot.client_socket)}
        full.update(env or {})
        return chain(env=full, checker="dovecot", checkpassword_file=False, **kwargs)
    return start


def log_lines(server, pattern):
    return re.findall(pattern, server.log(), re.M)


# --- logging in -------------------------------------------------------------

def test_ehlo_lists_dovecots_mechanisms(dovecot_chain, dovecot):
    s = dovecot_chain()
    with smtp_client(s) as client:
        offered = client.esmtp_features["auth"].split()
    assert offered == dovecot.client_mechanisms()
    assert offered == ["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-256"]


@pytest.mark.parametrize("mechanism,initial_response,kind", [
    ("PLAIN", True, "plain"), ("PLAIN", False, "plain"), ("PLAIN", True, "crypt"),
    ("PLAIN", True, "scram"), ("LOGIN", False, "plain"), ("LOGIN", True, "crypt"),
    ("CRAM-MD5", False, "plain")])  # CRAM-MD5 needs the plaintext: {PLAIN}
def test_right_password_logs_in_and_relays(dovecot_chain, dovecot_users, mechanism,
                                           initial_response, kind):
    account = getattr(dovecot_users, kind)
    s = dovecot_chain()
    with smtp_client(s) as client:
        code, text = login(client, mechanism, account, initial_response)
        assert (code, text) == (235, b"2.7.0 Authentication successful")
        assert_relays(client)
    s.wait_for_log(rf'from 127\.0\.0\.1: auth {mechanism} user "{account.user}": accepted')


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN", "CRAM-MD5"])
def test_wrong_password_refused(dovecot_chain, dovecot_users, mechanism):
    account = Account(dovecot_users.plain.user, "wrong-" + dovecot_users.plain.password)
    s = dovecot_chain()
    with smtp_client(s) as client:
        code, text = login(client, mechanism, account, False)
        assert (code, text) == (535, b"5.7.8 Authentication credentials invalid")
        assert_refuses_relay(client)
    log = s.wait_for_log(rf'from 127\.0\.0\.1: auth {mechanism} user "dana": rejected \(dovecot: FAIL\)')
    assert account.password not in log


def assert_cram_md5_initial_response_refused(server, account, initial_response):
    """AUTH CRAM-MD5 with an initial response gets 501 5.7.0; on the same
    connection a proper CRAM-MD5 login works then."""
    with smtp_client(server) as client:
        client.putcmd("AUTH", "CRAM-MD5 " + initial_response)
        assert client.getreply() == (501, b"5.7.0 No initial response allowed with CRAM-MD5")
        assert login(client, "CRAM-MD5", account, False)[0] == 235
        assert_relays(client)


@pytest.mark.parametrize("initial_response", ["=", "digest"])
def test_cram_md5_initial_response_is_a_syntax_error(dovecot_chain, chain, dovecot_users, passwd_file,
                                                     initial_response):
    """RFC 4954 4: CRAM-MD5 is server-first, so an initial response is a
    syntax error, 501 5.7.0, as with a checker (Dovecot itself would ignore
    it and send its challenge). Not a failed login: nothing counted towards
    AUTH_TRIES (1 here), nothing for fail2ban in the log."""
    def response(user):
        return "=" if initial_response == "=" else b64(f"{user} {'0' * 32}")

    env = {"AUTH_TRIES": "1"}
    s = dovecot_chain(env=env)
    assert_cram_md5_initial_response_refused(s, dovecot_users.plain, response(dovecot_users.plain.user))
    log = s.wait_for_log(r'auth CRAM-MD5 user "dana": accepted')
    assert ": rejected" not in log
    checker = chain(env={"SMTPAUTH": "+cram", **env})
    assert_cram_md5_initial_response_refused(checker, passwd_file.plain, response(passwd_file.plain.user))


def test_authenticated_name_reaches_the_backend(dovecot_chain, dovecot_users, backend_dir):
    """user= from Dovecot becomes TCPREMOTEINFO and AUTHUSER."""
    record = backend_dir / "env"
    script = backend_dir / "record-env"
    script.write_text(f"#!/bin/sh\nenv > {record}\nexec mailfront smtp echo accept-sender relayclient\n")
    script.chmod(0o755)
    s = dovecot_chain(backend_argv=[script])
    with smtp_client(s) as client:
        # Dovecot lower-cases the name (auth_username_format %Lu).
        account = Account(dovecot_users.plain.user.upper(), dovecot_users.plain.password)
        assert login(client, "PLAIN", account, True)[0] == 235
        assert_relays(client)
    env = dict(line.split("=", 1) for line in record.read_text().splitlines() if "=" in line)
    assert env["TCPREMOTEINFO"] == env["AUTHUSER"] == dovecot_users.plain.user
    assert env["RELAYCLIENT"] == ""


def test_too_many_failures_close_the_connection(dovecot_chain, dovecot_users):
    s = dovecot_chain(env={"AUTH_TRIES": "2"})
    bad = plain_response(dovecot_users.plain.user, "nope")
    with s.connect() as c:
        c.reply()
        c.command("EHLO client.test.example")
        assert c.command("AUTH PLAIN " + bad).code == 535
        assert c.command("AUTH PLAIN " + bad).code == 535
        assert c.reply().lines == ["421 4.7.0 Too many failed authentication attempts"]
        assert c.is_closed()


def test_failure_waits_auth_delay(dovecot_chain, dovecot_users):
    s = dovecot_chain(env={"AUTH_DELAY": "1"})
    with s.connect() as c:
        c.reply()
        c.command("EHLO client.test.example")
        started = time.monotonic()
        assert c.command("AUTH PLAIN " + plain_response(dovecot_users.plain.user, "nope")).code == 535
        assert time.monotonic() - started >= 1
        started = time.monotonic()
        good = plain_response(dovecot_users.plain.user, dovecot_users.plain.password)
        assert c.command("AUTH PLAIN " + good).code == 235
        assert time.monotonic() - started < 1


def test_cancel_then_login(dovecot_chain, dovecot_users):
    """"*" cancels (501); Dovecot is told and the next AUTH works."""
    s = dovecot_chain()
    with s.connect() as c:
        c.reply()
        c.command("EHLO client.test.example")
        assert c.command("AUTH LOGIN").lines == ["334 VXNlcm5hbWU6"]
        assert c.command("*").code == 501
        assert c.command("AUTH SCRAM-SHA-256").lines == ["334 "]
        assert c.command("*").code == 501
        assert c.command("AUTH PLAIN !!!").lines == ["501 5.5.2 Invalid base64 data"]
        assert c.command("AUTH NTLM").code == 504
        good = plain_response(dovecot_users.plain.user, dovecot_users.plain.password)
        assert c.command("AUTH PLAIN " + good).code == 235


# --- SCRAM-SHA-256 with msmtp ---------------------------------------------------

def msmtp(server, account, auth, tls=False):
    message = b"From: fred@example.org\r\nSubject: scram\r\n\r\nhello\r\n"
    return subprocess.run(
        ["msmtp", "-C", "/dev/null", "--host=127.0.0.1", f"--port={server.port}",
         "--domain=client.test.example", f"--auth={auth}", f"--user={account.user}",
         f"--passwordeval=printf %s {account.password}", "--tls=off" if not tls else "--tls=on",
         f"--from={SENDER}", REMOTE],
        input=message, capture_output=True, timeout=2 * TIMEOUT)


@pytest.mark.parametrize("auth", ["scram-sha-256", "on"])
def test_msmtp_scram_sha_256(dovecot_chain, dovecot_users, queue, auth):
    """msmtp speaks SCRAM-SHA-256; with --auth=on and no TLS it picks it
    by itself, since it would send no password in the clear."""
    account = dovecot_users.scram
    s = dovecot_chain(backend="queuedir", env=queue.env())
    run = msmtp(s, account, auth)
    assert run.returncode == 0, run.stderr.decode()
    [(sender, recipients, message)] = queue.messages()
    assert (sender, recipients) == (SENDER, [REMOTE])
    assert b"Subject: scram" in message
    s.wait_for_log(r'from 127\.0\.0\.1: auth SCRAM-SHA-256 user "fred": accepted')


def test_msmtp_scram_wrong_password(dovecot_chain, dovecot_users):
    account = Account(dovecot_users.scram.user, "not-" + dovecot_users.scram.password)
    s = dovecot_chain()
    run = msmtp(s, account, "scram-sha-256")
    assert run.returncode != 0
    assert b"535" in run.stderr
    s.wait_for_log(r'from 127\.0\.0\.1: auth SCRAM-SHA-256 user "fred": rejected \(dovecot: FAIL\)')


# --- TLS policy ---------------------------------------------------------------

def test_plaintext_mechanisms_wait_for_starttls(dovecot_chain, dovecot_users, tls_env, client_context):
    s = dovecot_chain(env=tls_env)
    a = dovecot_users.plain
    with smtp_client(s) as client:
        assert client.esmtp_features["auth"].split() == ["CRAM-MD5", "SCRAM-SHA-256"]
        code, _ = client.docmd("AUTH", "PLAIN " + plain_response(a.user, a.password))
        assert code == 538
        code, _ = client.docmd("AUTH", "LOGIN")
        assert code == 538
        assert client.starttls(context=client_context)[0] == 220
        client.ehlo()
        assert client.esmtp_features["auth"].split() == ["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-256"]
        assert login(client, "PLAIN", a, True)[0] == 235
        assert_relays(client)


def test_cram_md5_before_starttls(dovecot_chain, dovecot_users, tls_env):
    s = dovecot_chain(env=tls_env)
    with smtp_client(s) as client:
        assert login(client, "CRAM-MD5", dovecot_users.plain, False)[0] == 235
        assert_relays(client)


def test_plaintext_allowed_when_asked(dovecot_chain, tls_env):
    s = dovecot_chain(env=dict(tls_env, AUTH_PLAINTEXT="1"))
    with smtp_client(s) as client:
        assert "PLAIN" in client.esmtp_features["auth"].split()


# --- where Dovecot is, and when it is not -----------------------------------------

def test_tcp_form(dovecot_chain, dovecot, dovecot_users):
    s = dovecot_chain(env={"DOVECOT_AUTH": dovecot.inet})
    with smtp_client(s) as client:
        assert client.esmtp_features["auth"].split() == dovecot.client_mechanisms()
        assert login(client, "PLAIN", dovecot_users.crypt, True)[0] == 235
        assert_relays(client)


def assert_no_auth_but_mail_goes_on(server, why):
    """EHLO offers no AUTH, AUTH gets 454, unauthenticated mail still goes
    to the backend; the log says why, once per attempt."""
    with server.connect() as c:
        c.reply()
        ehlo = c.command("EHLO client.test.example")
        assert not any("AUTH" in line for line in ehlo.lines)
        assert c.command("AUTH PLAIN " + plain_response("dana", "x")).lines == [TEMPORARY]
        # mailfront answers: handed off, unauthenticated.
        assert c.command(f"MAIL FROM:<{SENDER}>").lines == [f"250 Sender='{SENDER}'."]
        assert c.command(f"RCPT TO:<{REMOTE}>").code == 550
        assert c.command("QUIT").code == 221
    log = server.sessions_ended(1)
    assert len(re.findall(r": dovecot: unavailable \(dovecot .*; no AUTH offered\)$", log, re.M)) == 1
    assert re.search(r": dovecot: unavailable \(dovecot .*" + why + r".*; no AUTH offered\)$", log, re.M), log
    assert re.search(r'from 127\.0\.0\.1: auth PLAIN user "": temporary failure \(dovecot .*'
                     + why, log, re.M), log


def test_missing_socket(dovecot_chain, workdir):
    s = dovecot_chain(env={"DOVECOT_AUTH": str(workdir / "no-such-socket")})
    assert_no_auth_but_mail_goes_on(s, "No such file or directory")


def test_refused_connection(dovecot_chain):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
        s = dovecot_chain(env={"DOVECOT_AUTH": f"127.0.0.1:{port}"})
        assert_no_auth_but_mail_goes_on(s, "Connection refused")


def test_wrong_dovecot_socket(dovecot_chain, dovecot):
    """auth-userdb answers VERSION and SPID, no MECH: not auth-client."""
    s = dovecot_chain(env={"DOVECOT_AUTH": str(dovecot.client_socket.parent / "auth-userdb")})
    assert_no_auth_but_mail_goes_on(s, "SPID before any MECH")


def test_dovecot_stopped_mid_session(chain, own_dovecot, dovecot_users):
    account = dovecot_users.plain
    login_line = "AUTH PLAIN " + plain_response(account.user, account.password)
    s = chain(env={"DOVECOT_AUTH": str(own_dovecot.client_socket)}, checker="dovecot",
              checkpassword_file=False)
    with s.connect() as c:
        c.reply()
        assert "250 AUTH PLAIN LOGIN CRAM-MD5 SCRAM-SHA-256" in c.command("EHLO client.test.example").lines
        own_dovecot.stop()
        assert c.command(login_line).lines == [TEMPORARY]
        # Not logged in, but the session goes on.
        assert c.command("NOOP").code == 250
        own_dovecot.start()
        # The same session connects again.
        assert c.command(login_line).code == 235
        assert c.command(f"MAIL FROM:<{SENDER}>").code == 250
        assert c.command(f"RCPT TO:<{REMOTE}>").code == 250
    log = s.wait_for_log(r'from 127\.0\.0\.1: auth PLAIN user "dana": accepted')
    assert len(re.findall(r'from 127\.0\.0\.1: auth PLAIN user "": temporary failure \(dovecot .*'
                          r'unavailable: connect: No such file or directory\)$', log, re.M)) == 1
    # The next session, after the restart.
    with smtp_client(s) as client:
        assert login(client, "PLAIN", account, True)[0] == 235
        assert_relays(client)


def test_dovecot_stopped_during_the_exchange(chain, own_dovecot, dovecot_users):
    """Stopped between the 334 and the client's answer: 454, and one log line."""
    s = chain(env={"DOVECOT_AUTH": str(own_dovecot.client_socket)}, checker="dovecot",
              checkpassword_file=False)
    with s.connect() as c:
        c.reply()
        c.command("EHLO client.test.example")
        assert c.command("AUTH LOGIN").lines == ["334 VXNlcm5hbWU6"]
        own_dovecot.stop()
        assert c.command(b64(dovecot_users.plain.user)).lines == [TEMPORARY]
        assert c.command(f"MAIL FROM:<{SENDER}>").code == 250
        assert c.command(f"RCPT TO:<{REMOTE}>").code == 550
    s.wait_for_log(r'from 127\.0\.0\.1: auth LOGIN user "": temporary failure \(dovecot .*'
                   r': connection closed by the peer\)$')


# --- a peer that is not Dovecot ------------------------------------------------------
#
# A fake auth service written here: garbage, a silent or a vanishing peer are
# the one kind of fault a real Dovecot does not produce on demand.

HANDSHAKE = (b"VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nMECH\tLOGIN\tplaintext\n"
             b"SPID\t1\nCUID\t1\nCOOKIE\t" + b"0" * 32 + b"\nDONE\n")


class FakeAuthService:
    """Serves a UNIX socket: sends `greeting` at once (and closes then if
    `hang_up`), then for each line that starts with AUTH sends `answer`
    (None: close the connection; b"": say nothing)."""

    def __init__(self, path, greeting, answer=b"", hang_up=False):
        self.path = str(path)
        self.greeting = greeting
        self.answer = answer
        self.hang_up = hang_up
        self.received = []
        self.listener = socket.socket(socket.AF_UNIX)
        self.listener.bind(self.path)
        os.chmod(self.path, 0o666)
        self.listener.listen(16)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self.talk, args=(conn,), daemon=True).start()

    def talk(self, conn):
        with conn:
            try:
                conn.sendall(self.greeting)
                if self.hang_up:
                    return
                data = b""
                while True:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                    while b"\n" in data:
                        line, data = data.split(b"\n", 1)
                        self.received.append(line)
                        if line.startswith(b"AUTH\t"):
                            if self.answer is None:
                                return
                            conn.sendall(self.answer)
            except OSError:
                return

    def close(self):
        self.listener.close()
        os.unlink(self.path)


@pytest.fixture
def fake_service(workdir, request):
    made = []

    def start(greeting, answer=b"", hang_up=False):
        path = workdir / f"fake-{len(made)}-{os.getpid()}"
        made.append(FakeAuthService(path, greeting, answer, hang_up))
        return made[-1]

    yield start
    for f in made:
        f.close()


@pytest.mark.parametrize("greeting,why", [
    (b"220 mail.example ESMTP\r\n", "not Dovecot's protocol"),
    (b"* OK IMAP4rev1 ready\n", "no VERSION line first"),
    (b"VERSION\t2\t0\n" + HANDSHAKE.split(b"\n", 1)[1], "protocol version 2"),
    (b"VERSION\t1\t2\nSPID\t1\nCUID\t1\nDONE\n", "SPID before any MECH"),
    (b"VERSION\t1\t2\nCUID\t1\nDONE\n", "DONE without any MECH"),
    (b"VERSION\t1\t2\nMECH\t" + b"A" * 20000 + b"\n", "a line over 16384 octets"),
    (b"VERSION\t1\t2\nMECH\tPLAIN\n", "timed out"),
    (b"VERSION\t1\t2\nMECH\tPL\x01xAIN\nDONE\n", "not Dovecot's protocol"),
    (b"VERSION\t1\t2\n", "connection closed by the peer"),
], ids=["smtp", "imap", "version-2", "spid-first", "no-mech", "long-line", "silent", "bad-escape", "hang-up"])
def test_not_dovecot_at_the_handshake(dovecot_chain, fake_service, greeting, why):
    fake = fake_service(greeting, hang_up=why == "connection closed by the peer")
    s = dovecot_chain(env={"DOVECOT_AUTH": fake.path, "AUTH_TIMEOUT": "1"})
    assert_no_auth_but_mail_goes_on(s, re.escape(why))


@pytest.mark.parametrize("answer,why", [
    (None, "connection closed by the peer"),
    (b"", "read timed out"),
    (b"OK\t1\n", "OK without user="),
    (b"OK\t1\tuser=dana\x01lX-Forged: yes\n", "OK with an unusable user= name"),
    (b"OK\t2\tuser=dana\n", "reply for another request"),
    (b"CONT\t1\t%%%\n", "CONT with invalid base64"),
    (b"HELLO\t1\n", "unexpected reply"),
    (b"FAIL\t1\tuser=dana\tcode=temp_fail\n", "dovecot: temporary failure"),
    (b"FAIL\t1\tuser=dana\ttemp\n", "dovecot: temporary failure"),
    (b"CONT\t1\t" + b"QUFB" * 5000 + b"\n", "a line over 16384 octets"),
], ids=["hang-up", "silent", "ok-no-user", "ok-user-lf", "other-id", "bad-base64", "unknown",
        "temp-fail", "temp", "long-line"])
def test_not_dovecot_in_the_exchange(dovecot_chain, fake_service, answer, why):
    """Each fault: 454 4.7.0 and one log line; never 235, never a hang."""
    fake = fake_service(HANDSHAKE, answer)
    s = dovecot_chain(env={"DOVECOT_AUTH": fake.path, "AUTH_TIMEOUT": "1"})
    with s.connect() as c:
        c.reply()
        assert "250 AUTH PLAIN LOGIN" in c.command("EHLO client.test.example").lines
        reply = c.command("AUTH PLAIN " + plain_response("dana", "secret"))
        assert reply.lines == [TEMPORARY]
        # A new EHLO asks the service again (a new connection after a fault).
        assert "250 AUTH PLAIN LOGIN" in c.command("EHLO client.test.example").lines
        assert c.command(f"MAIL FROM:<{SENDER}>").code == 250
        assert c.command(f"RCPT TO:<{REMOTE}>").code == 550
    log = s.sessions_ended(1)
    failures = re.findall(r"^smtp_auth: .* temporary failure \((.*)\)$", log, re.M)
    assert len(failures) == 1 and why in failures[0], log
    assert "X-Forged" not in log
    # What went to the fake: the request with the client's address, the
    # response base64 as the client sent it, last.
    auth = next(line for line in fake.received if line.startswith(b"AUTH\t"))
    assert re.fullmatch(rb"AUTH\t1\tPLAIN\tservice=smtp\tlip=127\.0\.0\.1\trip=127\.0\.0\.1"
                        rb"\tlport=\d+\trport=\d+\tresp=" + plain_response("dana", "secret").encode(),
                        auth), auth


def test_challenge_relayed_and_secured(dovecot_chain, fake_service, tls_env, client_context):
    """CONT becomes 334, the client's answer goes back as CONT; over TLS
    the request says secured."""
    fake = fake_service(HANDSHAKE, b"CONT\t1\t" + b64("hi").encode() + b"\n")
    s = dovecot_chain(env=dict(tls_env, DOVECOT_AUTH=fake.path, AUTH_TIMEOUT="1"))
    with smtp_client(s) as client:
        assert client.starttls(context=client_context)[0] == 220
        client.ehlo()
        assert client.docmd("AUTH", "LOGIN") == (334, b64("hi").encode())
        # The fake does not answer CONT: a timeout, 454.
        assert client.docmd(b64("dana")) == (454, b"4.7.0 Temporary authentication failure")
    auth = next(line for line in fake.received if line.startswith(b"AUTH\t"))
    assert auth.endswith(b"\tsecured")
    assert b"CONT\t1\t" + b64("dana").encode() in fake.received


# --- settings -----------------------------------------------------------------

@pytest.mark.parametrize("checker,env", [
    (None, {}),                          # DOVECOT_AUTH beside checkpassword_nosu
    ("dovecot", {"SMTPAUTH": "+cram"}),  # Dovecot chooses the mechanisms
    ("dovecot", {"DOVECOT_AUTH": "mail.example:12345"}),  # no host names
])
def test_misconfiguration_is_refused(chain, dovecot, checker, env):
    full = {"DOVECOT_AUTH": str(dovecot.client_socket)}
    full.update(env)
    s = chain(env=full, checker=checker, checkpassword_file=checker is None)
    with s.connect() as c:
        assert c.reply().lines == ["421 4.3.0 Mail service misconfigured"]
        assert c.is_closed()
    assert ": config: error (" in s.sessions_ended(1)


def test_auth_required_with_dovecot(dovecot_chain, dovecot_users):
    s = dovecot_chain(env={"SMTPAUTH": "!"})
    with s.connect() as c:
        c.reply()
        c.command("EHLO client.test.example")
        assert c.command(f"MAIL FROM:<{SENDER}>").lines == ["530 5.7.0 Authentication required"]
        good = plain_response(dovecot_users.plain.user, dovecot_users.plain.password)
        assert c.command("AUTH PLAIN " + good).code == 235
        assert c.command(f"MAIL FROM:<{SENDER}>").code == 250


# --- nothing runs as root ------------------------------------------------------------

class UnprivilegedChain(Chain):
    """tcpserver -u UID -g GID runs the whole chain as one unprivileged
    account: no setuidgid, no root process."""

    def __init__(self, *args, uid, gid, **kwargs):
        super().__init__(*args, **kwargs)
        self.uid, self.gid = uid, gid

    def command(self):
        env = [f"{k}={v}" for k, v in self.env.items()]
        return (["env", "-i", *env, "tcpserver", "-v", "-R", "-H", "-l", LOCAL_HOST,
                 "-u", str(self.uid), "-g", str(self.gid), "127.0.0.1", str(self.port),
                 str(self.bin_dir / "smtp_auth"), "dovecot",
                 str(self.bin_dir / "smtpproxy"), *self.backend_argv])


@pytest.mark.parametrize("tls", [False, True])
def test_whole_chain_unprivileged(bin_dir, workdir, test_account, dovecot, dovecot_users, queue,
                                  certificate, client_context, tls):
    """tcpserver -u -g: smtp_auth, its TLS relay, smtpproxy and the backend
    all run as the unprivileged account; not one process as root."""
    uid, gid = test_account
    env = {"PATH": PATH, "AUTH_DELAY": "0", "DOVECOT_AUTH": str(dovecot.client_socket), **queue.env()}
    if tls:
        # The account reads its own copy of the key.
        key = workdir / f"unprivileged-key-{os.getpid()}.pem"
        key.write_bytes(certificate[1].read_bytes())
        os.chown(key, uid, gid)
        key.chmod(0o600)
        env.update(TLS_CERT=str(certificate[0]), TLS_KEY=str(key), UID=str(uid), GID=str(gid))
    backend = [a.format(backend="queuedir") for a in MAILFRONT]
    s = UnprivilegedChain(bin_dir, workdir, f"unprivileged-{tls}", env, None, "dovecot", backend, (),
                          uid=uid, gid=gid)
    try:
        s.start()
        with smtp_client(s) as client:
            if tls:
                assert client.starttls(context=client_context)[0] == 220
                client.ehlo()
            assert login(client, "PLAIN", dovecot_users.plain, True)[0] == 235
            seen = s.processes.wait_for_names({"smtpproxy", "mailfront"})
            assert client.sendmail(SENDER, [REMOTE], b"Subject: unprivileged\r\n\r\nhi\r\n") == {}
        assert ("tlsrelay" in seen) == tls  # the TLS relay
        tcpserver = open(f"/proc/{s.proc.pid}/status").read()
        assert re.search(rf"^Uid:\t{uid}\t{uid}\t{uid}\t{uid}$", tcpserver, re.M), tcpserver
        everyone = list(s.processes.seen.values())
        assert everyone and all(set(p.uids) == {uid} for p in everyone), everyone
        [(sender, recipients, _)] = queue.messages()
        assert (sender, recipients) == (SENDER, [REMOTE])
        s.wait_for_log(r'from 127\.0\.0\.1: auth PLAIN user "dana": accepted')
        assert not s.troubles()
    finally:
        s.stop()
        s.processes.stop()
        s.processes.kill_all()
