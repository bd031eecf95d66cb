"""Behind a load balancer: a real HAProxy (mode tcp, send-proxy and
send-proxy-v2) in front of tcpserver and the chain, with PROXY_PROTOCOL=1.

The client connects from 127.0.0.2 to HAProxy on 127.0.0.4; HAProxy
connects from 127.0.0.1 to tcpserver on 127.0.0.1. So tcpserver sees only
the balancer, and every 127.0.0.2 or 127.0.0.4 in the log, the chain's
environment or the Received line came from the PROXY header."""

import re
import smtplib
import socket
import subprocess
import time

import pytest

from conftest import LOCAL_HOST, TIMEOUT
from load_balancer import HAProxy
from socket_activation import MAILFRONT_ECHO, MAILFRONT_QUEUE, read_env, recording_env
from test_systemd import received_lines

CLIENT_IP = "127.0.0.2"
BALANCER_IP = "127.0.0.4"   # HAProxy's frontend, the address the client dialled
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


@pytest.fixture
def haproxy(workdir, request):
    """Factory: haproxy(chain_port, "send-proxy", frontend_ip=BALANCER_IP)."""
    started = []

    def start(chain_port, server_options, frontend_ip=BALANCER_IP):
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name) + f"-{len(started)}"
        h = HAProxy(workdir, name, frontend_ip, chain_port, server_options)
        started.append(h)
        return h.start()

    yield start
    for h in started:
        h.stop()


@pytest.fixture
def balancer_rules(workdir):
    """tcprules that give the balancer's address a host name and an ident
    answer, as tcpserver would find them without -H and -R: they describe
    the balancer, so behind it they must go."""
    source = workdir / "balancer.rules"
    source.write_text('127.0.0.1:allow,TCPREMOTEHOST="balancer.test.example",TCPREMOTEINFO="balancer-ident"\n:allow\n')
    cdb = workdir / "balancer.cdb"
    with open(source, "rb") as rules:
        subprocess.run(["tcprules", str(cdb), str(workdir / "balancer.tmp")], stdin=rules, check=True)
    return cdb


def smtp_auth_lines(log):
    return [line for line in log.splitlines() if line.startswith("smtp_auth:")]


@pytest.mark.parametrize("send", ["send-proxy", "send-proxy-v2"])
def test_client_address_reaches_log_and_received_line(chain, haproxy, passwd_file, queue, backend_dir,
                                                      balancer_rules, send):
    seen = backend_dir / "env"
    c = chain(env=dict(queue.env(), PROXY_PROTOCOL="1"), rules=balancer_rules,
              backend_argv=recording_env(seen, MAILFRONT_QUEUE))
    h = haproxy(c.port, send)
    with smtplib.SMTP(BALANCER_IP, h.port, local_hostname="client.test.example", timeout=TIMEOUT,
                      source_address=(CLIENT_IP, 0)) as client:
        client_port = client.sock.getsockname()[1]
        client.login(passwd_file.plain.user, passwd_file.plain.password)
        assert client.sendmail("alice@example.org", ["someone@remote.example"],
                               b"Subject: behind a balancer\r\n\r\nhello\r\n") == {}

    log = c.sessions_ended(1)
    assert smtp_auth_lines(log) == [f'smtp_auth: pid {pid} from {CLIENT_IP}: auth PLAIN user "alice": accepted'
                                    for pid in re.findall(r"^smtp_auth: pid (\d+) from", log, re.M)], log
    assert len(smtp_auth_lines(log)) == 1
    env = read_env(seen)
    assert {k: env.get(k) for k in ("PROTO", "TCPREMOTEIP", "TCPREMOTEPORT", "TCPLOCALIP", "TCPLOCALPORT",
                                    "TCPREMOTEHOST", "TCPREMOTEINFO", "TCPLOCALHOST")} == {
        "PROTO": "TCP", "TCPREMOTEIP": CLIENT_IP, "TCPREMOTEPORT": str(client_port),
        "TCPLOCALIP": BALANCER_IP, "TCPLOCALPORT": str(h.port),
        "TCPREMOTEHOST": None, "TCPREMOTEINFO": "alice", "TCPLOCALHOST": LOCAL_HOST}
    [(_, _, message)] = queue.messages()
    [received] = received_lines(message)
    assert f"from client.test.example ([{CLIENT_IP}])" in received, received
    assert f"by {LOCAL_HOST} ([{BALANCER_IP}])" in received, received
    assert "balancer" not in received and "127.0.0.1" not in received, received


@pytest.mark.parametrize("send", ["send-proxy", "send-proxy-v2"])
def test_ipv6_client(chain, haproxy, passwd_file, backend_dir, send):
    seen = backend_dir / "env"
    c = chain(env={"PROXY_PROTOCOL": "1"}, backend_argv=recording_env(seen, MAILFRONT_ECHO))
    h = haproxy(c.port, send, frontend_ip="::1")
    with smtplib.SMTP("::1", h.port, timeout=TIMEOUT) as client:
        client.login(passwd_file.plain.user, passwd_file.plain.password)
        assert client.mail("alice@example.org")[0] == 250
    assert 'from ::1: auth PLAIN user "alice": accepted' in c.sessions_ended(1)
    env = read_env(seen)
    assert (env["PROTO"], env["TCPREMOTEIP"], env["TCP6REMOTEIP"], env["TCPLOCALPORT"]) == (
        "TCP6", "::1", "::1", str(h.port))


