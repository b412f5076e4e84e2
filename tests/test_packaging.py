"""The deployment files agree with pyproject.toml and with the Voilà version they configure."""
from __future__ import annotations

import json
import os
from pathlib import Path

import tomllib
import yaml
from jupyter_client.manager import KernelManager
from jupyter_server.services.kernels.kernelmanager import MappingKernelManager
from packaging.requirements import Requirement
from traitlets import Type
from traitlets.utils.importstring import import_item
from voila.app import Voila
from voila.configuration import VoilaConfiguration
from voila.execute import VoilaExecutor

ROOT = Path(__file__).resolve().parents[1]


def _requirements(lines) -> dict[str, str]:
    """{normalised name: specifier set as text} so that order and spelling of ranges do not matter."""
    parsed = [Requirement(line) for line in lines]
    return {r.name.lower().replace("_", "-"): str(r.specifier) for r in parsed}


def test_environment_yml_pins_the_project_dependencies_and_jupyterlab_as_pyproject_does():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["name"] == "cnnviz"
    assert env["channels"] == ["conda-forge"]
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    assert "python=3.11" in conda and "pip" in conda
    (pip_section,) = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    # Binder opens JupyterLab too: the `lab` extra's pins, so it is the JupyterLab the README installs.
    lab = project["optional-dependencies"]["lab"]
    assert [Requirement(line).name for line in lab] == ["jupyterlab"]
    pinned = _requirements(pip_section)
    required = _requirements(project["dependencies"] + lab)
    assert {name: pinned.get(name) for name in required} == required
    # Anything more (the explanation methods' reference library) is pinned as in an extra.
    extras = _requirements(line for group in project["optional-dependencies"].values()
                           for line in group if not line.startswith("cnnviz"))
    assert {name: extras.get(name) for name in pinned.keys() - required.keys()} == \
        {name: pinned[name] for name in pinned.keys() - required.keys()}


def test_postbuild_installs_the_package_and_fetches_cifar10():
    post_build = ROOT / "postBuild"
    assert os.access(post_build, os.X_OK)
    text = post_build.read_text()
    assert "pip install --no-deps ." in text
    assert "load_cifar10()" in text
    # repo2docker reads only binder/ (or .binder/) when such a folder exists, which would hide both files.
    assert not (ROOT / "binder").exists() and not (ROOT / ".binder").exists()


def test_voila_json_sets_only_real_options():
    config = json.loads((ROOT / "voila.json").read_text())
    classes = {
        "VoilaConfiguration": VoilaConfiguration,
        "VoilaExecutor": VoilaExecutor,
        "MappingKernelManager": MappingKernelManager,
        "KernelManager": KernelManager,
        "Voila": Voila,
    }
    assert set(config) <= set(classes)
    for section, values in config.items():
        options = classes[section].class_traits(config=True)
        unknown = set(values) - set(options)
        assert not unknown, f"{section} has no options {sorted(unknown)}"
        for name, value in values.items():
            if isinstance(options[name], Type):
                # A class named by its import path: Type resolves its own base class only when
                # bound to an instance, so the subclass check is made here.
                base = options[name].klass
                assert issubclass(import_item(value), import_item(base) if isinstance(base, str) else base)
            else:
                options[name].validate(None, value)
    assert config["VoilaConfiguration"]["show_tracebacks"] is False
    assert config["VoilaConfiguration"]["theme"] == "light"
    assert config["MappingKernelManager"]["cull_idle_timeout"] > 0
    # Uploaded .keras files travel over the websocket, whose default limit is 10 MiB.
    assert config["Voila"]["tornado_settings"]["websocket_max_message_size"] >= 200 * 2**20


def test_voila_json_selects_the_installed_template_that_serves_everything_itself():
    from voila.paths import collect_template_paths

    name = json.loads((ROOT / "voila.json").read_text())["VoilaConfiguration"]["template"]
    source = ROOT / "share" / "jupyter" / "voila" / "templates" / name
    # Voilà finds it among the installed templates, and the installed copy is this one (an editable
    # install copies it: reinstall after changing it).
    installed = Path(collect_template_paths(["voila", "nbconvert"], name, prune=True)[0])
    assert installed.name == name
    for part in ("conf.json", "index.html.j2"):
        assert (installed / part).read_text() == (source / part).read_text(), part
    assert json.loads((source / "conf.json").read_text()) == {"base_template": "lab"}
