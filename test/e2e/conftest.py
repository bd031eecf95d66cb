"""Fixtures for the end-to-end tests.

Every test talks to real programs on 127.0.0.1:

    tcpserver -> smtp_auth -> checkpassword_nosu -> setuidgid smtpauth-test
              -> smtpproxy -> mailfront smtp BACKEND accept-sender relayclient

mailfront accepts every sender, and a remote recipient only when RELAYCLIENT
is set, that is after a successful login (or from tcprules). The tests run
as root: smtp_auth needs it, and the fixtures create the accounts.
"""

import base64
import dataclasses
import os
import pwd
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import backends
# The backend's command-line options and markers (see backends.py).
from backends import (pytest_addoption, pytest_collection_modifyitems,  # noqa: F401
                      pytest_configure, pytest_report_header, pytest_terminal_summary)
from processes import SessionProcesses, stop_process_group

REPO = Path(__file__).resolve().parents[2]
LOCAL_HOST = "mail.test.example"
TEST_ACCOUNT = "smtpauth-test"      # the session runs as this after setuidgid
TLS_ACCOUNT = "smtpauth-tls"        # the TLS relay's own account (UID/GID)
SHADOW_ACCOUNT = "smtpauth-shadow"  # a system account with a shadow password
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PROGRAMS = ("smtp_auth", "checkpassword_nosu", "smtpproxy", "tlsrelay")
TIMEOUT = 15  # seconds for any one network read or log wait


# --- accounts -----------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Account:
    user: str
    password: str


def create_account(name):
    """Creates a system account without home or login; False if it existed."""
    try:
        pwd.getpwnam(name)
        return False
    except KeyError:
        pass
    subprocess.run(["useradd", "--system", "--no-create-home",
                    "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
                    name], check=True)
    return True


def remove_account(name):
    subprocess.run(["userdel", name], check=False)


@pytest.fixture(scope="session", autouse=True)
def must_be_root():
    if os.geteuid() != 0:
        pytest.exit("the end-to-end tests must run as root "
                    "(smtp_auth and checkpassword_nosu need it; the tests create accounts)",
                    returncode=2)


@pytest.fixture(scope="session")
def bin_dir():
    """The programs under test: $SMTPAUTH_BIN_DIR, else the repository's build/."""
    path = Path(os.environ.get("SMTPAUTH_BIN_DIR", REPO / "build")).resolve()
    missing = [p for p in PROGRAMS if not os.access(path / p, os.X_OK)]
    if missing:
        pytest.exit(f"not built in {path}: {', '.join(missing)} "
                    "(set SMTPAUTH_BIN_DIR or build into build/)", returncode=2)
    closed = unreachable_folder(path)
    if closed:
        pytest.exit(f"{closed} is closed to other accounts (mode "
                    f"{closed.stat().st_mode & 0o777:o}), so {TEST_ACCOUNT} cannot run "
                    f"smtpproxy from {path}: copy the programs to a folder every account "
                    "may enter and point SMTPAUTH_BIN_DIR there (scripts/test does this)",
                    returncode=2)
    return path


def unreachable_folder(path):
    """The first folder on the way to PATH that other accounts may not
    enter (no o+x), or None. setuidgid runs smtpproxy as an unprivileged
    account, which needs every folder on the way."""
    for folder in reversed(path.parents):
        if not folder.stat().st_mode & 0o001:
            return folder
    return path if not path.stat().st_mode & 0o001 else None


@pytest.fixture(scope="session")
def test_account():
    """The unprivileged account setuidgid switches to: (uid, gid)."""
    created = create_account(TEST_ACCOUNT)
    entry = pwd.getpwnam(TEST_ACCOUNT)
    yield entry.pw_uid, entry.pw_gid
    if created:
        remove_account(TEST_ACCOUNT)


@pytest.fixture(scope="session")
def tls_account():
    """The TLS relay's account, not the session's: (uid, gid)."""
    created = create_account(TLS_ACCOUNT)
    entry = pwd.getpwnam(TLS_ACCOUNT)
    yield entry.pw_uid, entry.pw_gid
    if created:
        remove_account(TLS_ACCOUNT)


