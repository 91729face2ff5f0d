"""What registration found (registration.Estimate), as plain data with plain words, kept with
a placed result (``Placement.alignment``, the layer's stored request) and shown by the CLI.

An answer in place (under registration.ALIGNED) says nothing; a drift taken out is recorded
(``note``), with a ``warning`` only when it is large; an estimate refused says why (``note``)
and changes nothing.
"""

from __future__ import annotations

from bianxie_core import registration
from bianxie_core.geometry import Bounds
from bianxie_core.i18n import _, join_sentences

# A corrected drift is worth a warning from this share of the region's longer side on: the
# answer was resampled more than a little, and its edges may have been cut.
LARGE_DRIFT = 0.03


def describe(estimate: registration.Estimate, framing: str, region: Bounds) -> dict:
    """What registration found, as plain data for the stored request, with a sentence
    (``note``) and, for a large drift, a ``warning``."""
    found = {"status": estimate.status, "moved": round(estimate.displacement, 2)}
    if framing != "stretch":
        found["framing"] = framing
    if estimate.drift is not None and estimate.status != "refused":
        found.update(estimate.drift.summary())
    if estimate.status == "refused":
        found["reason"] = estimate.reason
        found["note"] = {
            "little-kept": _("The answer was not aligned: too little of the picture around "
                             "the selection was kept to measure a drift."),
            "flat": _("The answer was not aligned: the picture around the selection is too "
                      "plain to measure a drift."),
            "ambiguous": _("The answer was not aligned: the picture around the selection "
                           "repeats itself, so its drift cannot be told."),
        }.get(estimate.reason, _("The answer was not aligned: the picture around the "
                                 "selection does not match the original closely enough."))
    elif estimate.status == "corrected":
        dx, dy = estimate.drift.shift
        text = _("The server's answer had drifted by up to {moved} px (shifted {dx}, {dy} px, "
                 "scaled {scale} %, rotated {angle}°); it was moved back into place.").format(
            moved=_number(estimate.displacement), dx=_number(dx, signed=True),
            dy=_number(dy, signed=True),
            scale=_number((estimate.drift.scale - 1) * 100, 2, signed=True),
            angle=_number(estimate.drift.rotation, 2, signed=True))
        found["note"] = text
        if estimate.displacement > LARGE_DRIFT * max(region.width, region.height):
            found["warning"] = join_sentences(text, _(
                "So large a drift may have softened the result or left its edges short: check "
                "them."))
    return found


def _number(value: float, places: int = 1, signed: bool = False) -> str:
    return format(value, ("+" if signed else "") + ".%df" % places)
