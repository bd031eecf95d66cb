"""The benchmarks behind bench/run (which builds what this needs first).

Every server runs on loopback under tcpserver (stunnel: as its own daemon),
with mailfront's qmail backend as the SMTP server and bench/tools/qq_discard
as its qmail-queue. Variants:

  direct     tcpserver -> mailfront                       (the baseline)
  socat      tcpserver -> socat -> mailfront              (a generic relay)
  floor      tcpserver -> floor_auth -> [floor_exec true] -> setuidgid
             -> floor_relay -> mailfront: the chain's processes, each a
             static do-nothing stage; no SMTP AUTH. The least the design
             can cost.
  auth-floor tcpserver -> floor_login -> [floor_exec true] -> setuidgid
             -> floor_relay -> mailfront: the AUTH floor, the least an
             authenticated session needs: greeting, EHLO, AUTH PLAIN (235
             after a forked checker that execs a static true), setuidgid, a
             relay that hides the backend's greeting and replays EHLO
  chain      tcpserver -> smtp_auth -> [checkpassword_nosu true] -> setuidgid
             -> smtpproxy -> mailfront, with AUTH PLAIN; {PLAIN} password
  chain-hash the same with the system's default hash (yescrypt)
  tls-chain  the chain with implicit TLS (SMTPS=1): smtp_auth's TLS relay
  stunnel    stunnel (implicit TLS) -> TCP -> tcpserver -> mailfront

With --qmail-smtpd PATH, the same with a stock qmail-smtpd as the SMTP
server (the same qq_discard as its qmail-queue), named qmail-*:
  qmail-direct        tcpserver -> qmail-smtpd             (its baseline)
  qmail-socat         tcpserver -> socat -b 65536 -> qmail-smtpd
  qmail-floor         the floor's stages -> qmail-smtpd
  qmail-auth-floor    the AUTH floor's stages -> qmail-smtpd
  qmail-chain         the chain, AUTH PLAIN
  qmail-chain-noauth  the chain without a login (RELAYCLIENT from the
                      environment, as tcprules would set it)
The unauthenticated rates of qmail-direct, qmail-floor and
qmail-chain-noauth are also measured with Postfix's smtp-source (HELO, MAIL,
RCPT, DATA, QUIT; 8 sessions at once) when it is installed.

Every variant's checker runs the static `true` of TOOLS/path (first in PATH).
Session rate also reports the server's CPU per session: the children's CPU
time of tcpserver (it reaps every session, which reaps its own children).

A/B: each repetition runs every variant once, in an order that rotates;
the table shows medians and ratios to the baseline of the same run.
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BACKEND = ["mailfront", "smtp", "qmail", "accept-sender", "relayclient"]
USER, PASSWORD = "bench", "bench-password"
ACCOUNT = "nobody"  # setuidgid's unprivileged account
RELAY_ACCOUNT = "smtpauth-tls"  # the TLS relay's own (created if missing, as by the tests)
GiB = 1 << 30


# ---- processes -------------------------------------------------------------

def process_table():
    """pid -> (ppid, comm) for every process."""
    table = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        table[int(d)] = (ppid, comm)
    return table


def descendants(root, table=None):
    table = table or process_table()
    children = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        for c in children.get(pid, []):
            out.append(c)
            todo.append(c)
    return out


def cpu_ns(pid):
    """CPU time of every live thread of pid, in ns (schedstat is exact)."""
    total = 0
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                total += int(f.read().split()[0])
    except OSError:
        pass
    return total


def smaps(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                parts = line.split()
                if len(parts) == 3 and parts[2] == "kB":
                    out[parts[0].rstrip(":")] = int(parts[1])
    except OSError:
        pass
    return out


def machine_busy():
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)


def finish(p):
    """Lets a paused smtpbench end its sessions."""
    try:
        p.stdin.write("\n")
        p.stdin.close()
    except BrokenPipeError:
        pass
    for line in p.stdout:
        pass
    p.wait(60)


# ---- servers ---------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """argv(port) is the command line that listens on port."""
    def __init__(self, name, argv, env, log):
        self.name, self.argv, self.env, self.log = name, argv, env, log
        self.port = None
        self.proc = None

    def start(self, port):
        self.port = port
        self.proc = subprocess.Popen(self.argv(port), env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=open(self.log, "ab"),
                                     start_new_session=True)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited at once; see {self.log}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.name} does not listen on {port}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def tcpserver(port, prog):
    return ["tcpserver", "-R", "-H", "-l", "bench.example", "-c", "400", "-b", "256",
            "127.0.0.1", str(port)] + prog


# ---- the run ---------------------------------------------------------------

class Bench:
    def __init__(self, args):
        self.a = args
        self.work = tempfile.mkdtemp(prefix="smtpauth-bench-")
        os.chmod(self.work, 0o755)  # the backend runs as ACCOUNT and chdirs to QMAILHOME
        self.servers = {}
        self.raw = []          # every line measured, for the results file
        self.samples = {}      # (test, variant, key) -> [values]
        self.variants = {}     # name -> dict(auth, tls, relays: the relay processes' roles)

    # -- setup --

    def file(self, name, text="", mode=0o600):
        path = os.path.join(self.work, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def setup(self):
        a = self.a
        os.makedirs(os.path.join(self.work, "qmail"))
        base = {"PATH": os.path.join(a.tools, "path") + ":" + PATH, "QMAILHOME": os.path.join(self.work, "qmail"),
                "QMAILQUEUE": os.path.join(a.tools, "qq_discard")}
        plain = self.file("passwd.plain", f"{USER}:{{PLAIN}}{PASSWORD}\n")
        hashed = subprocess.run([os.path.join(a.tools, "mkhash"), PASSWORD], check=True,
                                capture_output=True, text=True).stdout.strip()
        self.hash_scheme = hashed.split("$")[1] if hashed.startswith("$") else "?"
        crypt = self.file("passwd.crypt", f"{USER}:{{CRYPT}}{hashed}\n")
        key, cert = os.path.join(self.work, "key.pem"), os.path.join(self.work, "cert.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "30", "-subj", "/CN=bench.example"],
                       check=True, capture_output=True)
        pem = self.file("tls.pem", open(cert).read() + open(key).read())
        if subprocess.run(["id", RELAY_ACCOUNT], capture_output=True).returncode != 0:
            subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                            "--shell", "/usr/sbin/nologin", RELAY_ACCOUNT], check=True)
        uid = subprocess.run(["id", "-u", RELAY_ACCOUNT], capture_output=True, text=True,
                             check=True).stdout.strip()
        gid = subprocess.run(["id", "-g", RELAY_ACCOUNT], capture_output=True, text=True,
                             check=True).stdout.strip()

        b, t = a.build, a.tools
        relay_env = dict(base, RELAYCLIENT="")
        qmail = [a.qmail_smtpd] if a.qmail_smtpd else None
        if qmail:
            self.prepare_qmail(a.qmail_smtpd)
        chain = [f"{b}/smtp_auth", f"{b}/checkpassword_nosu", "setuidgid", ACCOUNT]
        floor = [f"{t}/floor_auth", f"{t}/floor_exec", "setuidgid", ACCOUNT, f"{t}/floor_relay"]
        auth_floor = [f"{t}/floor_login", f"{t}/floor_exec", "setuidgid", ACCOUNT,
                      f"{t}/floor_relay"]
        socat = ["socat", "STDIO", "EXEC:" + " ".join(BACKEND)]
        tls_env = {"TLS_CERT": pem, "SMTPS": "1", "UID": uid, "GID": gid}

        def add(name, prog, env, auth=False, tls=False, relays=()):
            self.variants[name] = dict(auth=auth, tls=tls, relays=relays)
            self.servers[name] = Server(name, lambda port: tcpserver(port, prog), env,
                                        os.path.join(self.work, name + ".log"))

        add("direct", BACKEND, relay_env)
        add("socat", socat, relay_env, relays=("socat",))
        add("floor", floor + BACKEND, relay_env, relays=("floor_relay",))
        add("auth-floor", auth_floor + BACKEND, base, auth=True, relays=("floor_relay",))
        add("chain", chain + [f"{b}/smtpproxy"] + BACKEND,
            dict(base, CHECKPASSWORD_FILE=plain), auth=True, relays=("smtpproxy",))
        add("chain-hash", chain + [f"{b}/smtpproxy"] + BACKEND,
            dict(base, CHECKPASSWORD_FILE=crypt), auth=True, relays=("smtpproxy",))
        add("tls-chain", chain + [f"{b}/smtpproxy"] + BACKEND,
            dict(base, CHECKPASSWORD_FILE=plain, **tls_env), auth=True, tls=True,
            relays=("tls relay", "smtpproxy"))
        if qmail:
            add("qmail-direct", qmail, relay_env)
            add("qmail-socat", ["socat", "-b", "65536", "STDIO", "EXEC:" + qmail[0]], relay_env,
                relays=("socat",))
            add("qmail-floor", floor + qmail, relay_env, relays=("floor_relay",))
            add("qmail-auth-floor", auth_floor + qmail, base, auth=True, relays=("floor_relay",))
            add("qmail-chain", chain + [f"{b}/smtpproxy"] + qmail,
                dict(base, CHECKPASSWORD_FILE=plain), auth=True, relays=("smtpproxy",))
            add("qmail-chain-noauth", chain + [f"{b}/smtpproxy"] + qmail,
                dict(relay_env, CHECKPASSWORD_FILE=plain), relays=("smtpproxy",))
        # Other builds of the three programs, measured in the same run.
        self.labels = []
        for spec in a.chain:
            label, d = spec.split("=", 1)
            self.labels.append(label)
            other = [f"{d}/smtp_auth", f"{d}/checkpassword_nosu", "setuidgid", ACCOUNT,
                     f"{d}/smtpproxy"] + BACKEND
            add(f"chain[{label}]", other, dict(base, CHECKPASSWORD_FILE=plain), auth=True,
                relays=("smtpproxy",))
            add(f"tls-chain[{label}]", other, dict(base, CHECKPASSWORD_FILE=plain, **tls_env),
                auth=True, tls=True, relays=("tls relay", "smtpproxy"))
            if qmail:
                add(f"qmail-chain[{label}]", other[:-len(BACKEND)] + qmail,
                    dict(base, CHECKPASSWORD_FILE=plain), auth=True, relays=("smtpproxy",))
                add(f"qmail-chain-noauth[{label}]", other[:-len(BACKEND)] + qmail,
                    dict(relay_env, CHECKPASSWORD_FILE=plain), relays=("smtpproxy",))

        for server in self.servers.values():
            server.start(free_port())
        # stunnel in front of the direct backend.
        port = free_port()
        conf = self.file("stunnel.conf", "\n".join([
            "foreground = yes", "pid =", "syslog = no",
            f"output = {os.path.join(self.work, 'stunnel.log')}",
            "[smtps]", f"accept = 127.0.0.1:{port}",
            f"connect = 127.0.0.1:{self.servers['direct'].port}",
            f"cert = {cert}", f"key = {key}", ""]))
        self.variants["stunnel"] = dict(auth=False, tls=True, relays=("stunnel",))
        stunnel = shutil.which("stunnel4") or "stunnel"
        self.servers["stunnel"] = Server("stunnel", lambda _: [stunnel, conf], dict(base),
                                         os.path.join(self.work, "stunnel.err"))
        self.servers["stunnel"].start(port)

    def prepare_qmail(self, program):
        """qmail-smtpd's control files, in its home: the folder above its
        bin/, as scripts/qmail-smtpd builds it."""
        control = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(program))),
                               "control")
        os.makedirs(control, exist_ok=True)
        for name, text in (("me", "bench.example"), ("rcpthosts", "bench.example")):
            with open(os.path.join(control, name), "w") as f:
                f.write(text + "\n")
            os.chmod(os.path.join(control, name), 0o644)

    def cleanup(self):
        for s in self.servers.values():
            s.stop()
        if self.a.keep_work:
            print(f"work directory kept: {self.work}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)

    # -- helpers --

    def note(self, line):
        self.raw.append(line)
        if self.a.verbose:
            print("  " + line, flush=True)

    def add(self, test, variant, key, value):
        self.samples.setdefault((test, variant, key), []).append(value)

    def median(self, test, variant, key):
        v = self.samples.get((test, variant, key))
        return statistics.median(v) if v else None

    def client(self, mode, variant, *extra):
        v = self.variants[variant]
        cmd = [os.path.join(self.a.tools, "smtpbench"), mode, str(self.servers[variant].port)]
        if v["tls"]:
            cmd.append("--tls")
        if v["auth"]:
            cmd += ["--user", USER, "--pass", PASSWORD]
        return cmd + [str(x) for x in extra]

    def root_of(self, variant):
        return self.servers[variant].proc.pid

    def roles(self, variant, table):
        """pid -> role for every process serving `variant` now."""
        root = self.root_of(variant)
        out = {}
        if variant == "stunnel":
            out[root] = "stunnel"
        for pid in descendants(root, table):
            ppid, comm = table[pid]
            if comm == "smtp_auth" and self.variants[variant]["tls"] and ppid == root:
                out[pid] = "tls relay"
            elif comm.startswith("stunnel"):
                out[pid] = "stunnel"
            else:
                out[pid] = comm
        if variant == "stunnel":  # and the backend it connects to
            for pid in descendants(self.root_of("direct"), table):
                out[pid] = table[pid][1]
        return out

    def rotated(self, names, rep):
        k = rep % len(names)
        return names[k:] + names[:k]

    # -- benchmarks --

    def bulk_once(self, variant, rep):
        before_table = process_table()
        before = {pid: cpu_ns(pid) for pid in self.roles(variant, before_table)}
        p = subprocess.Popen(self.client("bulk", variant, "--bytes", self.a.bytes, "--pause"),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        result = None
        for line in p.stdout:
            line = line.strip()
            if line.startswith("bulk "):
                result = dict(kv.split("=", 1) for kv in line.split()[1:])
            elif line == "paused":
                break
            else:
                self.note(f"bulk {variant} rep={rep}: {line}")
        cpu = {}
        table = process_table()
        for pid, role in self.roles(variant, table).items():
            cpu[role] = cpu.get(role, 0) + (cpu_ns(pid) - before.get(pid, 0)) / 1e9
        finish(p)
        if not result:
            raise RuntimeError(f"bulk {variant} failed")
        gib = int(result["bytes"]) / GiB
        self.add("bulk", variant, "mbps", float(result["mbps"]))
        self.add("bulk", variant, "client", float(result["client_cpu"]) / gib)
        for role, seconds in cpu.items():
            self.add("bulk", variant, role, seconds / gib)
        self.note(f"bulk {variant} rep={rep} " + " ".join(f"{k}={v}" for k, v in result.items()) +
                  " cpu_s_per_gib " + " ".join(f"{r}={s / gib:.3f}" for r, s in sorted(cpu.items())))

    def children_cpu(self, variant):
        """CPU seconds of every session tcpserver has reaped (cutime+cstime)."""
        with open(f"/proc/{self.root_of(variant)}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")

    def settled_cpu(self, variant):
        """children_cpu once the sessions just ended have been reaped."""
        time.sleep(0.2)
        return self.children_cpu(variant)

    def rate_once(self, variant, concurrency, rep):
        b0 = machine_busy()
        cpu0 = self.children_cpu(variant)
        out = subprocess.run(self.client("rate", variant, "--concurrency", concurrency,
                                         "--seconds", self.a.seconds),
                             capture_output=True, text=True, timeout=self.a.seconds + 120)
        b1 = machine_busy()
        cpu = self.settled_cpu(variant) - cpu0
        busy = (b1[0] - b0[0]) / max(1, b1[1] - b0[1])
        line = next((l for l in out.stdout.splitlines() if l.startswith("rate ")), None)
        self.note(f"rate {variant} rep={rep} {out.stdout.strip()} machine_busy={busy:.2f} "
                  f"server_cpu_s={cpu:.3f}")
        if line is None:
            raise RuntimeError(f"rate {variant} failed: {out.stdout} {out.stderr}")
        r = dict(kv.split("=", 1) for kv in line.split()[1:])
        key = f"c{concurrency}"
        self.add("rate", variant, key, float(r["per_second"]))
        self.add("rate", variant, key + ":client", float(r["client_cpu_share"]))
        self.add("rate", variant, key + ":busy", busy)
        if int(r.get("total", 0)) > 0 and variant != "stunnel":  # a daemon: reaps no session
            self.add("rate", variant, key + ":cpu_ms", 1000 * cpu / int(r["total"]))
        if int(r["errors"]):
            self.add("rate", variant, key + ":errors", int(r["errors"]))

    def smtp_source_once(self, variant, rep, sessions=8):
        """Postfix's smtp-source, one message per session, `sessions` at
        once; as many messages as the last run did in a.seconds."""
        key = f"c{sessions}:smtp-source"
        last = self.samples.get(("rate", variant, key))
        count = max(4 * sessions, round((last[-1] if last else 0) * self.a.seconds))
        count = -(-count // sessions) * sessions
        cpu0 = self.children_cpu(variant)
        t0 = time.monotonic()
        out = subprocess.run(["smtp-source", "-s", str(sessions), "-m", str(count),
                              "-l", str(self.a.size), "-M", "bench.example",
                              "-f", "bench@example.org", "-t", "sink@bench.example",
                              f"127.0.0.1:{self.servers[variant].port}"],
                             capture_output=True, text=True, timeout=self.a.seconds + 300)
        seconds = time.monotonic() - t0
        cpu = self.settled_cpu(variant) - cpu0
        self.note(f"smtp-source {variant} rep={rep} messages={count} seconds={seconds:.3f} "
                  f"rc={out.returncode} server_cpu_s={cpu:.3f} {out.stderr.strip()[-300:]}")
        if out.returncode != 0:
            raise RuntimeError(f"smtp-source {variant} failed: {out.stderr}")
        self.add("rate", variant, key, count / seconds)
        self.add("rate", variant, key + ":cpu_ms", 1000 * cpu / count)

    def memory_once(self, variant, stage):
        count = self.a.sessions_held
        p = subprocess.Popen(self.client("hold", variant, "--count", count, "--stage", stage),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        ready = False
        for line in p.stdout:
            if line.strip() == "ready":
                ready = True
                break
            self.note(f"memory {variant} {stage}: {line.strip()}")
        time.sleep(0.2)  # let the last exec settle
        table = process_table()
        per_role = {}
        for pid, role in self.roles(variant, table).items():
            per_role.setdefault(role, []).append(smaps(pid))
        finish(p)
        if not ready:
            raise RuntimeError(f"memory {variant} {stage} failed")
        for role, maps in per_role.items():
            if role in ("tcpserver", "qq_discard"):
                continue
            for key in ("Private_Dirty", "Private_Clean", "Rss", "Pss"):
                values = [m.get(key, 0) for m in maps]
                self.add("memory", f"{variant}/{stage}/{role}", key, statistics.median(values))
            self.note(f"memory {variant} stage={stage} role={role} n={len(maps)} " +
                      " ".join(f"{k}={[round(m.get(k, 0)) for m in maps]}"
                               for k in ("Private_Dirty", "Private_Clean", "Rss")))

    def run(self):
        a = self.a
        tests = set(a.only.split(","))
        chains = ["chain"] + [f"chain[{l}]" for l in self.labels]
        tls_chains = ["tls-chain"] + [f"tls-chain[{l}]" for l in self.labels]
        qmail = []
        if a.qmail_smtpd:
            qmail = ["qmail-direct", "qmail-chain"] + [f"qmail-chain[{l}]" for l in self.labels]
        qmail_rate = []
        if a.qmail_smtpd:
            qmail_rate = ["qmail-direct", "qmail-floor", "qmail-auth-floor", "qmail-chain-noauth"] + \
                [f"qmail-chain-noauth[{l}]" for l in self.labels] + \
                ["qmail-chain"] + [f"qmail-chain[{l}]" for l in self.labels]
        started = time.time()
        if "bulk" in tests:
            names = ["direct"] + chains + ["socat"]
            if qmail:
                names += qmail + ["qmail-socat"]
            if "tls" in tests:
                names += tls_chains + ["stunnel"]
            print(f"== bulk: {a.bytes >> 20} MiB, {a.reps} repetitions of {', '.join(names)}",
                  flush=True)
            for rep in range(a.reps):
                for v in self.rotated(names, rep):
                    self.bulk_once(v, rep)
        if "rate" in tests:
            names = ["direct", "floor", "auth-floor"] + chains + ["chain-hash"] + qmail_rate
            if "tls" in tests:
                names += tls_chains + ["stunnel"]
            for c in a.concurrency:
                print(f"== session rate, concurrency {c}: {a.reps_rate} x {a.seconds} s each of "
                      f"{', '.join(names)}", flush=True)
                for rep in range(a.reps_rate):
                    for v in self.rotated(names, rep):
                        self.rate_once(v, c, rep)
            source = [n for n in qmail_rate if n in ("qmail-direct", "qmail-floor")
                      or n.startswith("qmail-chain-noauth")]
            if source and shutil.which("smtp-source"):
                print(f"== session rate, smtp-source -s 8: {a.reps_rate} x about {a.seconds} s "
                      f"each of {', '.join(source)}", flush=True)
                for rep in range(a.reps_rate):
                    for v in self.rotated(source, rep):
                        self.smtp_source_once(v, rep)
            elif source:
                print("== no smtp-source (Debian's postfix): unauthenticated rates from "
                      "smtpbench only", flush=True)
        if "memory" in tests:
            print(f"== memory: {a.sessions_held} sessions held open per variant", flush=True)
            plan = [("chain", "ehlo"), ("chain", "mail"), ("direct", "mail"), ("socat", "mail")]
            plan += [(c, stage) for c in chains[1:] for stage in ("ehlo", "mail")]
            if "tls" in tests:
                plan += [("tls-chain", "ehlo"), ("tls-chain", "mail"), ("stunnel", "mail")]
                plan += [(t, "mail") for t in tls_chains[1:]]
            for variant, stage in plan:
                self.memory_once(variant, stage)
        self.elapsed = time.time() - started

    # -- report --

    def table(self):
        a = self.a
        L = []
        f = lambda x, fmt="{:.1f}": "-" if x is None else fmt.format(x)
        ratio = lambda x, y: None if x is None or not y else x / y
        verdicts = []

        def verdict(ok, text):
            verdicts.append(("met " if ok else "MISSED ") + text)

        if any(k[0] == "bulk" for k in self.samples):
            L.append(f"Bulk throughput: one {a.bytes >> 20} MiB message, medians of {a.reps}")
            L.append(f"{'variant':<22}{'MB/s':>8}{'x direct':>10}   relay CPU-s/GiB"
                     f"{'':<22}backend  client")
            direct = self.median("bulk", "direct", "mbps")
            names = sorted({k[1] for k in self.samples if k[0] == "bulk"},
                           key=lambda n: list(self.variants).index(n))
            for n in names:
                mb = self.median("bulk", n, "mbps")
                relays = " ".join(f"{r}={f(self.median('bulk', n, r), '{:.3f}')}"
                                  for r in self.variants[n]["relays"])
                backend = sum(self.median("bulk", n, r) or 0
                              for r in ("mailfront", "qmail-smtpd", "qq_discard"))
                base = self.median("bulk", "qmail-direct" if n.startswith("qmail-") else "direct",
                                   "mbps")
                L.append(f"{n:<22}{f(mb):>8}{f(ratio(mb, base), '{:.3f}'):>10}   {relays:<37}"
                         f"{backend:>7.3f}{f(self.median('bulk', n, 'client'), '{:.3f}'):>8}")
            L.append("")
            mb_chain = self.median("bulk", "chain", "mbps")
            if mb_chain and direct:
                verdict(mb_chain >= 0.95 * direct,
                        f"bulk: chain {mb_chain / direct:.3f} x direct (target >= 0.95)")
            sp, so = self.median("bulk", "chain", "smtpproxy"), self.median("bulk", "socat", "socat")
            if sp is not None and so:
                verdict(sp <= so / 3, f"bulk: smtpproxy {sp:.3f} CPU-s/GiB = {sp / so:.3f} x "
                                      f"socat's {so:.3f} (target <= 1/3)")
            qd, qc = self.median("bulk", "qmail-direct", "mbps"), self.median("bulk", "qmail-chain", "mbps")
            if qd and qc:
                verdict(qc >= 0.97 * qd, f"bulk: qmail-chain {qc / qd:.3f} x qmail-direct "
                                         f"(target >= 0.97)")
            sp = self.median("bulk", "qmail-chain", "smtpproxy")
            so = self.median("bulk", "qmail-socat", "socat")
            if sp is not None and so:
                verdict(sp <= 0.20 and sp <= so / 3,
                        f"bulk: smtpproxy before qmail-smtpd {sp:.3f} CPU-s/GiB = {sp / so:.3f} x "
                        f"socat -b 65536's {so:.3f} (target <= 0.20 and <= 1/3)")
            tc, st = self.median("bulk", "tls-chain", "mbps"), self.median("bulk", "stunnel", "mbps")
            if tc and st:
                verdict(tc >= st, f"TLS bulk: chain {tc:.1f} MB/s = {tc / st:.3f} x stunnel's "
                                  f"{st:.1f} (target >= 1)")

        rate_keys = [k for k in self.samples if k[0] == "rate" and ":" not in k[2]]
        if rate_keys:
            L.append(f"Session rate: sessions/s (EHLO, [AUTH PLAIN], MAIL, RCPT, {a.size} B DATA, "
                     f"QUIT), medians of {a.reps_rate} x {a.seconds} s")
            head = f"{'variant':<22}"
            for c in a.concurrency:
                head += f"{'c=' + str(c):>9}{'ratio':>7}"
            L.append(head + "   ratio: to direct (qmail-*: to qmail-direct); TLS: to stunnel")
            names = sorted({k[1] for k in rate_keys}, key=lambda n: list(self.variants).index(n))
            for n in names:
                line = f"{n:<22}"
                for c in a.concurrency:
                    x = self.median("rate", n, f"c{c}")
                    base = ("stunnel" if self.variants[n]["tls"] else
                            "qmail-direct" if n.startswith("qmail-") else "direct")
                    line += f"{f(x):>9}{f(ratio(x, self.median('rate', base, f'c{c}')), '{:.2f}'):>7}"
                L.append(line)
            line = f"{'  client CPU (cores)':<22}"
            for c in a.concurrency:
                x = max((self.median("rate", n, f"c{c}:client") or 0) for n in names)
                line += f"{'max ' + f(x, '{:.2f}'):>16}"
            L.append(line)
            line = f"{'  machine busy':<22}"
            for c in a.concurrency:
                x = self.median("rate", "direct", f"c{c}:busy")
                line += f"{'direct ' + f(x, '{:.0%}'):>16}"
            L.append(line)
            errors = {k: sum(v) for k, v in self.samples.items() if k[2].endswith(":errors")}
            if errors:
                L.append(f"  ERRORS: {errors}")
            L.append(f"  chain-hash: the system's default hash (${self.hash_scheme}$)")
            L.append("")
            L += self.floors_table(verdict)
            for c in a.concurrency:
                d, ch, fl = (self.median("rate", n, f"c{c}") for n in ("direct", "chain", "floor"))
                if d and ch and c in (1, 8):
                    verdict(ch >= 0.8 * d, f"rate c={c}: chain {ch / d:.2f} x direct (target >= 0.8;"
                                           f" the design's floor: {f(ratio(fl, d), '{:.2f}')},"
                                           f" chain/floor {f(ratio(ch, fl), '{:.2f}')})")
                tc = self.median("rate", "tls-chain", f"c{c}")
                st = self.median("rate", "stunnel", f"c{c}")
                if tc and st:
                    verdict(tc >= st, f"TLS rate c={c}: chain {tc / st:.2f} x stunnel (target >= 1)")

        mem = sorted({k[1] for k in self.samples if k[0] == "memory"})
        if mem:
            L.append(f"Memory per session: KiB, median over {a.sessions_held} sessions held open "
                     "(smaps_rollup)")
            L.append(f"{'variant/stage/process':<36}{'Private_Dirty':>14}{'Private_Clean':>14}"
                     f"{'Rss':>8}{'Pss':>8}")
            for n in mem:
                L.append(f"{n:<36}" + "".join(
                    f"{f(self.median('memory', n, k), '{:.0f}'):>{w}}"
                    for k, w in (("Private_Dirty", 14), ("Private_Clean", 14), ("Rss", 8),
                                 ("Pss", 8))))
            L.append(f"  stunnel: one daemon (threads) for all {a.sessions_held} sessions")
            L.append("")
            for name, limit in (("chain/mail/smtpproxy", 512), ("chain/ehlo/smtp_auth", 1024)):
                x = self.median("memory", name, "Private_Dirty")
                if x is not None:
                    verdict(x <= limit, f"memory: {name.split('/')[-1]} {x:.0f} KiB private dirty "
                                        f"(target <= {limit})")
        L.append("Targets:")
        L += ["  " + v for v in verdicts]
        return "\n".join(L)

    def floors_table(self, verdict):
        """Server CPU per session, and each chain against its floor: the
        rate ratio (what the targets name) and the inverse CPU ratio (what
        a loaded machine still measures)."""
        a = self.a
        f = lambda x, fmt="{:.2f}": "-" if x is None else fmt.format(x)
        cols = [f"c{c}" for c in a.concurrency] + ["c8:smtp-source"]
        names = sorted({k[1] for k in self.samples if k[0] == "rate" and k[2].endswith(":cpu_ms")},
                       key=lambda n: list(self.variants).index(n))
        if not names:
            return []
        L = ["Server CPU per session: ms (tcpserver's reaped children: every process of the "
             "session), medians"]
        L.append(f"{'variant':<24}" + "".join(f"{c.replace(':smtp-source', ' s-s'):>10}" for c in cols)
                 + "   (c8 s-s: smtp-source -s 8)")
        for n in names:
            L.append(f"{n:<24}" + "".join(f"{f(self.median('rate', n, c + ':cpu_ms')):>10}"
                                          for c in cols))
        L.append("")
        pairs = [("chain", "auth-floor", 0.85), ("qmail-chain", "qmail-auth-floor", 0.85),
                 ("qmail-chain-noauth", "qmail-floor", 0.95)]
        pairs += [(f"{ch}[{l}]", fl, t) for ch, fl, t in pairs[:] for l in self.labels]
        L.append("Chains against their floors: rate chain/floor (CPU per session floor/chain)")
        L.append(f"{'chain / floor':<44}" + "".join(f"{c.replace(':smtp-source', ' s-s'):>14}"
                                                    for c in cols) + "  target")
        for ch, fl, target in pairs:
            if ch not in self.variants or fl not in self.variants:
                continue
            line = f"{ch + ' / ' + fl:<44}"
            for c in cols:
                r = self.median("rate", ch, c), self.median("rate", fl, c)
                u = self.median("rate", ch, c + ":cpu_ms"), self.median("rate", fl, c + ":cpu_ms")
                rr = r[0] / r[1] if r[0] is not None and r[1] else None
                ur = u[1] / u[0] if u[0] and u[1] is not None else None
                line += f"{f(rr) + ' (' + f(ur) + ')':>14}"
                if rr is not None and (c in ("c1", "c8") or c.endswith("smtp-source")):
                    if fl == "qmail-floor" and c == "c8" and self.median("rate", ch, "c8:smtp-source"):
                        continue  # the target names smtp-source at c=8
                    verdict(rr >= target, f"rate {c.replace(':', ' ')}: {ch} {rr:.2f} x {fl} "
                                          f"(target >= {target}; CPU per session {f(ur)} x)")
            L.append(line + f"  >= {target}")
        L.append("")
        return L

    def machine(self):
        model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                      if l.startswith("model name")), "?")
        mem = next((l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal")), "0")
        versions = []
        for cmd in (["stunnel4", "-version"], ["socat", "-V"], ["openssl", "version"]):
            try:
                out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
                text = (out.stdout + out.stderr).splitlines()
                versions.append(next((l.strip() for l in text
                                      if "version" in l.lower() or l.startswith(("stunnel", "OpenSSL"))),
                                     "?"))
            except OSError:
                pass
        return (f"{model}, {os.cpu_count()} CPUs, {int(mem) // 1024} MiB, Linux {platform.release()}; "
                + "; ".join(versions))


def main():
    p = argparse.ArgumentParser(
        description="smtp_auth benchmarks. Run through bench/run, which builds what they need "
                    "and also takes --compare REV (the programs as of a git revision) and "
                    "--static (the working tree with OpenSSL static too) and --shared (the "
                    "working tree with every library shared) and --static-smtpproxy (smtpproxy a "
                    "static PIE, as chain[staticsp]).")
    p.add_argument("--build", required=True,
                   help="where smtp_auth, checkpassword_nosu and smtpproxy are")
    p.add_argument("--tools", required=True, help="where the benchmark's tools are")
    p.add_argument("--quick", action="store_true", help="small message, few repetitions")
    p.add_argument("--only", default="bulk,rate,memory,tls",
                   help="comma-separated subset of bulk,rate,memory,tls")
    p.add_argument("--bytes", type=int, help="bulk message size (default 256 MiB; quick 32 MiB)")
    p.add_argument("--reps", type=int, help="bulk repetitions (default 5; quick 2)")
    p.add_argument("--reps-rate", type=int, help="session-rate repetitions (default 3; quick 1)")
    p.add_argument("--seconds", type=float, help="length of a session-rate run (default 3; quick 1.5)")
    p.add_argument("--concurrency", help="session-rate concurrency levels (default 1,4,8)")
    p.add_argument("--size", type=int, default=1024, help="message size of the session-rate test")
    p.add_argument("--sessions-held", type=int, default=8, help="sessions open at once for memory")
    p.add_argument("--chain", action="append", default=[], metavar="LABEL=DIR",
                   help="also measure the chain built in DIR (smtp_auth, checkpassword_nosu, "
                        "smtpproxy), as chain[LABEL] and tls-chain[LABEL]")
    p.add_argument("--qmail-smtpd", metavar="PATH",
                   help="also measure this qmail-smtpd as the backend (its home, the folder "
                        "above its bin/, gets control/me and control/rcpthosts)")
    p.add_argument("--results", default=os.path.join(HERE, "results"),
                   help="where the raw output goes")
    p.add_argument("--keep-work", action="store_true", help="keep the logs and files of the servers")
    p.add_argument("-v", "--verbose", action="store_true", help="print every measurement")
    a = p.parse_args()
    q = a.quick
    a.bytes = a.bytes or ((32 if q else 256) << 20)
    a.reps = a.reps or (2 if q else 5)
    a.reps_rate = a.reps_rate or (1 if q else 3)
    a.seconds = a.seconds or (1.5 if q else 3.0)
    a.concurrency = [int(c) for c in (a.concurrency or "1,4,8").split(",")]
    if os.geteuid() != 0:
        sys.exit("bench: run as root (smtp_auth, setuidgid and the TLS relay need it)")

    bench = Bench(a)
    load_before = os.getloadavg()
    try:
        bench.setup()
        bench.run()
    finally:
        bench.cleanup()
    table = bench.table()
    command = os.environ.get("BENCH_COMMAND", "bench/bench.py " + " ".join(sys.argv[1:]))
    load = lambda l: "/".join(f"{x:.1f}" for x in l)
    header = (f"# {datetime.datetime.now().isoformat(timespec='seconds')}  {command.strip()}\n"
              f"# {bench.machine()}\n"
              f"# took {bench.elapsed:.0f} s; load average (1/5/15 min) before "
              f"{load(load_before)}, after {load(os.getloadavg())}\n")
    print()
    print(header + table)
    os.makedirs(a.results, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S") + ("-quick" if q else "")
    path = os.path.join(a.results, stamp + ".txt")
    with open(path, "w") as f:
        f.write(header + "\n" + table + "\n\n# raw\n" + "\n".join(bench.raw) + "\n")
        f.write("\n# samples (json)\n" + json.dumps(
            {"|".join(map(str, k)): v for k, v in bench.samples.items()}, indent=0) + "\n")
    print(f"\nraw output: {os.path.relpath(path, ROOT)}")


if __name__ == "__main__":
    main()
