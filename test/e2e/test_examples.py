"""What an administrator copies from conf/ and examples/, tried as shipped."""

import os
import re
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import (LOCAL_HOST, PATH, REPO, TEST_ACCOUNT, TIMEOUT, Conversation,
                      create_account, free_port, remove_account)

# Every variable smtp_auth, checkpassword_nosu and smtpproxy read (README.md).
KNOWN_VARIABLES = {
    "GREETING", "EHLORESP", "SMTPAUTH", "AUTH_DELAY", "AUTH_TRIES", "AUTH_TIMEOUT",
    "SMTP_TIMEOUT", "TLS_CERT", "TLS_KEY", "SMTPS", "AUTH_PLAINTEXT",
    "TLS_MIN_PROTOCOL", "TLS_CIPHERS", "TLS_CIPHERSUITES", "CHECKPASSWORD_FILE",
    "SMTPPROXY_TIMEOUT",
}


def envdir_variables(folder):
    """The variables `envdir FOLDER env` adds to an empty environment."""
    out = subprocess.run(["env", "-i", f"PATH={PATH}", "envdir", str(folder), "env", "-0"],
                         capture_output=True, check=True).stdout
    return {line.split(b"=", 1)[0].decode() for line in out.split(b"\0") if line} - {"PATH"}


def test_conf_sets_only_variables_of_the_programs():
    """conf/ used as an envdir sets smtp_auth's variables and nothing else
    (a README in it became a README variable)."""
    variables = envdir_variables(REPO / "conf")
    assert variables and variables <= KNOWN_VARIABLES, variables - KNOWN_VARIABLES


def test_log_run_works_on_first_start(workdir, test_account):
    """log/run as shipped (qmaill made the test account) starts in a folder
    with no ./main yet, and multilog writes time-stamped lines there."""
    uid, _ = test_account
    for service in sorted(p.parent.parent.name for p in (REPO / "examples").glob("*/log/run")):
        log = workdir / f"first-start-{service}" / "log"
        log.mkdir(parents=True)
        run = (REPO / "examples" / service / "log" / "run").read_text()
        (log / "run").write_text(run.replace("qmaill", TEST_ACCOUNT))
        (log / "run").chmod(0o755)
        result = subprocess.run(["./run"], cwd=log, input=b"smtp_auth: pid 1 hello\n",
                                capture_output=True, timeout=15,
                                env={"PATH": PATH})
        assert result.returncode == 0, result.stderr
        current = log / "main" / "current"
        assert os.stat(log / "main").st_uid == uid
        line = current.read_text()
        assert line.startswith("@4000") and line.endswith(" smtp_auth: pid 1 hello\n"), line
        shutil.rmtree(log.parent)


# --- the example services, started by svscan as shipped --------------------

TLS_ACCOUNT = "smtpauth-tlsrelay"   # stands for qmailtls: the TLS relay's own account


@pytest.fixture(scope="module")
def tls_account():
    created = create_account(TLS_ACCOUNT)
    yield
    if created:
        remove_account(TLS_ACCOUNT)


def sanitized(program):
    return "libasan" in subprocess.run(["readelf", "-d", str(program)], capture_output=True,
                                       text=True, check=True).stdout


def replace(text, old, new):
    assert old in text, f"{old!r} is no longer in the file: update the test"
    return text.replace(old, new)


