"""The classroom's decisions, checked against numbers worked out by hand.

The server itself (the pool, the "full" page, freeing kernels, a killed kernel) is driven for real
in tests/ui/test_classroom_ui.py.
"""
from __future__ import annotations

import os

import pytest

from cnnviz_widgets.serving.capacity import (
    CpuMeter,
    admit,
    capacity_estimate,
    cpu_seconds,
    mem_available_mib,
    pss_mib,
    refill_decision,
    rss_mib,
)
from cnnviz_widgets.serving.classroom import kernel_dial_ip, voila_arguments

MEMINFO = """MemTotal:       24576000 kB
MemFree:         1000000 kB
MemAvailable:   20971520 kB
Buffers:          100000 kB
"""


# --------------------------------------------------------------------------- measuring

def test_mem_available_reads_the_meminfo_line():
    assert mem_available_mib(MEMINFO) == 20480.0  # 20,971,520 kB / 1024


def test_process_figures_of_this_process_are_plausible():
    pid = os.getpid()
    # PSS splits shared pages, so it never exceeds RSS; this test process holds some tens of MiB.
    assert 10 < pss_mib(pid) <= rss_mib(pid) + 1
    before = cpu_seconds(pid)
    sum(i * i for i in range(3_000_000))
    assert cpu_seconds(pid) > before


def test_cpu_meter_measures_the_window_from_counters():
    counters = iter([(0, 0), (100, 400), (300, 800), (400, 1200)])  # (busy, total) jiffies
    meter = CpuMeter(window=5.0, read=lambda: next(counters))
    meter.sample(now=0.0)
    assert meter.busy() == 1.0  # one sample: unknown, counted as busy
    meter.sample(now=2.0)
    assert meter.busy() == pytest.approx(100 / 400)
    meter.sample(now=4.0)
    assert meter.busy() == pytest.approx(300 / 800)
    # At t=7 the window starts at t=2: the sample at 0 drops, the one at 2 is the new start.
    meter.sample(now=7.0)
    assert meter.busy() == pytest.approx((400 - 100) / (1200 - 400))


# --------------------------------------------------------------------------- admission

def test_admit_within_memory():
    # 8000 - 2 × 450 promised - 1024 kept = 6076 MiB free for a 450 MiB kernel.
    decision = admit(kernels=5, young=2, mem_available=8000, kernel_mib=450, reserve_mib=1024)
    assert decision.ok


def test_admit_refuses_when_young_kernels_will_take_the_memory():
    # 3000 - 4 × 450 - 1024 = 176 MiB < 450: the kernels still growing will need it.
    decision = admit(kernels=4, young=4, mem_available=3000, kernel_mib=450, reserve_mib=1024)
    assert not decision.ok and decision.reason.startswith("memory")
    # One kernel fewer still growing leaves 626 MiB: admitted.
    assert admit(kernels=4, young=3, mem_available=3000, kernel_mib=450, reserve_mib=1024).ok


def test_admit_limits_on_kernels_and_starting():
    plenty = 100_000
    assert not admit(kernels=20, young=0, mem_available=plenty, max_kernels=20).ok
    assert admit(kernels=19, young=0, mem_available=plenty, max_kernels=20).ok
    assert not admit(kernels=3, young=30, mem_available=plenty, max_starting=30).ok
    assert admit(kernels=3, young=29, mem_available=plenty, max_starting=30).ok
    assert admit(kernels=500, young=0, mem_available=plenty).ok  # 0: no limit of its own


# --------------------------------------------------------------------------- refill policy

def test_refill_when_idle_and_memory_allows():
    assert refill_decision(pool=8, target=10, starting=0, busy=0.10, mem_available=6000).ok


def test_refill_waits_while_students_work():
    decision = refill_decision(pool=8, target=10, starting=0, busy=0.40, mem_available=6000)
    assert not decision.ok and decision.reason.startswith("machine busy")
    # Exactly at the threshold counts as busy.
    assert not refill_decision(pool=8, target=10, starting=0, busy=0.25, mem_available=6000).ok


