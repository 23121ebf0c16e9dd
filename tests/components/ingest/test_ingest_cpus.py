"""Usable cores: the cgroup CPU quota caps the affinity (Kubernetes CPU limits)."""

from __future__ import annotations

from components.ingest import cpus


def test_cgroup_v2_quota(tmp_path):
    v2 = tmp_path / "cpu.max"
    v2.write_text("250000 100000\n")
    assert cpus.cgroup_quota(str(v2)) == 2.5
    v2.write_text("max 100000\n")
    assert cpus.cgroup_quota(str(v2)) is None


def test_cgroup_v1_quota(tmp_path):
    quota, period = tmp_path / "quota", tmp_path / "period"
    quota.write_text("150000\n")
    period.write_text("100000\n")
    missing = str(tmp_path / "none")
    assert cpus.cgroup_quota(missing, (str(quota), str(period))) == 1.5
    quota.write_text("-1\n")
    assert cpus.cgroup_quota(missing, (str(quota), str(period))) is None
    assert cpus.cgroup_quota(missing, (missing, missing)) is None


def test_usable_cpus_takes_the_smaller(monkeypatch):
    monkeypatch.setattr(cpus.os, "sched_getaffinity", lambda pid: set(range(64)))
    monkeypatch.setattr(cpus, "cgroup_quota", lambda: 2.5)
    assert cpus.usable_cpus() == 3
    monkeypatch.setattr(cpus, "cgroup_quota", lambda: None)
    assert cpus.usable_cpus() == 64
    monkeypatch.setattr(cpus, "cgroup_quota", lambda: 0.2)
    assert cpus.usable_cpus() == 1
