"""deploy/: the JupyterHub configuration sets only options that exist, passes the project's voila.json
on to each user's Jupyter server, and the Zero to JupyterHub values say the same.

The hub itself runs in tests/ui/test_hub.py; these checks need no server.
"""
from __future__ import annotations

import json
from pathlib import Path

import yaml
from jupyter_server.serverapp import ServerApp
from jupyter_server.services.kernels.kernelmanager import MappingKernelManager
from jupyterhub.app import JupyterHub
from jupyterhub.auth import LocalAuthenticator, PAMAuthenticator
from jupyterhub.proxy import ConfigurableHTTPProxy
from jupyterhub.spawner import LocalProcessSpawner
from jupyterhub.traitlets import ByteSpecification
from traitlets.config import DeferredConfigString, PyFileConfigLoader
from voila.configuration import VoilaConfiguration
from voila.execute import VoilaExecutor

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"


def hub_config():
    return PyFileConfigLoader("jupyterhub_config.py", path=str(DEPLOY)).load_config()


def test_jupyterhub_config_sets_only_real_options():
    config = hub_config()
    classes = {cls.__name__: cls for cls in (JupyterHub, LocalProcessSpawner, LocalAuthenticator,
                                             ConfigurableHTTPProxy)}
    classes["Spawner"] = LocalProcessSpawner
    assert set(config) <= set(classes), set(config) - set(classes)
    for section, values in config.items():
        options = classes[section].class_traits(config=True)
        unknown = set(values) - set(options)
        assert not unknown, f"{section} has no options {sorted(unknown)}"
        # traitlets validates each value as the configured object takes it (TraitError if wrong).
        classes[section](config=config)
    hub = JupyterHub(config=config)
    # Machine accounts, not the dummy authenticator that lets anyone in (for tests only).
    assert hub.authenticator_class is PAMAuthenticator
    assert hub.spawner_class is LocalProcessSpawner
    # The dummy authenticator lets anyone in: only tests may set it.
    assert config.Spawner.default_url == "/voila/render/dashboard.ipynb"
    assert Path(config.Spawner.notebook_dir, "dashboard.ipynb").is_file()
    # The culler runs as a hub service with a role that names it.
    (culler,) = config.JupyterHub.services
    (role,) = config.JupyterHub.load_roles
    assert role["services"] == [culler["name"]]
    assert {"list:users", "read:users:activity", "read:servers", "delete:servers"} <= set(role["scopes"])


def test_user_servers_get_voila_json_settings():
    """The single-user server's own command-line parser reads Spawner.args back as voila.json's values."""
    voila_json = json.loads((ROOT / "voila.json").read_text())
    app = ServerApp()
    app.parse_command_line(hub_config().Spawner.args)
    owners = {"VoilaConfiguration": VoilaConfiguration, "VoilaExecutor": VoilaExecutor,
              "MappingKernelManager": MappingKernelManager, "ServerApp": ServerApp}
    parsed = {}
    for section, values in app.config.items():
        traits = owners[section].class_traits(config=True)
        for name, value in values.items():
            if isinstance(value, DeferredConfigString):
                value = value.get_value(traits[name])
            parsed[name] = traits[name].validate(None, value)
    # Inside a Jupyter server the websocket limit is the server's, not the standalone Voilà app's.
    expected = {**voila_json["VoilaConfiguration"], **voila_json["VoilaExecutor"],
                **voila_json["MappingKernelManager"], **voila_json["Voila"]}
    assert parsed == {name: expected[name] for name in parsed}
    assert parsed["show_tracebacks"] is False and parsed["strip_sources"] is True
    assert parsed["cull_idle_timeout"] == voila_json["MappingKernelManager"]["cull_idle_timeout"] > 0
    assert parsed["tornado_settings"]["websocket_max_message_size"] >= 200 * 2**20


def _bytes(quantity: str) -> int:
    """A memory quantity in bytes, read as KubeSpawner reads the chart's ("1G" is 2**30)."""
    return ByteSpecification().validate(None, quantity)


def test_z2jh_values_say_what_the_one_machine_config_says():
    config = hub_config()
    values = yaml.safe_load((DEPLOY / "z2jh-values.yaml").read_text())
    singleuser = values["singleuser"]
    assert singleuser["defaultUrl"] == config.Spawner.default_url
    assert values["hub"]["config"]["Spawner"]["args"] == config.Spawner.args
    assert values["hub"]["config"]["JupyterHub"]["authenticator_class"] != "dummy"
    assert _bytes(singleuser["memory"]["guarantee"]) == _bytes(config.Spawner.mem_guarantee)
    assert _bytes(singleuser["memory"]["limit"]) == _bytes(config.Spawner.mem_limit)
    # A student's whole pod, measured at 833 MiB RSS with the dashboard drawn, fits its guarantee.
    assert _bytes(singleuser["memory"]["guarantee"]) >= 833 * 2**20
    assert singleuser["cpu"]["limit"] == config.Spawner.cpu_limit
    # A volume on the home folder would hide the repository that repo2docker put there.
    assert singleuser["storage"]["type"] == "none"
    (culler,) = config.JupyterHub.services
    assert values["cull"]["enabled"] is True
    assert f"--timeout={values['cull']['timeout']}" in culler["command"]
