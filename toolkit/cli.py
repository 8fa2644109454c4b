"""The `newsarchive` command: thin wrappers over the Python API, one line of error and an exit code."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import click

from toolkit import __version__
from toolkit.errors import EXIT_USAGE, NewsarchiveError

EXIT_CODES_HELP = (
    "Exit status: 0 success, 1 findings (invalid records, rejected inputs), 2 the run could not happen."
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
             epilog=EXIT_CODES_HELP)
@click.version_option(__version__, prog_name="newsarchive")
def cli() -> None:
    """Turn scraped news articles into a dataset people can trust, query and publish."""


@cli.command("validate", epilog="Exit status: 0 all records valid, 1 some invalid, 2 the run could not happen.")
@click.argument("paths", nargs=-1, required=True)
@click.option("--schema", "schema", type=click.Path(dir_okay=False), default=None,
              help="Draft 2020-12 JSON Schema (default: the packaged article schema).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "github", "junit"]), default="text",
              show_default=True, help="Report format.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write the report to FILE instead of standard output.")
@click.option("--quarantine", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write every invalid line verbatim, with its errors, to FILE (JSON Lines).")
@click.option("--max-errors", type=click.IntRange(min=0), default=None,
              help="Keep at most N errors in the report (all records are still counted).")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None, help="Worker threads (default: cores).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def validate_cmd(paths: Sequence[str], schema: str | None, fmt: str, output: str | None,
                 quarantine: str | None, max_errors: int | None, jobs: int | None, quiet: bool) -> None:
    """Validate JSON Lines batches (files, directories, .gz/.zst, or - for stdin) against the schema."""
    from toolkit.validate import validate
    from toolkit.validate.render import write_report

    report = validate(paths, schema, quarantine=quarantine, max_errors=max_errors, jobs=jobs,
                      progress=not quiet)
    try:
        write_report(report, fmt, output, sys.stdout)
    except OSError as exc:
        raise NewsarchiveError(f"{output}: cannot write the report ({exc.strerror})") from None
    finally:
        report.close()
    sys.exit(0 if report.invalid == 0 else 1)


# --- extract: commands of toolkit.extract go here ---------------------------------------------

# --- archive: commands of toolkit.archive go here ---------------------------------------------

# --- sql: commands of toolkit.sql go here -----------------------------------------------------

# --- publish: commands of toolkit.publish go here ---------------------------------------------

# --- end of commands --------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: user errors become one line on stderr and exit status 2, never a traceback."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="newsarchive",
                 standalone_mode=False)
    except NewsarchiveError as exc:
        click.echo(f"newsarchive: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("newsarchive: interrupted", err=True)
        sys.exit(130)
    except click.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx is not None else "newsarchive"
        click.echo(f"{command}: error: {exc.format_message()} (see '{command} --help')", err=True)
        sys.exit(EXIT_USAGE)
    except click.ClickException as exc:
        click.echo(f"newsarchive: error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("newsarchive: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)
    except SystemExit:
        raise
    except Exception as exc:  # a bug, not bad input: still one line, with a way to get details
        if os.environ.get("NEWSARCHIVE_DEBUG"):
            raise
        click.echo(f"newsarchive: internal error: {type(exc).__name__}: {exc} "
                   "(set NEWSARCHIVE_DEBUG=1 for a traceback, and please report it)", err=True)
        sys.exit(EXIT_USAGE)
