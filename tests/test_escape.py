"""The escape battery (issue 4, item 7): every attack of tests/escape_attacks.py,
a small C program (tests/progs/escape_*.c), run

  - unconfined against the same target: the positive control, which must
    escape (else the attack program is broken, not blocked);
  - under each method with the confinement stack, where it must have the
    outcome the table says: always "blocked" on unotify (with and without
    the Landlock backstop); on seccomp and ptrace what a check-then-continue
    path policy gives (see escape_attacks.NOTES);

as root and as an unprivileged user. The secret is a file outside the view;
so is the marker an attack tries to create; both are checked on the host
after every run, whatever the program reported.
"""
from __future__ import annotations

import ctypes
import errno
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

import sysvisor
import sysvisor.methods
from sysvisor.kernel import bpf
from sysvisor.layers.confine import Confine
from sysvisor.layers.net import Net
from sysvisor.layers.policy import Policy, Rule, confinement_denials
from sysvisor.tables import table
from conftest import is_root, run_as
import helpers
from escape_attacks import ATTACKS, BLOCKED, BY_NAME, ESCAPES, MAY, METHODS, NA, NO_NET

pytestmark = helpers.skip_module_without("unotify")

SECRET = "SECRET-do-not-read: the escape battery's secret\n"
USER_UID = 65534
PROGS = sorted({a.prog for a in ATTACKS} | {"escape_payload", "escape_victim"})
_libc = ctypes.CDLL(None, use_errno=True)


# ---- the world: a view, and a secret outside it --------------------------------------


class World:
    """base/outside holds the secret, the marker's place, a payload binary
    and a unix socket; base/view/root is the view's root (/usr bound
    read-only, /bin, /lib... as on the host), base/view/w the program's writable
    working directory, bound at its host path like the test programs, so
    that every path means the same inside and outside and the control
    runs the very same command line."""

    def __init__(self, base: str, progs_dir: str, suid: dict | None):
        self.base = base
        self.outside = os.path.join(base, "outside")
        self.root = os.path.join(base, "view", "root")
        self.w = os.path.join(base, "view", "w")
        os.makedirs(os.path.join(self.outside, "old"))  # pivot_root's put_old
        for d in ("etc", "usr", "proc", "tmp"):
            os.makedirs(os.path.join(self.root, d))
        self.binds = [("/usr", "/usr", True)]
        for name in ("bin", "lib", "lib64", "sbin"):  # as on the host: merged /usr or not
            host = "/" + name
            if os.path.islink(host):
                os.symlink(os.readlink(host), os.path.join(self.root, name))
            elif os.path.isdir(host):
                self.binds.append((host, host, True))
        os.makedirs(self.w)
        self.secret = os.path.join(self.outside, "secret.txt")
        with open(self.secret, "w") as f:
            f.write(SECRET)
        self.marker = os.path.join(self.outside, "marker")
        self.payload = os.path.join(self.outside, "payload")
        shutil.copy(os.path.join(progs_dir, "escape_payload"), self.payload)
        self.binds += [(self.w, self.w, False), (progs_dir, progs_dir, True)]
        self.outside_dirs = [self.outside]
        self.suid = suid
        if suid is not None:
            self.binds.append((suid["bin"], suid["bin"], True))
            self.outside_dirs.append(suid["outside"])
        self.progs_dir = progs_dir
        self.values = {
            "secret": self.secret, "marker": self.marker, "outside": self.outside,
            "secret_name": "secret.txt", "marker_name": "marker", "payload": self.payload,
            "handle": os.path.join(self.w, "handle"), "sock": os.path.join(self.w, "sock"),
            "outside_sock": os.path.join(self.outside, "sock"),
            "abstract": f"sysvisor-escape-{os.getpid()}",
            "suid_payload": suid["payload"] if suid else "", "root_secret": suid["secret"] if suid else "",
        }

    def argv(self, attack, extra: dict) -> list[str]:
        prog = os.path.join(self.progs_dir, attack.prog)
        return [prog] + [a.format(**self.values, **extra) for a in attack.argv]

    def secret_intact(self) -> bool:
        try:
            with open(self.secret) as f:
                return f.read() == SECRET
        except OSError:
            return False

    def stack(self, method: str, attack, net: bool = True):
        """The confinement stack for a method (see escape_attacks.STACKS);
        net=False leaves Net out even for the unix socket attacks."""
        if method.startswith("unotify"):
            layers = [Policy(confinement_denials())]
            if attack.net and net:
                layers.append(Net(allow=[f"unix:{self.w}/*"]))
            layers.append(Confine(self.root, self.binds, cwd=self.w,
                                  landlock=method == "unotify"))
            return layers
        rules = confinement_denials()
        for d in self.outside_dirs:
            rules += [Rule("deny", "%file", path=d), Rule("deny", "%file", path=d + "/*")]
        return [Policy(rules)]


