"""The session as the authenticated user (AUTH_AS_USER, authreport,
authuidgid), and smtpproxy's refusal to run as root.

    tcpserver -> smtp_auth CHECKER [CHECKER authreport]
              -> authuidgid smtpauth-test -> smtpproxy -> identity -> mailfront

The backend is mailfront behind `identity`, a two-line wrapper that writes
the uid, gid, groups and HOME it runs with to the server log, then execs
mailfront: what qmail-smtpd and a QMAILQUEUE wrapper would run with. The
accounts are real ones made here with useradd and removed afterwards; the
checkers are checkpassword_nosu and Debian's checkpw, which switches to the
user itself (and reads ~/Maildir/.password).
"""

import os
import pwd
import re
import secrets
import subprocess
import time
from pathlib import Path

import pytest

from conftest import (LOCAL_HOST, MAILFRONT, PATH, TEST_ACCOUNT, Account, Chain, changed,
                      deliver, plain_response, server_name, tear_down)

EHLO = "EHLO client.test.example"
IDENTITY = r"""#!/bin/sh
echo "identity: uid=$(id -u) gid=$(id -g) groups=$(id -G | tr ' ' ,) home=$HOME" >&2
exec "$@"
"""
USER = "smtpauth-asuser"    # uid >= 1000, in an extra group, with a home
LOW = "smtpauth-aslow"      # a system account: uid below AUTH_MIN_UID
ROOT = "smtpauth-asroot"    # another name for uid 0
GROUP = "smtpauth-asgrp"
CHECKPW = "/usr/bin/checkpw"
AUTH_DELAY = 1
# What a refused account is tested with: failures are answered after
# AUTH_DELAY, and the third closes the connection.
FAILURES = {"AUTH_DELAY": str(AUTH_DELAY), "AUTH_TRIES": "3"}


# --- accounts ----------------------------------------------------------------

def useradd(*args):
    subprocess.run(["useradd", *args], check=True, capture_output=True)


def set_password(name):
    password = "As-" + secrets.token_urlsafe(12)
    subprocess.run(["chpasswd"], input=f"{name}:{password}\n", text=True, check=True)
    return Account(name, password)


def give_checkpw_password(entry, password):
    """~/Maildir/.password as checkpw wants it: the user's, mode 0600."""
    maildir = Path(entry.pw_dir) / "Maildir"
    maildir.mkdir(parents=True, exist_ok=True)
    (maildir / ".password").write_text(password + "\n")
    for path in (maildir, maildir / ".password"):
        os.chown(path, entry.pw_uid, entry.pw_gid)
    (maildir / ".password").chmod(0o600)


@pytest.fixture(scope="module")
def accounts(workdir):
    """The real accounts: USER (uid >= 1000, home, extra group), LOW (a
    system account) and ROOT (uid 0 under another name, for checkpw). Each
    has a password in /etc/shadow and in ~/Maildir/.password."""
    for name in (ROOT, LOW, USER):
        subprocess.run(["userdel", "-f", name], capture_output=True)
    subprocess.run(["groupdel", GROUP], capture_output=True)
    homes = workdir / "homes"
    homes.mkdir(exist_ok=True)
    homes.chmod(0o755)
    subprocess.run(["groupadd", GROUP], check=True)
    useradd("--create-home", "--home-dir", str(homes / USER), "--shell", "/usr/sbin/nologin",
            "--groups", GROUP, USER)
    useradd("--system", "--create-home", "--home-dir", str(homes / LOW),
            "--shell", "/usr/sbin/nologin", LOW)
    useradd("--non-unique", "--uid", "0", "--gid", "0", "--no-create-home",
            "--home-dir", str(homes / ROOT), "--shell", "/usr/sbin/nologin", ROOT)
    (homes / ROOT).mkdir()
    out = {}
    try:
        for name in (USER, LOW, ROOT):
            out[name] = set_password(name)
            give_checkpw_password(pwd.getpwnam(name), out[name].password)
        yield out
    finally:
        for name in (ROOT, LOW, USER):
            subprocess.run(["userdel", "-f", "-r", name], capture_output=True)
        subprocess.run(["groupdel", GROUP], capture_output=True)


