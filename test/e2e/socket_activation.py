"""The chain started per connection by systemd-socket-activate, the way a
socket unit with Accept=yes starts one service instance per connection:
no tcpserver, so smtp_auth finds the addresses on the socket itself."""

import re
import socket
import subprocess
import time

from conftest import PATH, TEST_ACCOUNT, TIMEOUT
from processes import stop_process_group

# mailfront, with its Received line (add-received), storing into QUEUEDIR.
MAILFRONT_QUEUE = ["mailfront", "smtp", "queuedir", "accept-sender", "add-received", "relayclient"]
MAILFRONT_ECHO = ["mailfront", "smtp", "echo", "accept-sender", "relayclient"]


def free_port(ip):
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    with socket.socket(family) as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


def recording_env(path, argv):
    """argv run through sh, which first writes its environment to PATH:
    what the chain was given, as the backend sees it."""
    return ["sh", "-c", 'env > "$0"; exec "$@"', str(path), *argv]


def read_env(path):
    deadline = time.monotonic() + TIMEOUT
    while not path.exists() or not path.read_text().endswith("\n"):
        assert time.monotonic() < deadline, f"{path} never written"
        time.sleep(0.02)
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


class SocketActivated:
    """systemd-socket-activate --inetd -a -l IP:PORT running
    smtp_auth checkpassword_nosu setuidgid TEST_ACCOUNT smtpproxy BACKEND...
    with exactly `env` (env -i), everything's stderr in log_path."""

    def __init__(self, bin_dir, workdir, name, env, listen_ip, backend_argv):
        self.bin_dir = bin_dir
        self.log_path = workdir / f"{name}.log"
        self.workdir = workdir
        self.env = env
        self.listen_ip = listen_ip
        self.backend_argv = [str(a) for a in backend_argv]
        self.port = None
        self.proc = None

    def listen_address(self):
        return f"[{self.listen_ip}]:{self.port}" if ":" in self.listen_ip else f"{self.listen_ip}:{self.port}"

    def command(self):
        return ["systemd-socket-activate", "--inetd", "-a", "-l", self.listen_address(),
                "env", "-i", *[f"{k}={v}" for k, v in self.env.items()],
                str(self.bin_dir / "smtp_auth"), str(self.bin_dir / "checkpassword_nosu"),
                "setuidgid", TEST_ACCOUNT, str(self.bin_dir / "smtpproxy"), *self.backend_argv]

    def start(self):
        for _ in range(5):
            self.port = free_port(self.listen_ip)
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                             stdout=log, stderr=log, cwd=self.workdir,
                                             env={"PATH": PATH}, start_new_session=True)
            deadline = time.monotonic() + TIMEOUT
            while time.monotonic() < deadline:
                if f"Listening on {self.listen_address()}" in self.log():
                    return self
                if self.proc.poll() is not None:
                    break
                time.sleep(0.02)
            self.stop()
            if "Address already in use" not in self.log():
                raise RuntimeError(f"systemd-socket-activate did not start:\n{self.log()}")
        raise RuntimeError("no free port for systemd-socket-activate")

    def stop(self):
        stop_process_group(self.proc)

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for_log(self, pattern):
        deadline = time.monotonic() + TIMEOUT
        while not re.search(pattern, self.log(), re.M):
            assert time.monotonic() < deadline, f"{pattern!r} not in log:\n{self.log()}"
            time.sleep(0.02)
        return self.log()
