"""Saving and sharing without a browser: the download button and its files, the CSV tables, the
"link to this view" field and the dashboard opening a linked view.

Files are checked against values computed here from the data: CIFAR-10's own pixels, a plain Keras
sub-model's outputs, the model's predictions counted in a loop.
"""
from __future__ import annotations

import base64
import csv
import html
import io
import os
import re
import threading
import uuid

import ipywidgets
import numpy as np
import pytest
from PIL import Image

from cnnviz_widgets import Dashboard, Download, LayerStrip, MisclassificationExplorer, StatsTable, TopImages, ViewLink
from cnnviz_widgets.compute import confusion_csv, csv_bytes, file_name
from cnnviz_widgets.links import page_address

#: What Voilà puts in a kernel's environment once a page takes it.
REQUEST_VARIABLES = ("QUERY_STRING", "SERVER_NAME", "SERVER_PORT", "SCRIPT_NAME", "SERVER_PROTOCOL",
                     "PATH_INFO", "SERVER_SOFTWARE")
HREF = re.compile(r'<a download="([^"]+)" href="data:([^;]+);base64,([^"]+)"')


def downloaded(download: Download) -> tuple:
    """Click ``download`` and return (file name, MIME type, bytes) of the link it offers."""
    download.button.click()
    match = HREF.search(download.link.value)
    assert match, download.link.value
    return html.unescape(match.group(1)), match.group(2), base64.b64decode(match.group(3))


def find(widget, kind):
    for child in getattr(widget, "children", ()):
        if isinstance(child, kind):
            return child
        found = find(child, kind)
        if found is not None:
            return found
    return None


def sub_model_output(model, layer, image):
    import keras

    sub = keras.Model(model.inputs, model.get_layer(layer).output)
    return np.asarray(sub(image[None].astype(np.float32) / 255.0, training=False))[0]


# --------------------------------------------------------------------------- pure helpers

def test_csv_bytes_reads_back_with_the_csv_module():
    data = csv_bytes(["a", "b, with comma"], [[1, np.float32(0.5)], ["x\"y", np.int64(3)]])
    assert list(csv.reader(io.StringIO(data.decode()))) == [["a", "b, with comma"], ["1", "0.5"], ['x"y', "3"]]


def test_confusion_csv_is_rows_of_true_classes():
    rows = list(csv.reader(io.StringIO(confusion_csv(np.array([[5, 1], [2, 7]]), ("cat", "dog")).decode())))
    assert rows == [["true \\ predicted", "cat", "dog"], ["cat", "5", "1"], ["dog", "2", "7"]]
    with pytest.raises(ValueError, match="compute the confusion matrix first"):
        confusion_csv(None, ("cat", "dog"))
    with pytest.raises(ValueError, match="2×2, not 3×3"):
        confusion_csv(np.zeros((3, 3)), ("cat", "dog"))


def test_file_names_keep_only_safe_characters():
    assert file_name("cnnviz", "heat/../map", "<b>", "image 7", suffix=".png") == "cnnviz-heat..map-b-image7.png"
    assert file_name("cnnviz", "confident_right", None, suffix=".png") == "cnnviz-confident_right.png"


# --------------------------------------------------------------------------- the download button

def test_a_picture_is_saved_at_its_own_pixels_and_only_when_asked(st, opened, cifar_test):
    images = cifar_test[0]
    st.index = 7
    strip = LayerStrip(st)
    opened(strip)
    save = find(strip, Download)
    # Nothing but the button is sent to the page before the click.
    assert save.children == (save.button,) and save.link is None
    name, mime, data = downloaded(save)
    assert (name, mime) == ("cnnviz-layer-by-layer-image7.png", "image/png")
    with Image.open(io.BytesIO(data)) as png:
        rgb = np.asarray(png.convert("RGB"))
    # The input and the four conv stages, each 32 pixels × 3 = 96, with 4-pixel gaps between them.
    assert rgb.shape == (96, 5 * 96 + 4 * 4, 3)
    np.testing.assert_array_equal(rgb[:, :96], np.repeat(np.repeat(images[7], 3, axis=0), 3, axis=1))
    assert (rgb[:, 96:100] == 255).all()
    # A new image makes the old file stale: its link goes, and a click makes the new one.
    st.index = 8
    assert save.link.value == ""
    _, _, data = downloaded(save)
    with Image.open(io.BytesIO(data)) as png:
        np.testing.assert_array_equal(np.asarray(png.convert("RGB"))[::3, :96:3], images[8])


