"""xfconvert: read European XFEL runs and convert them to the formats analysis tools want.

Examples
--------
>>> import xfconvert
>>> "RunDirectory" in xfconvert.__all__
True
"""
from .components import (AGIPD1M, AGIPD500K, DSSC1M, JUNGFRAU, LPD1M, LPDSolo,
                         identify_multimod_detectors, stack_detector_data)
from .exceptions import (FileStructureError, NoDataError, OptionError, OutputError,
                         OutputExistsError, PropertyNameError, SourceNameError, TrainIDError,
                         TrainNotFoundError,
                         XfconvertError)
from .readers import (DataChunk, DataCollection, FileAccess, H5File, KeyData, RunDirectory,
                      SourceData, by_id, by_index, open_run, read_stack_frames)

__version__ = "0.1.0"

__all__ = [
    "AGIPD1M", "AGIPD500K", "DSSC1M", "JUNGFRAU", "LPD1M", "LPDSolo", "identify_multimod_detectors",
    "stack_detector_data",
    "DataChunk", "DataCollection", "FileAccess", "H5File", "KeyData", "RunDirectory",
    "SourceData", "by_id", "by_index", "open_run", "read_stack_frames",
    "XfconvertError", "SourceNameError", "PropertyNameError", "TrainIDError",
    "FileStructureError", "NoDataError", "OptionError", "OutputError", "OutputExistsError",
    "TrainNotFoundError",
]
