"""Everything cnnviz takes from Voilà and jupyter_server, in one module.

The rest of the package speaks to the server through the names below and never imports ``voila``
or ``jupyter_server`` itself (``tests/test_architecture.py`` checks that). ``.ci/newest-voila``
runs the serving tests against the newest releases, so a release that changes one of these fails
there. Checked against Voilà 0.5.13 and jupyter_server 2.21.1.

jupyter_server (public API, used as an extension point):

* ``AsyncMappingKernelManager`` — :func:`kernel_manager_base`: the class the guarded kernel
  manager extends. We override ``start_kernel`` (admission: a refused kernel is a
  ``tornado.web.HTTPError`` 503 whose ``reason`` Voilà shows as the page), ``notify_connect`` and
  ``notify_disconnect`` (called by the kernel's websocket handler as a page connects and goes
  away), ``remove_kernel`` (called for every kernel that ends) and ``cull_kernels`` (the periodic
  pass ``cull_interval`` runs), and read ``kernel_model(id)["connections"]``, ``list_kernel_ids``,
  ``get_kernel(id).has_kernel`` / ``.is_alive()`` / ``.provisioner.pid`` and
  ``shutdown_kernel(id, now=True)``. Subclasses see only the hooks and helpers named in
  :func:`kernel_manager_base`.

Voilà (internals, no stable API):

* ``voila.voila_kernel_manager.voila_kernel_manager_factory(base, True, 0)`` —
  :func:`pooled_kernel_manager_class`: Voilà's pre-heating kernel manager on top of ours.
* That manager's ``fill_if_needed(delay, notebook_name, extra_kernel_env_variables, **kwargs)``
  (called at start and each time a page takes a warm kernel; we record the call instead of
  filling), its ``kernel_pools_config`` trait (rewritten to ask for one kernel more than the
  pool holds), ``default_env_variables``, and its private ``_pools`` (``{notebook: [task]}``,
  each task's result ``{"kernel_id", "task", "renderer"}``; the inner ``task`` is done once the
  kernel has run the notebook) — :meth:`PooledKernelManager.pool_kernels` and
  :meth:`PooledKernelManager.start_pool_kernel`.
* ``voila.app.Voila.init_settings`` and the ``Voila.kernel_manager`` it builds (its
  ``allowed_message_types``; ``connection_dir``, ``kernel_spec_manager``, ``display_url``,
  ``ip``) — :func:`voila_app_class`: replaces Voilà's kernel manager with ours.
* ``voila.app.Voila.launch_instance(argv=...)`` — :func:`serve`: Voilà's application as its own
  command line starts it (the ``cnnviz`` command).
* ``voila.utils.wait_for_request()`` — :func:`wait_for_page_request`: a pre-heated kernel asks
  the server for its page's request, which Voilà then writes into ``os.environ``.
* The kernel environment Voilà sets: ``VOILA_PREHEAT`` ("True" in a pre-heated kernel), the
  request variables (:data:`REQUEST_VARIABLES`), and ``VOILA_APP_IP`` / ``VOILA_APP_PORT``
  (where a pre-heated kernel reaches the server; Voilà leaves the address unset, 127.0.0.1) —
  :func:`preheated`, :func:`server_of_kernel`, :func:`kernel_env_to_reach`.
  ``links.page_address`` reads the same variables (and ``VOILA_REQUEST_URL``) from a plain
  mapping, documented there.

The configuration names in the project's ``voila.json`` and in
``serving.classroom.voila_arguments`` are Voilà's public options; ``tests/test_packaging.py``
checks each exists.

Nothing from Voilà or jupyter_server is imported at module level: a kernel imports this module
(through ``page_request``) and must not pay for the server's imports.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass

#: The versions the internals above were checked against.
CHECKED_AGAINST = {"voila": "0.5.13", "jupyter_server": "2.21.1"}

#: What Voilà puts in a pre-heated kernel's environment once a page takes it.
REQUEST_VARIABLES = ("QUERY_STRING", "SERVER_NAME", "SERVER_PORT", "SCRIPT_NAME", "PATH_INFO",
                     "SERVER_PROTOCOL", "SERVER_SOFTWARE")


# ----- the kernel's side ----------------------------------------------------------------------------

def preheated(environ=None) -> bool:
    """True in a kernel Voilà pre-heated (``environ``: ``os.environ`` unless given)."""
    return (os.environ if environ is None else environ).get("VOILA_PREHEAT") == "True"


def server_of_kernel(environ=None) -> tuple:
    """``(address, port)`` at which a pre-heated kernel asks the server for its request."""
    environ = os.environ if environ is None else environ
    return environ.get("VOILA_APP_IP", "127.0.0.1"), environ.get("VOILA_APP_PORT", "8866")


def kernel_env_to_reach(dial_ip: str) -> dict:
    """The environment that makes a pre-heated kernel ask for its request at ``dial_ip``."""
    return {"VOILA_APP_IP": dial_ip}


def wait_for_page_request() -> None:
    """Block until Voilà sends this pre-heated kernel its page's request, which it writes into
    ``os.environ`` (``voila.utils.wait_for_request``). Returns without it when the server cannot
    be reached; raises on a dropped connection."""
    from voila.utils import wait_for_request

    wait_for_request()


# ----- the server's side: kernel managers -----------------------------------------------------------

class KernelRefused(Exception):
    """Raised by :meth:`guard_start`'s admission: the kernel is not started and the page shows
    ``message`` (an HTTP reason phrase, so plain ASCII); ``reason`` goes to the server's log."""

    def __init__(self, reason: str, message: str):
        super().__init__(reason)
        self.reason = reason
        self.message = message


