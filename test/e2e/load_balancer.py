"""HAProxy in TCP mode in front of a chain, as a load balancer would be:
`haproxy -f CONFIG -db` in the foreground, one frontend, one server line."""

import errno
import socket
import subprocess
import time

from conftest import TIMEOUT
from processes import stop_process_group


def listening(ip, port):
    """True once something listens on ip:port (binding it fails)."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    with socket.socket(family) as s:
        try:
            s.bind((ip, port))
        except OSError as e:
            return e.errno == errno.EADDRINUSE
    return False


class HAProxy:
    """Listens on frontend_ip (a port of its own) and forwards each
    connection to 127.0.0.1:backend_port with `server_options` on the
    server line ("send-proxy", "send-proxy-v2", or nothing)."""

    def __init__(self, workdir, name, frontend_ip, backend_port, server_options):
        self.config_path = workdir / f"{name}.haproxy.cfg"
        self.log_path = workdir / f"{name}.haproxy.log"
        self.frontend_ip = frontend_ip
        self.backend_port = backend_port
        self.server_options = server_options
        self.port = None
        self.proc = None

    def config(self):
        bind = f"[{self.frontend_ip}]" if ":" in self.frontend_ip else self.frontend_ip
        return (
            "global\n"
            "    maxconn 100\n"
            "defaults\n"
            "    mode tcp\n"
            "    timeout connect 5s\n"
            "    timeout client 30s\n"
            "    timeout server 30s\n"
            "frontend submission\n"
            f"    bind {bind}:{self.port}\n"
            "    default_backend chains\n"
            "backend chains\n"
            f"    server chain 127.0.0.1:{self.backend_port} {self.server_options}\n")

    def start(self):
        from socket_activation import free_port
        for _ in range(5):
            self.port = free_port(self.frontend_ip)
            self.config_path.write_text(self.config())
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(["haproxy", "-f", str(self.config_path), "-db"],
                                             stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                             start_new_session=True)
            deadline = time.monotonic() + TIMEOUT
            while time.monotonic() < deadline and self.proc.poll() is None:
                if listening(self.frontend_ip, self.port):
                    return self
                time.sleep(0.02)
            self.stop()
            if "cannot bind" not in self.log_path.read_text(errors="replace"):
                raise RuntimeError("haproxy did not start:\n" + self.log_path.read_text(errors="replace"))
        raise RuntimeError("no free port for haproxy")

    def stop(self):
        stop_process_group(self.proc)