@pytest.fixture(scope="session")
def shadow_account():
    """A system account whose password is in /etc/shadow, removed afterwards.
    Yields set_password(method): gives the account a new password hashed
    with chpasswd's METHOD (YESCRYPT, SHA512...) and returns the Account."""
    create_account(SHADOW_ACCOUNT)  # left over from an interrupted run is fine

    def set_password(method):
        account = Account(SHADOW_ACCOUNT, "Sh-" + secrets.token_urlsafe(12))
        subprocess.run(["chpasswd", "-c", method],
                       input=f"{account.user}:{account.password}\n", text=True, check=True)
        return account

    try:
        yield set_password
    finally:
        remove_account(SHADOW_ACCOUNT)


def shadow_hash(user):
    for line in Path("/etc/shadow").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == user:
            return fields[1]
    return None


# --- the passwd-file ----------------------------------------------------

@dataclasses.dataclass(frozen=True)
class PasswdFile:
    path: Path
    plain: Account       # {PLAIN}: works with every mechanism, CRAM-MD5 too
    crypt: Account       # {SHA512-CRYPT}
    root: Account        # the name root
    uid_zero: Account    # another name, uid field 0


def sha512_crypt(password):
    return subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=password,
                          text=True, capture_output=True, check=True).stdout.strip()


@pytest.fixture(scope="session")
def workdir():
    """A scratch folder the unprivileged account may enter: passwd-file,
    server logs, queues. SMTPAUTH_E2E_KEEP=1 keeps it for a look."""
    path = Path(tempfile.mkdtemp(prefix="smtpauth-e2e-"))
    path.chmod(0o755)
    yield path
    if os.environ.get("SMTPAUTH_E2E_KEEP") == "1":
        print(f"\nkept {path}")
    else:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def smtp_backend(workdir):
    """The SMTP server behind smtpproxy (backends.py), ready to run."""
    backends.BACKEND.prepare(workdir)
    return backends.BACKEND


@pytest.fixture(scope="session")
def passwd_file(workdir):
    def account(user, prefix):
        return Account(user, prefix + secrets.token_urlsafe(12))

    f = PasswdFile(path=workdir / "passwd",
                   plain=account("alice", "Pa-"),
                   crypt=account("bob", "Cr-"),
                   root=account("root", "Ro-"),
                   uid_zero=account("toor", "Zr-"))
    f.path.write_text(
        "# CHECKPASSWORD_FILE for the end-to-end tests\n"
        f"{f.plain.user}:{{PLAIN}}{f.plain.password}\n"
        f"{f.crypt.user}:{{SHA512-CRYPT}}{sha512_crypt(f.crypt.password)}:1000:1000::/home/bob::\n"
        f"{f.root.user}:{{PLAIN}}{f.root.password}\n"
        f"{f.uid_zero.user}:{{PLAIN}}{f.uid_zero.password}:0:0::/root:/bin/sh\n")
    f.path.chmod(0o600)
    return f


# --- SMTP on a raw socket -----------------------------------------------

@dataclasses.dataclass
class Reply:
    code: int
    lines: list  # the full lines as sent, without CRLF


