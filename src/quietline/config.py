"""The one typed configuration of a deployment, read once at start-up from ``quietline.toml``.

``quietline admin init`` writes it. Relative paths in it are relative to the file's
folder. Each service reads only its own section (and the organisation anchor), so a
deployment can give each machine a copy holding just what that machine needs.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from quietline.protocol.errors import QuietlineError
from quietline.protocol.mixing import (
    DEMO_J2U,
    DEMO_U2J,
    PRODUCTION_J2U,
    PRODUCTION_U2J,
    MixingParameters,
)

CONFIG_NAME = "quietline.toml"


class ConfigError(QuietlineError):
    """The configuration file is missing, malformed or incomplete; the message says where."""


@dataclass(frozen=True, slots=True)
class EdgeConfig:
    host: str
    port: int
    database: Path
    retention: timedelta
    anchor: Path


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


@dataclass(frozen=True, slots=True)
class DeskConfig:
    edge_url: str
    vault: Path
    period_seconds: float
    anchor: Path


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


def _section(document: dict[str, Any], name: str) -> dict[str, Any]:
    section = document.get(name)
    if not isinstance(section, dict):
        raise ConfigError(f"the [{name}] section is missing")
    return section


def _get(section: dict[str, Any], table: str, key: str, kind: type) -> Any:
    value = section.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"[{table}] {key} must be a {kind.__name__}")
    return value


def _mixing(section: dict[str, Any]) -> tuple[MixingParameters, MixingParameters]:
    preset = _get(section, "mixer", "mixing", str)
    if preset not in MIXING_PRESETS:
        raise ConfigError(f"[mixer] mixing must be one of {', '.join(MIXING_PRESETS)}")
    u2j, j2u = MIXING_PRESETS[preset]
    overrides = section.get("override", {})
    if not isinstance(overrides, dict):
        raise ConfigError("[mixer.override] must be a table")
    for direction in ("u2j", "j2u"):
        table = overrides.get(direction)
        if table is None:
            continue
        base = u2j if direction == "u2j" else j2u
        try:
            params = MixingParameters(
                int(table.get("threshold_min", base.threshold_min)),
                int(table.get("threshold_max", base.threshold_max)),
                timedelta(
                    seconds=float(table.get("timeout_seconds", base.timeout.total_seconds()))
                ),
                int(table.get("output_size", base.output_size)),
            )
        except (AttributeError, TypeError, ValueError) as error:
            raise ConfigError(f"[mixer.override.{direction}] is invalid: {error}") from None
        if direction == "u2j":
            u2j = params
        else:
            j2u = params
    return u2j, j2u


def load_config(path: Path) -> Config:
    """Read and check ``path`` (a file, or a folder holding quietline.toml).

    Raises ConfigError with the section and key at fault.
    """
    file = path / CONFIG_NAME if path.is_dir() else path
    try:
        document = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"cannot read {file}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{file} is not valid TOML: {error}") from None
    folder = file.parent.resolve()
    anchor = folder / _get(_section(document, "organization"), "organization", "anchor", str)
    edge = _section(document, "edge")
    mixer = _section(document, "mixer")
    desk = _section(document, "desk")
    u2j, j2u = _mixing(mixer)
    return Config(
        folder=folder,
        anchor=anchor,
        edge=EdgeConfig(
            host=_get(edge, "edge", "host", str),
            port=_get(edge, "edge", "port", int),
            database=folder / _get(edge, "edge", "database", str),
            retention=timedelta(days=_get(edge, "edge", "retention_days", int)),
            anchor=anchor,
        ),
        mixer=MixerConfig(
            edge_url=_get(mixer, "mixer", "edge_url", str),
            database=folder / _get(mixer, "mixer", "database", str),
            covernode_id=_get(mixer, "mixer", "covernode_id", str),
            keys=folder / _get(mixer, "mixer", "keys", str),
            u2j=u2j,
            j2u=j2u,
            poll_seconds=float(_get(mixer, "mixer", "poll_seconds", (int, float))),  # type: ignore[arg-type]
            anchor=anchor,
        ),
        desk=DeskConfig(
            edge_url=_get(desk, "desk", "edge_url", str),
            vault=folder / _get(desk, "desk", "vault", str),
            period_seconds=float(_get(desk, "desk", "period_seconds", (int, float))),  # type: ignore[arg-type]
            anchor=anchor,
        ),
    )


def default_config_text(
    edge_port: int = 8350,
    mixing: str = "production",
    *,
    poll_seconds: float = 5,
    desk_period_seconds: float = 60,
) -> str:
    """The quietline.toml that ``admin init`` writes."""
    return f"""# Quietline deployment configuration. Relative paths are relative to this folder.

[organization]
anchor = "organization.pub.json"   # the pinned organisation key: give it to every client

[edge]                             # public: runs anywhere, holds nothing secret
host = "127.0.0.1"
port = {edge_port}
database = "edge.sqlite3"
retention_days = 14

[mixer]                            # private: accepts no connections, pulls from the edge
edge_url = "http://127.0.0.1:{edge_port}"
database = "mixer.sqlite3"
covernode_id = "covernode_001"
keys = "secrets/covernode"
mixing = "{mixing}"                # "production" (CoverDrop's) or "demo"
poll_seconds = {poll_seconds:g}

[desk]                             # private: the recipients' application
edge_url = "http://127.0.0.1:{edge_port}"
vault = "desk.vault"
period_seconds = {desk_period_seconds:g}
"""
