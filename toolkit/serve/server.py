"""`newsarchive serve`: bind, say where and who can read, serve until Ctrl-C or SIGTERM."""

from __future__ import annotations

import errno
import logging
import os
import socket
import sys
from typing import IO

import uvicorn

from toolkit.core.errors import NewsarchiveError
from toolkit.serve.security import is_loopback

TOKEN_VARIABLE = "NEWSARCHIVE_SERVE_TOKEN"


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before uvicorn starts so a taken port is one clear line."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise NewsarchiveError(f"--host {host}: not an address of this machine ({exc.strerror}); "
                               "pass an IP address such as 127.0.0.1") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise NewsarchiveError(f"{host}:{port}: the port is already in use; pass another --port "
                                   "(or --port 0 for a free one)") from None
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise NewsarchiveError(f"{host}:{port}: permission denied; ports below 1024 need root, "
                                   "pass --port 8001") from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise NewsarchiveError(f"--host {host}: not an address of this machine; pass 127.0.0.1, "
                                   "or one of this machine's addresses") from None
        raise NewsarchiveError(f"{host}:{port}: cannot listen ({exc.strerror})") from None
    sock.set_inheritable(True)
    return sock


class _Server(uvicorn.Server):
    """uvicorn's server, which also stops the queries of /sql when asked to stop."""

    def handle_exit(self, sig: int, frame: object) -> None:
        super().handle_exit(sig, frame)
        from toolkit.serve.sqlpage import interrupt_all

        interrupt_all()


def _one_line(record: logging.LogRecord) -> bool:
    """uvicorn's log without tracebacks: the exception's own line after the message."""
    if record.exc_info and record.exc_info[1] is not None:
        exc = record.exc_info[1]
        record.msg = f"{record.getMessage()}: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
        record.args = ()
        record.exc_info = None
        record.exc_text = None
    return True


def serve(archive: str | os.PathLike | None = None, *, as_of: int | None = None, host: str = "127.0.0.1",
          port: int = 8001, token: str | None = None, sql_timeout: float = 30.0, out: IO[str] | None = None) -> None:
    """Serve the archive read-only until interrupted (KeyboardInterrupt, which the CLI turns into 130).

    Any host that is not loopback needs a token: the page is then readable only with it.
    """
    from toolkit.serve.app import create_app

    stream = out or sys.stdout
    token = token or os.environ.get(TOKEN_VARIABLE) or None
    if token is not None:
        try:
            token.encode("utf-8")
        except UnicodeEncodeError:
            raise NewsarchiveError(f"the token ({TOKEN_VARIABLE} or --token) is not valid UTF-8; "
                                   "write it in UTF-8") from None
    if not is_loopback(host) and not token:
        raise NewsarchiveError(f"--host {host} is reachable from other machines: pass --token T (or set "
                               f"{TOKEN_VARIABLE}) so that only those who have it can read the archive")
    if sql_timeout <= 0:
        raise NewsarchiveError(f"--sql-timeout {sql_timeout:g}: pass a number of seconds above 0")
    app = create_app(archive, as_of=as_of, sql_timeout=sql_timeout, token=token, hosts=(host,))
    sock = bind(host, port)
    from toolkit.serve.charts import warm_up

    warm_up()  # before the address is printed: the address means "ready"
    from toolkit.explore.articles import warm_up as warm_terms

    warm_terms()  # ~0.1 s: the first explore page does not pay for it
    from toolkit.explore import prepare_articles

    prepare_articles(archive, as_of, background=True)  # article pages read one row once it is ready (~1 s at 1M)
    bound_port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    address = f"http://{shown}:{bound_port}/"
    print(f"newsarchive: serving {app.app_name} read-only at {address} (Ctrl-C stops)", file=stream)
    reach = "every user and program of this machine" if is_loopback(host) else "anyone who reaches it and has the token"
    print(f"newsarchive: note: the archive is readable by anyone who reaches {shown}:{bound_port} ({reach})",
          file=stream)
    if token:
        print(f"newsarchive: open {address}?token=YOUR_TOKEN once (the browser then keeps it in a cookie)",
              file=stream)
    stream.flush()
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", server_header=False,
                            timeout_graceful_shutdown=5)
    logging.getLogger("uvicorn.error").addFilter(_one_line)
    server = _Server(config)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