# ---- helpers outside the sandbox ------------------------------------------------------


class Daemon:
    """fn() run in a grandchild that is nobody's child here (reparented to
    init: a session's waitpid(-1) must not reap it). It starts only once we
    hold a pidfd for it, so kill() can only ever hit this process."""

    def __init__(self, fn):
        r, w = os.pipe()
        go_r, go_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                gpid = os.fork()
                if gpid == 0:
                    os.close(r)
                    os.close(w)
                    os.close(go_w)
                    try:
                        os.read(go_r, 1)
                        fn()
                    finally:
                        os._exit(0)
                os.write(w, str(gpid).encode())
            finally:
                os._exit(0)
        os.close(w)
        os.close(go_r)
        os.waitpid(pid, 0)
        with os.fdopen(r) as f:
            self.pid = int(f.read())
        self.pidfd = os.pidfd_open(self.pid)
        os.write(go_w, b"g")
        os.close(go_w)

    def kill(self) -> None:
        try:
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.close(self.pidfd)


def start_fd_helper(sock_path: str, secret_dir: str) -> Daemon:
    """A process outside the sandbox that hands the first client to connect
    an O_PATH and an O_RDONLY descriptor of secret_dir (SCM_RIGHTS)."""
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lsock.bind(sock_path)
    lsock.listen(1)

    def serve():
        lsock.settimeout(20)
        fds = [os.open(secret_dir, os.O_PATH | os.O_DIRECTORY),
               os.open(secret_dir, os.O_RDONLY | os.O_DIRECTORY)]
        conn, _ = lsock.accept()
        socket.send_fds(conn, [b"x"], fds)
        conn.close()

    try:
        return Daemon(serve)
    finally:
        lsock.close()


class Victim:
    """escape_victim, a process outside the sandbox holding VICTIM_MAGIC at
    `addr` (as the same user as the program)."""

    MAGIC = b"VICTIM-MAGIC"

    def __init__(self, progs_dir: str, workdir: str):
        out = os.path.join(workdir, "victim.out")
        victim = os.path.join(progs_dir, "escape_victim")
        self.proc = Daemon(lambda: os.execv(victim, [victim, out]))
        for _ in range(1000):
            try:
                with open(out) as f:
                    line = f.readline()
                if line.endswith("\n"):
                    vpid, addr = line.split()
                    assert int(vpid) == self.proc.pid
                    self.pid, self.addr = self.proc.pid, int(addr, 16)
                    return
            except FileNotFoundError:
                pass
            time.sleep(0.01)
        self.proc.kill()
        raise AssertionError("escape_victim did not start")

    def intact(self) -> bool:
        """Its buffer still holds the magic (read on the host, /proc/PID/mem)."""
        with open(f"/proc/{self.pid}/mem", "rb", buffering=0) as f:
            return os.pread(f.fileno(), len(self.MAGIC), self.addr) == self.MAGIC


