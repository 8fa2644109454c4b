"""newsarchive: scraped news articles in, a dataset people can trust, query and publish out."""

from toolkit import _lazy_imports

__version__ = "0.1.0"

_lazy_imports.install()
