"""``quietline interop``: check a deployment's published keys and dead drops by hand."""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from quietline.cli.files import fail, load_json, parse_now
from quietline.protocol.certificates import SignedKey
from quietline.protocol.deaddrops import UserDeadDrop, UserTrialDecryptor, parse_dead_drop_list
from quietline.protocol.encoding import format_rfc3339
from quietline.protocol.errors import ProtocolError
from quietline.protocol.hierarchy import PublishedKeys
from quietline.protocol.keyfiles import encryption_key_pair_from_json
from quietline.protocol.messages import J2UType
from quietline.protocol.verification import KeyVerification, verify_published_keys
from quietline.tour import run_tour

interop = typer.Typer(
    help="Check CoverDrop-compatible published keys and dead drops (operators' debugging tools).",
    no_args_is_help=True,
)

Anchor = Annotated[
    Path,
    typer.Option(
        "--anchor", help="The pinned organisation key (JSON: key, certificate, not_valid_after)."
    ),
]
Now = Annotated[
    str, typer.Option("--now", help="The time to verify at, RFC 3339 (e.g. 2023-10-04T19:06:51Z).")
]


def _verify(anchor_path: Path, now_text: str, keys_path: Path) -> KeyVerification:
    now = parse_now(now_text)
    anchor = load_json(anchor_path, "organisation key", SignedKey.from_json)
    published = load_json(keys_path, "published keys document", PublishedKeys.from_json)
    try:
        # A CoverDrop deployment publishes no role statements; a Quietline one must.
        return verify_published_keys(
            published, [anchor], now, require_roles=bool(published.statements)
        )
    except ProtocolError as error:
        raise fail(f"{error} (anchor {anchor_path}, now {format_rfc3339(now)})") from None


@interop.command("verify-keys")
def verify_keys(
    published_keys: Annotated[Path, typer.Argument(help="A GET /v1/public-keys response body.")],
    anchor: Anchor,
    now: Now,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result as one JSON object.")
    ] = False,
) -> None:
    """Verify every certificate chain from the anchor down to the messaging keys."""
    verification = _verify(anchor, now, published_keys)
    keys = verification.verified.keys
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "verified": [key.to_json() for key in keys],
                    "rejected": [
                        {
                            "role": r.role.value,
                            "owner": r.owner,
                            "key": r.key.hex(),
                            "reason": r.reason,
                        }
                        for r in verification.rejected
                    ],
                    "count": len(keys),
                }
            )
        )
    else:
        for key in keys:
            expiry = format_rfc3339(key.not_valid_after)
            typer.echo(f"{key.role.value:<24} {key.owner or '-':<28} {key.key[:8].hex()}  {expiry}")
        typer.echo(f"verified {len(keys)} keys")
    for rejected in verification.rejected:
        typer.echo(f"error: rejected {rejected.describe()}", err=True)
    if verification.rejected:
        raise typer.Exit(code=1)


@interop.command("open-user-dead-drops")
def open_user_dead_drops(
    dead_drops: Annotated[Path, typer.Argument(help="A GET /v1/user/dead-drops response body.")],
    anchor: Anchor,
    now: Now,
    keys: Annotated[Path, typer.Option("--keys", help="A GET /v1/public-keys response body.")],
    user_key: Annotated[
        Path,
        typer.Option("--user-key", help="The user's key pair (JSON: public_key.key, secret_key)."),
    ],
) -> None:
    """Verify user dead drops and print, one JSON object per line, each reply the user can open."""
    verification = _verify(anchor, now, keys)
    for rejected in verification.rejected:
        typer.echo(f"warning: ignoring rejected {rejected.describe()}", err=True)
    pair = load_json(user_key, "user key pair", encryption_key_pair_from_json)
    drops = load_json(
        dead_drops, "user dead-drop list", lambda obj: parse_dead_drop_list(UserDeadDrop, obj)
    )
    decryptor = UserTrialDecryptor(pair, verification.verified)
    bad = 0
    for drop in drops:
        try:
            drop.body.verify(verification.verified)
        except ProtocolError as error:
            bad += 1
            typer.echo(f"error: dead drop {drop.id} skipped: {error}", err=True)
            continue
        for reply in decryptor.open(drop):
            try:
                text = reply.message.body.text()
            except ProtocolError as error:
                typer.echo(f"error: dead drop {drop.id}: unreadable reply: {error}", err=True)
                bad += 1
                continue
            typer.echo(
                json.dumps(
                    {
                        "dead_drop_id": reply.dead_drop_id,
                        "journalist_id": reply.journalist_id,
                        "type": "text" if reply.message.type is J2UType.TEXT else "handover",
                        "text": text,
                    },
                    ensure_ascii=False,
                )
            )
    if bad:
        raise typer.Exit(code=1)


@interop.command("roundtrip")
def roundtrip(
    crowd: Annotated[
        int, typer.Option("--crowd", min=1, max=10_000, help="Cover senders beside the source.")
    ] = 20,
    message: Annotated[
        str, typer.Option("--message", help="What the source writes.")
    ] = "Meet me at the library.",
    reply: Annotated[
        str, typer.Option("--reply", help="What the desk answers.")
    ] = "Thank you. We will be there.",
) -> None:
    """Run one whole round trip through the protocol in memory, narrating each step."""
    started = datetime.now(UTC)
    result = run_tour(started, crowd, message, reply, lambda line: typer.echo(f"  {line}"))
    ok = result.received_text == message and result.reply_text == reply
    typer.echo(f"round trip {'succeeded' if ok else 'FAILED'}: message delivered and reply read")
    if not ok:
        raise typer.Exit(code=1)
