"""Threads: torch never uses more threads than the cores this process may run on."""
from __future__ import annotations

import os

import torch

from llm_magic.runtime import threads


def test_cgroup_quota_v2_and_v1(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert threads.cgroup_cpu_limit(tmp_path) == 2
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert threads.cgroup_cpu_limit(tmp_path) is None
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("100000")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000")
    assert threads.cgroup_cpu_limit(v1) == 1
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("-1")
    assert threads.cgroup_cpu_limit(v1) is None
    assert threads.cgroup_cpu_limit(tmp_path / "missing") is None


def test_usable_cores_is_affinity_capped_by_quota(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    assert threads.usable_cores(tmp_path) == 4  # no quota files
    (tmp_path / "cpu.max").write_text("100000 100000\n")
    assert threads.usable_cores(tmp_path) == 1


def test_limit_threads_lowers_but_never_raises(tmp_path, monkeypatch):
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(3)
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
        assert threads.limit_threads(tmp_path) == 2 == torch.get_num_threads()
        torch.set_num_threads(1)  # the user's choice, below the cores
        assert threads.limit_threads(tmp_path) == 1
    finally:
        torch.set_num_threads(before)


def test_loading_a_model_limits_threads(tmp_path, monkeypatch):
    from llm_magic.runtime.session import reset_session

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
        session = reset_session()
        session.set_config({"base_model": "llm-magic/tiny",
                            "input_features": [{"name": "q", "type": "text"}],
                            "output_features": [{"name": "a", "type": "text"}]})
        session.load_model()
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
        reset_session()


def test_quota_is_read_in_the_process_cgroup_and_its_parents(tmp_path):
    membership = tmp_path / "self-cgroup"
    own = tmp_path / "fs" / "user.slice" / "job.scope"
    own.mkdir(parents=True)
    membership.write_text("0::/user.slice/job.scope\n")
    (tmp_path / "fs" / "cpu.max").write_text("max 100000\n")
    assert threads.cgroup_cpu_limit(tmp_path / "fs", membership) is None
    (own.parent / "cpu.max").write_text("300000 100000\n")  # the parent caps at 3 cores
    assert threads.cgroup_cpu_limit(tmp_path / "fs", membership) == 3
    (own / "cpu.max").write_text("150000 100000\n")  # a tighter limit in the own cgroup wins
    assert threads.cgroup_cpu_limit(tmp_path / "fs", membership) == 2
    # cgroup v1: the cpu controller's own path ("cpu,cpuacct" on many systems).
    v1 = tmp_path / "v1"
    folder = v1 / "cpu,cpuacct" / "docker" / "abc"
    folder.mkdir(parents=True)
    (folder / "cpu.cfs_quota_us").write_text("50000")
    (folder / "cpu.cfs_period_us").write_text("100000")
    (tmp_path / "v1-cgroup").write_text("4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n")
    assert threads.cgroup_cpu_limit(v1, tmp_path / "v1-cgroup") == 1
