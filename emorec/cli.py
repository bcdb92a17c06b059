"""The `emorec` command line: a thin click shell over the Python API.

Each verb parses options, calls one library function and prints its result. Any `EmorecError`
becomes a one-line message on stderr and exit status 1.
"""
from __future__ import annotations

import sys

import click

from emorec.errors import EmorecError

CONTEXT = {"show_default": True, "help_option_names": ["-h", "--help"]}


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="emorec")
def cli() -> None:
    """Continuous speech emotion recognition: convert data, train, evaluate, export, predict."""


def main() -> None:
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except EmorecError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
