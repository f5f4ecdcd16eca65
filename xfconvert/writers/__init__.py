"""Writers: everything that produces output from a DataCollection or detector component."""
from .base import WritePlan, convert
from .registry import get_writer, list_writers

__all__ = ["WritePlan", "convert", "get_writer", "list_writers"]