class Conversation:
    """An SMTP client that sends exactly the bytes it is given and reads
    replies one at a time, so pipelining and byte order stay visible."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.buffer = b""
        self.raw = b""  # everything the server sent

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def _line(self):
        while b"\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(f"connection closed; server sent {self.raw!r}")
            self.buffer += chunk
            self.raw += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        assert line.endswith(b"\r"), f"reply line without CRLF: {line!r}"
        return line[:-1].decode("utf-8", "replace")

    def reply(self):
        lines = [self._line()]
        while lines[-1][3:4] == "-":
            lines.append(self._line())
        codes = {line[:3] for line in lines}
        assert len(codes) == 1 and lines[0][:3].isdigit(), f"malformed reply {lines}"
        return Reply(int(lines[0][:3]), lines)

    def command(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def replies_until_close(self):
        replies = []
        while True:
            try:
                replies.append(self.reply())
            except EOFError:
                assert self.buffer == b"", f"partial line at close: {self.buffer!r}"
                return replies

    def is_closed(self):
        """True if the server closed the connection without sending more."""
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True


def b64(text):
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def plain_response(user, password, authzid=""):
    return b64(f"{authzid}\0{user}\0{password}")


# --- TLS ----------------------------------------------------------------

@pytest.fixture(scope="session")
def certificate(workdir):
    """A self-signed certificate for LOCAL_HOST, made now: (cert, key)."""
    cert, key = workdir / "cert.pem", workdir / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "2",
                    "-subj", f"/CN={LOCAL_HOST}"], check=True, capture_output=True)
    key.chmod(0o600)
    return cert, key


@pytest.fixture
def tls_env(certificate, tls_account):
    """The variables that turn smtp_auth's TLS on, the relay on its own account."""
    uid, gid = tls_account
    cert, key = certificate
    return {"TLS_CERT": str(cert), "TLS_KEY": str(key), "UID": str(uid), "GID": str(gid)}


@pytest.fixture(scope="session")
def client_context(certificate):
    context = ssl.create_default_context(cafile=str(certificate[0]))
    context.check_hostname = False  # the client connects to 127.0.0.1
    return context


# --- the server ---------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """tcpserver running the whole chain; stderr of everything goes to
    self.log_path."""

    def __init__(self, bin_dir, workdir, name, backend, env, prefix, rules):
        self.bin_dir = bin_dir
        self.workdir = workdir
        self.log_path = workdir / f"{name}.log"
        self.backend = backend
        self.env = env
        self.prefix = prefix
        self.rules = rules
        self.port = None
        self.proc = None

    def command(self):
        env = [f"{k}={v}" for k, v in self.env.items()]
        rules = ["-x", str(self.rules)] if self.rules else []
        return (["env", "-i", *env, *self.prefix,
                 "tcpserver", "-v", "-R", "-H", "-l", LOCAL_HOST, *rules,
                 "127.0.0.1", str(self.port),
                 str(self.bin_dir / "smtp_auth"), str(self.bin_dir / "checkpassword_nosu"),
                 "setuidgid", TEST_ACCOUNT,
                 str(self.bin_dir / "smtpproxy"),
                 *backends.BACKEND.argv(self.backend)])

    def start(self):
        for _ in range(5):
            self.port = free_port()
            with open(self.log_path, "wb") as log:
                self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                             stdout=log, stderr=log, cwd=self.workdir,
                                             start_new_session=True)
            deadline = time.monotonic() + TIMEOUT
            while time.monotonic() < deadline:
                if "tcpserver: status: 0/" in self.log():
                    return self
                if self.proc.poll() is not None:
                    break
                time.sleep(0.02)
            self.stop()
            if "unable to bind" not in self.log():
                raise RuntimeError(f"tcpserver did not start:\n{self.log()}")
        raise RuntimeError("no free port for tcpserver")

    def stop(self):
        stop_process_group(self.proc)

    def teardown(self):
        self.stop()

    def log(self):
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, pattern, count=1):
        """Waits until `pattern` (a regex) matches `count` times; returns the log."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            text = self.log()
            if len(re.findall(pattern, text, re.M)) >= count:
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} not seen {count} time(s) in log:\n{text}")
            time.sleep(0.02)

    def sessions_ended(self, count):
        """Waits until tcpserver has seen `count` sessions end; returns the log."""
        return self.wait_for_log(r"^tcpserver: end \d+ status", count)

    def connect(self):
        return Conversation(self.port)

    def troubles(self):
        """Sessions killed by a signal, and sanitizer reports, from the log.
        Waits a little for open sessions to end first."""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            statuses = re.findall(r"^tcpserver: status: (\d+)/", self.log(), re.M)
            if statuses and statuses[-1] == "0":
                break
            time.sleep(0.05)
        found = []
        for line in self.log().splitlines():
            end = re.match(r"tcpserver: end (\d+) status (\d+)$", line)
            if end and int(end.group(2)) & 0x7f:
                found.append(f"session {end.group(1)} killed by signal "
                             f"{int(end.group(2)) & 0x7f}")
            elif "runtime error:" in line or re.search(r"==\d+==ERROR: ", line):
                found.append(line)
        return found


