"""What a long-running kernel needs: replaced models freed, closed panels gone from the widget
registry, and background work applied on the kernel's own thread.

Expected values are independent of the code under test: weak references and the process's resident
memory (``/proc/self/status``) for what is alive, ipywidgets' own registry of open widgets for what
was closed, ``threading.get_ident()`` recorded inside observers for where they ran, the models' own
Keras calls for what the state must show.
"""
from __future__ import annotations

import asyncio
import gc
import threading
import weakref

import ipywidgets.widgets.widget as widget_registry
import keras
import numpy as np
import pytest
import traitlets
from helpers import observer_count

import cnnviz_widgets
from cnnviz_widgets import Dashboard, ModelState, TrainPanel
from cnnviz_widgets.widgets.base import StateWidget

#: Resident memory the kernel may gain over 20 replaced models. Measured on the 2-core machine with
#: these models: within a few MB of nothing once replaced models are freed, against 2 to 3 MB more
#: for every model when each stays alive (about 50 MB over 20).
RSS_BOUND_MB = 25


def rss_mb() -> float:
    """This process's resident memory in MB, from the kernel's own accounting."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def small_model(seed: int):
    """A small CNN of its own (conv, BatchNorm, ReLU, pool, dense) with seeded weights."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((32, 32, 3)),
        keras.layers.Conv2D(8, 3, padding="same", name="c1"),
        keras.layers.BatchNormalization(name="c1_bn"),
        keras.layers.ReLU(name="c1_act"),
        keras.layers.MaxPooling2D(name="pool"),
        keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="c2"),
        keras.layers.GlobalAveragePooling2D(name="gap"),
        keras.layers.Dense(10, activation="softmax", name="out"),
    ])


def open_widgets() -> int:
    """How many widgets are open in this kernel: ipywidgets' registry (its module-level dict; the
    class attribute that returned it is deprecated)."""
    return len(widget_registry._instances)


# =========================================================================== models are freed

@pytest.mark.slow
def test_twenty_replaced_models_are_freed(cifar_test):
    images, labels, names = cifar_test
    state = ModelState(small_model(100), images[:64], labels[:64], names)

    def use(model):
        # What the panels ask of a model: an inspection, Grad-CAM, the whole set's predictions and
        # the channel means of a layer (a compiled sub-model kept on the model's inspector).
        state.set_model(model)
        state.index = 3
        state.grad_cam("c2")
        state.predictions()
        state.channel_means("c1_act")

    # Warm up: TensorFlow's and the allocator's own pools grow over the first models and then
    # stay (measured: flat after about ten models when models are freed).
    for seed in range(6):
        use(small_model(200 + seed))
    gc.collect()
    before = rss_mb()
    refs, series = [], []
    for seed in range(20):
        model = small_model(seed)
        use(model)
        refs.append(weakref.ref(model))
        del model
        if seed % 5 == 4:
            gc.collect()
            series.append(round(rss_mb() - before, 1))
    grown = rss_mb() - before
    alive = [i for i, ref in enumerate(refs) if ref() is not None]
    print(f"models alive after 20: {alive}; RSS growth after 5, 10, 15, 20 models: {series} MB")
    assert refs[-1]() is state.model
    assert len(alive) <= 2 and alive[-1] == 19, alive
    assert grown < RSS_BOUND_MB, f"RSS grew {grown:.1f} MB over 20 models"
    # The state's cache holds results of the current model only.
    assert {key[0] for key in state.cache.keys()} <= {"inspection", "grad_cam", "predictions", "channel_means"}


# =========================================================================== close() closes all

@pytest.fixture
def save_button_layouts():
    """The save buttons' three layouts and one style are made once per kernel and shared by every
    panel (closing one dashboard must not break another's buttons): made here, before counting."""
    cnnviz_widgets.Download(lambda: b"", "warm-up.bin").close()


@pytest.fixture
def shared_looks(shared, save_button_layouts):
    """A dashboard gives its widgets' default layouts and styles one shared instance per class,
    made once per kernel and kept for every later dashboard: made here, by a first dashboard with
    every panel open, before counting."""
    dashboard = Dashboard(shared)
    for key in cnnviz_widgets.dashboard.TEXTS:
        dashboard.open_section(key)
    for _, cls, _ in cnnviz_widgets.dashboard.TOOLS:
        dashboard.open_tool(cls.__name__)
    dashboard.close()


def test_a_dashboard_built_and_closed_five_times_leaves_no_widget(shared, shared_looks):
    before, observers = open_widgets(), observer_count(shared)
    made = []
    for round_ in range(5):
        dashboard = Dashboard(shared)
        if round_ == 0:
            # Every section and every tool panel too, the first time.
            for key in cnnviz_widgets.dashboard.TEXTS:
                dashboard.open_section(key)
            for _, cls, _ in cnnviz_widgets.dashboard.TOOLS:
                dashboard.open_tool(cls.__name__)
            assert len(dashboard.tool_panels) == len(cnnviz_widgets.dashboard.TOOLS)
        made.append(open_widgets() - before)
        dashboard.close()
        del dashboard
    gc.collect()
    after = open_widgets()
    print(f"widget registry: {before} before, {after} after 5 dashboards (each made {made})")
    assert made[0] > made[1] > 100  # the dashboards were real
    assert after == before, f"{after - before} widgets left open"
    # And nothing of theirs still observes the state.
    assert observer_count(shared) == observers


