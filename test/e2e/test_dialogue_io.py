"""smtp_auth's dialogue on Asio, from outside: the client's descriptors
reach the chain blocking, as tcpserver made them (Asio sets O_NONBLOCK on
what it owns, and the flag survives exec). A client that does not read its
replies is test_root_phase's."""
import time
from pathlib import Path

import pytest

from conftest import TIMEOUT, plain_response
from test_delivery import descendants
from test_root_phase import EHLO

O_NONBLOCK = 0o4000


def chain_descriptor_flags(s):
    """The flags of fds 0 and 1 of the backend the session was handed to."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        for pid in descendants(s.proc.pid):
            try:
                if Path(f"/proc/{pid}/comm").read_text().strip() == "mailfront":
                    flags = []
                    for fd in (0, 1):
                        info = Path(f"/proc/{pid}/fdinfo/{fd}").read_text()
                        flags.append(int(info.split("flags:")[1].split()[0], 8))
                    return flags
            except (OSError, IndexError):
                pass
        assert time.monotonic() < deadline, "no backend"
        time.sleep(0.05)


@pytest.mark.mailfront_only("reads mailfront's descriptors")
def test_the_chain_gets_fds_0_and_1_blocking(server, passwd_file):
    s = server()
    with s.connect() as c:  # handed off without a login
        assert c.reply().code == 220
        assert c.command(EHLO).code == 250
        assert c.command("MAIL FROM:<a@example.org>").code == 250
        assert [f & O_NONBLOCK for f in chain_descriptor_flags(s)] == [0, 0]
    s.sessions_ended(1)
    a = passwd_file.plain
    with s.connect() as c:  # after a login: the checker ran in between
        assert c.reply().code == 220
        assert c.command(EHLO).code == 250
        assert c.command("AUTH PLAIN " + plain_response(a.user, a.password)).code == 235
        assert c.command("MAIL FROM:<a@example.org>").code == 250
        assert [f & O_NONBLOCK for f in chain_descriptor_flags(s)] == [0, 0]
