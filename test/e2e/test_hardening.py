"""Debian's hardening flags are in every build (CMakeLists.txt), checked on
the programs under test with hardening-check (devscripts)."""

import subprocess

from conftest import PROGRAMS, REPO

FORTIFY_NOTHING_TO_PROTECT = "Fortify Source functions: no, only unprotected functions found!"


def sanitized(program):
    """True for an ASan build, which leaves _FORTIFY_SOURCE out on purpose."""
    dynamic = subprocess.run(["readelf", "-d", str(program)], capture_output=True,
                             text=True, check=True).stdout
    return "libasan" in dynamic


def hardening(program, *options):
    """hardening-check's failures for PROGRAM, as its lines."""
    result = subprocess.run(["hardening-check", "--nocfprotection", *options, str(program)],
                            capture_output=True, text=True)
    assert result.returncode in (0, 1), result.stderr
    # "(ignored)": a check turned off above; stack clash protection is not
    # among Debian's default flags, and hardening-check says "unknown".
    return [line.strip() for line in result.stdout.splitlines()
            if (": no" in line or ": unknown" in line)
            and "(ignored)" not in line and "Stack clash" not in line]


def test_every_program_is_hardened(bin_dir):
    """PIE, stack protector, relro and bind-now everywhere. Fortify: the
    compiler adds checks only to calls whose buffer size it knows; a
    program with no such call shows "only unprotected functions", which
    Debian's lintian reports as information, not as an error. So one
    program, at least, must show protected calls: they prove the flag."""
    fortified = []
    # The three, and every other program the tree has (one man page each).
    names = sorted({page.stem for page in (REPO / "man").glob("*.8")} | set(PROGRAMS))
    for name in names:
        program = bin_dir / name
        if sanitized(program):
            assert hardening(program, "--nofortify") == [], name
            continue
        failures = hardening(program)
        assert failures in ([], [FORTIFY_NOTHING_TO_PROTECT]), (name, failures)
        if not failures:
            fortified.append(name)
    assert fortified or all(sanitized(bin_dir / name) for name in names)
