#!/usr/bin/python3
"""A QMAILQUEUE stand-in for qmail-smtpd in the end-to-end tests.

qmail-smtpd pipes each message to qmail-queue: the message on fd 0, then
the envelope on fd 1 (`Fsender\\0Trcpt\\0...Trcpt\\0\\0`). This records what
qmail-queue would get, in mailfront's queuedir format (sender NUL, each
recipient NUL, NUL, the message) as $QUEUEDIR/new/NAME, so that the tests
read both backends' mail the same way. Without QUEUEDIR it only reads and
accepts. Exit 0: accepted; 81 ("Z" in qmail-queue's terms): unreadable
input; 91: a malformed envelope (qmail-smtpd then answers 451/554).
"""

import os
import sys
import time


def read_all(fd):
    chunks = []
    while True:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def main():
    try:
        message = read_all(0)
        envelope = read_all(1)
    except OSError:
        return 81
    fields = envelope.split(b"\0")
    # F sender, T recipients..., then the empty field that ends it and the
    # empty rest after the final NUL.
    if (len(fields) < 4 or fields[-2:] != [b"", b""] or not fields[0].startswith(b"F")
            or not all(f.startswith(b"T") for f in fields[1:-2])):
        return 91
    queue = os.environ.get("QUEUEDIR")
    if not queue:
        return 0
    record = b"\0".join([fields[0][1:]] + [f[1:] for f in fields[1:-2]]) + b"\0\0" + message
    name = f"{time.time_ns()}.{os.getpid()}.qmail-queue"  # Queue tells them by the suffix
    tmp = os.path.join(queue, "tmp", name)
    with open(tmp, "wb") as f:
        f.write(record)
    os.rename(tmp, os.path.join(queue, "new", name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
