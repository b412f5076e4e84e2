"""Importing cnnviz_widgets keeps TensorFlow's C++ start-up lines out of the terminal.

Each test starts a fresh Python, because TensorFlow reads its log level once, when it is imported,
and writes those lines only then.
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from helpers import TF_NOISE, environ_without_tf_log_level

from cnnviz_widgets.tf_logging import stderr_to_devnull

SCRIPT = """
import os, sys
import cnnviz_widgets
from cnnviz_widgets import ModelState
print("tensorflow" in sys.modules)
state = ModelState.from_default()
state.index = 7
print(os.environ["TF_CPP_MIN_LOG_LEVEL"], len(state.images))
"""


def run_python(code: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
@pytest.mark.parametrize("level", [None, "3"], ids=["level unset", "level 3 set by the user"])
def test_the_package_and_its_first_model_run_print_no_tensorflow_logs(cifar_dir, level):
    # TF_CPP_MIN_LOG_LEVEL=3 alone does not keep those lines away (they come before TensorFlow
    # reads it), so a user who sets it, as a server's environment often does, is helped too.
    extra = {} if level is None else {"TF_CPP_MIN_LOG_LEVEL": level}
    run = run_python(SCRIPT, environ_without_tf_log_level(CNNVIZ_CIFAR10_DIR=str(cifar_dir), **extra))
    assert run.returncode == 0, run.stderr
    # TensorFlow is imported when first needed, not with the package; then the default level
    # applies, and the state holds the 10,000 CIFAR-10 test images.
    assert run.stdout == "False\n3 10000\n"
    assert not TF_NOISE.search(run.stderr + run.stdout), run.stderr
    assert run.stderr == ""


@pytest.mark.slow
def test_a_log_level_the_user_chose_is_kept_and_shows_the_logs():
    # The counterpart of the test above: on this machine TensorFlow does print those lines when
    # asked to, so their absence above is the package's doing.
    code = "import os, cnnviz_widgets, keras; print(os.environ['TF_CPP_MIN_LOG_LEVEL'])"
    run = run_python(code, environ_without_tf_log_level(TF_CPP_MIN_LOG_LEVEL="0"))
    assert run.returncode == 0, run.stderr
    assert run.stdout == "0\n"
    assert TF_NOISE.search(run.stderr), run.stderr


def test_stderr_to_devnull_hides_what_is_written_to_the_descriptor_inside_only(capfd):
    os.write(2, b"before\n")
    with stderr_to_devnull():
        os.write(2, b"hidden from the terminal\n")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "before\nafter\n"