def _kill_pid(pid: int, name: str) -> None:
    """SIGKILL pid if it still is the named program of ours."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if name.encode() not in f.read():
                return
        os.kill(pid, signal.SIGKILL)
    except (FileNotFoundError, ProcessLookupError):
        pass


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in "ZX"
    except (FileNotFoundError, ProcessLookupError):  # ESRCH: it died while we read
        return True


# ---- running one attack ----------------------------------------------------------------


def _session_run(layers, method: str, argv, cwd: str, out_path: str) -> tuple[int, int]:
    """(exit status, notifications/stops) of argv under the layers, its
    stdout going to out_path."""
    s = sysvisor.Session(layers, method=method.split("-")[0], insecure=not method.startswith("unotify"))
    fd = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    saved = os.dup(1)
    os.dup2(fd, 1)
    try:
        s.spawn(argv, cwd=cwd)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(fd)
    status = s.run()
    return status, s.stops


def _verdict(status: int | None, out: str) -> str:
    if status == 10 and "VERDICT ESCAPED" in out:
        return ESCAPES
    if status == 20 and "VERDICT BLOCKED" in out and "ESCAPED" not in out:
        return BLOCKED
    if status == 77:
        return "skip"
    return "error"


def _run(world: World, attack, method: str, extra: dict, tag: str, net: bool = True) -> dict:
    """Run the attack once: unconfined (method "none") or under a method."""
    argv = world.argv(attack, extra)
    out_path = os.path.join(world.base, f"out-{tag}")
    for leftover in (world.marker, os.path.join(world.w, "sock")):
        if os.path.lexists(leftover):
            os.unlink(leftover)
    helper = None
    if "{sock}" in " ".join(attack.argv):
        helper = start_fd_helper(world.values["sock"], world.outside)
    stops = 0
    layers = []
    try:
        if method == "none":
            with open(out_path, "w") as f:
                status = subprocess.run(argv, cwd=world.w, stdout=f, timeout=120).returncode
        else:
            layers = world.stack(method, attack, net)
            status, stops = _session_run(layers, method, argv, world.w, out_path)
    finally:
        for layer in layers:
            if isinstance(layer, Confine):
                layer.release()
        if helper is not None:
            helper.kill()
    with open(out_path) as f:
        out = f.read()
    verdict = _verdict(status, out)
    marker = os.path.lexists(world.marker)
    intact = world.secret_intact()
    if verdict == BLOCKED and (marker or not intact):
        verdict = ESCAPES  # the host says otherwise: trust the host
    return {"status": status, "out": out, "verdict": verdict, "marker": marker, "intact": intact,
            "stops": stops, "benign": [int(x) for x in re.findall(r"^BENIGN (\d+)$", out, re.M)]}


def _kill_run(world: World, attack, method: str, tag: str) -> dict:
    """The supervisor's death: the session runs in a process of its own
    (the one that dies); its program's child reports after it died."""
    out_path = os.path.join(world.base, f"out-{tag}")
    open(out_path, "w").close()
    argv = world.argv(attack, {})
    dummy = None
    layers = []
    if method == "none":  # the control kills a stand-in
        dummy = subprocess.Popen(["sleep", "60"])
        argv[2] = str(dummy.pid)
    else:
        layers = world.stack(method, attack)  # made here: released here, after sup died
    sup = os.fork()
    if sup == 0:
        code = 1
        try:
            if dummy is not None:
                with open(out_path, "w") as f:
                    os.dup2(f.fileno(), 1)
                os.execv(argv[0], argv)
            code = _session_run(layers, method, argv, world.w, out_path)[0]
        finally:
            os._exit(code)

    def output():
        with open(out_path) as f:
            return f.read()

    sup_status = None
    try:
        deadline = time.monotonic() + 30
        child = None
        while time.monotonic() < deadline and child is None:
            m = re.search(r"^CHILD (\d+)$", output(), re.M)
            if m and ("wait" not in attack.argv or "READY" in output()):
                child = int(m.group(1))
            time.sleep(0.01)
        assert child is not None, f"the program did not start:\n{output()}"
        if "wait" in attack.argv:
            os.kill(dummy.pid if dummy else sup, signal.SIGKILL)
        _, sup_status = os.waitpid(sup, 0)
        while time.monotonic() < deadline and "VERDICT" not in output() and not _gone(child):
            time.sleep(0.01)
        if not _gone(child) and "VERDICT" not in output():
            _kill_pid(child, "escape_kill")
            raise AssertionError(f"the program's child neither died nor reported:\n{output()}")
    finally:
        if sup_status is None:  # our own child: not reaped yet, so the pid is still it
            os.kill(sup, signal.SIGKILL)
            os.waitpid(sup, 0)
        if dummy is not None:
            dummy.kill()
            dummy.wait()
        for layer in layers:
            if isinstance(layer, Confine):
                layer.release()
    out = output()
    if "VERDICT" in out:
        status = 10 if "VERDICT ESCAPED" in out else 20
    else:
        status = 20  # died with the supervisor: nothing ran unconfined
        out += "VERDICT BLOCKED (the child died with its supervisor)\n"
    verdict = _verdict(status, out)
    if verdict == BLOCKED and (os.path.lexists(world.marker) or not world.secret_intact()):
        verdict = ESCAPES
    return {"status": status, "out": out, "verdict": verdict, "sup_status": sup_status,
            "died": "died with its supervisor" in out, "benign": []}


