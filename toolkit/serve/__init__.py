"""A read-only web app over the archive: explore coverage, read articles, see the archive, run SQL.

    newsarchive serve --archive archive            # http://127.0.0.1:8001/

    >>> from toolkit.serve import create_app       # an ASGI app, e.g. for Starlette's TestClient
    >>> app = create_app("archive")                # doctest: +SKIP

Pages and their JSON twins: docs/serve.md. Every number comes from `toolkit.explore`; this package
only reads the address, pins one archive version per request, and renders (Starlette, Jinja2 with
autoescaping, charts as SVG drawn on the server by vl-convert, no script on any page).
"""

from toolkit.serve.app import create_app
from toolkit.serve.security import CSP
from toolkit.serve.server import TOKEN_VARIABLE, serve

__all__ = ["CSP", "TOKEN_VARIABLE", "create_app", "serve"]