def groups_of(name):
    """What login would give: the primary group and every /etc/group membership."""
    return set(os.getgrouplist(name, pwd.getpwnam(name).pw_gid))


# --- the chain ---------------------------------------------------------------

class AsUserChain(Chain):
    """Chain with authuidgid (or nothing) where setuidgid was."""

    def __init__(self, *args, switch, **kwargs):
        super().__init__(*args, **kwargs)
        self.switch = switch

    def command(self):
        env = [f"{k}={v}" for k, v in self.env.items()]
        return (["env", "-i", *env,
                 "tcpserver", "-v", "-R", "-H", "-l", LOCAL_HOST, "127.0.0.1", str(self.port),
                 str(self.bin_dir / "smtp_auth"), self.checker, *self.switch,
                 str(self.bin_dir / "smtpproxy"), *self.backend_argv])


@pytest.fixture
def as_user(bin_dir, workdir, test_account, passwd_file, request):
    """Factory: as_user(checker=None, env={}, switch=None, passwd_file=False)
    starts tcpserver with AUTH_AS_USER and `authuidgid smtpauth-test` (or
    `switch`, a list) in front of smtpproxy; the backend records its identity."""
    identity = workdir / "identity"
    identity.write_text(IDENTITY)
    identity.chmod(0o755)
    started = []

    def start(checker=None, env=None, switch=None, use_passwd_file=False):
        full_env = {"PATH": PATH, "AUTH_DELAY": "0", "AUTH_AS_USER": str(bin_dir / "authreport")}
        if use_passwd_file:
            full_env["CHECKPASSWORD_FILE"] = str(use_passwd_file)
        if switch is None:
            switch = [str(bin_dir / "authuidgid"), TEST_ACCOUNT]
        backend = [str(identity)] + [a.format(backend="echo") for a in MAILFRONT]
        c = AsUserChain(bin_dir, workdir, server_name(request, started), changed(full_env, env),
                        None, checker, backend, (), switch=switch)
        started.append(c)
        return c.start()

    yield start
    tear_down(started)


def identities(server, count=1):
    """The identities the backend reported: [(uid, gid, {groups}, home)]."""
    log = server.wait_for_log(r"^identity: ", count)
    out = []
    for m in re.finditer(r"^identity: uid=(\d+) gid=(\d+) groups=([\d,]*) home=(.*)$", log, re.M):
        out.append((int(m[1]), int(m[2]), {int(g) for g in m[3].split(",") if g}, m[4]))
    return out


def session_credentials(server):
    """(name, uids, groups) of every process of the server's sessions now."""
    out = []
    for p in server.processes.current().values():
        try:
            status = Path(f"/proc/{p.pid}/status").read_text()
        except OSError:
            continue
        groups = re.search(r"^Groups:[ \t]*(.*)$", status, re.M).group(1).split()
        out.append((p.name, p.uids, {int(g) for g in groups}))
    return out


def default_identity():
    entry = pwd.getpwnam(TEST_ACCOUNT)
    return entry.pw_uid, entry.pw_gid


# --- after a login: the user's uid, gid, groups and HOME ---------------------

