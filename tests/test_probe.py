"""Tests for sysvisor.kernel.probe and the `sysvisor doctor` CLI."""

from __future__ import annotations

import contextlib
import io
import json
import os

import pytest

from sysvisor.cli import doctor
from sysvisor.kernel import probe as kp


def _status_fields() -> dict[str, str]:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def _feature_dicts(features) -> list[dict]:
    return [{"name": f.name, "title": f.title, "available": f.available,
             "since": f.since, "detail": f.detail} for f in features]


def _check_features(dicts: list[dict]) -> None:
    assert [d["name"] for d in dicts] == list(kp.FEATURES)
    for d in dicts:
        assert isinstance(d["available"], bool), d
        assert isinstance(d["detail"], str) and d["detail"], d
        assert d["since"] == kp.FEATURES[d["name"]][1]
        assert all(part.isdigit() for part in d["since"].split(".")), d


def test_kernel_version():
    v = kp.kernel_version()
    assert len(v) == 3 and all(isinstance(x, int) for x in v)
    assert v >= (2, 6, 0)


def test_every_probe_returns_a_feature():
    features = kp.probe_all()
    assert all(isinstance(f, kp.Feature) for f in features)
    _check_features(_feature_dicts(features))
    # cached: the same object comes back
    assert kp.probe("openat2") is kp.probe("openat2")


def test_unknown_feature_raises_keyerror():
    with pytest.raises(KeyError):
        kp.probe("no_such_feature")


def test_probing_does_not_change_the_caller():
    kp.probe.cache_clear()
    kp._ptrace_results.cache_clear()
    kp._landlock.cache_clear()
    children_before = _children()
    before = _status_fields()
    kp.probe_all()
    after = _status_fields()
    assert after["NoNewPrivs"] == "0"
    assert after["Seccomp"] == "0"
    for k in ("NoNewPrivs", "Seccomp", "Seccomp_filters", "Uid", "Gid", "CapEff", "NSpid"):
        if k in before:
            assert after[k] == before[k], k
    # no children left behind (zombies or live)
    assert _children() == children_before


def _children() -> set[int]:
    kids: set[int] = set()
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/children") as f:
                kids.update(int(x) for x in f.read().split())
        except OSError:
            pass
    return kids


