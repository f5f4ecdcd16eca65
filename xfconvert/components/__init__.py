"""Multi-module detectors: AGIPD, LPD, DSSC and JUNGFRAU modules as one array.

Examples
--------
>>> import tempfile, pathlib
>>> from xfconvert import RunDirectory
>>> from xfconvert.testing import make_run
>>> from xfconvert.components import AGIPD1M, identify_multimod_detectors
>>> run = RunDirectory(make_run(pathlib.Path(tempfile.mkdtemp()) / "r1", detector="agipd",
...                             corrected=True, corrected_naming="2026", n_modules=2,
...                             module_shape=(8, 4), n_trains=2, slow_data=False))
>>> identify_multimod_detectors(run) == {("SPB_DET_AGIPD1M-1", AGIPD1M)}
True
>>> AGIPD1M(run).get_array("image.data").dims
('module', 'train', 'pulse', 'slow_scan', 'fast_scan')
"""
from .base import MultimodDetectorBase
from .jungfrau import JUNGFRAU
from .keydata import MultimodKeyData, XtdfImageMultimodKeyData
from .naming import RawDataWarning, identify_multimod_detectors
from .stacking import StackView, stack_detector_data
from .xtdf import AGIPD1M, AGIPD500K, DSSC1M, LPD1M, LPDSolo, XtdfDetectorBase

__all__ = [
    "AGIPD1M", "AGIPD500K", "DSSC1M", "JUNGFRAU", "LPD1M", "LPDSolo", "MultimodDetectorBase",
    "MultimodKeyData", "RawDataWarning", "StackView", "XtdfDetectorBase",
    "XtdfImageMultimodKeyData", "identify_multimod_detectors", "stack_detector_data",
]
