"""The TLS relay after the handshake: an account of its own, no new
privileges, resource limits, and a seccomp filter (mode 2) that kills it on
any system call outside its loop. A full session and a 20 MiB message run
under the filter in test_tls.py, the TLS faults in test_faults.py: a relay
killed by the filter would show there as a session killed by a signal."""

import re
import smtplib
import time
from pathlib import Path

import pytest

from conftest import TIMEOUT
from test_delivery import credentials, descendants
from test_tls import certificate, client_context, tls_env  # noqa: F401 (fixtures)

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
        deadline = time.monotonic() + TIMEOUT
        while True:
            procs = {p: credentials(p) for p in descendants(s.proc.pid)}
            names = sorted(c[0] for c in procs.values())
            if names == ["mailfront", "smtp_auth", "smtpproxy"] or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert names == ["mailfront", "smtp_auth", "smtpproxy"], names
        relay = next(p for p, c in procs.items() if c[0] == "smtp_auth")
        proxy = next(p for p, c in procs.items() if c[0] == "smtpproxy")
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