@functools.cache
def kernel_manager_base():
    """jupyter_server's ``AsyncMappingKernelManager`` with its hooks under names of our own.

    A subclass overrides any of:

    * ``async guard_start(start)``: ``await start()`` starts the kernel and returns its id;
      raise :class:`KernelRefused` instead to refuse it (HTTP 503);
    * ``page_connected(kernel_id)``, ``page_gone(kernel_id)`` (the last page connection of the
      kernel closed), ``kernel_removed(kernel_id)`` (the kernel ended, however);
    * ``async periodic_check()``: after each culling pass (every ``cull_interval`` seconds);

    and uses ``kernel_ids()``, ``knows_kernel(id)``, ``kernel_pid(id)``,
    ``async kernel_died(id)``, ``async shut_down_now(id)``.
    """
    import tornado.web
    from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager

    class KernelManagerBase(AsyncMappingKernelManager):
        async def guard_start(self, start):
            return await start()

        def page_connected(self, kernel_id):
            pass

        def page_gone(self, kernel_id):
            pass

        def kernel_removed(self, kernel_id):
            pass

        async def periodic_check(self):
            pass

        def kernel_ids(self) -> list:
            return self.list_kernel_ids()

        def knows_kernel(self, kernel_id) -> bool:
            return kernel_id in self

        def kernel_pid(self, kernel_id) -> int | None:
            """Process id of a local kernel, or None when it is not a local process."""
            provisioner = getattr(self.get_kernel(kernel_id), "provisioner", None)
            return getattr(provisioner, "pid", None)

        async def kernel_died(self, kernel_id) -> bool:
            kernel = self.get_kernel(kernel_id)
            return getattr(kernel, "has_kernel", False) and not await kernel.is_alive()

        async def shut_down_now(self, kernel_id):
            await self.shutdown_kernel(kernel_id, now=True)

        # jupyter_server's names, each handed to the hook above.

        async def start_kernel(self, *, kernel_id=None, path=None, **kwargs):
            parent = super()
            try:
                return await self.guard_start(
                    lambda: parent.start_kernel(kernel_id=kernel_id, path=path, **kwargs))
            except KernelRefused as refused:
                raise tornado.web.HTTPError(503, refused.reason, reason=refused.message) from None

        def notify_connect(self, kernel_id):
            super().notify_connect(kernel_id)
            self.page_connected(kernel_id)

        def notify_disconnect(self, kernel_id):
            super().notify_disconnect(kernel_id)
            if kernel_id in self and self.kernel_model(kernel_id)["connections"] <= 0:
                self.page_gone(kernel_id)

        def remove_kernel(self, kernel_id):
            self.kernel_removed(kernel_id)
            return super().remove_kernel(kernel_id)

        async def cull_kernels(self):
            await super().cull_kernels()
            await self.periodic_check()

    return KernelManagerBase


