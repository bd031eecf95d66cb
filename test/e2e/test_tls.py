"""TLS: STARTTLS and implicit TLS (SMTPS), done by smtp_auth, whose TLS
relay process runs as the account named by UID and GID (envuidgid)."""

import hashlib
import re
import smtplib
import socket
import ssl
import subprocess
import time

import pytest

import backends
from conftest import LOCAL_HOST, TIMEOUT, plain_response
from test_delivery import big_message, credentials, descendants

EHLO = "EHLO client.test.example"


def test_starttls_then_login(server, passwd_file, tls_env, client_context):
    s = server(env=tls_env)
    a = passwd_file.plain
    with smtplib.SMTP("127.0.0.1", s.port, timeout=TIMEOUT) as client:
        client.ehlo()
        assert client.has_extn("starttls")
        assert not client.has_extn("auth")  # no password in the clear
        code, _ = client.docmd("AUTH", "PLAIN " + plain_response(a.user, a.password))
        assert code == 538
        assert client.starttls(context=client_context)[0] == 220
        client.ehlo()
        assert not client.has_extn("starttls")
        assert client.esmtp_features["auth"].split() == ["LOGIN", "PLAIN"]
        client.login(a.user, a.password)
        assert client.mail("alice@example.org")[0] == 250
        assert client.rcpt("someone@remote.example")[0] == 250
    assert ": tls handshake: done (TLSv1." in s.sessions_ended(1)


def test_openssl_s_client_starttls_login(server, passwd_file, tls_env, certificate):
    s = server(env=tls_env)
    a = passwd_file.plain
    dialogue = (f"{EHLO}\nAUTH PLAIN {plain_response(a.user, a.password)}\n"
                "MAIL FROM:<alice@example.org>\nRCPT TO:<someone@remote.example>\nQUIT\n")
    run = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{s.port}", "-starttls", "smtp",
         "-CAfile", str(certificate[0]), "-verify_return_error",
         "-crlf", "-quiet", "-ign_eof"],
        input=dialogue, capture_output=True, text=True, timeout=2 * TIMEOUT)
    assert run.returncode == 0, run.stderr
    replies = [line for line in run.stdout.splitlines() if line[3:4] == " "]
    assert replies == ["250 AUTH LOGIN PLAIN", "235 2.7.0 Authentication successful",
                       backends.BACKEND.mail_ok("alice@example.org"),
                       backends.BACKEND.rcpt_ok("someone@remote.example"), backends.BACKEND.quit_ok]


def test_plaintext_auth_allowed_when_asked(server, passwd_file, tls_env):
    s = server(env=dict(tls_env, AUTH_PLAINTEXT="1"))
    with smtplib.SMTP("127.0.0.1", s.port, timeout=TIMEOUT) as client:
        client.ehlo()
        assert client.has_extn("starttls") and client.has_extn("auth")
        client.login(passwd_file.plain.user, passwd_file.plain.password)
        assert client.mail("alice@example.org")[0] == 250
        assert client.rcpt("someone@remote.example")[0] == 250


def test_plaintext_pipelined_after_starttls_is_not_obeyed(server, tls_env, client_context):
    """CVE-2011-0411: a command injected behind STARTTLS in the clear must
    not run inside the TLS session."""
    s = server(env=tls_env)
    with s.connect() as c:
        c.reply()
        c.send(f"{EHLO}\r\nSTARTTLS\r\nNOOP\r\n")
        assert c.reply().code == 250
        reply = c.reply()
        if reply.code != 220:  # refused instead: fine, as long as nothing leaks
            assert reply.code >= 400, reply
            return
        tls = client_context.wrap_socket(c.sock, server_hostname=LOCAL_HOST)
        tls.sendall(f"{EHLO}\r\n".encode())
        first = tls.recv(4096).decode()
        assert first.startswith(f"250-{LOCAL_HOST}\r\n"), first
        tls.close()


