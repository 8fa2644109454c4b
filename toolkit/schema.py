"""Moved to `toolkit.core.schema` (issue 16): this name stays an alias of that module for code not yet updated."""

import sys

from toolkit.core import schema as _module

sys.modules[__name__] = _module
