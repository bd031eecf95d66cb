"""What only a stock qmail-smtpd behind smtpproxy shows: these run with
`--backend qmail-smtpd` (see backends.py), which scripts/test does when it
has a qmail-smtpd."""

import re

import pytest

from backends import LOCAL_DOMAIN, QMAIL_GREETING
from conftest import LOCAL_HOST, plain_response

pytestmark = pytest.mark.qmail_smtpd_only

EHLO = "EHLO client.test.example"


def login(c, account):
    assert c.reply().lines == [f"220 {LOCAL_HOST} ESMTP"]  # smtp_auth's
    ehlo = c.command(EHLO)
    assert ehlo.lines[-1] == "250 AUTH LOGIN PLAIN", ehlo
    assert c.command("AUTH PLAIN " + plain_response(account.user, account.password)).code == 235


def send(c, body=b"Subject: q\r\n\r\nhi\r\n", recipient="someone@remote.example"):
    assert c.command("MAIL FROM:<alice@example.org>").code == 250
    assert c.command(f"RCPT TO:<{recipient}>").code == 250
    assert c.command("DATA").code == 354
    c.send(body + b".\r\n")
    return c.reply()


def session_statuses(s, count):
    """tcpserver's wait statuses of the first `count` sessions to end."""
    log = s.sessions_ended(count)
    return [int(x) for x in re.findall(r"^tcpserver: end \d+ status (\d+)$", log, re.M)]


def test_greeting_hidden_and_replayed_ehlo_answered(server, passwd_file, queue):
    """The client hears smtp_auth's greeting and EHLO reply only; qmail-smtpd
    got the EHLO replayed (its Received line names the HELO host) and said
    nothing the client saw but the replies to what came after the login."""
    s = server(backend="queuedir", env=queue.env())
    with s.connect() as c:
        login(c, passwd_file.plain)
        reply = send(c)
        assert reply.lines[0].startswith("250 ok "), reply
        assert c.command("QUIT").lines == [f"221 {QMAIL_GREETING}"]
        assert c.is_closed()
        heard = c.raw.decode()
    # qmail-smtpd's own greeting and EHLO reply begin with QMAIL_GREETING;
    # its only line the client hears that does is the 221.
    assert heard.count(QMAIL_GREETING) == 1, heard
    [(sender, recipients, received, message)] = queue.messages_received()
    assert (sender, recipients, message) == (
        "alice@example.org", ["someone@remote.example"], b"Subject: q\n\nhi\n")
    assert "(HELO client.test.example)" in received, received


def test_remote_info_in_received_line(server, passwd_file, queue):
    """After a login TCPREMOTEINFO is the user: qmail-smtpd writes
    (user@ip) in its Received line; without one, (ip) alone. (tcpserver -H:
    no TCPREMOTEHOST, so the host is "unknown".)"""
    s = server(backend="queuedir", env=queue.env())
    with s.connect() as c:
        login(c, passwd_file.plain)
        assert send(c).code == 250
    with s.connect() as c:
        c.reply()
        assert c.command(EHLO).code == 250
        assert send(c, recipient=f"postmaster@{LOCAL_DOMAIN}").code == 250
    [first, second] = [m[2] for m in queue.messages_received()]
    assert re.match(rf"Received: from unknown \(HELO client\.test\.example\) "
                    rf"\({passwd_file.plain.user}@127\.0\.0\.1\)\n  by {LOCAL_HOST} with SMTP; ",
                    first), first
    assert re.match(r"Received: from unknown \(HELO client\.test\.example\) "
                    r"\(127\.0\.0\.1\)\n", second), second


def test_bare_lf_in_data_gets_451_through_the_relay(server, passwd_file, queue):
    """qmail-smtpd refuses a bare LF in DATA with 451 and exits 1: the reply
    reaches the client, the session ends, smtpproxy exits 1 too (tcpserver
    sees wait status 256), and nothing is queued."""
    s = server(backend="queuedir", env=queue.env())
    with s.connect() as c:
        login(c, passwd_file.plain)
        assert c.command("MAIL FROM:<alice@example.org>").code == 250
        assert c.command("RCPT TO:<someone@remote.example>").code == 250
        assert c.command("DATA").code == 354
        c.send(b"Subject: lf\r\n\r\nbare\nline feed\r\n.\r\n")
        [reply] = c.replies_until_close()
        assert reply.lines == ["451 See https://cr.yp.to/docs/smtplf.html."], reply
    assert session_statuses(s, 1) == [256]
    assert queue.messages() == []


def test_exit_status_comes_back_through_smtpproxy(server, passwd_file):
    """QUIT: qmail-smtpd exits 0, and so does the session; an unknown
    command after the login gets qmail-smtpd's own 502."""
    s = server()
    with s.connect() as c:
        login(c, passwd_file.plain)
        assert c.command("AUTH PLAIN whatever").lines == ["502 unimplemented (#5.5.1)"]
        assert c.command("QUIT").code == 221
        assert c.is_closed()
    assert session_statuses(s, 1) == [0]


def test_relayclient_decides_relaying(server, passwd_file, workdir):
    """Without a login qmail-smtpd takes only rcpthosts' domains (553
    otherwise); a login sets RELAYCLIENT and it takes any."""
    s = server()
    with s.connect() as c:
        c.reply()
        assert c.command(EHLO).code == 250
        assert c.command("MAIL FROM:<alice@example.org>").code == 250
        assert c.command(f"RCPT TO:<postmaster@{LOCAL_DOMAIN}>").code == 250
        refused = c.command("RCPT TO:<someone@remote.example>")
        assert refused.lines == [
            "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)"], refused
    with s.connect() as c:
        login(c, passwd_file.plain)
        assert c.command("MAIL FROM:<alice@example.org>").code == 250
        assert c.command("RCPT TO:<someone@remote.example>").code == 250
