"""Background jobs for the teaching tools: a progress bar with a Cancel button (``JobBar``) and the
base class of every tool panel (``ToolWidget``).

Work that can take more than a second runs in a background thread behind a ``JobBar``;
``blocking=True`` runs it in the calling thread instead (tests, scripts).
"""
from __future__ import annotations

import asyncio
import contextlib
import html
import threading
import time

import ipywidgets as widgets

from .. import compute
from .base import StateWidget, close_owned


class Cancelled(Exception):
    """Raised inside a job when the student pressed Cancel."""


class JobBar(widgets.HBox):
    """A progress bar, a Cancel button and a message line that run one job at a time.

    ``start(work, done, label)`` calls ``work(progress)`` in a background thread (or at once when
    ``blocking``), then ``done(result)``. ``progress(done, total)`` moves the bar and raises
    ``Cancelled`` once Cancel was pressed, which really stops the work at its next step.
    Errors go to ``on_error(exception)``.

    Only ``work`` runs in the background: ``done``, ``on_error`` and every change of the bar are
    applied on the thread that made the bar (the kernel's, through its event loop), so widget
    observers never run on a worker thread. Without a running event loop (plain Python) they are
    applied at once.

    >>> bar = JobBar(on_error=print)                       # doctest: +SKIP
    >>> bar.start(lambda progress: 42, print, "thinking")  # doctest: +SKIP
    """

    def __init__(self, on_error, blocking: bool = False, **kwargs):
        self.bar = widgets.FloatProgress(value=0.0, min=0.0, max=1.0, layout=widgets.Layout(width="220px"))
        self.cancel_button = widgets.Button(description="Cancel", icon="stop", disabled=True,
                                            layout=widgets.Layout(width="90px"))
        self.message = widgets.HTML()
        super().__init__([self.bar, self.cancel_button, self.message], **kwargs)
        self.blocking = blocking
        self.on_error = on_error
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._busy = False
        self._shown = -1
        self._owner = threading.get_ident()
        self._loop = _running_loop()
        self.cancel_button.on_click(self._on_cancel)

    @property
    def running(self) -> bool:
        return self._busy

    def cancelled(self) -> bool:
        """True once Cancel was pressed for the running job."""
        return self._stop.is_set()

    def call(self, fn, *args):
        """Run ``fn(*args)`` on the bar's own thread: at once when called there (or when no event
        loop runs there), else through that thread's event loop."""
        loop = self._loop
        if threading.get_ident() == self._owner or loop is None or loop.is_closed() or not loop.is_running():
            fn(*args)
        else:
            loop.call_soon_threadsafe(fn, *args)

    def update(self, done, total):
        """Move the bar to done/total (at most one message per percent)."""
        frac = float(done) / float(total) if total else 1.0
        percent = int(frac * 100)
        if percent != self._shown:
            self._shown = percent
            self.call(setattr, self.bar, "value", min(max(frac, 0.0), 1.0))

    def progress(self, done, total):
        """``update`` and raise ``Cancelled`` when the student pressed Cancel."""
        if self._stop.is_set():
            raise Cancelled()
        self.update(done, total)

    def start(self, work, done, label: str = "working…", blocking: bool | None = None, end=None) -> bool:
        """Run ``work(progress)`` then ``done(result)``; False when a job is already running.
        ``blocking`` overrides the bar's own setting for this job; ``end()``, when given, runs
        after the job whatever its outcome (done, failed or cancelled)."""
        if self._busy:
            return False
        self._busy = True
        self._stop.clear()
        self._shown = -1
        self.bar.value = 0.0
        self.bar.bar_style = ""
        self.message.value = html.escape(label)
        self.cancel_button.disabled = False
        started = time.perf_counter()

        def finish(outcome, value):
            try:
                if outcome == "done":
                    if self._stop.is_set():
                        raise Cancelled()
                    done(value)
                elif outcome == "failed":
                    raise value
                else:
                    raise Cancelled()
            except Cancelled:
                self.bar.bar_style = "warning"
                self.message.value = "cancelled"
            except Exception as exc:  # Every error must reach the student, not a hidden log.
                self.bar.bar_style = "danger"
                self.message.value = "failed"
                self.on_error(exc)
            else:
                self.bar.value = 1.0
                self.bar.bar_style = "success"
                self.message.value = f"done in {time.perf_counter() - started:.1f} s"
            finally:
                self.cancel_button.disabled = True
                self._busy = False
                if end is not None:
                    end()

        def run():
            try:
                outcome = ("done", work(self.progress))
            except Cancelled:
                outcome = ("cancelled", None)
            except Exception as exc:  # Reported by finish, on the bar's own thread.
                outcome = ("failed", exc)
            self.call(finish, *outcome)

        if self.blocking if blocking is None else blocking:
            run()
        else:
            self._thread = threading.Thread(target=run, name="cnnviz-job", daemon=True)
            self._thread.start()
        return True

    def cancel(self):
        """Ask the running job to stop at its next step."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the background job to end; True when it has."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return not self._busy

    def _on_cancel(self, _button):
        self.cancel()
        self.message.value = "cancelling…"

    def close(self):
        self.cancel()
        close_owned(self)
        super().close()


def _running_loop():
    """The asyncio event loop running in this thread (the kernel's), or None (plain Python)."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class ToolWidget(StateWidget):
    """A StateWidget with a ``JobBar`` and a quiet switch for updating several controls at once."""

    def __init__(self, state, blocking: bool = False, **kwargs):
        super().__init__(state, **kwargs)
        self.job = JobBar(self._report_error, blocking=blocking)
        self._quiet = False

    def _report_error(self, exc):
        self.state.status = f"⚠ {type(self).__name__}: {exc}"

    @contextlib.contextmanager
    def _quietly(self):
        """Change controls without each change re-rendering (one render afterwards)."""
        before, self._quiet = self._quiet, True
        try:
            yield
        finally:
            self._quiet = before

    def _offer(self, control, options, fallback):
        """Give a choice new ``options`` (quietly): its value stays when still offered, else
        ``fallback()`` (called only then) is chosen."""
        with self._quietly():
            current = control.value
            control.options = options
            if options:
                control.value = current if current in options else fallback()

    def _control_changed(self, change, leader, sync) -> bool:
        """Whether a control's change should re-render; when the ``leader`` choice changed, ``sync``
        first adjusts the controls that depend on it (quietly)."""
        if self._quiet:
            return False
        if change["owner"] is leader:
            with self._quietly():
                sync()
        return True

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the running background job (if any) to end."""
        return self.job.wait(timeout)

    def close(self):
        # The job bar is not shown by every tool, so it may not be among the children.
        self.job.close()
        super().close()


#: What a panel with its own layer menu says about the layer picked in the side bar.
OWN_LAYER_NOTE = ("It starts at the layer you picked when it can show it; its own menu changes "
                  "only this panel.")


def picked_or(state, options, default):
    """The state's selected layer when it is one of ``options``, else ``default``: where a panel
    with its own layer menu starts."""
    return state.layer if state.layer in options else default


def stage_options(state) -> list:
    return compute.conv_stages(state.model)
