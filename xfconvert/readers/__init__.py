"""Reading EuXFEL HDF5 files: files, runs, selections and keys."""
from .aliases import AliasIndexer
from .chunks import DataChunk
from .collection import DataCollection
from .file_access import FileAccess
from .keydata import KeyData
from .open import H5File, RunDirectory, open_run
from .selection import by_id, by_index
from .sourcedata import SourceData
from .virtual_stack import read_stack_frames

__all__ = ["AliasIndexer", "DataChunk", "DataCollection", "FileAccess", "KeyData", "SourceData",
           "H5File", "RunDirectory", "open_run", "by_id", "by_index", "read_stack_frames"]
