"""The SMTP dialogue around the login: greeting, EHLO, errors, pipelining,
and the hand-over to the backend."""

import re
import subprocess
import time

import pytest

import backends
from conftest import LOCAL_HOST, REPO, b64, plain_response

EHLO = "EHLO client.test.example"


def codes(replies):
    return [r.code for r in replies]


def test_default_greeting_and_ehlo(server):
    s = server()
    with s.connect() as c:
        assert c.reply().lines == [f"220 {LOCAL_HOST} ESMTP"]
        assert c.command(EHLO).lines == [
            f"250-{LOCAL_HOST}", "250-PIPELINING", "250-8BITMIME", "250 AUTH LOGIN PLAIN"]
        assert c.command("HELO client.test.example").lines == [f"250 {LOCAL_HOST}"]
        assert c.command("NOOP").code == 250
        assert c.command("RSET").code == 250
        assert c.command("HELP").code == 214
        assert c.command("QUIT").code == 221
        assert c.is_closed()


def test_local_address_as_host_name(chain):
    """With "tcpserver -l 0" there is no local host name: the defaults use the
    address, written as RFC 5321 lets an address stand for a domain."""
    s = chain(tcpserver_options=["-l", "0"])
    with s.connect() as c:
        assert c.reply().lines == ["220 [127.0.0.1] ESMTP"]
        assert c.command(EHLO).lines[0] == "250-[127.0.0.1]"
        assert c.command("QUIT").code == 221


def test_greeting_and_ehlo_from_environment(server):
    s = server(env={
        "GREETING": "220-mx.example.org first line\n220 mx.example.org second line",
        "EHLORESP": "250-mx.example.org\r\n250-PIPELINING\r\n250 SIZE 10240000",
        "SMTPAUTH": "+cram"})
    with s.connect() as c:
        assert c.reply().lines == ["220-mx.example.org first line",
                                   "220 mx.example.org second line"]
        assert c.command(EHLO).lines == [
            "250-mx.example.org", "250-PIPELINING", "250-SIZE 10240000",
            "250 AUTH LOGIN PLAIN CRAM-MD5"]


def test_conf_envdir_gives_valid_replies(server):
    """conf/ is an envdir: its multi-line EHLORESP (NUL-separated) must come
    out as proper reply lines, and its SMTPAUTH=! must require a login."""
    conf = REPO / "conf"
    ehloresp = (conf / "EHLORESP").read_bytes().split(b"\n")[0].decode().split("\0")
    greeting = (conf / "GREETING").read_text().splitlines()[0]
    s = server(prefix=["envdir", str(conf)])
    with s.connect() as c:
        assert c.reply().lines == [greeting]
        assert c.command(EHLO).lines == ehloresp + ["250 AUTH LOGIN PLAIN"]
        assert c.command("MAIL FROM:<alice@example.org>").code == 530


@pytest.mark.mailfront_only("tells a started backend by mailfront's log lines")
def test_quit_first_starts_no_backend(server):
    s = server()
    with s.connect() as c:
        c.reply()
        reply = c.command("QUIT")
        assert reply.lines == [f"221 2.0.0 {LOCAL_HOST}"]
        assert c.is_closed()
    assert "mailfront[" not in s.sessions_ended(1)
    # Control: a session that sends MAIL does reach mailfront, which logs it.
    with s.connect() as c:
        c.reply()
        assert c.command("MAIL FROM:<alice@example.org>").code == 250
        assert c.command("QUIT").code == 221
    assert "mailfront[" in s.sessions_ended(2)