def _panel_classes():
    out = []
    for name in cnnviz_widgets.__all__:
        obj = getattr(cnnviz_widgets, name)
        # Every panel that takes a state (the save button and the link field take functions).
        if isinstance(obj, type) and issubclass(obj, StateWidget):
            out.append(obj)
    return out


@pytest.mark.parametrize("cls", _panel_classes(), ids=lambda c: c.__name__)
def test_every_panel_alone_closes_every_widget_it_made(shared, cls, save_button_layouts):
    before = open_widgets()
    panel = cls(shared)
    made = open_widgets() - before
    panel.close()
    gc.collect()
    assert made > 1
    assert open_widgets() == before, f"{cls.__name__}: {open_widgets() - before} of {made} widgets left open"


# =========================================================================== the kernel's thread

class ThreadLog:
    """Records, for every change of every trait of a state, the thread its observers ran on."""

    def __init__(self, state):
        self.seen: list = []
        state.observe(self._record, names=traitlets.All)

    def _record(self, change):
        self.seen.append((change["name"], threading.get_ident()))

    def threads(self) -> set:
        return {ident for _, ident in self.seen}


def _probabilities(model, image) -> np.ndarray:
    return np.asarray(model(image[None].astype(np.float32) / 255.0, training=False))[0]


def _assert_consistent(state):
    """The inspection is of the state's image under the state's model, from the model's own call."""
    insp = state.inspection
    assert insp.index == state.index
    np.testing.assert_array_equal(insp.image, state.images[state.index])
    np.testing.assert_allclose(insp.probabilities, _probabilities(state.model, state.images[state.index]),
                               atol=1e-5)


@pytest.mark.slow
def test_training_completion_and_an_image_change_at_the_same_moment(cifar_model, cifar_test):
    images, labels, names = cifar_test
    result = {}

    async def kernel():
        # As in a kernel: the state and the panel are made on the thread running the event loop,
        # and the student's clicks arrive there too.
        loop = asyncio.get_running_loop()
        state = ModelState(cifar_model, images[:200], labels[:200], names)
        log = ThreadLog(state)
        panel = TrainPanel(state, train_data=(images[500:628], labels[500:628]))
        panel.epochs.value, panel.batch_size.value = 1, 64
        panel.train()
        clicks = 0
        while panel.job.running:
            state.index = (state.index + 7) % 200  # the student keeps looking at images
            clicks += 1
            await asyncio.sleep(0.02)
        worker = panel.job._thread.ident
        # The new model goes in and the student picks an image in the same turn of the loop.
        loop.call_soon(panel.use_model)
        loop.call_soon(setattr, state, "index", 17)
        await asyncio.sleep(0.05)
        result.update(state=state, log=log, worker=worker, clicks=clicks, panel=panel)

    asyncio.run(kernel())
    main = threading.get_ident()
    state, log = result["state"], result["log"]
    assert result["clicks"] > 0 and result["worker"] != main  # training really ran in the background
    assert state.model is result["panel"].trained_model and state.index == 17
    assert state.status == "The model you trained is now shown in every panel."
    _assert_consistent(state)
    assert {"model", "inspection", "index"} <= {name for name, _ in log.seen}
    assert log.threads() == {main}, "the state's observers ran on a worker thread"
    result["panel"].close()


def test_a_job_that_sets_the_model_races_with_image_changes(cifar_model, untrained_cnn, cifar_test):
    from cnnviz_widgets.widgets import JobBar

    images, labels, names = cifar_test
    result = {}

    async def kernel():
        loop = asyncio.get_running_loop()
        state = ModelState(cifar_model, images[:100], labels[:100], names)
        log = ThreadLog(state)
        bar = JobBar(on_error=lambda exc: result.setdefault("error", exc))
        ended = asyncio.Event()

        def work(progress):
            # Queue a click on the loop right as the work ends: it and the apply below arrive
            # together.
            for i in range(5):
                loop.call_soon_threadsafe(setattr, state, "index", 10 + i)
            progress(1, 1)
            return untrained_cnn

        bar.start(work, lambda model: state.set_model(model), end=ended.set)
        await asyncio.wait_for(ended.wait(), 60)
        await asyncio.sleep(0.02)
        result.update(state=state, log=log, worker=bar._thread.ident)
        bar.close()

    asyncio.run(kernel())
    state = result["state"]
    assert "error" not in result and state.status == ""
    assert state.model is untrained_cnn and state.index == 14
    _assert_consistent(state)
    assert result["log"].threads() == {threading.get_ident()} != {result["worker"]}
