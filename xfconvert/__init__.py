"""xfconvert: read European XFEL runs and convert them to the formats analysis tools want."""
__version__ = "0.1.0"
