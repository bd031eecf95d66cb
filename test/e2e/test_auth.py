"""Logging in: mechanisms, clients, accounts, failures."""

import base64
import os
import re
import smtplib
import subprocess
import time

import pytest

import backends
from conftest import LOCAL_HOST, TIMEOUT, Account, b64, plain_response, shadow_hash

EHLO = "EHLO client.test.example"

SENDER = "alice@example.org"
REMOTE = "someone@remote.example"  # relaying there needs RELAYCLIENT


def smtp_client(server):
    client = smtplib.SMTP("127.0.0.1", server.port, local_hostname="client.test.example",
                          timeout=TIMEOUT)
    client.ehlo()
    return client


def login(client, mechanism, account, initial_response):
    """smtplib's own SASL code for one mechanism; returns (code, text)."""
    client.user, client.password = account.user, account.password
    method = {"PLAIN": client.auth_plain, "LOGIN": client.auth_login,
              "CRAM-MD5": client.auth_cram_md5}[mechanism]
    try:
        return client.auth(mechanism, method, initial_response_ok=initial_response)
    except smtplib.SMTPAuthenticationError as e:
        return e.smtp_code, e.smtp_error


def assert_relays(client):
    assert client.mail(SENDER)[0] == 250
    code, text = client.rcpt(REMOTE)
    assert code == 250, f"remote RCPT after login: {code} {text!r}"


def assert_refuses_relay(client):
    assert client.mail(SENDER)[0] == 250
    code, text = client.rcpt(REMOTE)
    assert code == backends.BACKEND.no_relay, f"remote RCPT without login: {code} {text!r}"


@pytest.mark.parametrize("mechanism,initial_response,kind", [
    ("PLAIN", True, "plain"), ("PLAIN", False, "plain"),
    ("PLAIN", True, "crypt"), ("PLAIN", False, "crypt"),
    ("LOGIN", True, "plain"), ("LOGIN", False, "plain"),
    ("LOGIN", True, "crypt"), ("LOGIN", False, "crypt"),
    ("CRAM-MD5", False, "plain")])  # CRAM-MD5 needs the plaintext
def test_smtplib_login_then_relay(server, passwd_file, mechanism, initial_response, kind):
    account = getattr(passwd_file, kind)
    s = server(env={"SMTPAUTH": "+cram"})
    with smtp_client(s) as client:
        assert mechanism in client.esmtp_features["auth"].split()
        code, text = login(client, mechanism, account, initial_response)
        assert (code, text) == (235, b"2.7.0 Authentication successful")
        assert_relays(client)
    log = s.wait_for_log(rf'from 127\.0\.0\.1: auth {mechanism} user "{account.user}": accepted')
    assert "rejected" not in log


def test_cram_md5_needs_plain_secret(server, passwd_file):
    s = server(env={"SMTPAUTH": "+cram"})
    with smtp_client(s) as client:
        assert login(client, "CRAM-MD5", passwd_file.crypt, False)[0] == 535
        assert_refuses_relay(client)


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN", "CRAM-MD5"])
def test_swaks_login_and_send(server, passwd_file, mechanism):
    s = server(env={"SMTPAUTH": "+cram"})
    account = passwd_file.plain
    run = subprocess.run(
        ["swaks", "--server", f"127.0.0.1:{s.port}", "--helo", "client.test.example",
         "--auth", mechanism, "--auth-user", account.user,
         "--auth-password", account.password,
         "--from", SENDER, "--to", REMOTE, "--timeout", str(TIMEOUT)],
        capture_output=True, text=True, timeout=2 * TIMEOUT)
    out = run.stdout
    assert run.returncode == 0, out + run.stderr
    assert f" -> AUTH {mechanism}" in out
    assert "<-  235 2.7.0 Authentication successful" in out
    assert f"<-  {backends.BACKEND.rcpt_ok(REMOTE)}" in out
    assert f"<-  {backends.BACKEND.data_ok}" in out
    assert "<-  221" in out


