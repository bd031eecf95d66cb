"""The apoppw scheme: per-address mail passwords in .apop files.

Real accounts with real homes made here (useradd), a scratch qmail home
(QMAILHOME) with control/virtualdomains and users/assign, the files written
with the modes and owners a user would give them, and the whole chain:
tcpserver, smtp_auth, checkpassword_nosu with CHECKPASSWORD_APOP=1,
setuidgid, smtpproxy, mailfront. apoppw itself runs as the test user."""

import dataclasses
import os
import pwd
import shutil
import smtplib
import subprocess
from pathlib import Path

import pytest

from conftest import TIMEOUT

USER = "apoptest"         # ~/.apop, ~/.apop-ext
LONGER = "apoptest-x"     # "apoptest-x-y" is this account's ".apop-y": the longest name wins
VIRTUAL = "virtual.example"   # users/assign sends it to a directory of USER's
ALIASED = "aliased.example"   # virtualdomains only: its addresses are USER's extensions
REMOTE = "someone@remote.example"


@dataclasses.dataclass
class Apop:
    qmail_home: Path
    vdom: Path                  # the virtual domain's directory, owned by USER
    homes: dict                 # account -> home
    uids: dict                  # account -> uid

    def env(self, **extra):
        return {"CHECKPASSWORD_APOP": "1", "QMAILHOME": str(self.qmail_home),
                "SMTPAUTH": "+cram", **extra}

    def write(self, path, password, mode=0o600, owner=USER):
        """A password file as the user would have it."""
        path.unlink(missing_ok=True)
        path.write_text(password + "\n")
        uid = self.uids[owner]
        os.chown(path, uid, pwd.getpwuid(uid).pw_gid)
        path.chmod(mode)
        return path


def useradd(name, home):
    subprocess.run(["userdel", name], check=False, capture_output=True)  # an interrupted run
    subprocess.run(["useradd", "--create-home", "--home-dir", str(home),
                    "--shell", "/usr/sbin/nologin", "--user-group", name], check=True)
    return pwd.getpwnam(name).pw_uid


@pytest.fixture(scope="module")
def apop(workdir):
    scratch = workdir / "apop"
    scratch.mkdir()
    homes = {name: scratch / "home" / name for name in (USER, LONGER)}
    (scratch / "home").mkdir()
    uids = {}
    try:
        for name, home in homes.items():
            uids[name] = useradd(name, home)
        qmail = scratch / "qmail"
        (qmail / "control").mkdir(parents=True)
        (qmail / "users").mkdir()
        vdom = scratch / "vdom"
        vdom.mkdir()
        uid, gid = uids[USER], pwd.getpwnam(USER).pw_gid
        os.chown(vdom, uid, gid)
        (qmail / "control" / "virtualdomains").write_text(
            f"# the test's virtual domains\n{VIRTUAL}:vdom\n{ALIASED}:{USER}\n")
        (qmail / "users" / "assign").write_text(f"+vdom-:{USER}:{uid}:{gid}:{vdom}:-::\n.\n")
        yield Apop(qmail, vdom, homes, uids)
    finally:
        for name in homes:
            subprocess.run(["userdel", name], check=False)
        shutil.rmtree(scratch, ignore_errors=True)


def login(server, user, password, mechanism):
    """Logs in with smtplib's own PLAIN or CRAM-MD5; returns the code, and
    after a success checks that relaying is allowed."""
    with smtplib.SMTP("127.0.0.1", server.port, local_hostname="client.test.example",
                      timeout=TIMEOUT) as client:
        client.ehlo()
        assert mechanism in client.esmtp_features["auth"].split()
        client.user, client.password = user, password
        method = {"PLAIN": client.auth_plain, "CRAM-MD5": client.auth_cram_md5}[mechanism]
        try:
            code = client.auth(mechanism, method)[0]
        except smtplib.SMTPAuthenticationError as e:
            return e.smtp_code
        assert client.mail("sender@example.org")[0] == 250
        assert client.rcpt(REMOTE)[0] == 250
        return code


# login name -> (account whose file it is, file name or the virtual dir's)
ADDRESSES = [
    (USER, USER, ".apop"),
    (f"{USER}-sales", USER, ".apop-sales"),
    (f"{USER}-Sales.Team", USER, ".apop-sales:team"),   # qmail-local's file name
    (f"{LONGER}-y", LONGER, ".apop-y"),
    (f"joe-news@{VIRTUAL}", "vdom", ".apop-joe-news"),
    (f"sales@{ALIASED}", USER, ".apop-sales"),
]