def test_auth_errors_keep_the_session(server, passwd_file):
    s = server()
    with s.connect() as c:
        c.reply()
        assert c.command("AUTH PLAIN").lines == ["334 "]
        assert c.command("*").lines[0].startswith("501 ")
        assert c.command("AUTH LOGIN").lines == ["334 VXNlcm5hbWU6"]
        assert c.command("*").lines[0].startswith("501 ")
        assert c.command("AUTH PLAIN not*base64").lines[0].startswith("501 5.5.2")
        assert c.command("AUTH LOGIN").code == 334
        assert c.command("%%%").lines[0].startswith("501 5.5.2")
        assert c.command("AUTH DIGEST-MD5").lines[0].startswith("504 5.5.4")
        assert c.command("AUTH CRAM-MD5").lines[0].startswith("504 5.5.4")  # not offered
        assert c.command("AUTH").lines[0].startswith("501 ")
        assert c.command("NOOP").code == 250
        good = plain_response(passwd_file.plain.user, passwd_file.plain.password)
        assert c.command("AUTH PLAIN " + good).code == 235


def test_long_line_refused(server):
    s = server()
    with s.connect() as c:
        c.reply()
        assert c.command("NOOP " + "x" * 600).lines[0].startswith("500 5.5.6")
        assert c.command("AUTH PLAIN " + "A" * 13000).lines[0].startswith("500 5.5.6")
        assert c.command("NOOP").code == 250


def test_without_login_remote_recipient_refused(server):
    s = server()
    with s.connect() as c:
        c.reply()
        assert c.command(EHLO).code == 250
        assert c.command("MAIL FROM:<alice@example.org>").code == 250
        assert c.command("RCPT TO:<someone@remote.example>").code == backends.BACKEND.no_relay
        assert c.command("QUIT").code == 221


def test_auth_required(server, passwd_file):
    s = server(env={"SMTPAUTH": "!"})
    with s.connect() as c:
        c.reply()
        assert c.command(EHLO).lines[-1] == "250 AUTH LOGIN PLAIN"
        assert c.command("MAIL FROM:<alice@example.org>").lines[0].startswith("530 5.7.0")
        assert c.command("RCPT TO:<someone@remote.example>").code == 530
        good = plain_response(passwd_file.plain.user, passwd_file.plain.password)
        assert c.command("AUTH PLAIN " + good).code == 235
        assert c.command("MAIL FROM:<alice@example.org>").code == 250
        assert c.command("RCPT TO:<someone@remote.example>").code == 250


def test_no_auth_lets_the_backend_greet(server):
    s = server(env={"SMTPAUTH": "-"})
    with s.connect() as c:
        assert c.reply().lines == [backends.BACKEND.greeting]
        ehlo = c.command(EHLO)
        assert ehlo.code == 250 and not any("AUTH" in line for line in ehlo.lines)
        assert c.command("MAIL FROM:<alice@example.org>").code == 250
        assert c.command("RCPT TO:<someone@remote.example>").code == backends.BACKEND.no_relay


def test_pipelined_login_and_message_in_one_write(server, passwd_file, queue):
    s = server(backend="queuedir", env=queue.env())
    a = passwd_file.plain
    with s.connect() as c:
        assert c.reply().code == 220
        c.send(f"{EHLO}\r\n"
               f"AUTH PLAIN {plain_response(a.user, a.password)}\r\n"
               "MAIL FROM:<alice@example.org>\r\n"
               "RCPT TO:<someone@remote.example>\r\n"
               "DATA\r\n"
               "Subject: pipelined\r\n\r\n..starts with a dot\r\nend\r\n.\r\n"
               "QUIT\r\n")
        replies = c.replies_until_close()
    assert codes(replies) == [250, 235, 250, 250, 354, 250, 221], replies
    assert replies[0].lines[-1] == "250 AUTH LOGIN PLAIN"
    assert queue.messages() == [(
        "alice@example.org", ["someone@remote.example"],
        b"Subject: pipelined\n\n.starts with a dot\nend\n")]


def test_pipelined_after_ehlo_reply(server, passwd_file):
    """The EHLO answered on its own, then everything else in one write."""
    s = server()
    a = passwd_file.crypt
    with s.connect() as c:
        c.reply()
        assert c.command(EHLO).code == 250
        c.send(f"AUTH PLAIN {plain_response(a.user, a.password)}\r\n"
               "MAIL FROM:<bob@example.org>\r\n"
               "RCPT TO:<someone@remote.example>\r\n"
               "DATA\r\n"
               "Subject: hi\r\n\r\nbody\r\n.\r\n"
               "QUIT\r\n")
        replies = c.replies_until_close()
    assert codes(replies) == [235, 250, 250, 354, 250, 221], replies
    assert replies[4].lines[0].startswith(backends.BACKEND.data_ok), replies[4]
    if backends.BACKEND.name == "mailfront":
        assert replies[4].lines == ["250 Received 18 bytes."]