def _probe_unprivileged() -> tuple[list[dict], dict]:
    """Run all probes in a child that dropped to nobody; results via a pipe."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(r)
            os.setgroups([])
            os.setresgid(65534, 65534, 65534)
            os.setresuid(65534, 65534, 65534)
            kp.probe.cache_clear()
            for name in ("_ptrace_results", "_landlock"):
                getattr(kp, name).cache_clear()
            feats = _feature_dicts(kp.probe_all())
            methods = {m: kp.method_status(m) for m in kp.METHODS}
            st = _status_fields()
            data = json.dumps({"features": feats, "methods": methods,
                               "status": {k: st.get(k) for k in ("NoNewPrivs", "Seccomp", "Uid")}})
            with os.fdopen(w, "w") as f:
                f.write(data)
            code = 0
        except BaseException:  # noqa: BLE001
            import traceback
            traceback.print_exc()
        finally:
            os._exit(code)
    os.close(w)
    with os.fdopen(r) as f:
        raw = f.read()
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    data = json.loads(raw)
    return data["features"], data


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop privileges")
def test_probes_unprivileged():
    feats, data = _probe_unprivileged()
    _check_features(feats)
    assert data["status"]["NoNewPrivs"] == "0"
    assert data["status"]["Seccomp"] == "0"
    assert data["status"]["Uid"].split()[0] == "65534"
    by = {f["name"]: f for f in feats}
    # unprivileged kernel features the methods rely on
    if kp.kernel_version() >= (5, 9):
        assert by["seccomp_user_notif"]["available"], by["seccomp_user_notif"]
        assert by["seccomp_addfd"]["available"], by["seccomp_addfd"]
    if kp.kernel_version() >= (5, 6):
        assert by["openat2"]["available"], by["openat2"]
    # as nobody, eBPF is not usable (needs privileges whatever the sysctl says)
    usable, reasons = data["methods"]["ebpf"]
    assert not usable and reasons
    # missing features explain themselves
    for f in feats:
        if not f["available"]:
            assert len(f["detail"]) > 5, f


def test_known_present_on_new_kernels():
    v = kp.kernel_version()
    if v >= (6, 16):
        assert kp.probe("ptrace_set_syscall_info").available, kp.probe("ptrace_set_syscall_info")
    if v >= (5, 3):
        assert kp.probe("ptrace_get_syscall_info").available
        assert kp.probe("pidfd_open").available
    if v >= (5, 0):
        assert kp.probe("seccomp_user_notif").available, kp.probe("seccomp_user_notif")
    if v >= (5, 11) and kp.MACHINE in ("x86_64", "amd64"):
        assert kp.probe("syscall_user_dispatch").available, kp.probe("syscall_user_dispatch")
    if v >= (5, 13) and kp.probe("landlock").available:
        assert kp.landlock_abi() >= 1
    if v >= (6, 16):
        # this machine: Landlock is built in and enabled
        assert kp.landlock_abi() >= 1, kp.probe("landlock")
    if v >= (5, 6):
        assert kp.probe("openat2").available, kp.probe("openat2")
    if v >= (6, 6):
        assert kp.probe("seccomp_sync_wake_up").available
    if v >= (5, 19):
        assert kp.probe("seccomp_wait_killable_recv").available


def test_missing_feature_detail_mentions_version(monkeypatch):
    monkeypatch.setattr(kp, "kernel_version", lambda: (4, 19, 0))
    assert "predates 6.16" in kp._why_missing("6.16", "EIO: x")
    monkeypatch.setattr(kp, "kernel_version", lambda: (6, 18, 0))
    assert "predates" not in kp._why_missing("6.16", "EIO: x")


def test_in_child_reports_signals_and_errors():
    import signal

    def dies():
        os.kill(os.getpid(), signal.SIGKILL)
        return {"ok": True}

    res = kp._in_child(dies)
    assert res["ok"] is False and res.get("signal") == signal.SIGKILL

    def raises():
        raise RuntimeError("boom")

    res = kp._in_child(raises)
    assert res["ok"] is False and "boom" in res["detail"]

    def hangs():
        import time
        time.sleep(60)
        return {"ok": True}

    res = kp._in_child(hangs, timeout=0.3)
    assert res["ok"] is False and "timed out" in res["detail"]


def test_methods_registry():
    assert set(kp.METHODS) == {"ptrace", "seccomp", "unotify", "sud", "preload", "sud+backstop",
                               "preload+backstop", "ebpf"}
    for name, m in kp.METHODS.items():
        for feat in (*m.requires, *m.optional):
            assert feat in kp.FEATURES, (name, feat)
        usable, reasons = kp.method_status(name)
        assert isinstance(usable, bool)
        assert usable == (not reasons)
        for feat in m.requires:
            if not kp.probe(feat).available:
                assert any(r.startswith(feat) and kp.FEATURES[feat][1] in r for r in reasons)
    assert set(kp.METHODS["seccomp"].requires) >= set(kp.METHODS["ptrace"].requires)
    assert kp.method_status("preload") == (True, [])
    if kp.kernel_version() >= (6, 16) and os.geteuid() == 0:
        for name in ("ptrace", "seccomp", "unotify", "sud"):
            assert kp.method_status(name)[0], (name, kp.method_status(name))


def test_doctor_text():
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert doctor.main([]) == 0
    out = buf.getvalue()
    assert "kernel " + ".".join(map(str, kp.kernel_version())) in out
    assert "Kernel features" in out and "Methods" in out
    for name in kp.FEATURES:
        assert name in out
    for name in kp.METHODS:
        assert name in out


def test_doctor_json():
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert doctor.main(["--json"]) == 0
    data = json.loads(buf.getvalue())
    assert data["kernel"] == ".".join(map(str, kp.kernel_version()))
    _check_features(data["features"])
    assert [m["name"] for m in data["methods"]] == list(kp.METHODS)
    for m in data["methods"]:
        assert isinstance(m["usable"], bool) and isinstance(m["reasons"], list)


def test_doctor_as_subcommand():
    import argparse
    parser = argparse.ArgumentParser(prog="sysvisor")
    sub = parser.add_subparsers(dest="cmd")
    p = sub.add_parser("doctor", help=doctor.HELP)
    doctor.add_arguments(p)
    args = parser.parse_args(["doctor", "--json"])
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert doctor.run(args) == 0
    json.loads(buf.getvalue())


def test_ret_trace_fallback_without_get_action_avail(monkeypatch):
    """Pre-4.14 path: GET_ACTION_AVAIL unknown -> install a RET_TRACE filter."""
    import errno
    if not kp.probe("seccomp_filter").available:
        pytest.skip("no seccomp filters here")
    monkeypatch.setattr(kp, "_action_avail", lambda action: (-1, errno.EINVAL))
    ok, detail = kp._p_seccomp_ret_trace()
    assert ok, detail
    assert "ENOSYS without a tracer" in detail
