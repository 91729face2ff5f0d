"""便携AI for GIMP: the pure core shared by the GIMP plug-in and the ``bianxie`` CLI.

Nothing in this package imports GIMP. See docs/architecture.md for the module map.
"""

__version__ = "0.1.0"
