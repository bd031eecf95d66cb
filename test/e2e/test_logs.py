"""The log: one line format for every program of the chain (README "Logs"),

    PROGRAM: pid PID from IP: EVENT[ user "USER"]: OUTCOME[ (DETAIL)]

with the connection's pid in every line of one connection, whichever
process wrote it (the TLS relay, the session it forked, the checker, the
smtpproxy that session became), the client's address, and every field
escaped. Checked on what the real chain writes; and the fail2ban filter in
examples/ on that output, with the real fail2ban-regex."""

import os
import re
import smtplib
import subprocess

from conftest import REPO, TIMEOUT, plain_response
from test_tls import swaks_send

EHLO = "EHLO client.test.example"
PROGRAMS = ("smtp_auth", "tlsrelay", "checkpassword_nosu", "smtpproxy", "authuidgid", "authreport")
LINE = re.compile(r'(?P<program>[a-z_]+): pid (?P<pid>\d+) from (?P<ip>[0-9a-fA-F.:]+|unknown): '
                  r'(?P<event>[a-z]+(?: [A-Za-z0-9_-]+)?)(?: user "(?P<user>[^"]*)")?: '
                  r'(?P<outcome>[a-z0-9 ]+?)(?: \((?P<detail>.*)\))?')
FILTER = REPO / "examples" / "fail2ban" / "filter.d" / "smtp_auth.conf"


def our_lines(log):
    """Every line our programs wrote, each checked against the format."""
    lines = []
    for line in log.splitlines():
        if line.split(":", 1)[0] in PROGRAMS:
            m = LINE.fullmatch(line)
            assert m, f"not in the log format: {line!r}"
            lines.append(m)
    return lines


def connection_pids(log):
    """The pids tcpserver announced, one per connection, in order."""
    return [int(p) for p in re.findall(r"^tcpserver: pid (\d+) from ", log, re.M)]


def test_one_tls_connection_logs_one_pid(chain, passwd_file, tls_env):
    """STARTTLS, a wrong password, the right one, then a backend that ends
    before its greeting (false(1), as a crashing qmail-smtpd would): the
    relay (tcpserver's child), the session it forked, the checker that
    session forked and the smtpproxy it became all write the pid tcpserver
    announced."""
    s = chain(env=tls_env, backend_argv=["false"])
    a = passwd_file.plain
    with smtplib.SMTP("127.0.0.1", s.port, timeout=TIMEOUT) as client:
        assert client.starttls()[0] == 220
        client.ehlo()
        # The relay is tcpserver's child; the session, its child, is another process.
        procs = s.processes.current().values()
        [relay] = [p for p in procs if p.name == "tlsrelay" and p.ppid == s.proc.pid]
        [session] = [p for p in procs if p.name == "smtp_auth" and p.ppid == relay.pid]
        assert client.docmd("AUTH", "PLAIN " + plain_response(a.user, "wrong-" + a.password))[0] == 535
        assert client.docmd("AUTH", "PLAIN " + plain_response(a.user, a.password))[0] == 235
        assert client.docmd("MAIL", "FROM:<alice@example.org>")[0] == 421
    log = s.sessions_ended(1)
    [pid] = connection_pids(log)
    assert relay.pid == pid != session.pid
    lines = our_lines(log)
    assert [(m["program"], m["event"], m["user"], m["outcome"]) for m in lines] == [
        ("tlsrelay", "tls handshake", None, "done"),
        ("checkpassword_nosu", "check", a.user, "rejected"),
        ("smtp_auth", "auth PLAIN", a.user, "rejected"),
        ("smtp_auth", "auth PLAIN", a.user, "accepted"),
        ("smtpproxy", "backend", None, "failed"),
    ], log
    assert {(int(m["pid"]), m["ip"]) for m in lines} == {(pid, "127.0.0.1")}, log
    assert re.fullmatch(r"TLSv1\.[23] \S+", lines[0]["detail"])
    assert lines[1]["detail"] == "wrong password" and lines[2]["detail"] == "checker exit 1"
    assert lines[4]["detail"] == "closed its output before its greeting"


def test_each_connection_has_its_own_pid(chain, passwd_file):
    """Two connections, each with a rejected login: each line carries the
    pid of its own connection."""
    s = chain()
    for _ in range(2):
        with s.connect() as c:
            c.reply()
            assert c.command(EHLO).code == 250
            assert c.command("AUTH PLAIN " + plain_response(passwd_file.plain.user, "nope")).code == 535
            assert c.command("QUIT").code == 221
    log = s.sessions_ended(2)
    first, second = connection_pids(log)
    assert first != second
    assert [(m["program"], int(m["pid"])) for m in our_lines(log)] == [
        ("checkpassword_nosu", first), ("smtp_auth", first),
        ("checkpassword_nosu", second), ("smtp_auth", second)], log


