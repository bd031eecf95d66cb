"""smtp_auth's dialogue on Asio, from outside: the client's descriptors
reach the chain blocking, as tcpserver made them (Asio sets O_NONBLOCK on
what it owns, and the flag survives exec). A client that does not read its
replies is test_root_phase's."""
import socket
import subprocess

from conftest import PATH, TIMEOUT, plain_response
from test_root_phase import EHLO

CHAIN_REPORTS_FLAGS = ("import fcntl, os\n"
                       "flags = [fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK for fd in (0, 1)]\n"
                       "os.write(1, ('flags %d %d\\r\\n' % tuple(flags)).encode())\n")


def test_the_program_smtp_auth_execs_finds_fds_0_and_1_blocking(bin_dir, passwd_file):
    """The next program itself says: smtpproxy and mailfront make their own
    descriptors, so only the program smtp_auth execs sees what it left."""
    ours, theirs = socket.socketpair()
    env = {"PATH": PATH, "CHECKPASSWORD_FILE": str(passwd_file.path), "AUTH_DELAY": "0",
           "TCPLOCALHOST": "mail.test.example", "TCPREMOTEIP": "127.0.0.1"}
    proc = subprocess.Popen([str(bin_dir / "smtp_auth"), str(bin_dir / "checkpassword_nosu"),
                             "/usr/bin/python3", "-c", CHAIN_REPORTS_FLAGS],
                            stdin=theirs, stdout=theirs, env=env)
    theirs.close()
    try:
        ours.settimeout(TIMEOUT)
        f = ours.makefile("rwb", buffering=0)
        assert f.readline().startswith(b"220")
        f.write(f"{EHLO}\r\n".encode())
        while not f.readline().startswith(b"250 "):
            pass
        a = passwd_file.plain
        f.write(f"AUTH PLAIN {plain_response(a.user, a.password)}\r\n".encode())
        assert f.readline().startswith(b"235")
        assert f.readline() == b"flags 0 0\r\n"
        assert proc.wait(TIMEOUT) == 0
    finally:
        ours.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
