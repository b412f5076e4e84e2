"""Links that reopen a view: the address query read and written, and the page's address from
what Voilà puts in a kernel's environment. Expected values are written out by hand."""
from __future__ import annotations

import pytest

from cnnviz_widgets.links import Choices, PageAddress, View, page_address, parse_view, view_query

NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CHOICES = Choices(
    images=10_000,
    layers=("conv1", "conv1_act", "conv2_act", "dense1_act", "predictions"),
    heatmaps=(("activation", "activation"), ("Grad-CAM", "grad-cam"),
              ("Integrated gradients", "integrated-gradients")),
    class_names=NAMES,
    panels=("MisclassificationExplorer", "TopImages", "TrainPanel"),
)


def test_the_readme_example_asks_for_every_part_of_a_view():
    parsed = parse_view("?image=42&layer=conv2_act&heatmap=gradcam&class=cat&panel=TopImages", CHOICES)
    assert parsed.ok and parsed.ignored == ()
    assert parsed.view == View(image=42, layer="conv2_act", heatmap="grad-cam", class_index=3, panel="TopImages")


def test_a_partial_query_leaves_the_rest_as_it_is():
    assert parse_view("image=0", CHOICES).view == View(image=0)
    assert parse_view("", CHOICES).view == View()
    assert parse_view(None, CHOICES).view == View()


@pytest.mark.parametrize("given, method", [
    ("gradcam", "grad-cam"), ("Grad-CAM", "grad-cam"), ("GRAD_CAM", "grad-cam"), ("grad-cam", "grad-cam"),
    ("activation", "activation"), ("integratedgradients", "integrated-gradients"),
    ("Integrated%20gradients", "integrated-gradients"),
])
def test_a_heatmap_method_is_any_name_the_panel_offers_in_any_spelling(given, method):
    assert parse_view(f"heatmap={given}", CHOICES).view.heatmap == method


@pytest.mark.parametrize("given, index", [("cat", 3), ("Cat", 3), ("DOG", 5), ("3", 3), ("0", 0), ("9", 9),
                                          ("predicted", None)])
def test_a_class_is_a_name_or_an_index(given, index):
    parsed = parse_view(f"class={given}", CHOICES)
    assert parsed.ok and parsed.view.class_index == index


def test_a_panel_is_its_widget_class_name_in_any_case():
    assert parse_view("panel=topimages", CHOICES).view.panel == "TopImages"


def test_the_hostile_link_is_refused_with_a_reason_for_each_value():
    parsed = parse_view("image=99999&layer=<script>alert(1)</script>", CHOICES)
    assert not parsed.ok
    assert parsed.view == View()
    assert parsed.problems == (
        "image 99999 is out of range: the images are numbered 0 … 9999",
        "layer '<script>alert(1)</script>' not found; layers are: conv1, conv1_act, conv2_act, dense1_act, "
        "predictions",
    )


@pytest.mark.parametrize("query, problem", [
    ("image=-1", "image '-1' is not an image number (a whole number such as 42)"),
    ("image=1e3", "image '1e3' is not an image number (a whole number such as 42)"),
    ("image=%D9%A3", "image '٣' is not an image number (a whole number such as 42)"),  # an Arabic-Indic 3
    ("image=10000", "image 10000 is out of range: the images are numbered 0 … 9999"),
    ("image=", "image is empty"),
    ("image=1&image=2", "image is given 2 times"),
    ("layer=CONV1", "layer 'CONV1' not found; layers are: conv1, conv1_act, conv2_act, dense1_act, predictions"),
    ("heatmap=saliency", "heatmap 'saliency' is not a heatmap method; methods are: activation, grad-cam, "
                         "integrated-gradients"),
    ("class=10", "class 10 is out of range: the classes are numbered 0 … 9"),
    ("class=unicorn", "class 'unicorn' not found; classes are: airplane, automobile, bird, cat, deer, dog, "
                      "frog, horse, ship, truck"),
    ("panel=os.system", "panel 'os.system' not found; panels are: MisclassificationExplorer, TopImages, "
                        "TrainPanel"),
    ("layer=" + "x" * 100, "layer '" + "x" * 40 + "…' not found; layers are: conv1, conv1_act, conv2_act, "
                           "dense1_act, predictions"),
])
def test_each_bad_value_says_what_is_wrong(query, problem):
    parsed = parse_view(query, CHOICES)
    assert parsed.problems == (problem,)
    assert parsed.view == View()


