"""What reaches the backend, and as whom the backend runs."""

import base64
import hashlib
import random
import smtplib
from pathlib import Path

import backends
from conftest import TIMEOUT

SIZE = 20 * 1024 * 1024


def big_message():
    """About 20 MiB of CRLF lines: base64 text, 8-bit bytes, and lines that
    start with a dot (the client must dot-stuff them)."""
    rnd = random.Random(2554)
    lines = [b"From: alice@example.org", b"To: someone@remote.example",
             b"Subject: twenty MiB", b"MIME-Version: 1.0",
             b"Content-Type: text/plain; charset=iso-8859-1",
             b"Content-Transfer-Encoding: 8bit", b""]
    size = 0
    n = 0
    while size < SIZE:
        n += 1
        if n % 97 == 0:
            line = b"."
        elif n % 31 == 0:
            line = b".." + base64.b64encode(rnd.randbytes(30))
        elif n % 13 == 0:
            line = bytes(rnd.randrange(128, 256) for _ in range(60))
        else:
            line = base64.b64encode(rnd.randbytes(57))
        lines.append(line)
        size += len(line) + 2
    return b"\r\n".join(lines) + b"\r\n"


def test_20_mib_message_arrives_byte_exact(server, passwd_file, queue):
    s = server(backend="queuedir", env=queue.env())
    message = big_message()
    a = passwd_file.plain
    with smtplib.SMTP("127.0.0.1", s.port, local_hostname="client.test.example",
                      timeout=4 * TIMEOUT) as client:
        client.login(a.user, a.password)
        refused = client.sendmail("alice@example.org", ["someone@remote.example"], message)
        assert refused == {}
    [(sender, recipients, stored)] = queue.messages()
    assert (sender, recipients) == ("alice@example.org", ["someone@remote.example"])
    # mailfront stores LF line ends and removes the dot-stuffing: what the
    # client meant, with LF.
    meant = message.replace(b"\r\n", b"\n")
    assert len(stored) == len(meant)
    assert hashlib.sha256(stored).hexdigest() == hashlib.sha256(meant).hexdigest()


def children(pid):
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == pid:
                found.append(int(entry.name))
    return found


def descendants(pid):
    out = []
    todo = [pid]
    while todo:
        for child in children(todo.pop()):
            out.append(child)
            todo.append(child)
    return out


def credentials(pid):
    """(name, uids, gids, groups) from /proc/PID/status."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.split()
    return (fields["Name"][0], [int(x) for x in fields["Uid"]],
            [int(x) for x in fields["Gid"]], [int(x) for x in fields["Groups"]])


def test_session_runs_unprivileged_after_login(server, passwd_file, test_account):
    uid, gid = test_account
    s = server()
    a = passwd_file.plain
    with smtplib.SMTP("127.0.0.1", s.port, timeout=TIMEOUT) as client:
        client.login(a.user, a.password)
        assert client.mail("alice@example.org")[0] == 250  # the backend answered
        procs = [credentials(p) for p in descendants(s.proc.pid)]
        names = [p[0] for p in procs]
        assert "smtpproxy" in names and backends.BACKEND.process in names, procs
        for name, uids, gids, groups in procs:
            assert uids == [uid] * 4, (name, uids)
            assert gids == [gid] * 4, (name, gids)
            assert set(groups) <= {gid}, (name, groups)
        assert client.rcpt("someone@remote.example")[0] == 250


def test_session_runs_unprivileged_without_login(server, test_account):
    uid, _ = test_account
    s = server()
    with smtplib.SMTP("127.0.0.1", s.port, timeout=TIMEOUT) as client:
        assert client.mail("alice@example.org")[0] == 250
        procs = [credentials(p) for p in descendants(s.proc.pid)]
        assert {"smtpproxy", backends.BACKEND.process} <= {p[0] for p in procs}, procs
        assert all(p[1] == [uid] * 4 for p in procs), procs
