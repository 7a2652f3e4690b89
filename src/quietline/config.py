"""The one typed configuration of a deployment, read once at start-up from ``quietline.toml``.

``quietline admin init`` writes it. Relative paths in it are relative to the file's
folder. Each service reads only its own section (and the organisation anchor), so a
deployment can give each machine a copy holding just what that machine needs.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from quietline.edge_endpoint import BadEdgeSettings, EdgeEndpoint
from quietline.mixer.alarm import AlarmSettings
from quietline.mixer.opening import default_workers
from quietline.protocol.errors import MisuseError, QuietlineError
from quietline.protocol.mixing import (
    DEMO_J2U,
    DEMO_U2J,
    PRODUCTION_J2U,
    PRODUCTION_U2J,
    MixingParameters,
)

CONFIG_NAME = "quietline.toml"
SQLITE_QUEUE = "sqlite:"
NATS_QUEUES = ("nats://", "tls://")


class ConfigError(QuietlineError):
    """The configuration file is missing, malformed or incomplete; the message says where."""


@dataclass(frozen=True, slots=True)
class EdgeLimits:
    """What one edge process gives any caller, so no caller can starve the others
    (docs/api.md, "Limits"). Every value is optional in ``[edge]``; these are the defaults."""

    header_timeout_seconds: float = 10.0  # from connecting (or the last answer) to whole headers
    body_timeout_seconds: float = 10.0  # from the headers to the end of the body
    response_timeout_seconds: float = 60.0  # from the body to the end of the answer
    keep_alive_seconds: float = 5.0  # an idle connection between requests
    max_connections: int = 512  # more are closed as soon as they are accepted
    max_requests: int = 128  # requests in progress at once; more are answered 503
    max_header_bytes: int = 8 * 1024
    page_bytes: int = 4 * 1024 * 1024  # a page of dead drops stops growing here
    max_queued_user: int = 1_000_000  # unacknowledged U2C submissions; more are answered 503
    max_queued_journalist: int = 10_000  # unacknowledged J2C submissions


@dataclass(frozen=True, slots=True)
class EdgeConfig:
    host: str
    port: int
    database: Path
    retention: timedelta
    anchor: Path
    # Where the submission queues live (quietline.edge.queues): ``sqlite:PATH`` (by
    # default the edge's own database) or ``nats://HOST:PORT``.
    queue: str
    limits: EdgeLimits = EdgeLimits()
    # A PostgreSQL URL for the keys, profiles, status and dead drops (the queues are
    # ``queue``); None keeps them in the SQLite file.
    store: str | None = None


@dataclass(frozen=True, slots=True)
class MixerConfig:
    edge_url: str
    database: Path
    covernode_id: str
    keys: Path
    u2j: MixingParameters
    j2u: MixingParameters
    poll_seconds: float
    anchor: Path
    alarm: AlarmSettings = field(default_factory=AlarmSettings)
    # Processes that open submissions (quietline.mixer.opening); 1 opens them in the
    # mixer's own process. quietline.toml's default is one per core.
    workers: int = 1


@dataclass(frozen=True, slots=True)
class DeskConfig:
    edge_url: str
    vault: Path
    period_seconds: float
    anchor: Path
    # How long the desk keeps a message (None: until someone deletes the vault).
    keep_messages: timedelta | None = None


@dataclass(frozen=True, slots=True)
class Config:
    folder: Path
    anchor: Path
    edge: EdgeConfig
    mixer: MixerConfig
    desk: DeskConfig


MIXING_PRESETS = {
    "production": (PRODUCTION_U2J, PRODUCTION_J2U),
    "demo": (DEMO_U2J, DEMO_J2U),
}


# Beyond these the timers and date arithmetic that use the values overflow; nobody
# means them, so they are typos to report, not settings to crash on later.
MAX_SECONDS = 365 * 24 * 3600
MAX_RETENTION_DAYS = 100 * 365
MAX_WORKERS = 1024


def _table(value: object, name: str) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise ConfigError(f"[{name}] must be a table")
    return value


def _section(document: Mapping[str, object], name: str) -> Mapping[str, object]:
    section = document.get(name)
    if not isinstance(section, dict):
        raise ConfigError(f"the [{name}] section is missing")
    return section


def _str(section: Mapping[str, object], table: str, key: str) -> str:
    value = section.get(key)
    if not isinstance(value, str):
        raise ConfigError(f"[{table}] {key} must be a string")
    return value


def _edge_url(section: Mapping[str, object], table: str) -> str:
    """The edge's base URL, checked as every client of the edge checks it."""
    url = _str(section, table, "edge_url")
    try:
        EdgeEndpoint(url)
    except BadEdgeSettings as error:
        raise ConfigError(f"[{table}] edge_url: {error}") from None
    return url