def test_an_empty_picture_disables_its_button_and_errors_show_beside_it():
    picture = Image.new("RGB", (2, 2))
    image = ipywidgets.Image(format="png")
    save = Download.picture(image, "x.png")
    try:
        assert save.button.disabled
        buf = io.BytesIO()
        picture.save(buf, format="PNG")
        image.value = buf.getvalue()
        assert not save.button.disabled
        failing = Download(lambda: (_ for _ in ()).throw(ValueError("compute <it> first")), "f.csv", label="CSV")
        failing.button.click()
        assert "⚠ compute &lt;it&gt; first" in failing.link.value and "<it>" not in failing.link.value
        failing.close()
    finally:
        save.close()
    assert image._trait_notifiers.get("value", {}).get("change", []) == []


def test_the_statistics_table_saves_every_number_in_full(st, opened, cifar_model, cifar_test):
    st.index = 12
    table = StatsTable(st)
    opened(table)
    name, mime, data = downloaded(find(table, Download))
    assert (name, mime) == ("cnnviz-layer-stats-image12.csv", "text/csv")
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    assert [r["layer"] for r in rows] == ["conv1_act", "conv2_act", "conv3_act", "conv4_act", "dense1_act"]
    for row in rows:
        out = sub_model_output(cifar_model, row["layer"], cifar_test[0][12])
        assert row["shape"] == "x".join(str(d) for d in out.shape)
        for key, value in (("mean", out.mean()), ("std", out.std()), ("min", out.min()), ("max", out.max()),
                           ("sparsity", np.mean(out <= 0.01))):
            assert float(row[key]) == pytest.approx(float(value), rel=1e-4, abs=1e-5), (row["layer"], key)


def test_the_confusion_matrix_is_saved_with_the_models_counts(st, opened, cifar_model, cifar_test):
    explorer = MisclassificationExplorer(st, blocking=True)
    opened(explorer)
    save = find(explorer, Download)
    save.button.click()
    assert "compute the confusion matrix first" in save.link.value
    explorer.compute()
    name, mime, data = downloaded(save)
    assert (name, mime) == ("cnnviz-confusion-matrix.csv", "text/csv")
    images, labels, names = cifar_test
    probs = cifar_model.predict(images[:1000].astype(np.float32) / 255.0, batch_size=250, verbose=0)
    expected = np.zeros((10, 10), int)
    for t, p in zip(labels[:1000], probs.argmax(axis=1)):
        expected[t, p] += 1
    rows = list(csv.reader(io.StringIO(data.decode())))
    assert rows[0] == ["true \\ predicted", *names]
    assert [r[0] for r in rows[1:]] == list(names)
    np.testing.assert_array_equal(np.array([[int(v) for v in r[1:]] for r in rows[1:]]), expected)


# --------------------------------------------------------------------------- the link to this view

def test_the_link_field_shows_the_page_address_of_the_current_view(st, monkeypatch):
    monkeypatch.setenv("VOILA_PREHEAT", "False")
    monkeypatch.setenv("QUERY_STRING", "image=1")
    monkeypatch.setenv("VOILA_REQUEST_URL", "http://127.0.0.1:8866/?image=1")
    board = Dashboard(st)
    try:
        assert board.link.field is None
        board.link.button.click()
        field = board.link.field.value
        assert "value=\"http://127.0.0.1:8866/?image=0&amp;layer=conv1_act&amp;heatmap=activation\"" in field
        assert "readonly" in field
        # While shown it follows the view.
        st.index = 42
        st.layer = "conv2_act"
        board.open_section("heatmap").mode.value = "grad-cam"
        st.class_index = 3
        board.open_tool("TopImages")
        expected = "image=42&layer=conv2_act&heatmap=grad-cam&class=cat&panel=TopImages"
        assert board.link.url() == "http://127.0.0.1:8866/?" + expected
        assert html.escape("http://127.0.0.1:8866/?" + expected) in board.link.field.value
        assert f"href=\"{html.escape('?' + expected)}\"" in board.link.field.value
    finally:
        board.close()


def test_outside_voila_the_field_holds_a_relative_link_and_says_so(st, monkeypatch):
    for name in ("QUERY_STRING", "VOILA_REQUEST_URL", "VOILA_PREHEAT"):
        monkeypatch.delenv(name, raising=False)
    link = ViewLink(lambda: "image=3", lambda: page_address({}))
    link.button.click()
    assert "value=\"?image=3\"" in link.field.value and "Add this to the end" in link.field.value
    link.close()


def test_a_linked_view_opens_every_part_of_it(st, monkeypatch):
    monkeypatch.setenv("QUERY_STRING", "image=42&layer=conv2_act&heatmap=gradcam&class=cat&panel=TopImages")
    monkeypatch.delenv("VOILA_PREHEAT", raising=False)
    board = Dashboard(st)
    try:
        board.follow_address()
        assert (st.index, st.layer, st.class_index) == (42, "conv2_act", 3)
        overlay = board.panels["heatmap"]
        assert overlay.mode.value == "grad-cam" and overlay.layer_shown == "conv2_act"
        assert isinstance(board.tool_panels[board.tools.selected_index], TopImages)
        assert st.status == ""
    finally:
        board.close()