def test_session_runs_as_the_system_account_that_logged_in(as_user, accounts):
    """checkpassword_nosu (system accounts): the backend runs with the
    account's uid, gid, every group /etc/group gives it, and its HOME; while
    the session is on, none of its processes is root (no root parent waits,
    as acceptutils' does)."""
    s = as_user()
    user = accounts[USER]
    entry = pwd.getpwnam(USER)
    with s.connect() as c:
        assert c.reply().code == 220
        assert c.command(EHLO).code == 250
        assert c.command("AUTH PLAIN " + plain_response(user.user, user.password)).code == 235
        assert c.command("MAIL FROM:<a@example.org>").code == 250
        assert c.command("RCPT TO:<someone@remote.example>").code == 250  # RELAYCLIENT
        procs = session_credentials(s)
        assert c.command("QUIT").code == 221
    assert {"smtpproxy", "mailfront"} <= {name for name, _, _ in procs}, procs
    for name, uids, groups in procs:
        assert uids == (entry.pw_uid,) * 4 and groups == groups_of(USER), (name, uids, groups)
    [(uid, gid, groups, home)] = identities(s)
    assert (uid, gid, home) == (entry.pw_uid, entry.pw_gid, entry.pw_dir)
    assert groups == groups_of(USER) and len(groups) == 2, groups  # its own and GROUP
    assert f'from 127.0.0.1: auth PLAIN user "{USER}": accepted' in s.log()
    s.processes.assert_all_gone()
    rooted = [p for p in s.processes.seen.values()
              if p.name in ("smtpproxy", "mailfront", "identity", "sh") and 0 in p.uids]
    assert not rooted, rooted


def test_passwd_file_entry_naming_an_account(as_user, accounts, workdir):
    """A passwd-file line whose uid, gid and home fields name an account
    (by number, or by name) gets a session as that account, with its gid as
    its only group."""
    entry = pwd.getpwnam(USER)
    path = workdir / "passwd-as-user"
    path.write_text(f"carol:{{PLAIN}}carol-pw:{entry.pw_uid}:{entry.pw_gid}::/srv/mail/carol::\n"
                    f"dave:{{PLAIN}}dave-pw:{USER}:{GROUP}::/srv/mail/dave::\n")
    path.chmod(0o600)
    s = as_user(use_passwd_file=path)
    deliver(s, Account("carol", "carol-pw"))
    deliver(s, Account("dave", "dave-pw"))
    group = subprocess.run(["getent", "group", GROUP], capture_output=True, text=True,
                           check=True).stdout.split(":")[2]
    assert identities(s, 2) == [
        (entry.pw_uid, entry.pw_gid, {entry.pw_gid}, "/srv/mail/carol"),
        (entry.pw_uid, int(group), {int(group)}, "/srv/mail/dave")]


def test_classic_checker_that_switches_itself(as_user, accounts):
    """Debian's checkpw checks ~/Maildir/.password, then switches to the
    user (uid, gid, HOME; its only group is the gid: it does not read
    /etc/group) and runs authreport, which reports what it runs as."""
    s = as_user(checker=CHECKPW)
    user = accounts[USER]
    entry = pwd.getpwnam(USER)
    with s.connect() as c:
        assert c.reply().code == 220
        assert c.command(EHLO).code == 250
        assert c.command("AUTH PLAIN " + plain_response(user.user, "wrong")).code == 535
        assert c.command("AUTH PLAIN " + plain_response(user.user, user.password)).code == 235
        assert c.command("MAIL FROM:<a@example.org>").code == 250
        assert c.command("QUIT").code == 221
    assert identities(s) == [(entry.pw_uid, entry.pw_gid, {entry.pw_gid}, entry.pw_dir)]


def test_failed_login_then_good_one_in_one_connection(as_user, accounts):
    s = as_user()
    user = accounts[USER]
    entry = pwd.getpwnam(USER)
    with s.connect() as c:
        assert c.reply().code == 220
        assert c.command(EHLO).code == 250
        assert c.command("AUTH PLAIN " + plain_response(user.user, "wrong")).code == 535
        assert c.command("AUTH PLAIN " + plain_response(user.user, user.password)).code == 235
        assert c.command("MAIL FROM:<a@example.org>").code == 250
        assert c.command("QUIT").code == 221
    [(uid, gid, _, home)] = identities(s)
    assert (uid, gid, home) == (entry.pw_uid, entry.pw_gid, entry.pw_dir)


# --- without a login: the default account ------------------------------------

