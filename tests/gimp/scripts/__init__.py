"""Batch scripts that run inside GIMP (python-fu-eval), kept as files so linters read them.

``tests.gimp.batch.script(name)`` gives a script's text with ``lib.py`` before it; the line
that imports ``lib`` (there for linters and editors) is left out, as GIMP runs both as one.
"""
