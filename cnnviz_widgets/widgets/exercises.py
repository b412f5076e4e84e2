"""The page's five exercises as a path: each question, where to look, a done mark kept for the
session, and an answer measured on the model and the images (``compute.exercises``)."""
from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass

import ipywidgets as widgets
import numpy as np
import traitlets

from .. import compute
from .base import StateWidget, set_visible, shared_layout
from .jobs import JobBar

#: CSS class of the list; the dashboard's style sheet sizes its controls.
PATH_CLASS = "cnnviz-exercises"
#: The images exercise 3 asks about, by class name (the guide's plane, cat and ship).
HEATMAP_CLASSES = ("airplane", "cat", "ship")


@dataclass(frozen=True)
class Exercise:
    """One exercise of the path.

    number : its place on the path (1 …); title : a few words; where : the part of the page it uses,
    as the student reads it ("sections 4 and 5"); section : the key of the dashboard section whose
    note repeats it, or None for an exercise that is a panel of its own (``panel``, a class name);
    question, look : what to find out and what to look at (HTML); answer : ``answer(state, progress)``,
    the answer as HTML, worked out from the state's model and images.
    """

    number: int
    title: str
    where: str
    question: str
    look: str
    answer: Callable
    section: str | None = None
    panel: str | None = None

    def note(self) -> str:
        """The exercise as the note of the section that holds it says it."""
        return f"<i><b>Exercise {self.number}</b> · {self.question} {self.look}</i>"


def _first_conv(state):
    """``(stage, conv)``: the first conv stage's last layer and its convolution layer."""
    stages = compute.conv_stages(state.model)
    if not stages:
        raise ValueError("this model has no convolution stage")
    starts = dict(zip((i.name for i in state.layers), compute.stage_starts(state.layers)))
    return stages[0], starts[stages[0]].name


def filters_answer(state, progress=None) -> str:
    """Exercise 1: the first conv layer's filters for blue, red, horizontal and vertical edges."""
    _stage, conv = _first_conv(state)
    kernel, _bias = compute.conv_filters(state.model, conv)
    if kernel.ndim != 4 or kernel.shape[2] != 3:
        raise ValueError(f"{conv} does not read the three colours of a picture, so no filter looks for one")
    picks = compute.filter_picks(kernel)
    return (f"Measured on {conv}'s weights (what section 5 draws): filter <b>{picks.blue}</b> leans most to "
            f"blue and filter <b>{picks.red}</b> most to red; filter <b>{picks.horizontal}</b> is the "
            f"clearest horizontal edge (its top and bottom rows differ the most) and filter "
            f"<b>{picks.vertical}</b> the clearest vertical edge (its left and right columns). The map "
            f"with the same number in section 4 lights up where the picture has that colour or edge.")


def stages_answer(state, progress=None) -> str:
    """Exercise 2: how alike the compared images are at each conv stage."""
    stages = compute.conv_stages(state.model)
    if not stages or len(state.compare) < 2:
        raise ValueError("comparing needs a model with conv stages and at least two images")
    outputs = {s: [] for s in stages}
    for i in state.compare:
        inspection = state.inspect(i)
        for s in stages:
            outputs[s].append(inspection.outputs[s])
    alike = {s: compute.stage_similarity(np.stack(outputs[s])) for s in stages}
    least = min(alike, key=alike.get)
    values = " · ".join(f"{s} {alike[s]:.2f}" for s in stages)
    return (f"How alike the {len(state.compare)} images are at each stage, measured here for you from "
            f"every channel (the mean cosine similarity of their whole outputs; 1 is the same pattern, "
            f"0 nothing in common): {values}. "
            f"They differ most at <b>{least}</b>: that stage tells them apart best.")


def _heatmap_images(state) -> list:
    """The first labelled image of each class of ``HEATMAP_CLASSES``, else the first compared images."""
    names = state.class_names
    if state.labels is not None and all(n in names for n in HEATMAP_CLASSES):
        found = [np.flatnonzero(state.labels == names.index(n)) for n in HEATMAP_CLASSES]
        if all(len(f) for f in found):
            return [int(f[0]) for f in found]
    return list(state.compare[:3])


