"""systemd: socket units with Accept=yes (examples/systemd) start one
smtp_auth per connection, with the connection on stdin and stdout and no
tcpserver to set TCPREMOTEIP and the rest: smtp_auth takes them from the
socket, for its log, the CRAM-MD5 challenge and the chain's Received line.

The test machine does not run systemd as PID 1 (a container), so the
units are not started here: systemd-socket-activate --inetd -a, systemd's
own tool for this, runs the real chain per connection as the units would,
and systemd-analyze verify checks the unit files, which it can do without
a running systemd."""

import base64
import re
import shutil
import smtplib
import subprocess

import pytest

from conftest import PATH, REPO, TIMEOUT
from socket_activation import MAILFRONT_ECHO, MAILFRONT_QUEUE, SocketActivated, read_env, recording_env

CLIENT_IP = "127.0.0.2"   # the client connects from here...
SERVER_IP = "127.0.0.3"   # ...to here, so neither can be taken for the other


@pytest.fixture
def activated(bin_dir, workdir, test_account, passwd_file, request):
    """Factory: activated(env={...}, listen_ip=SERVER_IP, backend_argv=[...])."""
    started = []

    def start(env=None, listen_ip=SERVER_IP, backend_argv=MAILFRONT_ECHO):
        full_env = {"PATH": PATH, "AUTH_DELAY": "0", "CHECKPASSWORD_FILE": str(passwd_file.path)}
        full_env.update(env or {})
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name) + f"-{len(started)}"
        s = SocketActivated(bin_dir, workdir, name, full_env, listen_ip, backend_argv)
        started.append(s)
        return s.start()

    yield start
    for s in started:
        s.stop()
    crashes = [line for s in started for line in s.log().splitlines()
               if "runtime error:" in line or "ERROR: AddressSanitizer" in line or "killed by" in line]
    if crashes:
        pytest.fail("a program crashed:\n" + "\n".join(crashes), pytrace=False)


def send_one(port, account, server_ip=SERVER_IP, client_ip=CLIENT_IP, ssl_context=None):
    """Logs in and sends one message; returns the client's own port."""
    kind = smtplib.SMTP_SSL if ssl_context else smtplib.SMTP
    extra = {"context": ssl_context} if ssl_context else {}
    with kind(server_ip, port, local_hostname="client.test.example", timeout=TIMEOUT,
              source_address=(client_ip, 0), **extra) as client:
        client_port = client.sock.getsockname()[1]
        client.login(account.user, account.password)
        assert client.sendmail("alice@example.org", ["someone@remote.example"],
                               b"Subject: socket activation\r\n\r\nhello\r\n") == {}
    return client_port


def received_lines(message):
    headers = message.split(b"\n\n", 1)[0].decode()
    return re.findall(r"^Received:.*(?:\n[ \t].*)*", headers, re.M)


def test_addresses_from_the_socket(activated, passwd_file, queue, backend_dir):
    """Log, chain environment and Received line all name the client."""
    seen = backend_dir / "env"
    s = activated(env=queue.env(), backend_argv=recording_env(seen, MAILFRONT_QUEUE))
    client_port = send_one(s.port, passwd_file.plain)

    log = s.wait_for_log(r"smtp_auth: .* auth PLAIN user \"alice\"")
    assert f'from {CLIENT_IP}: auth PLAIN user "alice": accepted' in log
    env = read_env(seen)
    assert {k: env.get(k) for k in ("PROTO", "TCPREMOTEIP", "TCPREMOTEPORT", "TCPLOCALIP", "TCPLOCALPORT")} == {
        "PROTO": "TCP", "TCPREMOTEIP": CLIENT_IP, "TCPREMOTEPORT": str(client_port),
        "TCPLOCALIP": SERVER_IP, "TCPLOCALPORT": str(s.port)}
    [(_, _, message)] = queue.messages()
    [received] = received_lines(message)
    assert f"[{CLIENT_IP}]" in received and f"[{SERVER_IP}]" in received, received
    assert "unknown" not in received, received


def test_greeting_and_cram_challenge_name_the_local_address(activated):
    """Without TCPLOCALHOST the host is the local address as a literal."""
    s = activated(env={"SMTPAUTH": "cram"})
    with smtplib.SMTP(timeout=TIMEOUT, source_address=(CLIENT_IP, 0)) as client:
        assert client.connect(SERVER_IP, s.port) == (220, f"[{SERVER_IP}] ESMTP".encode())
        client.ehlo("client.test.example")
        assert client.ehlo_resp.decode().startswith(f"[{SERVER_IP}]"), client.ehlo_resp
        code, challenge = client.docmd("AUTH", "CRAM-MD5")
        assert code == 334
        assert base64.b64decode(challenge).decode().endswith(f"@[{SERVER_IP}]>"), challenge
        client.docmd("*")


