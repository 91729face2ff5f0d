"""The plug-in's own error: one plain sentence for the user and the PDB status to return.
The core's errors (``bianxie_core.errors``) are mapped onto statuses in ``run``."""

from gi.repository import Gimp


class Failure(Exception):
    def __init__(self, message, status=Gimp.PDBStatusType.EXECUTION_ERROR):
        super().__init__(message)
        self.status = status
