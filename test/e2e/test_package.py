"""The Debian package (cpack -G DEB): built, installed on this machine with
apt-get as an administrator would, the installed programs run through
tcpserver (a login and a delivery with swaks to mailfront), then purged
with nothing left behind.

SMTPAUTH_DEB names a package already built (scripts/test builds it from
its plain build); without it the test configures and builds one."""

import os
import re
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import PATH, PROGRAMS, REPO, Server

# The installed programs are tried against mailfront, as in the quick start.
pytestmark = pytest.mark.mailfront_only("the package is tried against mailfront")

PACKAGE = "smtp-auth"
APT = ["apt-get", "-qq", "-y", "-o", "DPkg::Lock::Timeout=600"]


@pytest.fixture(scope="module")
def deb():
    given = os.environ.get("SMTPAUTH_DEB")
    if given:
        yield Path(given).resolve()
        return
    with tempfile.TemporaryDirectory(prefix="smtpauth-deb-") as build:
        subprocess.run(["cmake", "-S", str(REPO), "-B", build, "-DSMTPAUTH_TESTS=OFF"],
                       check=True, capture_output=True)
        subprocess.run(["cmake", "--build", build, "-j", str(os.cpu_count())],
                       check=True, capture_output=True)
        subprocess.run(["cpack", "-G", "DEB"], cwd=build, check=True, capture_output=True)
        yield next(Path(build).glob(f"{PACKAGE}_*.deb"))


def installed():
    status = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Status}", PACKAGE],
                            capture_output=True, text=True)
    return status.returncode == 0 and status.stdout not in ("", "not-installed")


def purge():
    subprocess.run([*APT, "purge", PACKAGE], check=True, env=dict(os.environ,
                   DEBIAN_FRONTEND="noninteractive"))


def field(deb, name):
    return subprocess.run(["dpkg-deb", "-f", str(deb), name], capture_output=True,
                          text=True, check=True).stdout.strip()


def contents(deb):
    """The files (not folders) the package holds, as absolute paths."""
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True,
                             text=True, check=True).stdout
    return [Path(line.split()[-1][1:]) for line in listing.splitlines() if line[0] != "d"]


def test_package_holds_what_an_administrator_needs(deb):
    files = {str(p) for p in contents(deb)}
    # Every program with a man page: the three, and any the tree adds.
    programs = {page.stem for page in (REPO / "man").glob("*.8")}
    assert set(PROGRAMS) <= programs
    for program in programs:
        assert f"/usr/bin/{program}" in files
        assert f"/usr/share/man/man8/{program}.8" in files
    doc = f"/usr/share/doc/{PACKAGE}"
    for wanted in ("copyright", "NEWS", "README.md", "examples/README",
                   "examples/tcp.smtp", "conf/SMTPAUTH"):
        assert f"{doc}/{wanted}" in files
    assert any(re.fullmatch(rf"{doc}/examples/[^/]+/log/run", f) for f in files)
    # Depends computed by dpkg-shlibdeps from the programs' libraries.
    depends = field(deb, "Depends")
    for library in ("libc6", "libssl3", "libcrypt1"):
        assert re.search(rf"\b{library} \(>= ", depends), depends


def test_install_run_and_purge(deb, workdir, test_account, passwd_file, queue, tls_env):
    if installed():
        purge()  # left by an interrupted run: the checks below need a clean start
    files = contents(deb)
    assert not any(p.exists() for p in files if p.parts[1:3] == ("usr", "bin"))

    subprocess.run([*APT, "install", str(deb)], check=True,
                   env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    try:
        assert installed()
        assert all(p.exists() for p in files)
        s = Server(Path("/usr/bin"), workdir, "installed-package", "queuedir",
                   {"PATH": PATH, "AUTH_DELAY": "0", "CHECKPASSWORD_FILE": str(passwd_file.path),
                    **queue.env(), **tls_env}, (), None).start()
        try:
            account = passwd_file.plain
            swaks = subprocess.run(
                ["swaks", "--server", f"127.0.0.1:{s.port}", "--tls", "--auth", "PLAIN",
                 "--auth-user", account.user, "--auth-password", account.password,
                 "--from", "alice@example.org", "--to", "someone@remote.example",
                 "--body", "installed from the package"],
                capture_output=True, text=True, timeout=60)
            assert swaks.returncode == 0, swaks.stdout + swaks.stderr
            assert "235 2.7.0" in swaks.stdout
            # Over STARTTLS: the installed smtp_auth found the installed tlsrelay.
            assert re.search(r"^tlsrelay: pid \d+ from \S+: tls handshake: done \(TLSv1\.[23] ", s.sessions_ended(1), re.M)
        finally:
            s.stop()
        [(sender, recipients, message)] = queue.messages()
        assert (sender, recipients) == ("alice@example.org", ["someone@remote.example"])
        assert b"installed from the package" in message
    finally:
        purge()
    assert not installed()
    left = [p for p in files if p.exists()]
    assert not left, left
    assert not Path(f"/usr/share/doc/{PACKAGE}").exists()
