"""The classroom mode under its short name: ``python -m cnnviz_widgets.classroom --students N``.

The code lives in ``serving/classroom.py``; this name stays so that the command, and a Voilà
configuration naming ``cnnviz_widgets.classroom.GuardedKernelManager``, keep working.
"""
from .serving.classroom import ClassroomKernelManager, GuardedKernelManager, main, voila_arguments

__all__ = ["ClassroomKernelManager", "GuardedKernelManager", "main", "voila_arguments"]

if __name__ == "__main__":
    main()
