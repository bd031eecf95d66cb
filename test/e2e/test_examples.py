"""What an administrator copies from conf/ and examples/, tried as shipped."""

import os
import shutil
import subprocess

from conftest import REPO, TEST_ACCOUNT, PATH

# Every variable smtp_auth, checkpassword_nosu and smtpproxy read (README.md).
KNOWN_VARIABLES = {
    "GREETING", "EHLORESP", "SMTPAUTH", "AUTH_DELAY", "AUTH_TRIES", "AUTH_TIMEOUT",
    "SMTP_TIMEOUT", "TLS_CERT", "TLS_KEY", "SMTPS", "AUTH_PLAINTEXT",
    "TLS_MIN_PROTOCOL", "TLS_CIPHERS", "TLS_CIPHERSUITES", "CHECKPASSWORD_FILE",
    "SMTPPROXY_TIMEOUT",
}


def envdir_variables(folder):
    """The variables `envdir FOLDER env` adds to an empty environment."""
    out = subprocess.run(["env", "-i", f"PATH={PATH}", "envdir", str(folder), "env", "-0"],
                         capture_output=True, check=True).stdout
    return {line.split(b"=", 1)[0].decode() for line in out.split(b"\0") if line} - {"PATH"}


def test_conf_sets_only_variables_of_the_programs():
    """conf/ used as an envdir sets smtp_auth's variables and nothing else
    (a README in it became a README variable)."""
    variables = envdir_variables(REPO / "conf")
    assert variables and variables <= KNOWN_VARIABLES, variables - KNOWN_VARIABLES


def test_log_run_works_on_first_start(workdir, test_account):
    """log/run as shipped (qmaill made the test account) starts in a folder
    with no ./main yet, and multilog writes time-stamped lines there."""
    uid, _ = test_account
    for service in ("qmail-smtpd", "qmail-smtps"):
        log = workdir / f"first-start-{service}" / "log"
        log.mkdir(parents=True)
        run = (REPO / "examples" / service / "log" / "run").read_text()
        (log / "run").write_text(run.replace("qmaill", TEST_ACCOUNT))
        (log / "run").chmod(0o755)
        result = subprocess.run(["./run"], cwd=log, input=b"smtp_auth: pid 1 hello\n",
                                capture_output=True, timeout=15,
                                env={"PATH": PATH})
        assert result.returncode == 0, result.stderr
        current = log / "main" / "current"
        assert os.stat(log / "main").st_uid == uid
        line = current.read_text()
        assert line.startswith("@4000") and line.endswith(" smtp_auth: pid 1 hello\n"), line
        shutil.rmtree(log.parent)