def run_attack(base: str, progs_dir: str, suid: dict | None, name: str, method: str,
               net: bool = True) -> dict:
    """In a run_as child: build the world, run the attack (method "none":
    unconfined), return the result (a plain dict). For an n/a cell the
    control runs too, for comparison. net=False: no Net layer on unotify."""
    attack = BY_NAME[name]
    world = World(base, progs_dir, suid)
    extra: dict = {}
    victim = None
    try:
        if "{victim_pid}" in " ".join(attack.argv):
            victim = Victim(progs_dir, base)
            extra = {"victim_pid": victim.pid, "victim_addr": hex(victim.addr)}
        if "{handle}" in " ".join(attack.argv):
            subprocess.run([os.path.join(progs_dir, "escape_handle"), "get", world.secret,
                            world.values["handle"]], check=True)
        for key, addr in (("{outside_sock}", world.values["outside_sock"]),
                          ("{abstract}", "\0" + world.values["abstract"])):
            if key in " ".join(attack.argv):  # a service outside, listening
                listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                listener.bind(addr)
                listener.listen(8)
                extra["_listener"] = listener
        runner = _kill_run if attack.kind == "kill" else \
            lambda w, a, m, t: _run(w, a, m, extra, t, net)
        res = runner(world, attack, method, method)
        if method != "none" and attack.expected(method) == NA:
            res["control"] = runner(world, attack, "none", "control")["verdict"]
        if victim is not None and not victim.intact():
            res["verdict"] = ESCAPES
            res["out"] += "(the host sees the victim's memory overwritten)\n"
        return res
    finally:
        if victim is not None:
            victim.proc.kill()
        if "_listener" in extra:
            extra.pop("_listener").close()


# ---- what the environment must offer ---------------------------------------------------


def _sysctl(path: str) -> int | None:
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError):
        return None


def _io_uring_missing(priv: str) -> str | None:
    disabled = _sysctl("/proc/sys/kernel/io_uring_disabled")
    if disabled == 2:
        return "io_uring is disabled on this machine (kernel.io_uring_disabled = 2)"
    if disabled == 1 and priv == "user":
        return "io_uring is disabled for unprivileged users (kernel.io_uring_disabled = 1)"
    params = ctypes.create_string_buffer(120)
    fd = _libc.syscall(425, 1, params)
    if fd < 0 and ctypes.get_errno() == errno.ENOSYS:
        return "io_uring is not in this kernel"
    if fd >= 0:
        os.close(fd)
    return None


def _can_unshare_user() -> bool:
    pid = os.fork()
    if pid == 0:
        os._exit(0 if _libc.unshare(0x10000000) == 0 else 1)  # CLONE_NEWUSER
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0


_USERNS: dict[str, bool] = {}


def _userns_missing(priv: str) -> str | None:
    if priv == "root":
        return None
    if priv not in _USERNS:
        _USERNS[priv] = run_as(priv, _can_unshare_user)
    if not _USERNS[priv]:
        return ("unprivileged user namespaces are not available here (sysctls or an LSM): "
                "an unprivileged program cannot mount or chroot even unconfined")
    return None


def _ptrace_missing(priv: str) -> str | None:
    scope = _sysctl("/proc/sys/kernel/yama/ptrace_scope")
    if scope is not None and (scope >= 3 or (scope >= 1 and priv == "user")):
        return (f"Yama ptrace_scope = {scope}: an unprivileged process cannot reach a process "
                "that is not its descendant even unconfined")
    return None


def missing(need: str, priv: str, suid) -> str | None:
    if need == "x86_64":
        return None if platform.machine() == "x86_64" else "int 0x80 and x32 exist on x86_64 only"
    if need == "root":
        return None if priv == "root" else \
            "open_by_handle_at needs CAP_DAC_READ_SEARCH: an unprivileged program cannot use it at all"
    if need == "io_uring":
        return _io_uring_missing(priv)
    if need == "userns":
        return _userns_missing(priv)
    if need == "ptrace":
        return _ptrace_missing(priv)
    if need == "setuid":
        return None if suid is not None else "making a setuid-root binary needs root"
    raise AssertionError(f"unknown need {need}")


# ---- fixtures ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def progs_dir(progs):
    paths = [progs.path(p) for p in PROGS]
    return os.path.dirname(paths[0])


