"""``quietline status``: the deployment's health as seen from the edge, for an operator
and for monitoring.

It reads only what the edge publishes to anyone (its status, the published keys, the
newest dead drops' ids and times) and, when it runs beside them, the queue lengths in
the edge's database and the mix counts in the mixer's, both opened read-only. It sees
nothing about any client and prints nothing secret. Exit codes (docs/deploy.md,
"Monitoring"): 0 all is well, 1 something needs attention soon, 2 something is broken
now, 3 the check itself could not run (a bad configuration or anchor).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from quietline.config import SQLITE_QUEUE, Config, ConfigError, load_config
from quietline.edge.sqlite_queues import read_queue_lengths
from quietline.edge_client import EdgeClient, EdgeRefused, EdgeUnavailable
from quietline.edge_endpoint import BadEdgeSettings
from quietline.health import EdgeView, Level, judge, worst
from quietline.keystore import read_json
from quietline.mixer.state import read_mix_counts
from quietline.protocol.api import Direction
from quietline.protocol.certificates import SignedKey
from quietline.protocol.deaddrops import DeadDropKind
from quietline.protocol.encoding import format_rfc3339
from quietline.protocol.errors import ProtocolError, UntrustedKey
from quietline.protocol.mixing import MixState, ReleaseForecast, ThresholdMix
from quietline.protocol.verification import KeyVerification, verify_published_keys

CANNOT_CHECK = 3
MARK = {Level.OK: "ok  ", Level.WARN: "WARN", Level.FAIL: "FAIL"}


def _cannot_check(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=CANNOT_CHECK)


def _edge_view(config: Config, url: str, anchor: SignedKey, now: datetime) -> EdgeView:
    try:
        with EdgeClient(url) as edge:
            status = edge.status()
            published = edge.public_keys()
            recent = {kind: edge.dead_drop_summary(kind) for kind in DeadDropKind}
    except (EdgeUnavailable, EdgeRefused, ProtocolError) as error:
        return EdgeView(now, unreachable=f"{url}: {error}")
    try:
        keys: KeyVerification | str = verify_published_keys(published, [anchor], now)
    except UntrustedKey as error:
        keys = str(error)
    return EdgeView(
        now,
        status=status,
        keys=keys,
        recent=recent,
        queues=_queues(config),
        forecasts=_forecasts(config, now),
    )


def _queues(config: Config) -> dict[Direction, int] | None:
    """The queues' depth where they are a file on this machine (JetStream's are watched
    with NATS's own monitoring, docs/deploy.md)."""
    if not config.edge.queue.startswith(SQLITE_QUEUE):
        return None
    path = Path(config.edge.queue.removeprefix(SQLITE_QUEUE))
    if not path.exists():
        return None
    try:
        return read_queue_lengths(path)
    except OSError as error:
        raise _cannot_check(str(error)) from None


def _forecasts(config: Config, now: datetime) -> dict[Direction, ReleaseForecast] | None:
    if not config.mixer.database.exists():
        return None
    try:
        counts = read_mix_counts(config.mixer.database)
    except OSError as error:
        raise _cannot_check(str(error)) from None
    parameters = {Direction.USER: config.mixer.u2j, Direction.JOURNALIST: config.mixer.j2u}
    return {
        lane: ThresholdMix[None](parameters[lane], MixState(received, last, ())).forecast(now)
        for lane, (received, last) in counts.items()
    }


def status(
    config: Annotated[
        Path, typer.Option("--config", help="The deployment folder (or its quietline.toml).")
    ],
    edge: Annotated[
        str, typer.Option("--edge", help="The edge's base URL (default: [mixer] edge_url).")
    ] = "",
) -> None:
    """Show the edge, mixer and desks' health as seen from the edge (no client data);
    exit 0 when all is well, 1 when something needs attention, 2 when something is
    broken, 3 when the check could not run."""
    try:
        settings = load_config(config)
    except ConfigError as error:
        raise _cannot_check(str(error)) from None
    try:
        anchor = SignedKey.from_json(read_json(settings.anchor))
    except (OSError, ProtocolError) as error:
        raise _cannot_check(
            f"cannot read the organisation key {settings.anchor}: {error}"
        ) from None
    url = edge or settings.mixer.edge_url
    now = datetime.now(UTC)
    try:
        view = _edge_view(settings, url, anchor, now)
    except BadEdgeSettings as error:
        raise _cannot_check(f"--edge: {error}") from None
    findings = judge(view, settings)
    typer.echo(f"quietline status of {url} at {format_rfc3339(now.replace(microsecond=0))}")
    for finding in findings:
        typer.echo(f"{MARK[finding.level]}  {finding.part}: {finding.text}")
    level = worst(findings)
    counts = {lvl: sum(1 for f in findings if f.level is lvl) for lvl in (Level.WARN, Level.FAIL)}
    if level is Level.OK:
        typer.echo("all is well")
    else:
        typer.echo(
            f"{counts[Level.FAIL]} failure(s), {counts[Level.WARN]} warning(s): exit {int(level)}"
        )
    raise typer.Exit(code=int(level))
