"""The test run's warning filters (pyproject.toml): the project's own deprecations fail, others show."""
from __future__ import annotations

import warnings

import ipywidgets as widgets
import pytest

WARN = "import warnings\nwarnings.warn('an old call', DeprecationWarning)\n"


def test_a_deprecation_raised_in_the_package_fails_the_test():
    with pytest.raises(DeprecationWarning, match="an old call"):
        exec(WARN, {"__name__": "cnnviz_widgets.widgets.example"})


def test_a_deprecation_raised_elsewhere_is_reported_not_raised():
    # The filters in effect stay those of the test run: record=True only collects what they let through.
    with warnings.catch_warnings(record=True) as caught:
        exec(WARN, {"__name__": "some_library"})
    assert [str(w.message) for w in caught] == ["an old call"]


def test_a_keyword_a_widget_does_not_have_fails_instead_of_vanishing():
    with pytest.raises(DeprecationWarning, match="gap="):
        widgets.Layout(gap="8px")
    assert widgets.Layout(grid_gap="8px").grid_gap == "8px"