def test_wrong_password_then_relay_refused(server, passwd_file):
    s = server()
    with smtp_client(s) as client:
        wrong = Account(passwd_file.plain.user, "not-the-password")
        code, text = login(client, "PLAIN", wrong, True)
        assert code == 535 and text.startswith(b"5.7.8"), (code, text)
        assert_refuses_relay(client)
    s.wait_for_log(r'from 127\.0\.0\.1: auth PLAIN user "alice": rejected')


def test_unknown_user_refused(server):
    s = server()
    with s.connect() as c:
        c.reply()
        assert c.command(EHLO).code == 250
        assert c.command("AUTH PLAIN " + plain_response("nobody-here", "x")).code == 535


def test_retry_after_failure_succeeds(server, passwd_file):
    s = server()
    account = passwd_file.crypt
    with smtp_client(s) as client:
        wrong = Account(account.user, account.password + "x")
        assert login(client, "LOGIN", wrong, False)[0] == 535
        assert login(client, "LOGIN", account, False)[0] == 235
        assert_relays(client)


def test_too_many_failures_close_the_connection(server, passwd_file):
    s = server(env={"AUTH_TRIES": "2"})
    wrong = plain_response(passwd_file.plain.user, "wrong")
    with s.connect() as c:
        assert c.reply().code == 220
        assert c.command(EHLO).code == 250
        assert c.command("AUTH PLAIN " + wrong).code == 535
        assert c.command("AUTH PLAIN " + wrong).code == 535
        last = c.reply()
        assert last.code == 421 and last.lines[0].startswith("421 4.7.0"), last
        assert c.is_closed()


def test_failed_login_is_delayed(server, passwd_file):
    s = server(env={"AUTH_DELAY": "1"})
    with s.connect() as c:
        c.reply()
        assert c.command(EHLO).code == 250
        started = time.monotonic()
        wrong = plain_response(passwd_file.plain.user, "wrong")
        assert c.command("AUTH PLAIN " + wrong).code == 535
        assert time.monotonic() - started >= 0.9
        started = time.monotonic()
        good = plain_response(passwd_file.plain.user, passwd_file.plain.password)
        assert c.command("AUTH PLAIN " + good).code == 235
        assert time.monotonic() - started < 0.9


@pytest.mark.parametrize("method,prefix", [("YESCRYPT", "$y$"), ("SHA512", "$6$")])
def test_system_account_with_shadow_password(server, shadow_account, method, prefix):
    account = shadow_account(method)
    assert shadow_hash(account.user).startswith(prefix)
    s = server(checkpassword_file=False)
    with smtp_client(s) as client:
        wrong = Account(account.user, "wrong")
        assert login(client, "PLAIN", wrong, True)[0] == 535
        assert login(client, "PLAIN", account, True)[0] == 235
        assert_relays(client)
    with smtp_client(s) as client:
        assert login(client, "LOGIN", account, False)[0] == 235
        assert_relays(client)


def test_passwd_file_account_is_not_a_system_account(server, passwd_file):
    """Without CHECKPASSWORD_FILE the file's accounts do not exist."""
    s = server(checkpassword_file=False)
    with smtp_client(s) as client:
        assert login(client, "PLAIN", passwd_file.plain, True)[0] == 535


@pytest.mark.parametrize("kind", ["root", "uid_zero"])
def test_root_cannot_log_in(server, passwd_file, kind):
    account = getattr(passwd_file, kind)
    s = server()
    with s.connect() as c:
        c.reply()
        assert c.command(EHLO).code == 250
        good = plain_response(account.user, account.password)
        reply = c.command("AUTH PLAIN " + good)
        assert reply.code == 535 and reply.lines[0].startswith("535 5.7.8"), reply
        # the same server lets a normal account in
        good = plain_response(passwd_file.plain.user, passwd_file.plain.password)
        assert c.command("AUTH PLAIN " + good).code == 235


def test_root_cannot_log_in_as_system_account(server):
    """root's real password is unknown here; the name alone must be refused
    without even a temporary failure."""
    s = server(checkpassword_file=False)
    with s.connect() as c:
        c.reply()
        assert c.command(EHLO).code == 250
        assert c.command("AUTH PLAIN " + plain_response("root", "guess")).code == 535