def file_for(apop, owner, name):
    return (apop.vdom if owner == "vdom" else apop.homes[owner]) / name


@pytest.mark.parametrize("mechanism", ["PLAIN", "CRAM-MD5"])
@pytest.mark.parametrize("login_name,owner,name", ADDRESSES)
def test_address_logs_in_with_its_own_password(server, apop, login_name, owner, name,
                                               mechanism):
    password = "mail-" + name
    apop.write(file_for(apop, owner, name), password, owner=USER if owner == "vdom" else owner)
    s = server(env=apop.env(), checkpassword_file=False)
    assert login(s, login_name, password, mechanism) == 235
    assert login(s, login_name, "wrong-" + password, mechanism) == 535
    log = s.wait_for_log(rf'from 127\.0\.0\.1: auth {mechanism} user "{login_name}": accepted')
    wrong = "wrong password" if mechanism == "PLAIN" else "wrong CRAM-MD5 digest"
    assert f'check user "{login_name}": rejected ({wrong})' in log
    assert password not in log


def test_each_extension_has_its_own_password(server, apop):
    apop.write(apop.homes[USER] / ".apop", "base-password")
    apop.write(apop.homes[USER] / ".apop-sales", "sales-password")
    s = server(env=apop.env(), checkpassword_file=False)
    assert login(s, USER, "sales-password", "PLAIN") == 535
    assert login(s, f"{USER}-sales", "base-password", "PLAIN") == 535
    assert login(s, f"{USER}-sales", "sales-password", "PLAIN") == 235


def refused(server, apop, login_name, password, reason):
    s = server(env=apop.env(), checkpassword_file=False)
    assert login(s, login_name, password, "PLAIN") == 535
    log = s.wait_for_log(rf'check user "{login_name}": rejected \(')
    assert reason in log, log
    assert password not in log
    return s


def test_group_readable_file_refused(server, apop):
    path = apop.write(apop.homes[USER] / ".apop-mode", "mode-password", mode=0o640)
    refused(server, apop, f"{USER}-mode", "mode-password",
            f"{path} is readable or writable by group or others")


def test_other_writable_file_refused(server, apop):
    path = apop.write(apop.homes[USER] / ".apop-mode2", "mode-password", mode=0o602)
    refused(server, apop, f"{USER}-mode2", "mode-password",
            f"{path} is readable or writable by group or others")


def test_symlink_refused(server, apop):
    target = apop.write(apop.homes[USER] / ".apop-target", "link-password")
    link = apop.homes[USER] / ".apop-link"
    link.unlink(missing_ok=True)
    link.symlink_to(target)
    os.lchown(link, apop.uids[USER], -1)
    refused(server, apop, f"{USER}-link", "link-password", f"{link} is a symlink")


def test_missing_file_refused(server, apop):
    refused(server, apop, f"{USER}-nofile", "any-password",
            f"{apop.homes[USER]}/.apop-nofile does not exist")


def test_file_of_another_owner_refused(server, apop):
    path = apop.write(apop.homes[USER] / ".apop-other", "other-password", owner=LONGER)
    refused(server, apop, f"{USER}-other", "other-password",
            f"{path} is owned by uid {apop.uids[LONGER]}, not {apop.uids[USER]}")


def test_unknown_domain_refused(server, apop):
    refused(server, apop, "x@elsewhere.example", "any-password",
            "domain not in control/virtualdomains")


def test_below_minimum_uid_refused(server, apop):
    apop.write(apop.homes[USER] / ".apop", "low-password")
    s = server(env=apop.env(CHECKPASSWORD_MIN_UID=str(apop.uids[USER] + 1)),
               checkpassword_file=False)
    assert login(s, USER, "low-password", "PLAIN") == 535
    s.wait_for_log(rf'check user "{USER}": rejected \(uid {apop.uids[USER]} is below '
                   rf'CHECKPASSWORD_MIN_UID {apop.uids[USER] + 1}\)')
    # and with the default (1000) the same account logs in
    s = server(env=apop.env(), checkpassword_file=False)
    assert login(s, USER, "low-password", "PLAIN") == 235


def test_root_refused(server, apop):
    """root's home is /root; even a well-made /root/.apop does not log in."""
    s = server(env=apop.env(CHECKPASSWORD_MIN_UID="0"), checkpassword_file=False)
    assert login(s, "root", "any-password", "PLAIN") == 535
    s.wait_for_log(r'check user "root": rejected \(no account delivers this address\)')


# --- apoppw, run as the user ---------------------------------------------