@pytest.fixture
def server(bin_dir, workdir, test_account, passwd_file, smtp_backend, request):
    """Factory: server(backend="echo", env={...}, checkpassword_file=True,
    prefix=[...], rules=None) starts a chain; all are stopped at teardown.
    env values of None remove a variable."""
    started = []

    def start(backend="echo", env=None, checkpassword_file=True, prefix=(), rules=None):
        s = Server(bin_dir, workdir, server_name(request, started), backend,
                   chain_env(passwd_file if checkpassword_file else None, env),
                   list(prefix), rules)
        started.append(s)
        return s.start()

    yield start
    tear_down(started)


def chain_env(passwd_file, changes):
    """The chain's environment: PATH, no AUTH_DELAY, the backend's variables,
    CHECKPASSWORD_FILE if a PASSWD_FILE is given, then CHANGES applied."""
    env = {"PATH": PATH, "AUTH_DELAY": "0", **backends.BACKEND.env()}
    if passwd_file:
        env["CHECKPASSWORD_FILE"] = str(passwd_file.path)
    return changed(env, changes)


def changed(env, changes):
    """ENV with CHANGES applied: a value of None removes the variable."""
    env = dict(env)
    for k, v in (changes or {}).items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def server_name(request, started):
    """A name for the next server a factory fixture starts: its log's."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name) + f"-{len(started)}"


def tear_down(started):
    """The end of a factory fixture: every server it started is stopped, and
    the test fails if a program of theirs crashed."""
    troubles = [t for s in started for t in s.troubles()]
    for s in started:
        s.teardown()
    if troubles:
        pytest.fail("a program crashed:\n" + "\n".join(troubles), pytrace=False)


@dataclasses.dataclass
class Queue:
    """mailfront's queuedir: each message is a file in new/ holding the
    sender, NUL, each recipient and NUL, NUL, then the message with LF line
    ends and dot-stuffing removed."""
    path: Path

    def env(self):
        return {"QUEUEDIR": str(self.path), "QUEUEDIR_NOSYNC": "1"}

    def messages(self):
        return [(sender, recipients, message)
                for sender, recipients, _, message in self.messages_received()]

    def messages_received(self):
        """(sender, recipients, received, message): `received` is the
        Received line qmail-smtpd puts on top of each message it passed to
        qmail_queue_recorder.py (removed from `message`); None for a message
        mailfront stored."""
        out = []
        for f in sorted((self.path / "new").iterdir()):
            data = f.read_bytes()
            envelope, _, message = data.partition(b"\0\0")
            sender, *recipients = envelope.decode().split("\0")
            received = None
            if f.name.endswith(".qmail-queue"):
                first, by, message = message.split(b"\n", 2)
                assert first.startswith(b"Received: from ") and by.startswith(b"  by "), data[:300]
                received = (first + b"\n" + by).decode()
            out.append((sender, recipients, received, message))
        return out


@pytest.fixture
def queue(workdir, test_account, request):
    uid, gid = test_account
    path = workdir / ("queue-" + re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name))
    for sub in ("", "new", "tmp"):
        (path / sub).mkdir()
        os.chown(path / sub, uid, gid)
    return Queue(path)


# --- chains with other parts, and the processes of their sessions -------
#
# The fault, security and soak tests need a chain whose checker or backend
# is replaced (by a wrapper around the real one, or by a fake for faults no
# real program produces on demand), and need to see every process a session
# started (processes.py): to count them, read their uids and CPU time, and
# check that none is left behind, not even as a zombie.

MAILFRONT = ("mailfront", "smtp", "{backend}", "accept-sender", "relayclient")


class Chain(Server):
    """A Server whose checker, backend and tcpserver options can be chosen:

        tcpserver OPTIONS 127.0.0.1 PORT smtp_auth CHECKER
            setuidgid smtpauth-test smtpproxy BACKEND...

    CHECKER defaults to checkpassword_nosu, BACKEND to mailfront as in
    Server. `processes` follows the sessions' processes."""

    def __init__(self, bin_dir, workdir, name, env, rules, checker, backend_argv,
                 tcpserver_options, watch_interval=0.02):
        tag = secrets.token_hex(8)
        super().__init__(bin_dir, workdir, name, None, dict(env, SMTPAUTH_E2E_TAG=tag), (), rules)
        self.checker = str(checker or bin_dir / "checkpassword_nosu")
        self.backend_argv = [str(a) for a in backend_argv]
        self.tcpserver_options = list(tcpserver_options)
        self.processes = SessionProcesses(self, tag, watch_interval, TIMEOUT)

    def command(self):
        env = [f"{k}={v}" for k, v in self.env.items()]
        rules = ["-x", str(self.rules)] if self.rules else []
        return (["env", "-i", *env,
                 "tcpserver", "-v", "-R", "-H", "-l", LOCAL_HOST, *self.tcpserver_options,
                 *rules, "127.0.0.1", str(self.port),
                 str(self.bin_dir / "smtp_auth"), self.checker,
                 "setuidgid", TEST_ACCOUNT,
                 str(self.bin_dir / "smtpproxy"), *self.backend_argv])

    def start(self):
        super().start()
        self.processes.start()
        return self

    def teardown(self):
        self.stop()
        self.processes.stop()
        self.processes.kill_all()  # whatever of the sessions survived a failed test


