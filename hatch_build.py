"""Build hook: the wheel carries the dashboard notebook and its Voilà settings inside the package.

``dashboard.ipynb`` and ``voila.json`` have one source each, at the top of the repository. A wheel
copies them into ``cnnviz_widgets/``, where the ``cnnviz`` command finds them in any folder. An
editable install leaves them out: a ``cnnviz_widgets`` folder in site-packages would hide the
package itself, and the command finds the originals beside the package folder.
"""
from hatchling.builders.hooks.plugin.interface import BuildHookInterface

APP_FILES = ("dashboard.ipynb", "voila.json")


class AppFilesHook(BuildHookInterface):
    def initialize(self, version, build_data):
        if self.target_name == "wheel" and version == "standard":
            for name in APP_FILES:
                build_data["force_include"][name] = f"cnnviz_widgets/{name}"