def test_ipv6_client(activated, passwd_file, queue, backend_dir):
    """An IPv6 connection: PROTO=TCP6, and the TCP6 names mailfront reads
    under it."""
    seen = backend_dir / "env"
    s = activated(env=queue.env(), listen_ip="::1", backend_argv=recording_env(seen, MAILFRONT_QUEUE))
    send_one(s.port, passwd_file.plain, server_ip="::1", client_ip="::1")
    assert 'from ::1: auth PLAIN user "alice": accepted' in s.wait_for_log(r"auth PLAIN")
    env = read_env(seen)
    assert (env["PROTO"], env["TCPREMOTEIP"], env["TCP6REMOTEIP"], env["TCPLOCALIP"]) == ("TCP6", "::1", "::1", "::1")
    [(_, _, message)] = queue.messages()
    [received] = received_lines(message)
    assert "::1]" in received and "unknown" not in received, received


def test_ipv4_client_on_a_dual_stack_socket(activated, passwd_file, backend_dir):
    """ListenStream=587 listens on [::] for both families: an IPv4 client
    shows as ::ffff:127.0.0.2 on the socket, and as 127.0.0.2 to the chain."""
    seen = backend_dir / "env"
    s = activated(listen_ip="::", backend_argv=recording_env(seen, MAILFRONT_ECHO))
    send_one(s.port, passwd_file.plain, server_ip=SERVER_IP)
    assert f'from {CLIENT_IP}: auth PLAIN user "alice": accepted' in s.wait_for_log(r"auth PLAIN")
    env = read_env(seen)
    assert (env["PROTO"], env["TCPREMOTEIP"], env["TCPLOCALIP"]) == ("TCP", CLIENT_IP, SERVER_IP)
    assert "TCP6REMOTEIP" not in env


def test_ucspi_variables_win(activated, passwd_file, backend_dir):
    """Where a launcher set TCPREMOTEIP (tcpserver, or an administrator),
    smtp_auth leaves the addresses alone."""
    seen = backend_dir / "env"
    s = activated(env={"TCPREMOTEIP": "192.0.2.9", "PROTO": "TCP"},
                  backend_argv=recording_env(seen, MAILFRONT_ECHO))
    send_one(s.port, passwd_file.plain)
    assert 'from 192.0.2.9: auth PLAIN user "alice": accepted' in s.wait_for_log(r"auth PLAIN")
    env = read_env(seen)
    assert env["TCPREMOTEIP"] == "192.0.2.9"
    assert "TCPLOCALIP" not in env and "TCPREMOTEPORT" not in env


def test_smtps_relay_logs_the_client(activated, passwd_file, tls_env, client_context):
    """Port 465 as smtps@.service runs it: the TLS relay's log line names
    the client too."""
    s = activated(env=dict(tls_env, SMTPS="1", SMTPAUTH="!"))
    send_one(s.port, passwd_file.plain, ssl_context=client_context)
    log = s.wait_for_log(r"auth PLAIN user")
    assert re.search(rf"from {re.escape(CLIENT_IP)}: tls handshake: done \(TLSv1\.[23] \S+\)$", log, re.M), log
    assert f'from {CLIENT_IP}: auth PLAIN user "alice": accepted' in log


def test_example_units_verify(tmp_path):
    """systemd-analyze verify reads the units as systemd would: unknown
    keys, bad values, a socket with no service, an ExecStart that is not
    there. Man pages are not looked up (they may not be installed)."""
    units = sorted((REPO / "examples" / "systemd").glob("*.s*"))
    assert {u.name for u in units} == {"smtp-submission.socket", "smtp-submission@.service",
                                       "smtps.socket", "smtps@.service"}
    for u in units:
        shutil.copy(u, tmp_path / u.name)
    run = subprocess.run([shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze", "verify", "--man=no",
                          *[str(tmp_path / u.name) for u in units]],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and run.stderr == "", run.stderr
    for socket_unit in ("smtp-submission.socket", "smtps.socket"):
        text = (tmp_path / socket_unit).read_text()
        for setting in ("Accept=yes", "MaxConnections=", "MaxConnectionsPerSource="):
            assert setting in text, (socket_unit, setting)