def test_spaces_around_a_value_do_not_matter():
    assert parse_view("image=+42+&layer=%20conv1", CHOICES).view == View(image=42, layer="conv1")


def test_too_many_parameters_is_no_link_of_the_dashboard():
    parsed = parse_view("&".join(f"k{i}=1" for i in range(50)), CHOICES)
    assert parsed.problems == ("the address has more than 20 parameters",)


def test_parameters_that_are_not_the_dashboards_are_ignored_but_named():
    parsed = parse_view("student=b&image=5&theme=dark", CHOICES)
    assert parsed.ok and parsed.view == View(image=5)
    assert parsed.ignored == ("student",)


def test_a_view_is_written_as_the_readme_writes_it():
    view = View(image=42, layer="conv2_act", heatmap="grad-cam", class_index=3, panel="TopImages")
    assert view_query(view, NAMES) == "image=42&layer=conv2_act&heatmap=grad-cam&class=cat&panel=TopImages"
    assert view_query(View(image=7)) == "image=7"
    assert view_query(View(class_index=3)) == "class=3"
    # A class name with a space or an ampersand survives the round trip.
    odd = ("pick up", "A&B")
    written = view_query(View(class_index=1), odd)
    assert written == "class=A%26B"
    assert parse_view(written, Choices(1, (), (), odd, ())).view.class_index == 1
    assert parse_view(view_query(view, NAMES), CHOICES).view == view


# --------------------------------------------------------------------------- the page's address

def test_a_kernel_started_for_its_page_knows_the_whole_address():
    env = {"VOILA_PREHEAT": "False", "QUERY_STRING": "image=4",
           "VOILA_REQUEST_URL": "http://127.0.0.1:8866/?image=4", "SERVER_NAME": "127.0.0.1"}
    address = page_address(env)
    assert address == PageAddress("image=4", "http://127.0.0.1:8866/")
    assert address.link("image=5&layer=conv1") == "http://127.0.0.1:8866/?image=5&layer=conv1"


def test_behind_a_path_the_address_keeps_it():
    env = {"QUERY_STRING": "", "VOILA_REQUEST_URL": "https://hub.example/user/ann/voila/render/dashboard.ipynb"}
    assert page_address(env).link("image=1") == "https://hub.example/user/ann/voila/render/dashboard.ipynb?image=1"


def test_a_preheated_kernel_knows_nothing_before_a_page_takes_it():
    # The request address it was started with is another student's page.
    env = {"VOILA_PREHEAT": "True", "VOILA_REQUEST_URL": "http://10.1.1.1:8866/?image=9"}
    assert page_address(env) == PageAddress(None, None)


def test_a_preheated_kernel_builds_the_address_from_the_request_it_waited_for():
    env = {"VOILA_PREHEAT": "True", "VOILA_REQUEST_URL": "http://10.1.1.1:8866/?image=9",
           "QUERY_STRING": "image=3", "SERVER_NAME": "teacher-pc", "SERVER_PORT": "8866", "SCRIPT_NAME": "/"}
    assert page_address(env) == PageAddress("image=3", "http://teacher-pc:8866/")
    env.update(SERVER_PORT="", SCRIPT_NAME="/class/")
    assert page_address(env).link("image=1") == "http://teacher-pc/class/?image=1"


def test_outside_voila_the_link_is_relative():
    assert page_address({}) == PageAddress(None, None)
    assert page_address({}).link("image=2") == "?image=2"
