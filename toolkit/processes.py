"""Moved to `toolkit.core.executor` (issue 16): this name stays an alias of that module for code not yet updated."""

import sys

from toolkit.core import executor as _module

sys.modules[__name__] = _module