def test_implicit_tls(server, passwd_file, tls_env, client_context, test_account, tls_account):
    uid, _ = test_account
    relay_uid, _ = tls_account
    s = server(env=dict(tls_env, SMTPS="1"))
    a = passwd_file.crypt
    with smtplib.SMTP_SSL("127.0.0.1", s.port, timeout=TIMEOUT,
                          context=client_context) as client:
        client.ehlo()
        assert not client.has_extn("starttls")
        client.login(a.user, a.password)
        assert client.mail("bob@example.org")[0] == 250
        # Nothing of the session, the TLS relay included, is root now; the
        # relay has an account of its own.
        procs = [credentials(p) for p in descendants(s.proc.pid)]
        assert len(procs) >= 3, procs  # TLS relay, smtpproxy, mailfront
        assert all(p[1] == [relay_uid if p[0] == "tlsrelay" else uid] * 4 for p in procs), procs
        assert client.rcpt("someone@remote.example")[0] == 250


def test_20_mib_through_tls_arrive_byte_exact(server, passwd_file, tls_env, client_context,
                                              queue):
    s = server(backend="queuedir", env=dict(tls_env, **queue.env()))
    message = big_message()
    a = passwd_file.plain
    with smtplib.SMTP("127.0.0.1", s.port, timeout=4 * TIMEOUT) as client:
        client.starttls(context=client_context)
        client.login(a.user, a.password)
        assert client.sendmail("alice@example.org", ["someone@remote.example"], message) == {}
    [(_, _, stored)] = queue.messages()
    meant = message.replace(b"\r\n", b"\n")
    assert hashlib.sha256(stored).hexdigest() == hashlib.sha256(meant).hexdigest()


def test_tls_needs_an_unprivileged_relay_account(server, certificate):
    cert, key = certificate
    s = server(env={"TLS_CERT": str(cert), "TLS_KEY": str(key)})
    with s.connect() as c:
        [reply] = c.replies_until_close()
        assert reply.lines[0].startswith("421 4.3.0"), reply


def test_plain_client_on_implicit_tls_port(server, tls_env):
    """A client that speaks SMTP in the clear to the SMTPS port gets no
    greeting and is disconnected, without a crash."""
    s = server(env=dict(tls_env, SMTPS="1"))
    with socket.create_connection(("127.0.0.1", s.port), timeout=TIMEOUT) as sock:
        sock.sendall(b"EHLO client.test.example\r\n")
        data = b""
        try:
            while chunk := sock.recv(4096):
                data += chunk
        except ConnectionResetError:
            pass  # closed with our EHLO unread: that is a disconnect too
        assert not data.startswith(b"220"), data
    s.sessions_ended(1)


def swaks_send(port, *tls_options, user, password):
    return subprocess.run(
        ["swaks", "--server", f"127.0.0.1:{port}", *tls_options,
         "--auth", "PLAIN", "--auth-user", user, "--auth-password", password,
         "--from", "alice@example.org", "--to", "someone@remote.example",
         "--helo", "client.test.example", "--timeout", str(TIMEOUT)],
        capture_output=True, text=True, timeout=4 * TIMEOUT)


@pytest.mark.parametrize("mode", ["--tls", "--tlsc"])
def test_swaks_logs_in_and_sends_over_tls(server, passwd_file, tls_env, mode):
    env = dict(tls_env, SMTPS="1") if mode == "--tlsc" else tls_env
    s = server(env=env)
    a = passwd_file.plain
    run = swaks_send(s.port, mode, user=a.user, password=a.password)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "=== TLS started with cipher TLSv1." in run.stdout
    assert "<~  235 2.7.0" in run.stdout
    assert f"<~  {backends.BACKEND.data_ok}" in run.stdout
    # The same without TLS gets no AUTH (and swaks gives up).
    if mode == "--tls":
        plain = swaks_send(s.port, user=a.user, password=a.password)
        assert plain.returncode != 0
        assert "235" not in plain.stdout