def test_authzid_must_match(server, passwd_file):
    s = server()
    a = passwd_file.plain
    with s.connect() as c:
        c.reply()
        assert c.command(EHLO).code == 250
        assert c.command("AUTH PLAIN " + plain_response(a.user, a.password, "bob")).code == 535
        assert c.command("AUTH PLAIN " + plain_response(a.user, a.password, a.user)).code == 235


def test_login_with_initial_username(server, passwd_file):
    s = server()
    a = passwd_file.plain
    with s.connect() as c:
        c.reply()
        assert c.command(EHLO).code == 250
        assert c.command("AUTH LOGIN " + b64(a.user)).lines == ["334 UGFzc3dvcmQ6"]
        assert c.command(b64(a.password)).code == 235
        assert c.command("MAIL FROM:<alice@example.org>").code == 250
        assert c.command(f"RCPT TO:<{REMOTE}>").code == 250
        assert c.command("QUIT").code == 221


def test_password_never_logged(server, passwd_file):
    s = server(env={"SMTPAUTH": "+cram"})
    a = passwd_file.plain
    wrong = "Wrong-" + a.password
    with s.connect() as c:
        c.reply()
        assert c.command(EHLO).code == 250
        assert c.command("AUTH PLAIN " + plain_response(a.user, wrong)).code == 535
        assert c.command("AUTH LOGIN").code == 334
        assert c.command(b64(a.user)).code == 334
        assert c.command(b64(wrong)).code == 535
        assert c.command("AUTH PLAIN " + plain_response(a.user, a.password)).code == 235
        assert c.command("QUIT").code == 221
    with smtp_client(s) as client:
        assert login(client, "CRAM-MD5", a, False)[0] == 235
    log = s.sessions_ended(2)
    assert len(re.findall(rf'from 127\.0\.0\.1: auth \S+ user "{a.user}": accepted$', log, re.M)) == 2
    assert len(re.findall(rf'from 127\.0\.0\.1: auth \S+ user "{a.user}": rejected ', log, re.M)) == 2
    for secret in (a.password, wrong, b64(a.password), b64(wrong),
                   plain_response(a.user, a.password), plain_response(a.user, wrong)):
        assert secret not in log


def test_temporary_failure_when_passwd_file_missing(server, workdir):
    s = server(env={"CHECKPASSWORD_FILE": str(workdir / "no-such-file")})
    with s.connect() as c:
        c.reply()
        assert c.command(EHLO).code == 250
        reply = c.command("AUTH PLAIN " + plain_response("alice", "x"))
        assert reply.code == 454 and reply.lines[0].startswith("454 4.7.0"), reply


def test_cram_challenge_names_local_host(server):
    """The CRAM-MD5 challenge names the host, as RFC 2195 wants."""
    s = server(env={"SMTPAUTH": "cram"})
    with s.connect() as c:
        c.reply()
        assert c.command(EHLO).code == 250
        reply = c.command("AUTH CRAM-MD5")
        assert reply.code == 334
        challenge = base64.b64decode(reply.lines[0][4:]).decode()
        assert challenge.startswith("<") and challenge.endswith(f"@{LOCAL_HOST}>"), challenge
        assert c.command("*").code == 501


def test_hanging_checker_is_a_temporary_failure(server, workdir):
    """A passwd-file that blocks (a FIFO nobody writes to) hangs the
    checker; after AUTH_TIMEOUT the client gets 454 and may go on."""
    fifo = workdir / "passwd-fifo"
    if not fifo.exists():
        os.mkfifo(fifo)
    s = server(env={"CHECKPASSWORD_FILE": str(fifo), "AUTH_TIMEOUT": "1"})
    with s.connect() as c:
        c.reply()
        assert c.command(EHLO).code == 250
        started = time.monotonic()
        reply = c.command("AUTH PLAIN " + plain_response("alice", "x"))
        assert reply.lines[0].startswith("454 4.7.0"), reply
        assert 0.9 <= time.monotonic() - started < 5
        assert c.command("NOOP").code == 250