def test_a_hostile_link_keeps_the_first_view_and_says_why_escaped(st):
    board = Dashboard(st)
    try:
        before = (st.index, st.layer, st.class_index, board.open_section("heatmap").mode.value,
                  board.tools.selected_index)
        parsed = board.open_view("image=99999&layer=<script>alert(1)</script>&panel=TopImages")
        assert not parsed.ok
        assert (st.index, st.layer, st.class_index, board.panels["heatmap"].mode.value,
                board.tools.selected_index) == before
        assert st.status.startswith("⚠ This link could not be opened")
        assert "image 99999 is out of range" in st.status
        shown = board.status.html.value
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in shown and "<script>" not in shown
    finally:
        board.close()


def test_a_preheated_kernel_opens_the_view_once_voila_sends_the_request(st, monkeypatch):
    """Voilà's own request-info websocket on a real Tornado server: the dashboard waits in a thread
    and opens the view when the request arrives, without holding up anything before. The kernel
    inherited another page's request variables from the server (as a server started from a
    page's kernel, or from this test process, passes them on): they must not count as its own.
    The server is not listening yet when the kernel first tries: it tries again, and gets the
    request that Voilà kept for it meanwhile."""
    import asyncio
    import json
    import socket

    import tornado.httpserver
    import tornado.web
    from voila.request_info_handler import RequestInfoSocketHandler

    from cnnviz_widgets.serving import page_request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Set (not merely deleted) first, so that the test leaves none of them behind: what the
    # request sets would otherwise stay in this process and pass to every server started later.
    for name in REQUEST_VARIABLES:
        monkeypatch.setenv(name, "inherited")
    monkeypatch.setenv("QUERY_STRING", "image=5")
    monkeypatch.delenv("VOILA_WS_BASE_URL", raising=False)
    monkeypatch.setenv("VOILA_PREHEAT", "True")
    # A kernel id of this test's own, and Voilà's class-wide tables of waiting kernels and kept
    # requests fresh for it: nothing another test left there can take or answer its request.
    kernel_id = f"k-{uuid.uuid4()}"
    monkeypatch.setattr(RequestInfoSocketHandler, "_waiters", {})
    monkeypatch.setattr(RequestInfoSocketHandler, "_cache", {})
    monkeypatch.setenv("VOILA_KERNEL_ID", kernel_id)
    monkeypatch.setenv("VOILA_APP_IP", "127.0.0.1")
    monkeypatch.setenv("VOILA_APP_PORT", str(port))
    monkeypatch.setenv("VOILA_SERVER_URL", "/")
    monkeypatch.setenv("VOILA_REQUEST_URL", "http://127.0.0.1:1/?image=5")  # another page's
    monkeypatch.setattr(page_request, "KERNEL_REQUEST", page_request.PageRequest())
    board = Dashboard(st)
    ready, holder = threading.Event(), {}

    def serve():
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        server = tornado.httpserver.HTTPServer(
            tornado.web.Application([(r"/voila/query/(.*)", RequestInfoSocketHandler)]))
        server.listen(port, "127.0.0.1")
        holder["loop"] = loop
        # The page's request, before the kernel is connected: Voilà keeps it for the kernel.
        info = {"QUERY_STRING": "image=9&layer=conv1_act", "SERVER_NAME": "teacher-pc", "SERVER_PORT": "8866",
                "SCRIPT_NAME": "/", "SERVER_PROTOCOL": "HTTP/1.1", "PATH_INFO": "", "SERVER_SOFTWARE": "voila"}
        RequestInfoSocketHandler.send_updates({"kernel_id": kernel_id, "payload": json.dumps(info)})
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    try:
        # Asked from a thread with no event loop, as plain Python asks: the view then opens on the
        # waiting thread. (On this process's main thread, a Playwright page that a browser test
        # opened earlier leaves its event loop marked as running, and the view would wait for it.)
        asked = {}
        asking = threading.Thread(target=lambda: asked.update(waiter=board.follow_address()))
        asking.start()
        asking.join(10)
        waiter = asked["waiter"]
        assert waiter is not None and waiter.is_alive()
        assert st.index == 0 and board.link.url().startswith("?")
        assert "QUERY_STRING" not in os.environ
        thread.start()
        assert ready.wait(10)
        waiter.join(30)
        assert not waiter.is_alive()
        assert (st.index, st.layer) == (9, "conv1_act"), (os.environ.get("QUERY_STRING"), st.status)
        assert board.link.url() == "http://teacher-pc:8866/?image=9&layer=conv1_act&heatmap=activation"
        # Asked again in the same kernel, the address is known at once.
        known = []
        assert page_request.when_address_known(known.append) is None
        assert [a.query for a in known] == ["image=9&layer=conv1_act"]
    finally:
        board.close()
        if "loop" in holder:
            holder["loop"].call_soon_threadsafe(holder["loop"].stop)
        thread.join(5)
