"""smtp_auth's dialogue on Asio, from outside: the client's descriptors
reach the chain blocking, as tcpserver made them (Asio sets O_NONBLOCK on
what it owns, and the flag survives exec). A client that does not read its
replies is test_root_phase's."""
from conftest import TIMEOUT
from test_root_phase import log_in, smtp_auth_alone

CHAIN_REPORTS_FLAGS = ("import fcntl, os\n"
                       "flags = [fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK for fd in (0, 1)]\n"
                       "os.write(1, ('flags %d %d\\r\\n' % tuple(flags)).encode())\n")


def test_the_program_smtp_auth_execs_finds_fds_0_and_1_blocking(bin_dir, passwd_file):
    """The next program itself says: smtpproxy and mailfront make their own
    descriptors, so only the program smtp_auth execs sees what it left."""
    chain = ["/usr/bin/python3", "-c", CHAIN_REPORTS_FLAGS]
    with smtp_auth_alone(bin_dir, passwd_file, chain) as (proc, f):
        assert f.readline().startswith(b"220")
        log_in(f, passwd_file.plain)
        assert f.readline() == b"flags 0 0\r\n"
        assert proc.wait(TIMEOUT) == 0