def _queue(section: Mapping[str, object], folder: Path, database: Path) -> str:
    """``[edge] queue``: a JetStream server's URL, or ``sqlite:PATH`` (relative to the
    folder); the edge's database when absent."""
    if "queue" not in section:
        return f"{SQLITE_QUEUE}{database}"
    url = _str(section, "edge", "queue")
    if url.startswith(NATS_QUEUES) and len(url) > len("nats://"):
        return url
    if url.startswith(SQLITE_QUEUE) and len(url) > len(SQLITE_QUEUE):
        return f"{SQLITE_QUEUE}{folder / url.removeprefix(SQLITE_QUEUE)}"
    raise ConfigError("[edge] queue must be a NATS JetStream URL (nats://HOST:PORT) or sqlite:PATH")


def _int(
    section: Mapping[str, object], table: str, key: str, low: int, high: int | None = None
) -> int:
    """An integer from ``low`` to ``high`` (inclusive); a bool is not an integer here."""
    value = section.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigError(f"[{table}] {key} must be a whole number")
    if value < low or (high is not None and value > high):
        upper = "" if high is None else f" and at most {high}"
        raise ConfigError(f"[{table}] {key} must be a whole number of at least {low}{upper}")
    return value


def _seconds(section: Mapping[str, object], table: str, key: str) -> float:
    """A positive, finite number of seconds (int or float, not bool) up to a year."""
    value = section.get(key)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ConfigError(f"[{table}] {key} must be a number of seconds")
    if not 0 < value <= MAX_SECONDS:  # also refuses nan
        raise ConfigError(f"[{table}] {key} must be a number of seconds above 0, up to a year")
    return float(value)


def _edge_limits(section: Mapping[str, object]) -> EdgeLimits:
    """The optional limits of ``[edge]``, each defaulting to EdgeLimits'."""
    default = EdgeLimits()

    def seconds(key: str) -> float:
        value: float = getattr(default, key)
        return _seconds(section, "edge", key) if key in section else value

    def whole(key: str, low: int) -> int:
        value: int = getattr(default, key)
        return _int(section, "edge", key, low, 1 << 40) if key in section else value

    return EdgeLimits(
        header_timeout_seconds=seconds("header_timeout_seconds"),
        body_timeout_seconds=seconds("body_timeout_seconds"),
        response_timeout_seconds=seconds("response_timeout_seconds"),
        keep_alive_seconds=seconds("keep_alive_seconds"),
        max_connections=whole("max_connections", 1),
        max_requests=whole("max_requests", 1),
        max_header_bytes=whole("max_header_bytes", 1024),
        page_bytes=whole("page_bytes", 64 * 1024),
        max_queued_user=whole("max_queued_user", 1),
        max_queued_journalist=whole("max_queued_journalist", 1),
    )


def _store_url(section: Mapping[str, object]) -> str | None:
    """``[edge] store``: a ``postgresql://`` URL, or None when it is not set."""
    if "store" not in section:
        return None
    url = _str(section, "edge", "store")
    try:
        scheme = urlsplit(url).scheme
    except ValueError:  # a malformed address, such as an unclosed [IPv6] host
        scheme = ""
    if scheme not in ("postgresql", "postgres"):
        raise ConfigError(
            '[edge] store must be a PostgreSQL URL such as "postgresql://quietline@db/quietline"'
            " (leave it out to keep everything in the SQLite file of database)"
        )
    return url