def heatmap_answer(state, progress=None) -> str:
    """Exercise 3: where Grad-CAM (last spatial layer, predicted class) is strongest for three images."""
    layer = compute.last_spatial_layer(state.model)
    parts = []
    for i in _heatmap_images(state):
        inspection = state.inspect(i)
        cam = state.grad_cam(layer=layer, class_index=inspection.predicted, index=i)
        place, share = compute.heat_place(cam)
        parts.append(f"image <b>#{i}</b> ({html.escape(state.caption(inspection))}): strongest in the "
                     f"<b>{place}</b>, with {100 * share:.0f} % of the map")
    return (f"Grad-CAM of {layer} for the predicted class, on a 3×3 grid of the picture (an even spread "
            "would put 11 % in each part); type each number in step 1 to see it: "
            + "; ".join(parts) + ". Is that where the wings, the face and the ship are?")


def _probabilities(state, progress):
    if state.labels is None:
        raise ValueError("these images have no true classes, so nothing is right or wrong; go back to "
                         "the test images (step 1)")
    return state.predictions(progress)


def confusion_answer(state, progress=None) -> str:
    """Exercise 4: the weakest class and what it is taken for."""
    found = compute.class_mistakes(_probabilities(state, progress), state.labels)
    names = state.class_names
    t, p = found.worst_pair
    known = int((state.labels >= 0).sum())
    return (f"The network gets {100 * found.accuracy:.1f} % of the {known:,} images right. Its weakest class "
            f"is <b>{names[found.weakest]}</b>: {100 * found.weakest_accuracy:.1f} % of them right; the "
            f"class it most often takes one for is <b>{names[found.confused_with]}</b> "
            f"({found.confused_count:,} images). The most common mistake of all is {names[t]} → {names[p]} "
            f"({found.worst_count:,} images).")


def confidence_answer(state, progress=None) -> str:
    """Exercise 5: how many mistakes are made with high confidence, and the surest one."""
    found = compute.sure_mistakes(_probabilities(state, progress), state.labels)
    if found.most is None:
        return "The network makes no mistake on these images."
    names, i = state.class_names, found.most
    predicted = int(state.predictions()[i].argmax())
    return (f"Yes: <b>{found.count:,}</b> of its {found.wrong:,} wrong answers come with more than "
            f"{100 * found.threshold:.0f} % confidence. The surest mistake is image <b>#{i}</b> (the third "
            f"example of “find”): true class {names[state.labels[i]]}, predicted {names[predicted]} at "
            + (f"{100 * found.most_confidence:.2f} %." if found.most_confidence < 0.99995 else "over 99.99 %."))


#: The path, in page order.
EXERCISES = (
    Exercise(1, "Filters and feature maps", "sections 4 and 5",
             "Which filters of the first layer look for blue, which for red, which for horizontal and "
             "which for vertical edges?",
             "Look at the numbered maps of conv1_act in section 4, then the filters with the same numbers "
             "in section 5.", filters_answer, section="features"),
    Exercise(2, "Telling images apart", "section 9",
             "At which stage do the five images differ the most?",
             "In section 9 each row is one image and each column one stage: compare the columns, from "
             "the first stage (left) to the last (right).", stages_answer,
             section="compare"),
    Exercise(3, "Where the network looks", "section 11",
             "For a plane, a cat and a ship, does the network look where you would: the wings, the face, "
             "the ship or the water?",
             "Choose conv4_act in step 2 and switch section 11 to Grad-CAM (leave its class on the "
             "prediction). Then pick a plane, a cat and a ship with the class filter of step 1; the "
             "answer uses the first of each class in the image set.", heatmap_answer, section="heatmap"),
    Exercise(4, "Find misclassifications", "the panel “Exercise 4” at the bottom",
             "Which class does the network get wrong most often, and what does it take it for?",
             "Open the panel, press “compute confusion matrix” and read the rows.", confusion_answer,
             panel="MisclassificationExplorer"),
    Exercise(5, "Confident or unsure?", "the panel “Exercise 5” at the bottom",
             "Is the network ever sure and wrong?",
             "Open the panel, press “find the three examples” and compare the third with the first.",
             confidence_answer, panel="ConfidenceAnalysis"),
)


