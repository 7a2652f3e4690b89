"""A small terminal news reader that embeds the Quietline source client.

Every reader of the news runs the client for as long as the reader is open, whether or
not they ever contact the newsroom: they are the crowd a source hides in. The contact
screen is Quietline's terminal UI, opened on the running client.

    python examples/news_reader/news_reader.py --edge https://contact.example.org \\
        --anchor organization.pub.json [--proxy socks5h://127.0.0.1:1080] [--data DIR]

See README.md beside this file for what a host app must and must not do.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from quietline.client.embed import EmbeddedClient
from quietline.edge_endpoint import BadEdgeSettings, EdgeEndpoint
from quietline.protocol.certificates import SignedKey
from quietline.protocol.errors import QuietlineError
from quietline.protocol.jsonvalues import load_json

HEADLINES = (
    ("Harbour pipeline costs double", "The regional water company's pipeline ..."),
    ("City council delays budget vote", "Councillors asked for another week ..."),
    ("Rail strike called off", "Unions and operators agreed overnight ..."),
)


def data_folder() -> Path:
    """Where the app keeps the client's folder: its own data directory, which the app
    must leave out of backups and sync (XDG_DATA_HOME on Linux)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "news-reader" / "quietline"


def read_anchor(path: Path) -> SignedKey:
    """The organisation's anchor; a real app ships it inside its package."""
    return SignedKey.from_json(load_json(path.read_bytes()))


def reader(
    client: EmbeddedClient,
    typed: TextIO,
    out: TextIO,
    contact: Callable[[], None],
) -> None:
    """The reader's menu until the person quits; the client runs all the while."""
    while True:
        out.write("\n".join(f"{n}. {title}" for n, (title, _) in enumerate(HEADLINES, 1)))
        out.write("\n[number] read · c contact the newsroom · q quit\n> ")
        out.flush()
        choice = typed.readline().strip().lower()
        if choice in ("q", ""):
            return
        if choice == "c":
            contact()
        elif choice.isdigit() and 1 <= int(choice) <= len(HEADLINES):
            title, body = HEADLINES[int(choice) - 1]
            out.write(f"\n{title}\n{body}\n\n")
        # The app says nothing about the client's state to anyone but its user, and
        # logs nothing of it: whether anyone wrote is the secret.
        if not client.running:
            out.write("(the contact feature stopped: restart the app)\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edge", required=True, help="the organisation's edge URL")
    parser.add_argument("--anchor", required=True, type=Path, help="the organisation's key")
    parser.add_argument("--proxy", help="socks5h://HOST:PORT or http(s)://HOST:PORT")
    parser.add_argument("--data", type=Path, default=None, help="the client's data folder")
    options = parser.parse_args(argv)
    try:
        client = EmbeddedClient(
            options.data or data_folder(),
            [read_anchor(options.anchor)],
            EdgeEndpoint(options.edge, options.proxy),
        )
        with client:
            reader(client, sys.stdin, sys.stdout, client.open_ui)
    except (OSError, BadEdgeSettings, QuietlineError) as error:
        print(f"news reader: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
