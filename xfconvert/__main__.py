"""``python -m xfconvert``: the same as the ``xfconvert`` command."""
import sys

from .cli import main

sys.exit(main())