@pytest.fixture(scope="module")
def suid(progs_dir):
    """A setuid-root copy of escape_payload (in a directory the view binds
    read-only) and a root-only secret beside it, outside the view. Made by
    the test process as root; None otherwise."""
    if not is_root():
        yield None
        return
    d = tempfile.mkdtemp(prefix="sysvisor-suid-", dir="/tmp")
    try:
        os.chmod(d, 0o755)
        if os.statvfs(d).f_flag & os.ST_NOSUID:
            yield None
            return
        bindir, outside = os.path.join(d, "bin"), os.path.join(d, "outside")
        os.mkdir(bindir, 0o755)
        os.mkdir(outside, 0o755)
        payload = os.path.join(bindir, "payload")
        shutil.copy(os.path.join(progs_dir, "escape_payload"), payload)
        os.chown(payload, 0, 0)
        os.chmod(payload, 0o4755)
        secret = os.path.join(outside, "root-secret")
        with open(secret, "w") as f:
            f.write(SECRET)
        os.chmod(secret, 0o600)
        yield {"bin": bindir, "outside": outside, "payload": payload, "secret": secret}
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _attempt(priv, tmp_world, progs_dir, suid, attack, method):
    for need in attack.needs:
        why = missing(need, priv, suid)
        if why:
            pytest.skip(why)
    res = run_as(priv, run_attack, tmp_world, progs_dir, suid, attack.name, method, timeout=120)
    if res["verdict"] == "skip":
        pytest.skip(res["out"].strip())
    assert res["verdict"] in (ESCAPES, BLOCKED), \
        f"{attack.name} on {method}: no verdict (status {res['status']}): the program is broken\n{res['out']}"
    return res


def _ids(a):
    return a.name


class Escaped(AssertionError):
    """An attack reached the secret where it must not: the failure an open
    bug's xfail(strict=True) expects (any other failure still fails)."""


def _cells():
    for a in ATTACKS:
        bugs = dict(a.bugs)
        for m in METHODS:
            marks = [pytest.mark.xfail(strict=True, raises=Escaped, reason=bugs[m])] if m in bugs else []
            yield pytest.param(a, m, marks=marks, id=f"{a.name}-{m}")


# ---- the battery ---------------------------------------------------------------------


@pytest.mark.parametrize("attack", ATTACKS, ids=_ids)
def test_positive_control(priv, tmp_world, progs_dir, suid, attack):
    """Unconfined, against the same target, the attack works."""
    res = _attempt(priv, tmp_world, progs_dir, suid, attack, "none")
    expected = attack.control
    if expected == "x32":  # no x32 ABI here: the kernel itself refuses
        expected = ESCAPES if "ESCAPED" in res["out"] else BLOCKED
        if expected == BLOCKED:
            assert "ENOSYS" in res["out"], res["out"]
    assert res["verdict"] == expected, res["out"]
    if attack.race:
        assert res["benign"] and res["benign"][0] > 0, res["out"]
    if attack.name == "setuid":
        assert "PAYLOAD euid=0" in res["out"], res["out"]
    if attack.name == "ptrace_outside":  # the write really lands, seen from the host
        assert "the host sees the victim's memory overwritten" in res["out"], res["out"]


@pytest.mark.parametrize("attack,method", list(_cells()))
def test_attack(priv, tmp_world, progs_dir, suid, attack, method):
    """Confined: the outcome the table says (blocked, always, on unotify)."""
    expected = attack.expected(method)
    res = _attempt(priv, tmp_world, progs_dir, suid, attack, method)
    out = res["out"]
    if expected == BLOCKED:
        if res["verdict"] != BLOCKED:
            raise Escaped(f"{attack.name} escaped on {method}:\n{out}")
        assert not res.get("marker") and res.get("intact", True), out
        if method.startswith("unotify") and attack.errno:
            errs = re.findall(r"^BLOCKED .* (E[A-Z0-9]+|none)$", out, re.M)
            assert errs and set(errs) == {attack.errno}, out
    elif expected == ESCAPES:
        assert res["verdict"] == ESCAPES, f"{attack.name} no longer escapes on {method}: " \
            f"update tests/escape_attacks.py and the docs\n{out}"
    elif expected == NA:
        assert res["verdict"] == res["control"], out
    else:
        assert expected == MAY
    if attack.race and method not in attack.no_benign:
        assert res["benign"] and res["benign"][0] > 0, f"the race never ran its benign half:\n{out}"
    if attack.name == "setuid" and priv == "user":
        assert f"PAYLOAD euid={USER_UID}" in out, f"privilege gained on {method}:\n{out}"
    if attack.kind == "kill" and method.startswith("unotify") and not res["died"]:
        errs = re.findall(r"^BLOCKED .* (E[A-Z0-9]+)$", out, re.M)
        assert errs and set(errs) == {"ENOSYS"}, out  # fails closed: no listener, no call


