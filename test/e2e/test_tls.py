"""TLS: STARTTLS and implicit TLS (SMTPS), done by smtp_auth, whose TLS
relay process runs as the account named by UID and GID (envuidgid)."""

import hashlib
import smtplib
import socket
import ssl
import subprocess

import pytest

from conftest import LOCAL_HOST, TIMEOUT, plain_response
from test_delivery import big_message, credentials, descendants

EHLO = "EHLO client.test.example"


@pytest.fixture(scope="session")
def certificate(workdir):
    cert, key = workdir / "cert.pem", workdir / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "2",
                    "-subj", f"/CN={LOCAL_HOST}"], check=True, capture_output=True)
    key.chmod(0o600)
    return cert, key


@pytest.fixture
def tls_env(certificate, test_account):
    uid, gid = test_account
    cert, key = certificate
    return {"TLS_CERT": str(cert), "TLS_KEY": str(key), "UID": str(uid), "GID": str(gid)}


@pytest.fixture(scope="session")
def client_context(certificate):
    context = ssl.create_default_context(cafile=str(certificate[0]))
    context.check_hostname = False  # the client connects to 127.0.0.1
    return context


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
    assert " tls TLSv1." in s.sessions_ended(1)


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
                       "250 Sender='alice@example.org'.",
                       "250 Recipient='someone@remote.example'.", "221 2.0.0 Good bye."]


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


def test_implicit_tls(server, passwd_file, tls_env, client_context, test_account):
    uid, _ = test_account
    s = server(env=dict(tls_env, SMTPS="1"))
    a = passwd_file.crypt
    with smtplib.SMTP_SSL("127.0.0.1", s.port, timeout=TIMEOUT,
                          context=client_context) as client:
        client.ehlo()
        assert not client.has_extn("starttls")
        client.login(a.user, a.password)
        assert client.mail("bob@example.org")[0] == 250
        # Nothing of the session, the TLS relay included, is root now.
        procs = [credentials(p) for p in descendants(s.proc.pid)]
        assert len(procs) >= 3, procs  # TLS relay, smtpproxy, mailfront
        assert all(p[1] == [uid] * 4 for p in procs), procs
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