@pytest.mark.parametrize("smtpauth", ["", "-"])
def test_unauthenticated_session_runs_as_the_default_account(as_user, accounts, smtpauth):
    """Also when the launcher left an SMTPAUTH_ACCOUNT naming root: only
    smtp_auth sets it, after a login."""
    s = as_user(env={"SMTPAUTH": smtpauth, "SMTPAUTH_ACCOUNT": "0:0:0:/root"})
    with s.connect() as c:
        assert c.reply().code == 220
        assert c.command("HELO client.test.example").code == 250
        assert c.command("MAIL FROM:<a@example.org>").code == 250
        assert c.command("RCPT TO:<someone@remote.example>").code >= 500  # no RELAYCLIENT
        assert c.command("QUIT").code == 221
    uid, gid = default_identity()
    [(u, g, groups, _)] = identities(s)
    assert (u, g, groups) == (uid, gid, {gid})


# --- never root, never below the minimum uid ---------------------------------

def reply_bytes(c, line):
    """Sends `line`; returns the reply exactly as the server sent it."""
    start = len(c.raw) - len(c.buffer)
    c.command(line)
    return c.raw[start:len(c.raw) - len(c.buffer)]


def refused_like_a_wrong_password(s, account):
    """The password is right but the account gets no session: the client
    cannot tell that from a wrong password (no oracle for root's password).
    The same bytes after the same AUTH_DELAY, the session goes on, and it
    counts towards AUTH_TRIES like any failure. Returns the log."""
    right = "AUTH PLAIN " + plain_response(account.user, account.password)
    with s.connect() as c:
        assert c.reply().code == 220
        assert c.command(EHLO).code == 250
        started = time.monotonic()
        wrong = reply_bytes(c, "AUTH PLAIN " + plain_response(account.user, "Wrong-" + account.password))
        assert time.monotonic() - started >= AUTH_DELAY
        assert wrong == b"535 5.7.8 Authentication credentials invalid\r\n"
        started = time.monotonic()
        assert reply_bytes(c, right) == wrong
        assert time.monotonic() - started >= AUTH_DELAY
        assert c.command("NOOP").code == 250
        # The third failure of AUTH_TRIES=3.
        assert reply_bytes(c, right) == wrong
        assert c.reply().lines == ["421 4.7.0 Too many failed authentication attempts"]
        assert c.is_closed()
    log = s.sessions_ended(1)
    assert "identity:" not in log  # no backend ever ran
    assert re.search(r": session: closed \(too many failed logins\)$", log, re.M), log
    # The administrator still sees why, once per attempt, and that the
    # password was right (not "rejected", what fail2ban counts).
    assert len(re.findall(rf'auth PLAIN user "{re.escape(account.user)}": rejected ', log)) == 1, log
    assert len(re.findall(rf'auth PLAIN user "{re.escape(account.user)}": refused \(', log)) == 2, log
    assert account.password not in log
    return log


def test_root_is_refused_a_session(as_user, accounts):
    """checkpw accepts a uid-0 account and switches to root; the report
    says uid 0: no session runs as root, and the client is told what a
    wrong password gets."""
    s = as_user(checker=CHECKPW, env=FAILURES)
    log = refused_like_a_wrong_password(s, accounts[ROOT])
    assert (f'from 127.0.0.1: auth PLAIN user "{ROOT}": refused '
            '(uid 0 never gets a session)') in log, log


def test_account_below_the_minimum_uid_is_refused_a_session(as_user, accounts):
    s = as_user(env=FAILURES)
    uid = pwd.getpwnam(LOW).pw_uid
    assert uid < 1000
    log = refused_like_a_wrong_password(s, accounts[LOW])
    assert f": refused (uid {uid} is below AUTH_MIN_UID 1000)" in log, log


