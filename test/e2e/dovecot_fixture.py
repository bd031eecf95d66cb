"""A real Dovecot (Debian's dovecot-core) with nothing but its auth
service, on private sockets in a scratch folder: no mail listener, no
TLS. Its passwd-file holds one user per password scheme, each password
made with `doveadm pw`."""

import dataclasses
import grp
import os
import secrets
import shutil
import socket
import subprocess
import time

import pytest

from conftest import TIMEOUT, Account, free_port
from processes import stop_process_group

MECHANISMS = "plain login cram-md5 scram-sha-256"


def doveadm_pw(scheme, password):
    return subprocess.run(["doveadm", "pw", "-s", scheme, "-p", password],
                          capture_output=True, text=True, check=True).stdout.strip()


@dataclasses.dataclass(frozen=True)
class DovecotUsers:
    plain: Account   # {PLAIN}: every mechanism, CRAM-MD5 too
    crypt: Account   # {SHA512-CRYPT}
    scram: Account   # {SCRAM-SHA-256}


def make_users(path):
    users = DovecotUsers(plain=Account("dana", "Dp-" + secrets.token_urlsafe(12)),
                         crypt=Account("erin", "De-" + secrets.token_urlsafe(12)),
                         scram=Account("fred", "Df-" + secrets.token_urlsafe(12)))
    lines = [f"{users.plain.user}:{{PLAIN}}{users.plain.password}::::::",
             f"{users.crypt.user}:{doveadm_pw('SHA512-CRYPT', users.crypt.password)}::::::",
             f"{users.scram.user}:{doveadm_pw('SCRAM-SHA-256', users.scram.password)}::::::"]
    path.write_text("\n".join(lines) + "\n")
    # Dovecot's auth process reads it as the dovecot account.
    os.chown(path, 0, grp.getgrnam("dovecot").gr_gid)
    path.chmod(0o640)
    return users


class Dovecot:
    """dovecot -F -c DIR/dovecot.conf; auth-client on a UNIX socket
    (client_socket) and on 127.0.0.1:port (inet)."""

    def __init__(self, folder, passwd):
        self.dir = folder
        self.passwd = passwd
        self.port = free_port()
        self.proc = None
        self.dir.mkdir(mode=0o755, exist_ok=True)
        self.config = self.dir / "dovecot.conf"
        self.config.write_text(f"""\
base_dir = {self.dir}/run
state_dir = {self.dir}/state
log_path = {self.dir}/dovecot.log
ssl = no
protocols = none
default_internal_user = dovecot
default_internal_group = dovecot
default_login_user = dovenull
auth_mechanisms = {MECHANISMS}
# Tests only: a failure is answered at once.
auth_failure_delay = 0
passdb {{
  driver = passwd-file
  args = {passwd}
}}
userdb {{
  driver = passwd-file
  args = {passwd}
}}
service auth {{
  unix_listener auth-client {{
    mode = 0666
  }}
  inet_listener {{
    address = 127.0.0.1
    port = {self.port}
  }}
}}
""")

    @property
    def client_socket(self):
        return self.dir / "run" / "auth-client"

    @property
    def inet(self):
        return f"127.0.0.1:{self.port}"

    def start(self):
        with open(self.dir / "dovecot.out", "ab") as out:
            self.proc = subprocess.Popen(["dovecot", "-F", "-c", str(self.config)],
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                         start_new_session=True)
        deadline = time.monotonic() + TIMEOUT
        penalty = self.dir / "run" / "anvil-auth-penalty"
        removed = False
        while True:
            try:
                # Every test connects from 127.0.0.1: after a failure,
                # Dovecot's per-address penalty (up to 15 s) would slow the
                # tests that follow. Its auth process does without one when
                # it finds no penalty socket, as auth_failure_delay = 0
                # does without the failure delay.
                if not removed:
                    if not (self.client_socket.exists() and penalty.exists()):
                        raise OSError("not ready")
                    penalty.unlink()
                    removed = True
                self.handshake()
                return self
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("dovecot did not start:\n" + self.log())
            time.sleep(0.05)

    def stop(self):
        stop_process_group(self.proc, TIMEOUT)
        # The sockets go with it: a later start makes them again.
        shutil.rmtree(self.dir / "run", ignore_errors=True)

    def log(self):
        path = self.dir / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def handshake(self):
        """What the auth-client socket says to a client: its lines up to DONE."""
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(TIMEOUT)
            s.connect(str(self.client_socket))
            s.sendall(b"VERSION\t1\t2\nCPID\t1\n")
            data = b""
            while not data.endswith(b"DONE\n"):
                chunk = s.recv(4096)
                if not chunk:
                    raise OSError("closed during the handshake")
                data += chunk
        return data.decode().splitlines()

    def client_mechanisms(self):
        """The MECH names without the private or anonymous flag."""
        out = []
        for line in self.handshake():
            fields = line.split("\t")
            if fields[0] == "MECH" and not {"private", "anonymous"} & set(fields[2:]):
                out.append(fields[1])
        return out


@pytest.fixture(scope="session")
def dovecot_users(workdir):
    return make_users(workdir / "dovecot-passwd")


@pytest.fixture(scope="session")
def dovecot(workdir, dovecot_users):
    """One Dovecot for the whole run."""
    d = Dovecot(workdir / "dovecot", workdir / "dovecot-passwd").start()
    yield d
    d.stop()


@pytest.fixture
def own_dovecot(workdir, dovecot_users):
    """A Dovecot of the test's own, which it may stop and start."""
    d = Dovecot(workdir / ("dc-" + secrets.token_hex(4)), workdir / "dovecot-passwd").start()
    yield d
    d.stop()