def test_pipelined_without_login(server):
    s = server()
    with s.connect() as c:
        assert c.reply().code == 220
        c.send(f"{EHLO}\r\nNOOP\r\n"
               "MAIL FROM:<alice@example.org>\r\n"
               "RCPT TO:<someone@remote.example>\r\n"
               "DATA\r\n"
               "QUIT\r\n")
        replies = c.replies_until_close()
    assert codes(replies) == [250, 250, 250, backends.BACKEND.no_relay, 503, 221], replies
    assert replies[0].lines[-1] == "250 AUTH LOGIN PLAIN"


def test_tcprules_example_lets_localhost_relay(server, workdir, queue):
    """examples/tcp.smtp gives 127.* RELAYCLIENT; an unauthenticated session
    keeps it, so the remote recipient is accepted without a login."""
    cdb = workdir / "tcp.smtp.cdb"
    with open(REPO / "examples" / "tcp.smtp", "rb") as rules:
        subprocess.run(["tcprules", str(cdb), str(workdir / "tcp.smtp.tmp")],
                       stdin=rules, check=True)
    s = server(backend="queuedir", env=queue.env(), rules=cdb)
    with s.connect() as c:
        c.reply()
        c.send("HELO client.test.example\r\n"
               "MAIL FROM:<carol@example.org>\r\n"
               "RCPT TO:<someone@remote.example>\r\n"
               "DATA\r\n")
        assert codes([c.reply() for _ in range(4)]) == [250, 250, 250, 354]
        c.send("Subject: relayed\r\n\r\nhi\r\n.\r\nQUIT\r\n")
        assert codes(c.replies_until_close()) == [250, 221]
    assert queue.messages() == [("carol@example.org", ["someone@remote.example"],
                                 b"Subject: relayed\n\nhi\n")]


def test_helo_then_login(server, passwd_file):
    s = server()
    a = passwd_file.plain
    with s.connect() as c:
        c.reply()
        assert c.command("HELO client.test.example").code == 250
        assert c.command("AUTH LOGIN").code == 334
        assert c.command(b64(a.user)).code == 334
        assert c.command(b64(a.password)).code == 235
        assert c.command("MAIL FROM:<alice@example.org>").code == 250
        assert c.command("RCPT TO:<someone@remote.example>").code == 250


def test_starttls_without_tls_configured(server):
    """No TLS_CERT: STARTTLS is not offered; asking for it gets an error
    reply (not 220) and the session goes on."""
    s = server()
    with s.connect() as c:
        c.reply()
        assert not any("STARTTLS" in line for line in c.command(EHLO).lines)
        reply = c.command("STARTTLS")
        assert 400 <= reply.code < 600, reply
        assert c.command("NOOP").code == 250


@pytest.mark.parametrize("variable,value", [
    ("GREETING", "hello"), ("EHLORESP", "250-a\n251 b"), ("SMTPAUTH", "bogus"),
    ("AUTH_DELAY", "-1"), ("AUTH_TRIES", "0")])
def test_misconfiguration_is_reported(server, variable, value):
    s = server(env={variable: value})
    with s.connect() as c:
        [reply] = c.replies_until_close()
        assert reply.lines[0].startswith("421 4.3.0"), reply
    log = s.sessions_ended(1)
    assert re.search(rf"^smtp_auth: .*{variable}", log, re.M), log
    assert "mailfront[" not in log


def test_idle_client_times_out(server):
    s = server(env={"SMTP_TIMEOUT": "1"})
    with s.connect() as c:
        c.reply()
        started = time.monotonic()
        reply = c.reply()
        assert reply.lines[0].startswith("421 4.4.2"), reply
        assert 0.9 <= time.monotonic() - started < 5
        assert c.is_closed()