def apoppw(bin_dir, user, stdin, *args, program=None):
    """Runs apoppw as `user` (runuser: no setuid step of its own), from a
    copy in the scratch folder, which the user can reach wherever the build is."""
    if program is None:
        program = Path(pwd.getpwnam(user).pw_dir).parent.parent / "apoppw"
        if not program.exists():
            shutil.copy(bin_dir / "apoppw", program)
            program.chmod(0o755)
    return subprocess.run(["runuser", "-u", user, "--", str(program), *args], input=stdin,
                          text=True, capture_output=True, timeout=TIMEOUT, cwd="/")


def test_apoppw_sets_the_password_that_logs_in(server, apop, bin_dir):
    path = apop.homes[USER] / ".apop-tool"
    path.unlink(missing_ok=True)
    run = apoppw(bin_dir, USER, "first-tool-pw\nfirst-tool-pw\n", "tool")
    assert run.returncode == 0, run.stderr
    st = path.lstat()
    assert (st.st_mode & 0o7777, st.st_uid) == (0o600, apop.uids[USER])
    assert path.read_text() == "first-tool-pw\n"

    # Replaced by a new file (rename), not rewritten in place; no temporary left.
    run = apoppw(bin_dir, USER, "second-tool-pw\r\nsecond-tool-pw\r\n", "tool")
    assert run.returncode == 0, run.stderr
    st2 = path.lstat()
    assert st2.st_ino != st.st_ino
    assert (st2.st_mode & 0o7777, st2.st_uid) == (0o600, apop.uids[USER])
    assert path.read_text() == "second-tool-pw\n"
    assert not list(apop.homes[USER].glob(".apop-tool.tmp*"))

    s = server(env=apop.env(), checkpassword_file=False)
    assert login(s, f"{USER}-tool", "second-tool-pw", "PLAIN") == 235
    assert login(s, f"{USER}-tool", "second-tool-pw", "CRAM-MD5") == 235
    assert login(s, f"{USER}-tool", "first-tool-pw", "PLAIN") == 535


def test_apoppw_without_extension_and_into_a_directory(apop, bin_dir):
    run = apoppw(bin_dir, USER, "base-pw\nbase-pw\n")
    assert run.returncode == 0, run.stderr
    assert (apop.homes[USER] / ".apop").read_text() == "base-pw\n"
    run = apoppw(bin_dir, USER, "v-pw\nv-pw\n", "-d", str(apop.vdom), "Joe.News")
    assert run.returncode == 0, run.stderr
    assert (apop.vdom / ".apop-joe:news").read_text() == "v-pw\n"


def test_apoppw_mismatch_changes_nothing(apop, bin_dir):
    path = apop.write(apop.homes[USER] / ".apop-keep", "kept-pw")
    before = path.stat()
    run = apoppw(bin_dir, USER, "new-pw\nother-pw\n", "keep")
    assert run.returncode == 1
    assert "apoppw: password: refused (the two passwords differ; nothing changed)" in run.stderr
    assert path.read_text() == "kept-pw\n" and path.stat().st_ino == before.st_ino
    assert not list(apop.homes[USER].glob(".apop-keep.tmp*"))


@pytest.mark.parametrize("stdin,message", [
    ("\n\n", "the password is empty"),
    ("!locked\n!locked\n", "would lock the address"),
    ("only-once\n", "no password given"),
])
def test_apoppw_refuses_bad_passwords(apop, bin_dir, stdin, message):
    run = apoppw(bin_dir, USER, stdin, "bad")
    assert run.returncode == 1
    assert message in run.stderr
    assert not (apop.homes[USER] / ".apop-bad").exists()


def test_apoppw_refuses_a_slash_and_root(apop, bin_dir):
    run = apoppw(bin_dir, USER, "pw\npw\n", "../escape")
    assert run.returncode == 100 and "must not be empty or hold a '/'" in run.stderr
    run = subprocess.run([str(bin_dir / "apoppw")], input="pw\npw\n", text=True,
                         capture_output=True, timeout=TIMEOUT)
    assert run.returncode == 100 and "root has no mail password" in run.stderr


def test_apoppw_refuses_to_run_setuid(apop, bin_dir, workdir):
    """Installed setuid root, it would write as root: it must refuse."""
    copy = workdir / "apop" / "apoppw-setuid"
    shutil.copy(bin_dir / "apoppw", copy)
    copy.chmod(0o4755)
    run = apoppw(bin_dir, USER, "pw\npw\n", "suid", program=copy)
    assert run.returncode == 100 and "refusing to run setuid" in run.stderr
    assert not (apop.homes[USER] / ".apop-suid").exists()