# ---- details -----------------------------------------------------------------------------


def _x32_stops(base, progs_dir, count):
    world = World(base, progs_dir, None)
    attack = BY_NAME["x32"]
    argv = world.argv(attack, {}) + [str(count)]
    layers = world.stack("unotify", attack)
    try:
        return _session_run(layers, "unotify", argv, world.w, os.path.join(base, f"out-{count}"))[1]
    finally:
        layers[-1].release()


@pytest.mark.skipif(platform.machine() != "x86_64", reason="x32 exists on x86_64 only")
def test_x32_calls_reach_the_supervisor(priv, tmp_world, progs_dir):
    """x32 numbers are never waved through by the filter: each one is a
    notification the enforcing stack answers (ENOSYS) itself."""
    one = run_as(priv, _x32_stops, os.path.join(tmp_world, "a"), progs_dir, 1)
    more = run_as(priv, _x32_stops, os.path.join(tmp_world, "b"), progs_dir, 51)
    assert more - one >= 100, (one, more)  # 2 x32 calls per round, 50 more rounds


@pytest.mark.skipif(platform.machine() != "x86_64", reason="x86_64 ABIs")
def test_foreign_abis_in_the_confinement_filter(tmp_world):
    """The confinement stack's filter: i386 calls are checked with the i386
    table, x32 numbers always reach the supervisor, an ABI without a table
    is killed."""
    layers = [Policy(confinement_denials()), Confine(tmp_world, [])]
    try:
        code = sysvisor.Session(layers, method="unotify")._engine.compile_filter()
    finally:
        layers[1].release()
    x86_64, i386 = table("x86_64"), table("i386")
    args = (0,) * 6
    for name in ("openat", "getpid"):
        nr = x86_64.by_name[name].nr
        assert bpf.run(code, 0x40000000 | nr, 0xC000003E, args) == bpf.RET_USER_NOTIF, name
    assert bpf.run(code, i386.by_name["open"].nr, 0x40000003, args) == bpf.RET_USER_NOTIF
    assert bpf.run(code, i386.by_name["io_uring_setup"].nr, 0x40000003, args) == bpf.RET_USER_NOTIF
    assert bpf.run(code, i386.by_name["getpid"].nr, 0x40000003, args) == bpf.RET_ALLOW
    assert bpf.run(code, 56, 0xC00000B7, args) == bpf.RET_KILL_PROCESS  # aarch64 openat


@pytest.mark.parametrize("name,landlock,bug", [
    pytest.param(n, ll, bug, id=f"{n}-{'landlock' if ll else 'nolandlock'}",
                 marks=[pytest.mark.xfail(strict=True, raises=Escaped, reason=bug)] if bug else [])
    for n, ll, bug in NO_NET])
def test_unix_sockets_without_net(priv, tmp_world, progs_dir, name, landlock, bug):
    """Confine alone, without the Net layer: unix sockets outside the view
    are out of reach."""
    method = "unotify" if landlock else "unotify-nolandlock"
    res = run_as(priv, run_attack, tmp_world, progs_dir, None, name, method, False)
    assert res["verdict"] in (BLOCKED, ESCAPES), res["out"]
    if res["verdict"] != BLOCKED:
        raise Escaped(res["out"])


def test_table_is_complete():
    """Every attack has an outcome per method, the unotify ones blocked."""
    for a in ATTACKS:
        assert set(a.outcome) == set(METHODS), a.name
        assert a.outcome["unotify"] == BLOCKED and a.outcome["unotify-nolandlock"] == BLOCKED
        assert os.path.exists(os.path.join(os.path.dirname(__file__), "progs", a.prog + ".c"))
        if a.race:
            assert a.outcome["seccomp"] in (ESCAPES, MAY)


def test_docs_show_the_table():
    """README.md and docs/design.md show the table and the open bugs this
    module asserts."""
    from escape_attacks import markdown_bugs, markdown_table

    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for doc in ("README.md", os.path.join("docs", "design.md")):
        with open(os.path.join(top, doc)) as f:
            text = f.read()
        for part in (markdown_table(), markdown_bugs()):
            assert part in text, f"{doc}: paste the output of `python tools/escape_table.py`"