def _override(
    overrides: Mapping[str, object], direction: str, base: MixingParameters
) -> MixingParameters:
    """``base`` with the keys that ``[mixer.override.<direction>]`` sets, if it is there."""
    if direction not in overrides:
        return base
    name = f"mixer.override.{direction}"
    table = _table(overrides[direction], name)

    def whole(key: str, default: int) -> int:
        return _int(table, name, key, 0) if key in table else default

    timeout = (
        timedelta(seconds=_seconds(table, name, "timeout_seconds"))
        if "timeout_seconds" in table
        else base.timeout
    )
    try:
        return MixingParameters(
            whole("threshold_min", base.threshold_min),
            whole("threshold_max", base.threshold_max),
            timeout,
            whole("output_size", base.output_size),
        )
    except MisuseError as error:
        raise ConfigError(f"[{name}] is invalid: {error}") from None


def _alarm(section: Mapping[str, object]) -> AlarmSettings:
    """``[mixer.alarm]``: every key optional, the defaults of AlarmSettings otherwise."""
    name = "mixer.alarm"
    table = _table(section.get("alarm", {}), name)
    base = AlarmSettings()

    def number(key: str, default: float) -> float:
        value = table.get(key, default)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ConfigError(f"[{name}] {key} must be a number")
        return float(value)

    try:
        return AlarmSettings(
            window=(
                timedelta(seconds=_seconds(table, name, "window_seconds"))
                if "window_seconds" in table
                else base.window
            ),
            rate_factor=number("rate_factor", base.rate_factor),
            share_factor=number("share_factor", base.share_factor),
            smoothing=number("smoothing", base.smoothing),
            warmup=_int(table, name, "warmup_windows", 1)
            if "warmup_windows" in table
            else base.warmup,
            min_count=_int(table, name, "min_count", 1) if "min_count" in table else base.min_count,
        )
    except MisuseError as error:
        raise ConfigError(f"[{name}] is invalid: {error}") from None


def _mixing(section: Mapping[str, object]) -> tuple[MixingParameters, MixingParameters]:
    preset = _str(section, "mixer", "mixing")
    if preset not in MIXING_PRESETS:
        raise ConfigError(f"[mixer] mixing must be one of {', '.join(MIXING_PRESETS)}")
    u2j, j2u = MIXING_PRESETS[preset]
    overrides = _table(section.get("override", {}), "mixer.override")
    return _override(overrides, "u2j", u2j), _override(overrides, "j2u", j2u)


def load_config(path: Path) -> Config:
    """Read and check ``path`` (a file, or a folder holding quietline.toml).

    Raises ConfigError with the section and key at fault.
    """
    file = path / CONFIG_NAME if path.is_dir() else path
    try:
        document = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"cannot read {file}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{file} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{file} is not valid TOML: {error}") from None
    folder = file.parent.resolve()
    anchor = folder / _str(_section(document, "organization"), "organization", "anchor")
    edge = _section(document, "edge")
    mixer = _section(document, "mixer")
    desk = _section(document, "desk")
    u2j, j2u = _mixing(mixer)
    return Config(
        folder=folder,
        anchor=anchor,
        edge=EdgeConfig(
            host=_str(edge, "edge", "host"),
            port=_int(edge, "edge", "port", 1, 65535),
            database=folder / _str(edge, "edge", "database"),
            retention=timedelta(days=_int(edge, "edge", "retention_days", 1, MAX_RETENTION_DAYS)),
            anchor=anchor,
            limits=_edge_limits(edge),
            store=_store_url(edge),
            queue=_queue(edge, folder, folder / _str(edge, "edge", "database")),
        ),
        mixer=MixerConfig(
            edge_url=_edge_url(mixer, "mixer"),
            database=folder / _str(mixer, "mixer", "database"),
            covernode_id=_str(mixer, "mixer", "covernode_id"),
            keys=folder / _str(mixer, "mixer", "keys"),
            u2j=u2j,
            j2u=j2u,
            poll_seconds=_seconds(mixer, "mixer", "poll_seconds"),
            anchor=anchor,
            alarm=_alarm(mixer),
            workers=(
                _int(mixer, "mixer", "workers", 1, MAX_WORKERS)
                if "workers" in mixer
                else default_workers()
            ),
        ),
        desk=DeskConfig(
            edge_url=_edge_url(desk, "desk"),
            vault=folder / _str(desk, "desk", "vault"),
            period_seconds=_seconds(desk, "desk", "period_seconds"),
            anchor=anchor,
            keep_messages=(
                timedelta(days=_int(desk, "desk", "keep_messages_days", 1, MAX_RETENTION_DAYS))
                if "keep_messages_days" in desk
                else None
            ),
        ),
    )


