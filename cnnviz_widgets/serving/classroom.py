"""Serving a class: admission, freeing forgotten kernels, and the classroom command.

Every student who opens the dashboard gets a kernel of their own (a Python process with TensorFlow,
the model and CIFAR-10: about 400 MiB and 4 CPU-seconds to start). This module keeps a Voilà server
healthy when a whole class opens the link in the same minute:

* :class:`GuardedKernelManager` (named in the project's ``voila.json``, so plain ``voila
  dashboard.ipynb`` uses it): refuses a kernel the machine has no room for with a clear "the server
  is full, try again in a minute" page, frees the kernel of a page that was closed or reloaded, and
  shuts down a kernel that died so its page can tell the student to reload.
* :class:`ClassroomKernelManager` and ``python -m cnnviz_widgets.serving.classroom --students N``
  (console script ``cnnviz-classroom``): kernels started and warmed before the students arrive,
  and a refill that starts one kernel at a time, only while the machine is idle and memory allows.

The decisions are pure functions (:func:`admit`, :func:`refill_decision`,
:func:`capacity_estimate`) fed with numbers read from ``/proc``, so they can be checked by hand.
Voilà and jupyter_server are reached only through :mod:`.voila_adapter`.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

from traitlets import Float, Int, Unicode

from ..app_files import AppFilesMissing, app_files, voila_environment
from .capacity import (
    KERNEL_CPU_SECONDS,
    KERNEL_MIB,
    RESERVE_MIB,
    CpuMeter,
    Decision,
    admit,
    capacity_estimate,
    cpu_seconds,
    mem_available_mib,
    pss_mib,
    refill_decision,
)
from .voila_adapter import (
    KernelRefused,
    kernel_env_to_reach,
    kernel_manager_base,
    pooled_kernel_manager_class,
    voila_app_class,
)

#: What a student sees when the server has no room for one more kernel (an HTTP reason phrase,
#: hence plain ASCII).
FULL_MESSAGE = "The server is full - every seat is taken. Please try again in a minute."


# --------------------------------------------------------------------------- the kernel managers

class GuardedKernelManager(kernel_manager_base()):
    """Voilà's kernel manager with admission, prompt freeing and dead-kernel clean-up.

    * A kernel the machine has no room for (:func:`admit`) is refused with HTTP 503 and
      :data:`FULL_MESSAGE`, which Voilà shows as the page, before anything else is sent.
    * A kernel whose page has disconnected (tab closed or reloaded) is shut down after
      ``disconnect_grace`` seconds, in the culling pass (``cull_interval``). Kernels with a page
      connected are never touched (``cull_connected`` stays false), nor warm kernels no page has
      used yet.
    * A kernel whose process died is shut down in the same pass, so its page, which asks for its
      kernel every few seconds (:mod:`cnnviz_widgets.serving.connection`), tells the student to reload.

    Configure it with ``VoilaConfiguration.multi_kernel_manager_class`` (the project's
    voila.json does).
    """

    kernel_mib = Float(KERNEL_MIB, config=True, help="Memory (MiB) one student's kernel needs.")
    reserve_mib = Float(RESERVE_MIB, config=True, help="Memory (MiB) always kept free.")
    max_kernels = Int(0, config=True, help="Most kernels at once; 0: as many as memory allows.")
    max_starting = Int(0, config=True, help="Most kernels starting at once; 0: 15 per core.")
    young_seconds = Float(60.0, config=True,
                          help="Seconds after its start during which a kernel counts as still growing.")
    disconnect_grace = Float(20.0, config=True,
                             help="Seconds a kernel whose page went away is kept (a reload, a short "
                                  "network drop) before it is shut down.")

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._started_at: dict = {}
        self._disconnected_at: dict = {}
        # Kernels admitted whose process is still being launched: a flood of requests arrives
        # faster than one launch, so each holds its seat from admission on.
        self._launching = 0

    def _young(self) -> int:
        now = time.monotonic()
        return self._launching + sum(1 for t in self._started_at.values() if now - t < self.young_seconds)

    def admission(self) -> Decision:
        """Whether one more kernel may start now, from this machine's figures."""
        return admit(len(self._started_at) + self._launching, self._young(), mem_available_mib(),
                     kernel_mib=self.kernel_mib, reserve_mib=self.reserve_mib,
                     max_kernels=self.max_kernels,
                     max_starting=self.max_starting or 15 * (os.cpu_count() or 1))

    async def guard_start(self, start):
        decision = self.admission()
        if not decision.ok:
            self.log.warning("Refusing a new kernel: %s", decision.reason)
            raise KernelRefused(decision.reason, FULL_MESSAGE)
        self._launching += 1
        try:
            kernel_id = await start()
        finally:
            self._launching -= 1
        self._started_at[kernel_id] = time.monotonic()
        return kernel_id

    def page_connected(self, kernel_id):
        self._disconnected_at.pop(kernel_id, None)

    def page_gone(self, kernel_id):
        self._disconnected_at[kernel_id] = time.monotonic()

    def kernel_removed(self, kernel_id):
        self._started_at.pop(kernel_id, None)
        self._disconnected_at.pop(kernel_id, None)

    async def periodic_check(self):
        now = time.monotonic()
        for kernel_id in list(self._disconnected_at):
            if now - self._disconnected_at[kernel_id] > self.disconnect_grace and self.knows_kernel(kernel_id):
                self.log.info("Shutting down kernel %s: its page went away %.0f s ago", kernel_id,
                              now - self._disconnected_at[kernel_id])
                await self._shutdown_quietly(kernel_id)
        for kernel_id in self.kernel_ids():
            if await self.kernel_died(kernel_id):
                self.log.warning("Kernel %s died; shutting it down so its page can say so", kernel_id)
                await self._shutdown_quietly(kernel_id)

    async def _shutdown_quietly(self, kernel_id: str):
        try:
            await self.shut_down_now(kernel_id)
        except Exception:  # a kernel gone between the check and the shutdown needs nothing more
            self.log.debug("kernel %s already gone", kernel_id, exc_info=True)
        self._started_at.pop(kernel_id, None)
        self._disconnected_at.pop(kernel_id, None)


