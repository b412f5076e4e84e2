"""The address of the page a kernel serves, also when the kernel was pre-heated.

Voilà starts a kernel for each page and puts the page's request (its query, host and path) in
the kernel's environment. A pre-heated kernel (``voila --preheat_kernel=True``, the classroom
mode) runs the dashboard before any page asks for it, so the request reaches it only later, and
only if it waits for it (``voila.utils.wait_for_request``). Waiting in a notebook cell would hold
the warm kernel "not ready" until a student arrives; here a background thread waits instead, and
the result is applied on the kernel's own thread.
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading

from ..links import PageAddress, page_address

log = logging.getLogger(__name__)


def current_address() -> PageAddress:
    """The page's address as far as this kernel knows it now (``links.page_address``)."""
    return page_address(os.environ)


def preheated() -> bool:
    """True in a kernel Voilà pre-heated, whose page's request may not be known yet."""
    return os.environ.get("VOILA_PREHEAT") == "True"


def when_address_known(callback) -> threading.Thread | None:
    """Call ``callback(address)`` with the page's ``PageAddress`` once it is known.

    At once (before returning) in a kernel started for its page (plain ``voila``, or a notebook
    where there is no page address at all). In a pre-heated kernel that no page has taken yet, a
    background thread waits for the request and the callback runs later on the calling thread's
    event loop (the kernel's); the waiting thread is returned.
    """
    address = current_address()
    if not preheated() or address.query is not None:
        callback(address)
        return None
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None

    def wait():
        try:
            from voila.utils import wait_for_request

            wait_for_request()
        except Exception:  # The dashboard then keeps its first view; the server log says why.
            log.exception("the page's request did not reach this kernel")
        known = current_address()
        if loop is None or loop.is_closed():
            callback(known)
        else:
            loop.call_soon_threadsafe(callback, known)

    thread = threading.Thread(target=wait, name="cnnviz-page-request", daemon=True)
    thread.start()
    return thread