def test_smtps_reads_the_header_before_the_handshake(chain, haproxy, passwd_file, tls_env, client_context):
    c = chain(env=dict(tls_env, SMTPS="1", PROXY_PROTOCOL="1"))
    h = haproxy(c.port, "send-proxy-v2")
    with smtplib.SMTP_SSL(BALANCER_IP, h.port, timeout=TIMEOUT, context=client_context,
                          source_address=(CLIENT_IP, 0)) as client:
        client.login(passwd_file.plain.user, passwd_file.plain.password)
        assert client.mail("alice@example.org")[0] == 250
    log = c.sessions_ended(1)
    assert re.search(rf"^tlsrelay: pid \d+ from {re.escape(CLIENT_IP)}: tls handshake: done \(TLSv1\.[23] \S+\)$",
                     log, re.M), log
    assert f'from {CLIENT_IP}: auth PLAIN user "alice": accepted' in log


BAD_HEADERS = {
    "v1 bad address": (b"PROXY TCP4 192.0.2.300 127.0.0.4 40000 587\r\n", "v1: bad address"),
    "v1 LF alone": (b"PROXY TCP4 192.0.2.3 127.0.0.4 40000 587\n", "v1: LF without CR"),
    "v1 too long": (b"PROXY UNKNOWN " + b"x" * 200 + b"\r\n", "v1: no CRLF within 107 octets"),
    "v2 version 3": (V2_SIGNATURE + b"\x31\x11\x00\x0c" + bytes(12), "v2: version not 2"),
    "v2 TLV overrun": (V2_SIGNATURE + b"\x21\x11\x00\x0f" + bytes(12) + b"\x01\x00\x09", "v2: TLVs overrun the header"),
    "missing": (b"EHLO client.test.example\r\n", "not a PROXY header"),
}


@pytest.mark.parametrize("case", list(BAD_HEADERS))
def test_malformed_or_missing_header_is_refused(chain, case):
    """Straight to tcpserver, past the balancer: closed without a reply,
    one log line, the chain never started."""
    sent, why = BAD_HEADERS[case]
    c = chain(env={"PROXY_PROTOCOL": "1"})
    with c.connect() as conversation:
        conversation.send(sent)
        assert conversation.is_closed()
        assert conversation.raw == b""
    log = c.sessions_ended(1)
    [line] = smtp_auth_lines(log)
    assert re.fullmatch(rf"smtp_auth: pid \d+ from 127\.0\.0\.1: proxy header: refused \({re.escape(why)}\)", line), line
    assert re.search(r"^tcpserver: end \d+ status 256$", log, re.M), log
    assert "mailfront" not in log


def test_balancer_that_sends_no_header_is_refused(chain, haproxy):
    """HAProxy without send-proxy while smtp_auth requires it: the client's
    first command is no header."""
    c = chain(env={"PROXY_PROTOCOL": "1"})
    h = haproxy(c.port, "")
    with socket.create_connection((BALANCER_IP, h.port), timeout=TIMEOUT,
                                  source_address=(CLIENT_IP, 0)) as s:
        s.sendall(b"EHLO client.test.example\r\n")
        try:
            assert s.recv(100) == b""
        except ConnectionResetError:
            pass
    log = c.sessions_ended(1)
    assert [line.split(": ", 2)[2] for line in smtp_auth_lines(log)] == ["proxy header: refused (not a PROXY header)"], log


def test_without_proxy_protocol_a_proxy_line_is_a_bad_command(chain, backend_dir):
    """Not enabled: the header is not read, the line reaches qmail-smtpd's
    place (mailfront here) as an unknown command, and the address stays the
    connection's."""
    seen = backend_dir / "env"
    c = chain(backend_argv=recording_env(seen, MAILFRONT_ECHO))
    with c.connect() as conversation:
        assert conversation.reply().code == 220
        reply = conversation.command("PROXY TCP4 192.0.2.1 127.0.0.4 40000 587")
        assert 500 <= reply.code <= 502, reply
        assert conversation.command("QUIT").code == 221
    log = c.sessions_ended(1)
    assert "proxy header" not in log
    assert read_env(seen)["TCPREMOTEIP"] == "127.0.0.1"


@pytest.mark.parametrize("send", ["send-proxy", "send-proxy-v2"])
def test_health_checks_with_the_header_pass_quietly(chain, haproxy, send):
    """HAProxy's health checks on a send-proxy server send the header too
    (v2: LOCAL), then close. None is refused: not one log line, however
    many checks."""
    c = chain(env={"PROXY_PROTOCOL": "1"})
    h = haproxy(c.port, f"{send} check inter 200ms")
    c.wait_for_log(r"^tcpserver: ok ", 3)
    h.stop()
    # Every check's session has ended (under ASan, exits are slow).
    deadline = time.monotonic() + 4 * TIMEOUT
    while re.findall(r"^tcpserver: status: (\d+)/", c.log(), re.M)[-1] != "0":
        assert time.monotonic() < deadline, c.log()
        time.sleep(0.1)
    log = c.log()
    assert len(re.findall(r"^tcpserver: end ", log, re.M)) >= 3, log
    assert not smtp_auth_lines(log), log



def test_bad_proxy_protocol_setting_is_a_configuration_error(chain):
    c = chain(env={"PROXY_PROTOCOL": "yes"})
    with c.connect() as conversation:
        assert conversation.reply().lines == ["421 4.3.0 Mail service misconfigured"]
    assert ": config: error (PROXY_PROTOCOL must be empty or 1)" in c.sessions_ended(1)