# --------------------------------------------------------------------------- classroom mode

def kernel_dial_ip(listen_ip: str) -> str:
    """The address a kernel on this machine reaches a server listening on ``listen_ip`` at.

    A pre-heated kernel asks the server for its page's request
    (:func:`.voila_adapter.wait_for_page_request`) at an address Voilà leaves unset (127.0.0.1): a server listening on one other
    address (``--ip 192.168.1.20``) is not there, and every link would open on the first view.

    >>> kernel_dial_ip("0.0.0.0"), kernel_dial_ip("192.168.1.20"), kernel_dial_ip("::")
    ('127.0.0.1', '192.168.1.20', '[::1]')
    """
    ip = listen_ip.strip().strip("[]")
    if ip in ("", "0.0.0.0", "*"):
        return "127.0.0.1"
    if ip == "::":
        ip = "::1"
    # Voilà writes the address into a URL: an IPv6 address goes in brackets.
    return f"[{ip}]" if ":" in ip else ip


class ClassroomKernelManager(pooled_kernel_manager_class(GuardedKernelManager)):
    """A pool of warm kernels sized to the class, refilled without starving working students.

    Voilà's own pool refills every kernel a student takes at once (``fill_delay`` later), which
    during a lesson starts as many kernels as students arrived, all competing with them for the
    CPU. Here Voilà's requests for a refill only note what to start; a loop started with the
    manager decides every second, with :func:`refill_decision`, whether one kernel starts:

    * before the class (the first fill): one per core at a time until ``students`` are warm;
      then the capacity estimate, measured on them, and the ``ready:`` line;
    * during the lesson: one at a time, only while the machine is idle (:class:`CpuMeter`), within
      the memory budget (``MemAvailable`` and the measured size of a kernel), and never more than
      ``students + spare`` kernels in all.

    ``announce`` receives the capacity estimate and then the ``ready:`` line, once all
    ``students`` kernels have run the dashboard.
    """

    students = Int(1, config=True, help="Kernels warmed before the class arrives.")
    spare = Int(2, config=True, help="Kernels the refill may hold beyond one per student.")
    idle_below = Float(0.25, config=True, help="A refill starts only while less of the CPU is in use.")
    server_ip = Unicode("127.0.0.1", help="The address the server listens on (Voila.ip).")
    url = "http://127.0.0.1:8866/"

    def __init__(self, **kwargs):
        self._meter = CpuMeter(window=5.0)
        self._measured_mib = None
        self._ready = False
        self.announce = print
        super().__init__(**kwargs)
        self._refiller = _server_loop().create_task(self._refill_loop())

    def pool_counts(self) -> tuple:
        """(warm, starting) kernels of the pool: warm ones have run the dashboard."""
        states = [kernel.state for kernel in self.pool_kernels()]
        warm = states.count("warm")
        return warm, len(states) - warm

    def _drop_failed(self) -> None:
        for error in self.drop_failed_pool_kernels():
            self.log.error("A warm kernel failed to start: %s", error)

    def kernel_env(self) -> dict:
        """What a warm kernel's environment gets beyond Voilà's own: where to ask for its request."""
        return kernel_env_to_reach(kernel_dial_ip(self.server_ip))

    def _start_one(self) -> None:
        self.start_pool_kernel(self.kernel_env())

    async def _refill_loop(self) -> None:
        while True:
            try:
                self._refill_once()
            except Exception:  # the loop must outlive one bad pass
                self.log.exception("refill pass failed")
            await asyncio.sleep(1.0)

    def _refill_once(self) -> None:
        self._meter.sample()
        # Voilà asks for a fill when the manager starts and each time a student takes a warm
        # kernel; until then there is nothing to warm. This loop decides when a kernel starts.
        if not self.fill_requested:
            return
        self._drop_failed()
        warm, starting = self.pool_counts()
        self._announce_progress(warm)
        first_fill = not self._ready
        kernels = len(self._started_at)
        in_use = max(kernels - warm - starting, 0)
        target = min(self.students, self.students + self.spare - in_use)
        decision = refill_decision(
            pool=warm, target=target, starting=starting, busy=self._meter.busy(),
            mem_available=mem_available_mib(), kernel_mib=self._measured_mib or self.kernel_mib,
            reserve_mib=self.reserve_mib, max_starting=(os.cpu_count() or 1) if first_fill else 1,
            idle_below=1.01 if first_fill else self.idle_below)
        if decision.ok:
            self.log.info("Warming a kernel (%d warm, %d starting, %d in use)", warm, starting, in_use)
            self._start_one()
        elif first_fill and not starting and decision.reason.startswith("memory"):
            # The machine cannot hold the whole class warm: say so and serve the ones it holds.
            self.announce(f"the memory holds only {warm} warm kernels: students beyond them get a "
                          "fresh kernel while memory allows, then the 'server full' page")
            self._announce_progress(warm, short=True)

    def _announce_progress(self, warm: int, short: bool = False) -> None:
        if self._ready or (warm < self.students and not short):
            return
        # Measured once every warm kernel exists: a kernel's PSS splits the shared libraries
        # between all kernels, so the first kernel alone would look half as big again.
        pids = [self.kernel_pid(kernel.kernel_id) for kernel in self.pool_kernels() if kernel.kernel_id]
        pids = [pid for pid in pids if pid is not None]
        if pids:
            self._measured_mib = statistics.median(pss_mib(pid) for pid in pids)
            estimate = capacity_estimate(
                os.cpu_count() or 1, mem_available_mib(), len(self._started_at), self._measured_mib,
                statistics.median(cpu_seconds(pid) for pid in pids), self.students, self.reserve_mib)
            for line in estimate.lines():
                self.announce(line)
        self._ready = True
        self.announce(f"ready: {warm} students, {self.url}")

    async def shutdown_all(self, *args, **kwargs):
        self._refiller.cancel()
        await super().shutdown_all(*args, **kwargs)