def test_refill_starts_one_kernel_at_a_time():
    decision = refill_decision(pool=5, target=10, starting=1, busy=0.0, mem_available=6000)
    assert not decision.ok and "already starting" in decision.reason
    # The first fill may start one per core (here two) and ignores how busy the machine is.
    assert refill_decision(pool=0, target=10, starting=1, busy=0.9, mem_available=6000,
                           max_starting=2, idle_below=1.01).ok
    assert not refill_decision(pool=0, target=10, starting=2, busy=0.9, mem_available=6000,
                               max_starting=2, idle_below=1.01).ok


def test_refill_never_exceeds_the_memory_budget():
    # 1400 - 1024 kept = 376 MiB < 400 MiB per kernel.
    decision = refill_decision(pool=3, target=10, starting=0, busy=0.0, mem_available=1400,
                               kernel_mib=400, reserve_mib=1024)
    assert not decision.ok and decision.reason.startswith("memory budget")
    assert refill_decision(pool=3, target=10, starting=0, busy=0.0, mem_available=1424,
                           kernel_mib=400, reserve_mib=1024).ok


def test_refill_stops_at_the_target():
    assert refill_decision(pool=10, target=10, starting=0, busy=0.0, mem_available=50_000).reason == "pool full"
    assert not refill_decision(pool=9, target=10, starting=1, busy=0.0, mem_available=50_000).ok


# --------------------------------------------------------------------------- capacity estimate

def test_capacity_estimate_for_a_2_core_24_gb_machine():
    # Measured with 20 warm kernels: 12,000 MiB still available, 410 MiB and 4.2 CPU-s per kernel.
    estimate = capacity_estimate(cores=2, mem_available=12_000, kernels_running=20, kernel_mib=410,
                                 kernel_cpu_s=4.2, students=20, reserve_mib=1024)
    # (12,000 - 1,024) // 410 = 26 more: 46 students in all.
    assert estimate.students_by_memory == 46
    # 20 cold starts × 4.2 CPU-s on 2 cores = 42 s for the last student.
    assert estimate.cold_class_s == pytest.approx(42.0)
    text = "\n".join(estimate.lines())
    assert "2 cores" in text and "11.7 GiB" in text and "410 MiB" in text and "4.2 CPU-seconds" in text
    assert "about 46 students" in text and "about 42 s" in text
    assert not any(line.lower().startswith("ready") for line in estimate.lines())


def test_capacity_estimate_when_memory_is_short():
    estimate = capacity_estimate(cores=4, mem_available=900, kernels_running=3, kernel_mib=400,
                                 kernel_cpu_s=4.0, students=8, reserve_mib=1024)
    assert estimate.students_by_memory == 3  # nothing spare beyond the reserve
    assert estimate.cold_class_s == pytest.approx(8.0)


def test_classroom_command_line_preheats_and_keeps_its_safety_settings():
    args = voila_arguments("dashboard.ipynb", students=12, port=9000, ip="127.0.0.1")
    assert args[0] == "dashboard.ipynb"
    for option in ("--port=9000", "--Voila.ip=127.0.0.1", "--VoilaConfiguration.preheat_kernel=True",
                   "--ClassroomKernelManager.students=12", "--MappingKernelManager.cull_connected=False",
                   "--KernelManager.autorestart=False"):
        assert option in args


def test_a_warm_kernel_asks_for_its_request_where_the_server_listens():
    # Written by hand: "every interface" is reached on loopback, one address on that address,
    # IPv6 in brackets as a URL needs.
    assert kernel_dial_ip("0.0.0.0") == "127.0.0.1"
    assert kernel_dial_ip("") == "127.0.0.1"
    assert kernel_dial_ip("192.168.1.20") == "192.168.1.20"
    assert kernel_dial_ip("localhost") == "localhost"
    assert kernel_dial_ip("::") == "[::1]"
    assert kernel_dial_ip("fe80::1") == "[fe80::1]"
    assert kernel_dial_ip("[::1]") == "[::1]"


def test_project_voila_json_guards_plain_voila():
    """Plain ``voila dashboard.ipynb`` reads voila.json: it must hold under a class's load."""
    import json
    from pathlib import Path

    from cnnviz_widgets.serving.classroom import GuardedKernelManager

    config = json.loads((Path(__file__).resolve().parents[1] / "voila.json").read_text())
    assert config["VoilaConfiguration"]["multi_kernel_manager_class"] == (
        f"{GuardedKernelManager.__module__}.{GuardedKernelManager.__name__}")
    # Voilà's default of 4 s left 20 students starting together on 2 cores without widgets.
    assert config["VoilaExecutor"]["iopub_timeout"] >= 60
    # Never cull a kernel whose page is open; a dead kernel is not restarted empty.
    assert config["MappingKernelManager"]["cull_connected"] is False
    assert config["KernelManager"]["autorestart"] is False


