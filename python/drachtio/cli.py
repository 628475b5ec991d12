"""The ``drachtio`` command line.

``drachtio --version`` prints the installed version; ``drachtio serve`` will
start the SIP server once it exists (it is planned for a later release).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import sys

SERVER_NOT_AVAILABLE = "the SIP server is not available yet in this version; see README"


def package_version() -> str:
    """Return the installed version of the ``drachtio`` distribution."""
    return importlib.metadata.version("drachtio")


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of the ``drachtio`` command."""
    parser = argparse.ArgumentParser(
        prog="drachtio",
        description="A SIP server controlled by applications over a JSON protocol.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands.add_parser(
        "serve",
        help="run the SIP server (not available yet in this version)",
        description="Run the SIP server.",
    )
    return parser


def serve() -> int:
    """Run the ``serve`` command and return its exit status."""
    print(f"drachtio {package_version()}")
    print(SERVER_NOT_AVAILABLE)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the ``drachtio`` command with ``argv`` (default: ``sys.argv[1:]``).

    Returns the process exit status. Usage errors exit through ``SystemExit``
    with status 2, as argparse does.
    """
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "serve":
        return serve()
    raise AssertionError(f"unhandled command {args.command!r}")


if __name__ == "__main__":
    sys.exit(main())
