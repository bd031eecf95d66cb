"""The man pages render without warnings, and their examples run the chain
as smtp_auth expects it."""

import os
import re
import subprocess

import pytest

from conftest import REPO

PAGES = sorted((REPO / "man").glob("*.8"))


def render(page, *options):
    return subprocess.run(["man", "-l", *options, str(page)], capture_output=True, text=True,
                          env=dict(os.environ, MANWIDTH="80", MAN_KEEP_FORMATTING="0"))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_renders_without_warnings(page):
    result = render(page, "--warnings")
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert len(result.stdout.splitlines()) > 20


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_examples_do_not_hand_the_session_to_true(page):
    """smtp_auth runs "CHECKPROG true" itself: a "true" written after the
    checker would be the chain, and every session would end in /bin/true."""
    text = render(page).stdout.replace("\\\n", " ")
    for chain in re.findall(r"smtp_auth\s+(\S+)\s+(\S+)", text):
        if chain[0].endswith("checkpassword_nosu"):
            assert chain[1] != "true", chain