# --------------------------------------------------------------------------- the kernel manager, for real

def _run(coroutine_function):
    import asyncio

    return asyncio.run(coroutine_function())


def test_manager_frees_a_kernel_whose_page_went_away_but_not_one_in_use(tmp_path):
    """Real ipykernel processes: the page of one disconnects, the other stays connected."""
    import asyncio

    from cnnviz_widgets.serving.classroom import GuardedKernelManager

    async def scenario():
        manager = GuardedKernelManager(root_dir=str(tmp_path), disconnect_grace=0.5, cull_idle_timeout=900)
        left = await manager.start_kernel(kernel_name="python3")
        stays = await manager.start_kernel(kernel_name="python3")
        try:
            for kid in (left, stays):
                manager.notify_connect(kid)
            manager.notify_disconnect(left)
            await manager.cull_kernels()  # within the grace period: kept
            assert set(manager.list_kernel_ids()) == {left, stays}
            await asyncio.sleep(0.7)
            await manager.cull_kernels()
            assert manager.list_kernel_ids() == [stays]
            # A reload that reconnects in time keeps its kernel.
            manager.notify_disconnect(stays)
            manager.notify_connect(stays)
            await asyncio.sleep(0.7)
            await manager.cull_kernels()
            assert manager.list_kernel_ids() == [stays]
        finally:
            await manager.shutdown_all(now=True)

    _run(scenario)


def test_manager_shuts_down_a_dead_kernel(tmp_path):
    import asyncio
    import signal

    from cnnviz_widgets.serving.classroom import GuardedKernelManager

    async def scenario():
        from traitlets.config import Config

        config = Config()
        config.KernelManager.autorestart = False  # as voila.json sets it: a dead kernel stays dead
        manager = GuardedKernelManager(config=config, root_dir=str(tmp_path), cull_idle_timeout=900)
        kid = await manager.start_kernel(kernel_name="python3")
        other = await manager.start_kernel(kernel_name="python3")
        try:
            manager.notify_connect(kid)  # a page is open: only death removes the kernel
            manager.notify_connect(other)
            pid = manager.get_kernel(kid).provisioner.pid
            os.kill(pid, signal.SIGKILL)
            for _ in range(50):
                if not await manager.get_kernel(kid).is_alive():
                    break
                await asyncio.sleep(0.1)
            await manager.cull_kernels()
            assert manager.list_kernel_ids() == [other]
        finally:
            await manager.shutdown_all(now=True)

    _run(scenario)


def test_manager_refuses_a_kernel_it_has_no_room_for(tmp_path):
    import tornado.web

    from cnnviz_widgets.serving.classroom import FULL_MESSAGE, GuardedKernelManager

    async def scenario():
        manager = GuardedKernelManager(root_dir=str(tmp_path), reserve_mib=10.0 ** 9)
        with pytest.raises(tornado.web.HTTPError) as refused:
            await manager.start_kernel(kernel_name="python3")
        assert refused.value.status_code == 503 and refused.value.reason == FULL_MESSAGE
        assert manager.list_kernel_ids() == []

    _run(scenario)


def test_manager_admits_a_flood_only_up_to_its_limit(tmp_path):
    """Three requests at the same moment, room for two: two kernels, one 'full' answer."""
    import asyncio

    import tornado.web

    from cnnviz_widgets.serving.classroom import GuardedKernelManager

    async def scenario():
        manager = GuardedKernelManager(root_dir=str(tmp_path), max_kernels=2, cull_idle_timeout=900)
        try:
            results = await asyncio.gather(*(manager.start_kernel(kernel_name="python3") for _ in range(3)),
                                           return_exceptions=True)
            refused = [r for r in results if isinstance(r, tornado.web.HTTPError)]
            assert len(refused) == 1 and refused[0].status_code == 503
            assert len(manager.list_kernel_ids()) == 2
        finally:
            await manager.shutdown_all(now=True)

    _run(scenario)
