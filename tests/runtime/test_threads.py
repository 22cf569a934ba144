"""Threads: torch never uses more threads than the cores this process may run on."""
from __future__ import annotations

import os
import time

import pytest
import torch

from llm_magic.runtime import threads

_REAL_USABLE_CORES = threads.usable_cores


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


# ------------------------------------------------------------------ load-aware thread count
def _proc_files(tmp_path, busy, idle, own, name="python (kernel) x"):
    """A /proc/stat with two cores (``busy``/``idle`` ticks each) and a /proc/self/stat."""
    stat = tmp_path / "stat"
    lines = ["cpu  0 0 0 0 0 0 0 0 0 0"]
    lines += [f"cpu{i} {b} 0 0 {d} 0 0 0 0 0 0" for i, (b, d) in enumerate(zip(busy, idle))]
    stat.write_text("\n".join(lines + ["intr 1 2 3", "ctxt 5"]) + "\n")
    self_stat = tmp_path / "self_stat"
    # utime and stime are fields 14 and 15; the command name may hold spaces and ")".
    self_stat.write_text(f"123 ({name}) S " + " ".join(["0"] * 10) + f" {own} 0 0 0\n")
    return stat, self_stat


def test_busy_elsewhere_subtracts_this_process_own_time(tmp_path):
    before = threads.read_cpu_sample(*_proc_files(tmp_path, [100, 100], [100, 100], own=0), cpus={0, 1})
    # Over 200 ticks on two cores: 150 busy (100 + 50), 50 of them this process's own.
    after = threads.read_cpu_sample(*_proc_files(tmp_path, [200, 150], [100, 150], own=50), cpus={0, 1})
    assert (before.cores, after.busy - before.busy, after.own) == (2, 150, 50)
    assert threads.busy_elsewhere(before, after) == pytest.approx(1.0)
    # Only the cores in the affinity mask count.
    one = threads.read_cpu_sample(*_proc_files(tmp_path, [200, 150], [100, 150], own=50), cpus={1})
    assert (one.cores, one.busy, one.total) == (1, 150, 300)


def test_read_cpu_sample_without_proc_is_none(tmp_path):
    assert threads.read_cpu_sample(tmp_path / "no-stat", tmp_path / "no-self") is None


@pytest.fixture
def fresh_tracker(monkeypatch):
    """A tracker that has set nothing yet, no user thread variables, torch's count put back after."""
    before = torch.get_num_threads()
    for name in threads.USER_THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(threads, "_tracker", threads._LoadTracker())
    monkeypatch.setattr(threads, "usable_cores", lambda root=None: 2)
    yield threads._tracker
    torch.set_num_threads(before)


def _samples(monkeypatch, elsewhere):
    """Make read_cpu_sample report ``elsewhere`` cores busy in other processes per window;
    returns the state, whose "elsewhere" a test changes as the other processes come and go."""
    state = {"t": 0.0, "busy": 0, "total": 0, "elsewhere": elsewhere}

    def read(*args, **kwargs):
        state["t"] += 0.5
        state["busy"] += int(50 * state["elsewhere"])  # 50 ticks per core per 0.5 s window
        state["total"] += 100
        return threads.CpuSample(state["t"], state["busy"], state["total"], 0, 2)
    monkeypatch.setattr(threads, "read_cpu_sample", read)
    monkeypatch.setattr(threads.time, "sleep", lambda s: None)
    return state


def test_fit_threads_leaves_the_cores_others_keep_busy(fresh_tracker, monkeypatch):
    torch.set_num_threads(2)
    load = _samples(monkeypatch, elsewhere=1.0)
    assert threads.fit_threads_to_load() == 1 == torch.get_num_threads()
    load["elsewhere"] = 0.2  # the other process ended: both cores again
    assert threads.fit_threads_to_load() == 2 == torch.get_num_threads()
    load["elsewhere"] = 2.0  # never below one thread
    assert threads.fit_threads_to_load() == 1


def test_a_recent_sample_spares_the_wait(fresh_tracker, monkeypatch):
    torch.set_num_threads(2)
    _samples(monkeypatch, elsewhere=1.0)
    waits = []
    monkeypatch.setattr(threads.time, "sleep", waits.append)
    threads.limit_threads()  # a model load notes the counters...
    assert threads.fit_threads_to_load() == 1 and waits == []  # ...so the next command need not wait
    assert threads.fit_threads_to_load(wait=False) == 1 and waits == []


def test_fit_threads_keeps_a_count_the_user_chose(fresh_tracker, monkeypatch):
    torch.set_num_threads(2)
    _samples(monkeypatch, elsewhere=1.0)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert threads.fit_threads_to_load() == 2
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert threads.fit_threads_to_load() == 1  # ours to change now
    torch.set_num_threads(2)  # ...until the user sets a count of their own
    fresh_tracker.initial = 3
    assert threads.fit_threads_to_load() == 2 == torch.get_num_threads()


def test_prediction_beside_a_busy_process_uses_the_free_core(fresh_tracker, monkeypatch, session):
    """Outcome, on the real /proc: with one CPU-bound process beside it on two usable cores,
    predict runs on one thread (two would wait at every barrier for the busy core)."""
    import multiprocessing

    import pandas as pd

    monkeypatch.setattr(threads, "usable_cores", _REAL_USABLE_CORES)
    if threads.usable_cores() != 2 or threads.read_cpu_sample() is None:
        pytest.skip("needs exactly two usable cores and /proc")
    session.set_config({"base_model": "llm-magic/tiny", "input_features": [{"name": "q", "type": "text"}],
                        "output_features": [{"name": "a", "type": "text"}],
                        "generation": {"max_new_tokens": 2}})
    session.load_model()
    torch.set_num_threads(2)
    stop = multiprocessing.Event()
    burner = multiprocessing.Process(target=_burn, args=(stop,), daemon=True)
    burner.start()
    try:
        time.sleep(0.5)  # let it start spinning
        session.predict(pd.DataFrame({"q": ["one", "two"]}))
        assert torch.get_num_threads() == 1
    finally:
        stop.set()
        burner.join()


def _burn(stop):
    while not stop.is_set():
        sum(i * i for i in range(10000))


def test_the_thread_count_changes_no_greedy_answer_and_no_loss(monkeypatch, session):
    """What a load-aware count may change: greedy answers not at all, the loss within 1e-6."""
    import pandas as pd

    session.set_config({"base_model": "llm-magic/tiny", "input_features": [{"name": "q", "type": "text"}],
                        "output_features": [{"name": "a", "type": "text"}],
                        "generation": {"max_new_tokens": 8, "do_sample": False}})
    bundle = session.load_model()
    frame = pd.DataFrame({"q": ["Once upon a time", "The cat sat on the", "A big red ball " * 12, "Tom said"]})
    batch = bundle.tokenizer(["Once upon a time there was a dog named Max " * 8], return_tensors="pt")
    before = torch.get_num_threads()
    answers, losses = {}, {}
    try:
        for count in (1, 2):
            monkeypatch.setenv("OMP_NUM_THREADS", str(count))  # the user's count: kept as it is
            torch.set_num_threads(count)
            answers[count] = list(session.predict(frame)["a_response"])
            bundle.model.zero_grad()
            loss = bundle.model(**batch, labels=batch["input_ids"]).loss
            loss.backward()
            losses[count] = loss.item()
    finally:
        torch.set_num_threads(before)
    assert answers[1] == answers[2] and any(a.strip() for a in answers[1])
    assert losses[1] == pytest.approx(losses[2], rel=1e-6, abs=1e-6)