class ExercisePath(StateWidget):
    """The exercises as a list: each with its question, where to look, a *done* box and an *answer*
    button that works the answer out from the model and the images (in the background, since some
    need a pass over every image) and shows it under the question.

    Nothing is computed until an answer is asked for, so the list costs the first screen nothing
    but its few controls (their sizes come from the page's style sheet, not from a layout model
    each; the progress bar is made with the first answer). The done marks are the student's for
    the session and survive a change of model; the answers are worked out again for a new model
    or new images.

    >>> path = ExercisePath(state, blocking=True)   # doctest: +SKIP
    >>> path.show_answer(4); path.answers[4]         # doctest: +SKIP
    'The network gets 84.0 % of the 10,000 images right. …'
    """

    done = traitlets.Tuple(help="The numbers of the exercises marked done, in order.")

    def __init__(self, state, exercises=EXERCISES, blocking: bool = False, **kwargs):
        super().__init__(state, **kwargs)
        self.add_class(PATH_CLASS)
        self.exercises = {ex.number: ex for ex in exercises}
        self.blocking = blocking
        #: The answers worked out so far for the current model and images, by exercise number.
        self.answers: dict = {}
        self._pending: list = []
        self._job = None
        self.checks, self.buttons, self.texts = {}, {}, {}
        rows = []
        for n in self.exercises:
            # The kernel's shared layout: these never change theirs (the style sheet sizes them).
            self.checks[n] = widgets.Checkbox(False, description=f"{n} done", indent=False,
                                              layout=shared_layout())
            self.buttons[n] = widgets.ToggleButton(False, description="answer", icon="lightbulb-o",
                                                   tooltip=f"Show the answer of exercise {n}, worked out "
                                                           "from the model and the images",
                                                   layout=shared_layout())
            self.texts[n] = widgets.HTML()
            self.checks[n].observe(self._on_check, names="value")
            self.buttons[n].observe(self._on_answer_button, names="value")
            self._render_text(n)
            rows.append(widgets.HBox([self.checks[n], self.texts[n], self.buttons[n]]))
        self.children = rows
        self._observe(self._on_version, ["version"])

    @property
    def job(self) -> JobBar:
        """The progress bar of the answers' work, made (and shown under the list) when first needed."""
        if self._job is None:
            self._job = JobBar(self._report_error, blocking=self.blocking)
            self.children = [*self.children, self._job]
        return self._job

    def _report_error(self, exc):
        self.state.status = f"⚠ {type(self).__name__}: {exc}"

    def _on_check(self, change):
        self.done = tuple(n for n, check in self.checks.items() if check.value)

    @traitlets.observe("done")
    def _on_done(self, change):
        for n, check in self.checks.items():
            if check.value != (n in change["new"]):
                check.value = n in change["new"]

    def _on_version(self, change):
        # Answers belong to the model and images they were worked out from.
        self.answers = {}
        self._pending = []
        for n, button in self.buttons.items():
            button.value = False
            self._render_text(n)

    def _on_answer_button(self, change):
        n = next(n for n, button in self.buttons.items() if button is change["owner"])
        if change["new"]:
            self.show_answer(n)
        else:
            self._render_text(n)

    def show_answer(self, number: int):
        """Show the answer of exercise ``number``, working it out first when needed."""
        if self.buttons[number].value is not True:
            self.buttons[number].value = True  # comes back here through the button's observer
            return
        if number not in self.answers and number not in self._pending:
            self._pending.append(number)
        self._render_text(number)
        self._next()

    def _next(self):
        if not self._pending or (self._job is not None and self._job.running):
            return
        number = self._pending.pop(0)
        exercise = self.exercises[number]
        version = self.state.version

        def done(text):
            if version == self.state.version:
                self.answers[number] = text

        def end():
            self._render_text(number, failed=number not in self.answers)
            # The bar is progress, not a result: once every answer asked for is on screen it goes
            # (no "done in 0.0 s" beside a greyed Cancel); a failure or a cancel keeps it in view.
            if not self._pending and number in self.answers:
                set_visible(self.job, False)
            self._next()

        set_visible(self.job, True)
        self.job.start(lambda progress: exercise.answer(self.state, progress), done,
                       f"exercise {number}: working the answer out…", end=end)

    def _render_text(self, number, failed: bool = False):
        ex = self.exercises[number]
        text = f"<b>Exercise {number}</b> ({ex.where}): {ex.question} <span class='cnnviz-note'>{ex.look}</span>"
        if self.buttons[number].value:
            if number in self.answers:
                answer = self.answers[number]
            elif failed:
                answer = "<i>No answer: the line at the top of the page says why.</i>"
            else:
                answer = "<i>Working the answer out…</i>"
            text += f"<div class='cnnviz-answer'><b>Answer:</b> {answer}</div>"
        self.texts[number].value = text