@pytest.fixture
def chain(bin_dir, workdir, test_account, passwd_file, smtp_backend, request):
    """Factory: chain(env={...}, checker=PATH, backend=NAME, backend_argv=[...],
    tcpserver_options=[...], rules=CDB, checkpassword_file=True,
    watch_interval=SECONDS) starts a Chain. backend names mailfront's
    backend (echo, queuedir); backend_argv replaces the whole backend
    command; watch_interval is how often the session processes are looked
    at. At teardown: crashes in the log fail the test, and session
    processes still alive are killed."""
    started = []

    def start(env=None, checker=None, backend="echo", backend_argv=None,
              tcpserver_options=(), rules=None, checkpassword_file=True, watch_interval=0.02):
        if backend_argv is None:
            backend_argv = backends.BACKEND.argv(backend)
        c = Chain(bin_dir, workdir, server_name(request, started),
                  chain_env(passwd_file if checkpassword_file else None, env),
                  rules, checker, backend_argv, tcpserver_options, watch_interval)
        started.append(c)
        return c.start()

    yield start
    tear_down(started)


def deliver(server, account, body=b"Subject: check\r\n\r\nhello\r\n",
            sender="alice@example.org", recipient="someone@remote.example"):
    """A whole session: login, one message to a remote recipient (which
    needs the login), QUIT. Asserts every reply; returns the replies."""
    with server.connect() as c:
        replies = [c.reply()]
        replies.append(c.command("EHLO client.test.example"))
        replies.append(c.command("AUTH PLAIN " + plain_response(account.user, account.password)))
        replies.append(c.command(f"MAIL FROM:<{sender}>"))
        replies.append(c.command(f"RCPT TO:<{recipient}>"))
        replies.append(c.command("DATA"))
        c.send(body + b".\r\n")
        replies.append(c.reply())
        replies.append(c.command("QUIT"))
        assert [r.code for r in replies] == [220, 250, 235, 250, 250, 354, 250, 221], replies
        assert c.is_closed()
    return replies


@pytest.fixture
def backend_dir(workdir, test_account, request):
    """A folder the unprivileged backend may write into (recordings)."""
    uid, gid = test_account
    path = workdir / ("backend-" + re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name))
    path.mkdir()
    os.chown(path, uid, gid)
    return path
