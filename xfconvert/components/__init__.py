"""Multi-module detectors: AGIPD, LPD, DSSC and JUNGFRAU modules as one array.

Examples
--------
>>> from xfconvert.components import AGIPD1M, identify_multimod_detectors
>>> det = AGIPD1M(run)                                    # doctest: +SKIP
>>> arr = det.get_array('image.data', pulses=by_id[0:8])  # doctest: +SKIP
"""
from .base import MultimodDetectorBase, MultimodKeyData, identify_multimod_detectors
from .jungfrau import JUNGFRAU
from .stacking import StackView, stack_detector_data
from .xtdf import AGIPD1M, AGIPD500K, DSSC1M, LPD1M, XtdfDetectorBase

__all__ = [
    "AGIPD1M", "AGIPD500K", "DSSC1M", "JUNGFRAU", "LPD1M", "MultimodDetectorBase",
    "MultimodKeyData", "StackView", "XtdfDetectorBase", "identify_multimod_detectors",
    "stack_detector_data",
]
