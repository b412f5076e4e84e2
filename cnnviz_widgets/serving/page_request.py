"""The address of the page a kernel serves, also when the kernel was pre-heated.

Voilà starts a kernel for each page and puts the page's request (its query, host and path) in
the kernel's environment. A pre-heated kernel (``voila --preheat_kernel=True``, the classroom
mode) runs the dashboard before any page asks for it, so the request reaches it only later, and
only if it waits for it (``voila_adapter.wait_for_page_request``). Waiting in a notebook cell would hold
the warm kernel "not ready" until a student arrives; here a background thread waits instead, and
the result is applied on the kernel's own thread.
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading

from ..links import PageAddress, page_address
from . import voila_adapter
from .voila_adapter import REQUEST_VARIABLES

log = logging.getLogger(__name__)
#: Seconds between two tries to reach the server, at first and at most.
RETRY_SECONDS = (1.0, 30.0)


def current_address() -> PageAddress:
    """The page's address as far as this kernel knows it now (``links.page_address``)."""
    return page_address(os.environ)


def preheated() -> bool:
    """True in a kernel Voilà pre-heated, whose page's request may not be known yet."""
    return voila_adapter.preheated()


class PageRequest:
    """A kernel's wait for its page's request: one per kernel process (``KERNEL_REQUEST``).

    >>> PageRequest().when_known(print)  # outside Voilà: known at once, and empty
    PageAddress(query=None, base=None)
    """

    def __init__(self):
        self.received = threading.Event()
        self._checked_inherited = False

    def forget_inherited(self) -> None:
        """Drop request variables a pre-heated kernel inherited rather than received (once).

        Voilà starts a pre-heated kernel with a copy of the server's own environment. When the
        server was itself started from a page's kernel (or from a test), that copy holds another
        page's ``QUERY_STRING``: read as this page's, it opened a view nobody linked, and the
        real request was never waited for.
        """
        if preheated() and not self._checked_inherited and not self.received.is_set():
            for name in REQUEST_VARIABLES:
                os.environ.pop(name, None)
        self._checked_inherited = True

    def wait(self) -> None:
        """Block until Voilà has sent this kernel its page's request
        (``voila_adapter.wait_for_page_request``).

        Voilà's wait gives up silently when it cannot reach the server (refused, a timeout, a
        dropped connection), and a kernel may stay warm for many minutes before a student takes
        it: so it tries again, less often each time. Voilà keeps a request that came while no
        kernel listened and hands it over on the next connection, so nothing is lost in between.
        """
        pause, longest = RETRY_SECONDS
        while not self.received.is_set():
            try:
                voila_adapter.wait_for_page_request()
            except Exception:  # a dropped connection: the next try reconnects
                log.warning("waiting for the page's request failed; trying again", exc_info=True)
            if os.environ.get("QUERY_STRING") is not None:
                self.received.set()
            else:
                log.warning("the page's request did not reach this kernel (server %s:%s); trying again "
                            "in %.0f s", *voila_adapter.server_of_kernel(), pause)
                self.received.wait(pause)
                pause = min(2 * pause, longest)

    def when_known(self, callback) -> threading.Thread | None:
        """Call ``callback(address)`` with the page's ``PageAddress`` once it is known.

        At once (before returning) in a kernel started for its page (plain ``voila``, or a
        notebook where there is no page address at all), or in a pre-heated kernel whose request
        already came. In a pre-heated kernel that no page has taken yet, a background thread
        waits for the request and the callback runs later on the calling thread's event loop
        (the kernel's); the waiting thread is returned.
        """
        self.forget_inherited()
        if not preheated() or self.received.is_set():
            callback(current_address())
            return None
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None

        def wait():
            self.wait()
            known = current_address()
            if loop is None or loop.is_closed():
                callback(known)
            else:
                loop.call_soon_threadsafe(callback, known)

        thread = threading.Thread(target=wait, name="cnnviz-page-request", daemon=True)
        thread.start()
        return thread


#: This kernel's page request.
KERNEL_REQUEST = PageRequest()


def when_address_known(callback) -> threading.Thread | None:
    """``KERNEL_REQUEST.when_known(callback)``: see :meth:`PageRequest.when_known`."""
    return KERNEL_REQUEST.when_known(callback)