def test_starttls_twice_is_refused_and_the_chain_sees_the_protection(
        server, passwd_file, tls_env, client_context, test_account, tls_account):
    uid, _ = test_account
    relay_uid, _ = tls_account
    s = server(env=tls_env)
    a = passwd_file.plain
    with smtplib.SMTP("127.0.0.1", s.port, timeout=TIMEOUT) as client:
        client.starttls(context=client_context)
        assert client.docmd("STARTTLS")[0] == 503
        client.ehlo()
        client.login(a.user, a.password)
        assert client.mail("alice@example.org")[0] == 250
        procs = {p: credentials(p) for p in descendants(s.proc.pid)}
        # The TLS relay (still named smtp_auth), smtpproxy and mailfront:
        # none of them root, and the relay on an account of its own.
        names = sorted(c[0] for c in procs.values())
        assert names == sorted([backends.BACKEND.process, "tlsrelay", "smtpproxy"]), names
        assert all(c[1] == [relay_uid if c[0] == "tlsrelay" else uid] * 4 for c in procs.values()), procs
        backend = next(p for p, c in procs.items() if c[0] == backends.BACKEND.process)
        environ = dict(item.split(b"=", 1) for item in
                       open(f"/proc/{backend}/environ", "rb").read().split(b"\0") if b"=" in item)
        assert environ[b"SSL_PROTOCOL"].startswith(b"TLSv1.")
        assert environ[b"SSL_CIPHER"]
        assert environ[b"AUTHUSER"] == a.user.encode()
        assert b"SMTPAUTH_HANDOFF" not in environ
        assert a.password.encode() not in b"".join(environ.values())


def wait_for_no_session(s):
    """Every process of the session is gone (tcpserver reaped the last)."""
    deadline = time.monotonic() + TIMEOUT
    while descendants(s.proc.pid):
        assert time.monotonic() < deadline, [credentials(p) for p in descendants(s.proc.pid)]
        time.sleep(0.05)


@pytest.mark.parametrize("garbage", [b"", b"\x16\x03\x01\x00\x05hello", b"GET / HTTP/1.0\r\n\r\n",
                                     bytes(range(256)) * 8],
                         ids=["disconnect", "truncated-hello", "http", "binary"])
def test_handshake_garbage_or_disconnect_leaves_nothing_behind(server, tls_env, garbage):
    s = server(env=tls_env)
    with s.connect() as c:
        c.reply()
        c.send("STARTTLS\r\n")
        assert c.reply().code == 220
        c.sock.sendall(garbage)
    s.sessions_ended(1)
    wait_for_no_session(s)
    assert ": tls handshake: failed (" in s.log()
    # The server still works.
    with smtplib.SMTP("127.0.0.1", s.port, timeout=TIMEOUT) as client:
        assert client.noop()[0] == 250


def test_disconnect_in_the_middle_of_an_implicit_handshake(server, tls_env):
    s = server(env=dict(tls_env, SMTPS="1"))
    # The first bytes of a real ClientHello, then the client vanishes.
    context = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    half = context.wrap_bio(incoming, outgoing, server_hostname=LOCAL_HOST)
    with pytest.raises(ssl.SSLWantReadError):
        half.do_handshake()
    hello = outgoing.read()
    with socket.create_connection(("127.0.0.1", s.port), timeout=TIMEOUT) as sock:
        sock.sendall(hello[: len(hello) // 2])
    s.sessions_ended(1)
    wait_for_no_session(s)


def test_client_closing_after_quit_ends_every_tls_process(server, passwd_file, tls_env, client_context):
    s = server(env=dict(tls_env, SMTPS="1"))
    a = passwd_file.plain
    with smtplib.SMTP_SSL("127.0.0.1", s.port, timeout=TIMEOUT, context=client_context) as client:
        client.login(a.user, a.password)
        client.sendmail("alice@example.org", ["someone@remote.example"], b"Subject: x\r\n\r\nhi\r\n")
    log = s.sessions_ended(1)
    wait_for_no_session(s)
    assert re.search(r"^tcpserver: end \d+ status 0$", log, re.M), log
