"""The SMTP server behind smtpproxy in the end-to-end tests: the backend.

mailfront (Debian's) by default; a stock qmail-smtpd with `--backend
qmail-smtpd` (or SMTPAUTH_E2E_BACKEND=qmail-smtpd), the program named by
`--qmail-smtpd PATH` or SMTPAUTH_QMAIL_SMTPD. That qmail-smtpd must have
been built with its home one folder above its own (HOME/bin/qmail-smtpd, as
scripts/qmail-smtpd builds it): the tests write HOME/control/me,
HOME/control/rcpthosts and HOME/control/smtpgreeting. Its qmail-queue (QMAILQUEUE) is
qmail_queue_recorder.py, which stores each message as mailfront's queuedir
backend does, so that the tests read both backends' mail alike.

The same tests run against either. A test that asserts what only mailfront
says is marked `mailfront_only`, one about what only qmail-smtpd does
`qmail_smtpd_only`; the other backend's run leaves it out (deselected, so
it counts neither as passed nor as skipped) and says how many it left out.
"""

import os
import shutil
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
MAILFRONT = "mailfront"
QMAIL_SMTPD = "qmail-smtpd"
# qmail-smtpd's rcpthosts: the recipients it takes without RELAYCLIENT.
LOCAL_DOMAIN = "mail.test.example"
# Its control/smtpgreeting, which also starts its EHLO, HELO and QUIT
# replies: unlike smtp_auth's, so that a reply of its that reaches the
# client is seen.
QMAIL_GREETING = "qmail.test.example notqmail"


class Mailfront:
    name = MAILFRONT
    process = "mailfront"  # its name in /proc
    no_relay = 550         # its code for a remote recipient without RELAYCLIENT

    def mail_ok(self, sender):
        return f"250 Sender='{sender}'."

    def rcpt_ok(self, recipient):
        return f"250 Recipient='{recipient}'."

    data_ok = "250 Received"  # how its reply to a message's final dot begins
    quit_ok = "221 2.0.0 Good bye."
    greeting = f"220 {LOCAL_DOMAIN} mailfront ESMTP"  # tcpserver -l: its name; if it greets

    def argv(self, kind):
        """kind: mailfront's backend, echo (logs the message) or queuedir."""
        return ["mailfront", "smtp", kind, "accept-sender", "relayclient"]

    def env(self):
        return {}

    def prepare(self, workdir):
        pass

    def describe(self):
        return "mailfront"


class QmailSmtpd:
    name = QMAIL_SMTPD
    process = "qmail-smtpd"
    no_relay = 553  # "sorry, that domain isn't in my list of allowed rcpthosts"

    def mail_ok(self, sender):
        return "250 ok"

    def rcpt_ok(self, recipient):
        return "250 ok"

    data_ok = "250 ok "  # then the time and qmail-queue's pid
    quit_ok = f"221 {QMAIL_GREETING}"
    greeting = f"220 {QMAIL_GREETING} ESMTP"

    def __init__(self, program):
        self.program = Path(program).resolve()
        self.home = self.program.parent.parent
        self.recorder = None

    def argv(self, kind):
        # echo or queuedir alike: the recorder stores a message only when
        # QUEUEDIR is set (the queue fixture's env()).
        return [str(self.program)]

    def env(self):
        return {"QMAILQUEUE": str(self.recorder)}

    def prepare(self, workdir):
        """Control files, and the recorder where the unprivileged session can
        run it (the repository may be out of its reach)."""
        control = self.home / "control"
        control.mkdir(exist_ok=True)
        (control / "me").write_text(f"{LOCAL_DOMAIN}\n")
        (control / "rcpthosts").write_text(f"{LOCAL_DOMAIN}\n")
        (control / "smtpgreeting").write_text(f"{QMAIL_GREETING}\n")
        for f in ("me", "rcpthosts", "smtpgreeting"):
            (control / f).chmod(0o644)
        self.recorder = workdir / "qmail-queue-recorder"
        shutil.copyfile(HERE / "qmail_queue_recorder.py", self.recorder)
        self.recorder.chmod(0o755)

    def describe(self):
        return f"qmail-smtpd ({self.program})"


BACKEND = Mailfront()


def pytest_addoption(parser):
    group = parser.getgroup("smtp_auth")
    group.addoption("--backend", choices=(MAILFRONT, QMAIL_SMTPD),
                    default=os.environ.get("SMTPAUTH_E2E_BACKEND", MAILFRONT),
                    help="the SMTP server behind smtpproxy (default: mailfront, "
                         "or $SMTPAUTH_E2E_BACKEND)")
    group.addoption("--qmail-smtpd", default=os.environ.get("SMTPAUTH_QMAIL_SMTPD"),
                    metavar="PATH", help="the qmail-smtpd for --backend qmail-smtpd "
                                         "(default: $SMTPAUTH_QMAIL_SMTPD)")


def pytest_configure(config):
    global BACKEND
    config.addinivalue_line("markers", "mailfront_only(why): asserts what only mailfront does")
    config.addinivalue_line("markers", "qmail_smtpd_only: about what only qmail-smtpd does")
    if config.getoption("backend") == QMAIL_SMTPD:
        program = config.getoption("qmail_smtpd")
        if not program or not os.access(program, os.X_OK):
            raise pytest.UsageError("--backend qmail-smtpd needs --qmail-smtpd PATH "
                                    "(or SMTPAUTH_QMAIL_SMTPD): an executable qmail-smtpd; "
                                    "scripts/qmail-smtpd builds one")
        BACKEND = QmailSmtpd(program)
    else:
        BACKEND = Mailfront()


def pytest_collection_modifyitems(config, items):
    other = "mailfront_only" if BACKEND.name == QMAIL_SMTPD else "qmail_smtpd_only"
    keep = [i for i in items if i.get_closest_marker(other) is None]
    left_out = [i for i in items if i.get_closest_marker(other) is not None]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = keep
    config._smtpauth_left_out = len(left_out)


def pytest_report_header(config):
    return f"backend: {BACKEND.describe()}"


def pytest_terminal_summary(terminalreporter, config):
    left_out = getattr(config, "_smtpauth_left_out", 0)
    if left_out:
        other = "mailfront" if BACKEND.name == QMAIL_SMTPD else "qmail-smtpd"
        terminalreporter.write_line(f"backend {BACKEND.name}: {left_out} test(s) about "
                                    f"{other} alone left out")