def prepare_service(service, folder, bin_dir, workdir, passwd_file, queue, port):
    """A copy of examples/SERVICE in FOLDER with this machine's paths: the
    programs under test, mailfront for qmail-smtpd, test accounts for
    qmaild, qmailtls and qmaill, a test certificate, 127.0.0.1:PORT."""
    shutil.copytree(REPO / "examples" / service, folder, symlinks=True)
    me = workdir / "control-me"
    me.write_text(LOCAL_HOST + "\n")
    cdb = workdir / "svscan-tcp.smtp.cdb"
    with open(REPO / "examples" / "tcp.smtp", "rb") as rules:
        subprocess.run(["tcprules", str(cdb), str(workdir / "svscan-tcp.smtp.tmp")],
                       stdin=rules, check=True)
    pem = workdir / "svscan-servercert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", str(pem), "-out", str(workdir / "svscan-cert.pem"),
                    "-days", "2", "-subj", f"/CN={LOCAL_HOST}"], check=True, capture_output=True)
    with open(pem, "a") as f:
        f.write((workdir / "svscan-cert.pem").read_text())
    pem.chmod(0o600)

    run = (folder / "run").read_text()
    run = replace(run, "BIN=/usr/bin", f"BIN={bin_dir}")
    run = re.sub(r"^PORT=\d+$", f"PORT={port}", run, flags=re.M)
    run = replace(run, "/var/qmail/control/me", str(me))
    run = replace(run, "/etc/tcp.smtp.cdb", str(cdb))
    run = replace(run, ' 0 "$PORT"', ' 127.0.0.1 "$PORT"')
    run = replace(run, "envuidgid qmailtls", f"envuidgid {TLS_ACCOUNT}")
    run = replace(run, "setuidgid qmaild", f"setuidgid {TEST_ACCOUNT}")
    run = replace(run, "/var/qmail/bin/qmail-smtpd", "mailfront smtp queuedir accept-sender relayclient")
    if sanitized(bin_dir / "smtp_auth"):
        # ASan reserves terabytes of address space: no softlimit -m for it.
        run = re.sub(r"^\s*softlimit -m \d+ \\\n", "", run, flags=re.M)
    (folder / "run").write_text(run)
    log_run = (folder / "log" / "run").read_text()
    (folder / "log" / "run").write_text(replace(log_run, "qmaill", TEST_ACCOUNT))

    conf = folder / "conf"
    assert (conf / "TLS_CERT").read_text() == "/var/qmail/control/servercert.pem\n"
    (conf / "TLS_CERT").write_text(f"{pem}\n")
    for name, value in {"CHECKPASSWORD_FILE": passwd_file.path, "AUTH_DELAY": 0,
                        **queue.env()}.items():
        (conf / name).write_text(f"{value}\n")


@pytest.mark.parametrize("service", ["qmail-submission", "qmail-smtps", "qmail-smtpd"])
def test_example_service_under_svscan(service, bin_dir, workdir, test_account, tls_account,
                                      passwd_file, queue):
    """The service as shipped, with this machine's paths, run by svscan and
    supervise: the listener starts, its log/run logs, swaks logs in over TLS
    and sends a message that arrives, and svc takes it all down."""
    services = workdir / f"svscan-{service}"
    folder = services / service
    port = free_port()
    prepare_service(service, folder, bin_dir, workdir, passwd_file, queue, port)
    svscan = subprocess.Popen(["svscan", str(services)], env={"PATH": PATH},
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    current = folder / "log" / "main" / "current"
    try:
        wait_until(lambda: current.exists() and "tcpserver: status: 0/40" in current.read_text(),
                   lambda: current.read_text() if current.exists() else "no log yet")

        if service != "qmail-smtps":
            with Conversation(port) as c:
                assert c.reply().code == 220
                ehlo = c.command("EHLO client.test.example").lines
                assert ehlo[-1] == "250 STARTTLS" and not any("AUTH" in l for l in ehlo), ehlo
                mail = c.command("MAIL FROM:<outside@example.org>").code
                # Submission needs a login first; port 25 takes mail without one.
                assert mail == (530 if service == "qmail-submission" else 250)
        account = passwd_file.plain
        swaks = subprocess.run(
            ["swaks", "--server", f"127.0.0.1:{port}",
             "--tlsc" if service == "qmail-smtps" else "--tls",
             "--auth", "PLAIN", "--auth-user", account.user, "--auth-password", account.password,
             "--from", "alice@example.org", "--to", "someone@remote.example",
             "--body", f"through {service}"], capture_output=True, text=True, timeout=60)
        assert swaks.returncode == 0, swaks.stdout + swaks.stderr
        assert "235 2.7.0" in swaks.stdout
        [(sender, recipients, message)] = queue.messages()
        assert recipients == ["someone@remote.example"]
        assert f"through {service}".encode() in message
        wait_until(lambda: re.search(r"tcpserver: end \d+ status 0", current.read_text()),
                   current.read_text)
    finally:
        subprocess.run(["svc", "-dx", str(folder), str(folder / "log")], env={"PATH": PATH})
        wait_until(lambda: subprocess.run(["svok", str(folder)]).returncode != 0 and
                   subprocess.run(["svok", str(folder / "log")]).returncode != 0,
                   lambda: "supervise still running")
        os.killpg(svscan.pid, signal.SIGTERM)
        svscan.wait(TIMEOUT)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)


def wait_until(condition, describe):
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, describe()
        time.sleep(0.05)