def test_backend_failure_is_logged_with_the_connection(chain):
    """smtpproxy's backend ends before its greeting (false(1), a real
    program that does what a crashing qmail-smtpd does): one line, the
    connection's pid and the client's address."""
    s = chain(backend_argv=["false"])
    with s.connect() as c:
        assert c.reply().code == 220
        assert c.command(EHLO).code == 250
        assert c.command("MAIL FROM:<a@example.org>").code == 421
    log = s.sessions_ended(1)
    [pid] = connection_pids(log)
    assert [m[0] for m in our_lines(log)] == [
        f"smtpproxy: pid {pid} from 127.0.0.1: backend: failed (closed its output before its greeting)"], log


QUOTED_USER = 'a"b\\c\u00e9): rejected (x" from 192.0.2.66'
CONTROL_USER = "c\rd\x01\x7f\ne"


def test_user_name_is_escaped_in_every_line(chain):
    """Quotes, backslashes, control characters and non-ASCII become \\xHH,
    in smtp_auth's line and the checker's: the field ends at its own quote,
    and no line is split. (A name with control characters never reaches
    the checker: smtp_auth refuses it first.)"""
    s = chain()
    with s.connect() as c:
        c.reply()
        assert c.command(EHLO).code == 250
        assert c.command("AUTH PLAIN " + plain_response(QUOTED_USER, "x")).code == 535
        assert c.command("AUTH PLAIN " + plain_response(CONTROL_USER, "x")).code == 535
        assert c.command("QUIT").code == 221
    log = s.sessions_ended(1)
    quoted = r"a\x22b\x5cc\xc3\xa9): rejected (x\x22 from 192.0.2.66"
    control = r"c\x0dd\x01\x7f\x0ae"
    lines = our_lines(log)
    assert [(m["program"], m["ip"], m["user"], m["outcome"], m["detail"]) for m in lines] == [
        ("checkpassword_nosu", "127.0.0.1", quoted, "rejected", "unknown user"),
        ("smtp_auth", "127.0.0.1", quoted, "rejected", "checker exit 1"),
        ("smtp_auth", "127.0.0.1", control, "rejected", "bad user name")], log
    for text in ("\r", "\x01", "\x7f", "\u00e9", "c\n"):
        assert text not in log


def fail2ban_ips(log_file):
    run = subprocess.run(["fail2ban-regex", "-o", "ip", str(log_file), str(FILTER)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout.split()


def test_fail2ban_counts_rejected_logins_only(chain, passwd_file, tls_env, workdir):
    """Real traffic through swaks over TLS and in the clear: rejected logins
    (a wrong password, an unknown user), an accepted one, and temporary
    failures (the passwd file gone: checkpassword_nosu exits 111). The
    filter finds exactly the rejected ones, whose checker lines say
    "rejected" too, in the log as tcpserver wrote it and through multilog."""
    missing = workdir / "no-such-passwd-file"
    a = passwd_file.plain
    s = chain(env=dict(tls_env, AUTH_PLAINTEXT="1"))
    temporary = chain(env=dict(tls_env, AUTH_PLAINTEXT="1", CHECKPASSWORD_FILE=str(missing)))
    runs = [(s, "--tls", a.user, "wrong"), (s, "--tls", "nobody-here", "x"), (s, None, a.user, "wrong"),
            (s, "--tls", a.user, a.password), (temporary, "--tls", a.user, a.password)]
    for server, tls, user, password in runs:
        run = swaks_send(server.port, *([tls] if tls else []), user=user, password=password)
        assert (run.returncode == 0) == (server is s and password == a.password), run.stdout + run.stderr
    log = s.sessions_ended(4)
    temporary.sessions_ended(1)
    combined = workdir / "fail2ban-combined.log"
    combined.write_text(log + temporary.log())
    text = combined.read_text()
    assert len(re.findall(r": check user \"[^\"]*\": rejected ", text)) == 3
    assert len(re.findall(r": auth PLAIN user \"[^\"]*\": temporary failure ", text)) == 1
    assert len(re.findall(r": auth PLAIN user \"[^\"]*\": accepted$", text, re.M)) == 1
    assert fail2ban_ips(combined) == ["127.0.0.1"] * 3
    logdir = workdir / "multilog-fail2ban-logs"
    with open(combined, "rb") as f:
        subprocess.run(["multilog", "t", str(logdir)], stdin=f, check=True, timeout=30)
    assert re.match(r"@[0-9a-f]{24} ", (logdir / "current").read_text())
    assert fail2ban_ips(logdir / "current") == ["127.0.0.1"] * 3


def test_checker_run_by_hand_logs_its_callers_pid(bin_dir):
    """checkpassword_nosu without smtp_auth (as qmail-popup runs it): its
    caller's pid, here this test's, and no address outside tcpserver."""
    run = subprocess.run([str(bin_dir / "checkpassword_nosu"), "true"],
                         input=b"", capture_output=True, timeout=TIMEOUT,
                         env={"PATH": "/usr/bin:/bin"})
    # Descriptor 3 is not open: a read error, a temporary failure.
    assert run.returncode == 111
    assert re.fullmatch(rf"checkpassword_nosu: pid {os.getpid()} from unknown: credentials: failed "
                        r"\(unable to read descriptor 3: .*\)\n", run.stderr.decode()), run.stderr