# How often a desk sends (a reply or cover), as ``admin init`` writes it.
DEFAULT_DESK_PERIOD_S = 60.0


@dataclass(frozen=True, slots=True)
class MixingOverride:
    """Mixing parameters that ``admin init`` writes as ``[mixer.override.*]`` tables, and
    a comment saying why."""

    u2j: MixingParameters
    j2u: MixingParameters
    comment: str


def _override_text(override: MixingOverride | None) -> str:
    if override is None:
        return ""
    tables = [f"\n# {override.comment}\n"]
    for direction, parameters in (("u2j", override.u2j), ("j2u", override.j2u)):
        tables.append(
            f"[mixer.override.{direction}]\n"
            f"threshold_min = {parameters.threshold_min}\n"
            f"threshold_max = {parameters.threshold_max}\n"
            f"timeout_seconds = {parameters.timeout.total_seconds():g}\n"
            f"output_size = {parameters.output_size}\n"
        )
    return "\n".join(tables)


def default_config_text(
    edge_port: int = 8350,
    mixing: str = "production",
    *,
    poll_seconds: float = 5,
    desk_period_seconds: float = DEFAULT_DESK_PERIOD_S,
    edge_store: str | None = None,
    override: MixingOverride | None = None,
) -> str:
    """The quietline.toml that ``admin init`` writes; with ``edge_store`` (a PostgreSQL
    URL) the edge keeps its keys, profiles, status and dead drops there; ``override``
    adds mixing parameters replacing those of ``mixing`` (a crowd preset, see
    quietline.admin.crowd)."""
    store = (
        "# Keys, profiles, status and dead drops on PostgreSQL instead (docs/deploy.md):\n"
        '# store = "postgresql://quietline@db.example:5432/quietline"'
        if edge_store is None
        else f"store = {json.dumps(edge_store)}"
    )
    return f"""# Quietline deployment configuration. Relative paths are relative to this folder.

[organization]
anchor = "organization.pub.json"   # the pinned organisation key: give it to every client

[edge]                             # public: runs anywhere, holds nothing secret
host = "127.0.0.1"
port = {edge_port}
database = "edge.sqlite3"
retention_days = 14
{store}
# queue = "nats://127.0.0.1:4222"  # the submission queues in NATS JetStream instead of
                                   # database (or "sqlite:FILE" for a file of their own)
# Limits (the defaults; docs/api.md says what each does):
# header_timeout_seconds = 10
# body_timeout_seconds = 10
# response_timeout_seconds = 60
# keep_alive_seconds = 5
# max_connections = 512
# max_requests = 128
# max_header_bytes = 8192
# page_bytes = 4194304
# max_queued_user = 1000000
# max_queued_journalist = 10000

[mixer]                            # private: accepts no connections, pulls from the edge
edge_url = "http://127.0.0.1:{edge_port}"
database = "mixer.sqlite3"
covernode_id = "covernode_001"
keys = "secrets/covernode"
mixing = "{mixing}"                # "production" (CoverDrop's) or "demo"
poll_seconds = {poll_seconds:g}
# workers = 2                      # processes opening submissions (default: one per core;
                                   # 1 opens them in the mixer's own process)

[desk]                             # private: the recipients' application
edge_url = "http://127.0.0.1:{edge_port}"
vault = "desk.vault"
period_seconds = {desk_period_seconds:g}
# keep_messages_days = 90          # delete messages older than this (default: keep them)
{_override_text(override)}"""