@dataclass(frozen=True)
class PoolKernel:
    """One kernel of Voilà's pre-heated pool: ``state`` is "warm" (it has run the notebook),
    "starting" or "failed"; ``kernel_id`` is None until its process exists; ``error`` the
    exception of a failed start."""

    state: str
    kernel_id: str | None = None
    error: BaseException | None = None


def pooled_kernel_manager_class(base):
    """Voilà's pre-heating kernel manager on top of ``base``, its pool refilled only on request.

    Voilà asks for a refill when the manager starts and each time a page takes a warm kernel;
    the class returned records the request (``fill_requested``) and starts nothing until
    ``start_pool_kernel`` is called.
    """
    from voila.voila_kernel_manager import voila_kernel_manager_factory

    class PooledKernelManager(voila_kernel_manager_factory(base, True, 0)):
        def __init__(self, **kwargs):
            self._voila_fill_request = None
            super().__init__(**kwargs)

        @property
        def fill_requested(self) -> bool:
            return self._voila_fill_request is not None

        def fill_if_needed(self, delay=None, notebook_name=None, **kwargs):
            self._voila_fill_request = (notebook_name, kwargs)

        def _voila_pool(self) -> list:
            name = self._voila_fill_request[0] if self._voila_fill_request else None
            return self._pools.get(name, [])

        def pool_kernels(self) -> list:
            """The pool of the notebook Voilà asked to fill, as :class:`PoolKernel` items."""
            out = []
            for task in self._voila_pool():
                if not task.done():
                    out.append(PoolKernel("starting"))
                elif task.exception() is not None:
                    out.append(PoolKernel("failed", error=task.exception()))
                else:
                    result = task.result()
                    state = "warm" if result["task"].done() else "starting"
                    out.append(PoolKernel(state, result["kernel_id"]))
            return out

        def drop_failed_pool_kernels(self) -> list:
            """Remove the pool's failed kernels; returns their exceptions."""
            pool = self._voila_pool()
            failed = [t for t in pool if t.done() and t.exception() is not None]
            for task in failed:
                pool.remove(task)
            return [t.exception() for t in failed]

        def start_pool_kernel(self, env: dict) -> None:
            """Start one more warm kernel for the requested notebook, with ``env`` added to its
            environment."""
            name, kwargs = self._voila_fill_request
            kwargs = {**kwargs, "extra_kernel_env_variables": {**kwargs.get("extra_kernel_env_variables", {}),
                                                               **env}}
            # Voilà's fill starts kernels up to the configured pool size: ask it for exactly one more.
            self.kernel_pools_config = {"default": {"pool_size": len(self._voila_pool()) + 1,
                                                    "kernel_env_variables": self.default_env_variables}}
            super().fill_if_needed(delay=0, notebook_name=name, **kwargs)

    return PooledKernelManager


# ----- the server's side: the application ------------------------------------------------------------

@dataclass(frozen=True)
class ServerAddress:
    """Where the Voilà server is: ``url`` as it prints it, ``ip`` it listens on."""

    url: str
    ip: str


def voila_app_class(make_manager):
    """Voilà's application with the kernel manager ``make_manager(server, **kwargs)`` returns in
    place of its own (``server``: a :class:`ServerAddress`; ``kwargs`` the manager's constructor
    arguments). Start it with ``.launch_instance(argv=[...])``."""
    from voila.app import Voila

    class VoilaWithOwnKernelManager(Voila):
        def init_settings(self):
            # Voilà builds its kernel manager here from a class of its own making; with a pool of
            # size 0 that one starts nothing and is replaced by ours.
            settings = super().init_settings()
            unused = self.kernel_manager
            self.kernel_manager = make_manager(
                ServerAddress(self.display_url.strip(), self.ip),
                parent=self, connection_dir=self.connection_dir,
                kernel_spec_manager=self.kernel_spec_manager,
                allowed_message_types=unused.allowed_message_types)
            settings["kernel_manager"] = self.kernel_manager
            return settings

    return VoilaWithOwnKernelManager


def serve(argv: list) -> None:
    """Run Voilà's own application with the command line ``argv`` (the ``cnnviz`` command)."""
    from voila.app import Voila

    Voila.launch_instance(argv=argv)