def _server_loop() -> asyncio.AbstractEventLoop:
    """The event loop the server runs: the running one, or, while Voilà builds its kernel manager
    before starting the loop, the loop set for this thread (asyncio.get_event_loop() outside a
    running loop is deprecated)."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.get_event_loop_policy().get_event_loop()


def _classroom_manager(server, **kwargs) -> ClassroomKernelManager:
    """The classroom's kernel manager for the Voilà server at ``server`` (a ``ServerAddress``)."""
    manager = ClassroomKernelManager(**kwargs)
    manager.url = server.url
    manager.server_ip = server.ip
    manager.announce = lambda line: print(line, flush=True)
    return manager


def voila_arguments(notebook: str, students: int, port: int, ip: str) -> list:
    """The Voilà command line of the classroom mode (the project's voila.json adds the rest)."""
    return [
        notebook, "--no-browser", f"--port={port}", f"--Voila.ip={ip}", "--Voila.port_retries=0",
        "--VoilaConfiguration.preheat_kernel=True", "--VoilaConfiguration.default_pool_size=0",
        f"--ClassroomKernelManager.students={students}",
        # Settings the classroom relies on, also when started away from the project's voila.json.
        "--VoilaExecutor.iopub_timeout=120", "--VoilaExecutor.startup_timeout=120",
        "--MappingKernelManager.cull_idle_timeout=900", "--MappingKernelManager.cull_interval=10",
        "--MappingKernelManager.cull_connected=False", "--KernelManager.autorestart=False",
    ]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="cnnviz-classroom",
        description="Serve the cnnviz dashboard to a class: kernels warmed before the students arrive.")
    parser.add_argument("--students", type=int, required=True, help="students in the class (kernels warmed)")
    parser.add_argument("--port", type=int, default=8866, help="port to serve on (default 8866)")
    parser.add_argument("--ip", default="0.0.0.0",
                        help="address to listen on (default 0.0.0.0: every network interface)")
    parser.add_argument("--notebook", default=None,
                        help="the dashboard notebook (default: the one the package ships, with its settings)")
    args = parser.parse_args(argv)
    if args.students < 1:
        parser.error("--students must be at least 1")
    if args.notebook is None:
        try:
            notebook, settings_dir = app_files()
        except AppFilesMissing as error:
            parser.error(str(error))
        args.notebook = str(notebook)
        os.environ.update(voila_environment(settings_dir))
    if not Path(args.notebook).is_file():
        parser.error(f"{args.notebook} not found: run the command in the folder that holds "
                     "dashboard.ipynb, or name it with --notebook")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    print(f"cnnviz classroom: warming {args.students} kernels, one per core at a time "
          f"(about {KERNEL_CPU_SECONDS:.0f} CPU-seconds each) ...", flush=True)
    voila_app_class(_classroom_manager).launch_instance(
        argv=voila_arguments(args.notebook, args.students, args.port, args.ip))


if __name__ == "__main__":
    main(sys.argv[1:])