def test_minimum_uid_is_the_administrators(as_user, accounts):
    uid = pwd.getpwnam(USER).pw_uid
    s = as_user(env={"AUTH_MIN_UID": str(uid + 1), **FAILURES})
    log = refused_like_a_wrong_password(s, accounts[USER])
    assert f": refused (uid {uid} is below AUTH_MIN_UID {uid + 1})" in log, log
    s = as_user(env={"AUTH_MIN_UID": str(pwd.getpwnam(LOW).pw_uid)}, checker=CHECKPW)
    deliver(s, accounts[LOW])
    assert identities(s)[0][0] == pwd.getpwnam(LOW).pw_uid


# --- a run file that forgets setuidgid ----------------------------------------

@pytest.mark.parametrize("login", [True, False])
def test_smtpproxy_refuses_to_run_as_root(as_user, accounts, login):
    """No setuidgid nor authuidgid in front of smtpproxy: it exits 111 with
    one log line, the client gets 421, and the backend never runs."""
    s = as_user(switch=[], env={"AUTH_AS_USER": None})
    user = accounts[USER]
    with s.connect() as c:
        assert c.reply().code == 220
        assert c.command(EHLO).code == 250
        if login:
            assert c.command("AUTH PLAIN " + plain_response(user.user, user.password)).code == 235
        reply = c.command("MAIL FROM:<a@example.org>")
        assert reply.code == 421, reply
        assert c.is_closed()
    log = s.sessions_ended(1)
    assert re.search(r"^tcpserver: end \d+ status 28416$", log, re.M), log  # exit 111
    lines = [line for line in log.splitlines() if line.startswith("smtpproxy: ")]
    [line] = lines
    assert re.fullmatch(r"smtpproxy: pid \d+ from 127\.0\.0\.1: config: error \(refusing to run as root: "
                        r"put setuidgid or authuidgid in front of smtpproxy\)", line), log
    assert "identity:" not in log


# --- authuidgid on its own ------------------------------------------------------

@pytest.mark.parametrize("account,env,why", [
    ("root", {}, "config: error (the default account must not be uid 0)"),
    (TEST_ACCOUNT, {"SMTPAUTH_ACCOUNT": "0:0:0:/root"}, "account: refused (uid 0 never gets a session)"),
    (TEST_ACCOUNT, {"SMTPAUTH_ACCOUNT": "999:999::/x"},
     "account: refused (uid 999 is below AUTH_MIN_UID 1000)"),
    (TEST_ACCOUNT, {"SMTPAUTH_ACCOUNT": "1001:1001::relative"}, "account: failed (malformed SMTPAUTH_ACCOUNT)"),
    ("smtpauth-no-such-account", {}, "config: error (unknown account smtpauth-no-such-account)"),
])
def test_authuidgid_never_runs_a_program_as_root(bin_dir, test_account, account, env, why):
    """Behind smtp_auth, which sets SMTPAUTH_ACCOUNT only after checking it,
    these cannot happen; authuidgid refuses them all the same: 421, exit
    111, one log line, and the program does not run."""
    r = subprocess.run([str(bin_dir / "authuidgid"), account, "sh", "-c", "echo ran; id -u"],
                       env={"PATH": "/usr/bin:/bin", **env}, capture_output=True)
    assert r.returncode == 111
    assert r.stdout == b"421 4.3.0 service temporarily unavailable\r\n"
    # Run by hand: no connection, so its own pid and no address.
    assert re.fullmatch(rf"authuidgid: pid \d+ from unknown: {re.escape(why)}\n", r.stderr.decode()), r.stderr


def test_authuidgid_switches_like_setuidgid_without_a_login(bin_dir, test_account):
    uid, gid = test_account
    r = subprocess.run([str(bin_dir / "authuidgid"), TEST_ACCOUNT, "sh", "-c", "id -u; id -G; echo $HOME"],
                       env={"PATH": "/usr/bin:/bin", "HOME": "/kept"}, capture_output=True,
                       text=True, check=True)
    assert r.stdout.split() == [str(uid), str(gid), "/kept"]
