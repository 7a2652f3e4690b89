"""Tests for quietline.config: reading and checking quietline.toml.

The file ``admin init`` writes loads, for both mixing presets, into typed values with
paths under the file's folder; every missing section, missing key and value of the
wrong type or out of range raises ConfigError naming ``[section] key``; mixing
overrides apply per direction and bad ones are refused the same way. Hypothesis
checks that no file and no value escapes as anything but ConfigError.
"""

import json
import math
import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quietline.config import (
    CONFIG_NAME,
    MAX_WORKERS,
    MIXING_PRESETS,
    Config,
    ConfigError,
    EdgeLimits,
    default_config_text,
    load_config,
)
from quietline.mixer.alarm import AlarmSettings
from quietline.protocol.mixing import (
    DEMO_J2U,
    DEMO_U2J,
    PRODUCTION_J2U,
    MixingParameters,
)

STRINGS = [
    ("organization", "anchor"),
    ("edge", "host"),
    ("edge", "database"),
    ("mixer", "edge_url"),
    ("mixer", "database"),
    ("mixer", "covernode_id"),
    ("mixer", "keys"),
    ("mixer", "mixing"),
    ("desk", "edge_url"),
    ("desk", "vault"),
]
INTEGERS = [("edge", "port"), ("edge", "retention_days")]
SECONDS = [("mixer", "poll_seconds"), ("desk", "period_seconds")]
EVERY_KEY = STRINGS + INTEGERS + SECONDS
SECTIONS = ["organization", "edge", "mixer", "desk"]
OVERRIDE_INTEGERS = ["threshold_min", "threshold_max", "output_size"]


def _edited(text: str, section: str, key: str, value: str | None) -> str:
    """``text`` with ``key`` of ``[section]`` set to the TOML ``value``, or removed for None.

    A key the section does not have is added right under its header.
    """
    lines = text.splitlines()
    header = lines.index(next(line for line in lines if line.startswith(f"[{section}]")))
    end = next((i for i in range(header + 1, len(lines)) if lines[i].startswith("[")), len(lines))
    at = [i for i in range(header + 1, end) if lines[i].split("=")[0].strip() == key]
    if at:
        (index,) = at
        lines[index : index + 1] = [] if value is None else [f"{key} = {value}"]
    elif value is not None:
        lines.insert(header + 1, f"{key} = {value}")
    return "\n".join(lines) + "\n"


def _without_section(text: str, section: str) -> str:
    lines = text.splitlines()
    header = lines.index(next(line for line in lines if line.startswith(f"[{section}]")))
    end = next((i for i in range(header + 1, len(lines)) if lines[i].startswith("[")), len(lines))
    return "\n".join(lines[:header] + lines[end:]) + "\n"


def _written(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / CONFIG_NAME
    path.write_text(text, encoding="utf-8")
    return path


def _refused(folder: Path, text: str, table: str, key: str = "") -> ConfigError:
    """Load ``text`` and return the ConfigError, which must name ``[table] key``."""
    path = _written(folder, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert re.search(re.escape(f"[{table}] {key}".rstrip()), str(caught.value)), caught.value
    return caught.value


def _with_override(direction: str, body: str, mixing: str = "production") -> str:
    return default_config_text(mixing=mixing) + f"\n[mixer.override.{direction}]\n{body}\n"


def _toml(value: object) -> str:
    """``value`` written as a TOML literal."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    if isinstance(value, str):
        plain = (c if " " <= c <= "~" and c not in '"\\' else f"\\U{ord(c):08x}" for c in value)
        return '"' + "".join(plain) + '"'
    return json.dumps(value)  # ints and finite floats read the same in TOML


toml_leaves = (
    st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats()
    | st.text(st.characters(exclude_categories=["Cs"]), max_size=10)
)
toml_values = toml_leaves | st.lists(toml_leaves, max_size=3)


# --- the file admin init writes -----------------------------------------------------------


@pytest.mark.parametrize("mixing", sorted(MIXING_PRESETS))
def test_the_default_file_loads_with_typed_values_and_paths_under_its_folder(
    tmp_path: Path, mixing: str
) -> None:
    text = default_config_text(7000, mixing, poll_seconds=0.5, desk_period_seconds=30)
    config = load_config(_written(tmp_path, text))
    folder = tmp_path.resolve()
    u2j, j2u = MIXING_PRESETS[mixing]
    assert config.folder == folder
    assert config.anchor == folder / "organization.pub.json"
    assert (config.edge.host, config.edge.port) == ("127.0.0.1", 7000)
    assert config.edge.database == folder / "edge.sqlite3"
    assert config.edge.retention == timedelta(days=14)
    assert config.mixer.edge_url == config.desk.edge_url == "http://127.0.0.1:7000"
    assert config.mixer.database == folder / "mixer.sqlite3"
    assert config.mixer.covernode_id == "covernode_001"
    assert config.mixer.keys == folder / "secrets" / "covernode"
    assert (config.mixer.u2j, config.mixer.j2u) == (u2j, j2u)
    assert config.mixer.poll_seconds == 0.5
    assert config.desk.vault == folder / "desk.vault"
    assert config.desk.period_seconds == 30.0
    assert isinstance(config.desk.period_seconds, float)
    assert config.edge.anchor == config.mixer.anchor == config.desk.anchor == config.anchor


def test_whole_seconds_are_read_as_floats(tmp_path: Path) -> None:
    config = load_config(_written(tmp_path, default_config_text()))
    assert config.mixer.poll_seconds == 5.0
    assert isinstance(config.mixer.poll_seconds, float)
    assert config.desk.period_seconds == 60.0
    assert isinstance(config.desk.period_seconds, float)


def test_a_folder_and_the_file_in_it_load_the_same_config(tmp_path: Path) -> None:
    path = _written(tmp_path / "deployment", default_config_text())
    by_file, by_folder = load_config(path), load_config(path.parent)
    assert isinstance(by_file, Config)
    assert by_file == by_folder


def test_a_relative_path_is_resolved_against_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _written(tmp_path / "deployment", default_config_text())
    monkeypatch.chdir(tmp_path)
    config = load_config(Path("deployment") / CONFIG_NAME)
    assert config.folder == (tmp_path / "deployment").resolve()
    assert config.edge.database.is_absolute()


def test_an_absolute_path_in_the_file_is_kept_as_it_is(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere" / "edge.sqlite3"
    text = _edited(default_config_text(), "edge", "database", json.dumps(str(elsewhere)))
    assert load_config(_written(tmp_path / "deployment", text)).edge.database == elsewhere


# --- files that cannot be read -------------------------------------------------------------


def test_a_missing_file_or_a_folder_without_one_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nothing.toml")
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path)


def test_an_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    # A folder where the file should be cannot be read, even by root.
    (tmp_path / CONFIG_NAME).mkdir()
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path)


@pytest.mark.parametrize(
    "text",
    ["[edge", "port = ", 'host = "unclosed', "[edge]\nport = 1\nport = 2\n"],
    ids=["unclosed-header", "no-value", "unclosed-string", "duplicate-key"],
)
def test_invalid_toml_is_a_config_error(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(_written(tmp_path, text))


def test_a_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / CONFIG_NAME
    path.write_bytes(default_config_text().encode() + b"# \xff\xfe\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path)


# --- missing and mistyped settings -----------------------------------------------------------


@pytest.mark.parametrize("section", SECTIONS)
def test_every_missing_section_is_named(tmp_path: Path, section: str) -> None:
    error = _refused(tmp_path, _without_section(default_config_text(), section), section)
    assert str(error) == f"the [{section}] section is missing"


@pytest.mark.parametrize("section", SECTIONS)
def test_a_section_that_is_not_a_table_is_named(tmp_path: Path, section: str) -> None:
    text = f"{section} = 3\n" + _without_section(default_config_text(), section)
    _refused(tmp_path, text, section)


@pytest.mark.parametrize(("section", "key"), EVERY_KEY)
def test_every_missing_key_is_named(tmp_path: Path, section: str, key: str) -> None:
    _refused(tmp_path, _edited(default_config_text(), section, key, None), section, key)


@pytest.mark.parametrize("value", ["3", "true", "1.5", '["a"]', "{ a = 1 }", "1979-05-27"])
@pytest.mark.parametrize(("section", "key"), STRINGS)
def test_every_string_key_refuses_other_types(
    tmp_path: Path, section: str, key: str, value: str
) -> None:
    error = _refused(tmp_path, _edited(default_config_text(), section, key, value), section, key)
    assert str(error) == f"[{section}] {key} must be a string"


@pytest.mark.parametrize("value", ['"8350"', "true", "false", "8350.0", "[8350]", "{ a = 1 }"])
@pytest.mark.parametrize(("section", "key"), INTEGERS)
def test_every_integer_key_refuses_other_types_including_bools(
    tmp_path: Path, section: str, key: str, value: str
) -> None:
    error = _refused(tmp_path, _edited(default_config_text(), section, key, value), section, key)
    assert str(error) == f"[{section}] {key} must be a whole number"


@pytest.mark.parametrize("value", ['"5"', "true", "false", "[5]", "{ a = 1 }", "1979-05-27"])
@pytest.mark.parametrize(("section", "key"), SECONDS)
def test_every_seconds_key_refuses_other_types_including_bools(
    tmp_path: Path, section: str, key: str, value: str
) -> None:
    error = _refused(tmp_path, _edited(default_config_text(), section, key, value), section, key)
    assert str(error) == f"[{section}] {key} must be a number of seconds"


@pytest.mark.parametrize("value", ["0", "0.0", "-1", "-0.5", "nan", "inf", "-inf", "1e30"])
@pytest.mark.parametrize(("section", "key"), SECONDS)
def test_seconds_must_be_positive_finite_and_at_most_a_year(
    tmp_path: Path, section: str, key: str, value: str
) -> None:
    _refused(tmp_path, _edited(default_config_text(), section, key, value), section, key)


@pytest.mark.parametrize(("section", "key"), SECONDS)
def test_seconds_may_be_tiny_or_exactly_a_year(tmp_path: Path, section: str, key: str) -> None:
    for value, expected in (("0.001", 0.001), ("31536000", 365 * 24 * 3600.0)):
        config = load_config(
            _written(tmp_path, _edited(default_config_text(), section, key, value))
        )
        assert getattr(getattr(config, section), key) == expected
    _refused(tmp_path, _edited(default_config_text(), section, key, "31536000.5"), section, key)


@pytest.mark.parametrize(
    ("key", "lowest", "highest"), [("port", 1, 65535), ("retention_days", 1, 36500)]
)
def test_integers_are_range_checked_at_their_exact_bounds(
    tmp_path: Path, key: str, lowest: int, highest: int
) -> None:
    for value in (lowest, highest):
        _written(tmp_path, _edited(default_config_text(), "edge", key, str(value)))
        load_config(tmp_path)
    for value in (lowest - 1, highest + 1, -(2**63), 2**63 - 1):
        error = _refused(tmp_path, _edited(default_config_text(), "edge", key, str(value)), "edge")
        assert str(error).startswith(f"[edge] {key} must be a whole number of at least")


def test_the_mixer_opens_with_one_worker_per_core_unless_told_otherwise(tmp_path: Path) -> None:
    assert load_config(_written(tmp_path, default_config_text())).mixer.workers == len(
        os.sched_getaffinity(0)
    )
    for value in (1, 3, MAX_WORKERS):
        _written(tmp_path, _edited(default_config_text(), "mixer", "workers", str(value)))
        assert load_config(tmp_path).mixer.workers == value
    for bad in ("0", str(MAX_WORKERS + 1), "true", '"2"', "1.5"):
        error = _refused(tmp_path, _edited(default_config_text(), "mixer", "workers", bad), "mixer")
        assert str(error).startswith("[mixer] workers must be a whole number")


@pytest.mark.parametrize("section", ["mixer", "desk"])
def test_an_edge_url_a_client_cannot_use_is_refused(tmp_path: Path, section: str) -> None:
    for bad in ('"contact.example.org"', '"ftp://contact.example.org"'):
        text = _edited(default_config_text(), section, "edge_url", bad)
        error = _refused(tmp_path, text, section, "edge_url")
        assert str(error).startswith(f"[{section}] edge_url: the edge's URL must be http(s)://")


def test_an_unknown_mixing_preset_is_refused(tmp_path: Path) -> None:
    error = _refused(tmp_path, default_config_text(mixing="fast"), "mixer", "mixing")
    assert str(error) == "[mixer] mixing must be one of production, demo"


# --- mixing overrides ----------------------------------------------------------------------


def test_an_override_changes_only_the_keys_it_sets(tmp_path: Path) -> None:
    config = load_config(_written(tmp_path, _with_override("u2j", "threshold_max = 20", "demo")))
    assert config.mixer.u2j == MixingParameters(
        DEMO_U2J.threshold_min, 20, DEMO_U2J.timeout, DEMO_U2J.output_size
    )
    assert config.mixer.j2u == DEMO_J2U


def test_each_direction_takes_its_own_override(tmp_path: Path) -> None:
    text = (
        default_config_text(mixing="demo")
        + "\n[mixer.override.u2j]\nthreshold_min = 0\nthreshold_max = 6\n"
        + "timeout_seconds = 0.5\noutput_size = 4\n"
        + "\n[mixer.override.j2u]\ntimeout_seconds = 90\n"
    )
    config = load_config(_written(tmp_path, text))
    assert config.mixer.u2j == MixingParameters(0, 6, timedelta(seconds=0.5), 4)
    assert config.mixer.j2u == MixingParameters(
        DEMO_J2U.threshold_min, DEMO_J2U.threshold_max, timedelta(seconds=90), 5
    )


def test_a_j2u_override_leaves_the_u2j_preset_alone(tmp_path: Path) -> None:
    config = load_config(_written(tmp_path, _with_override("j2u", "output_size = 7")))
    assert config.mixer.u2j == MIXING_PRESETS["production"][0]
    assert config.mixer.j2u.output_size == 7
    assert config.mixer.j2u.threshold_max == PRODUCTION_J2U.threshold_max


def test_an_empty_override_table_changes_nothing(tmp_path: Path) -> None:
    config = load_config(_written(tmp_path, _with_override("u2j", "")))
    assert (config.mixer.u2j, config.mixer.j2u) == MIXING_PRESETS["production"]


@pytest.mark.parametrize("direction", ["u2j", "j2u"])
@pytest.mark.parametrize(
    ("body", "key"),
    [
        ("threshold_min = -1", "threshold_min"),
        ("threshold_max = -1", "threshold_max"),
        ("output_size = -1", "output_size"),
        ("output_size = 0", ""),
        ("threshold_min = 5\nthreshold_max = 4", ""),
        ("threshold_min = 600000", ""),  # above the production preset's threshold_max
        ("timeout_seconds = 0", "timeout_seconds"),
        ("timeout_seconds = -60", "timeout_seconds"),
        ("timeout_seconds = nan", "timeout_seconds"),
        ("timeout_seconds = inf", "timeout_seconds"),
        ("timeout_seconds = 1e300", "timeout_seconds"),
        ("threshold_min = true", "threshold_min"),
        ('threshold_max = "10"', "threshold_max"),
        ("output_size = 4.0", "output_size"),
        ("output_size = 4.5", "output_size"),
        ('timeout_seconds = "60"', "timeout_seconds"),
        ("timeout_seconds = false", "timeout_seconds"),
        ("timeout_seconds = [60]", "timeout_seconds"),
    ],
)
def test_an_invalid_override_is_a_config_error_naming_it(
    tmp_path: Path, direction: str, body: str, key: str
) -> None:
    _refused(tmp_path, _with_override(direction, body), f"mixer.override.{direction}", key)


@pytest.mark.parametrize("direction", ["u2j", "j2u"])
def test_an_override_that_is_not_a_table_is_refused(tmp_path: Path, direction: str) -> None:
    text = default_config_text() + f"\n[mixer.override]\n{direction} = 3\n"
    error = _refused(tmp_path, text, f"mixer.override.{direction}")
    assert str(error) == f"[mixer.override.{direction}] must be a table"


def test_an_override_section_that_is_not_a_table_is_refused(tmp_path: Path) -> None:
    text = _edited(default_config_text(), "mixer", "override", '"fast"')
    error = _refused(tmp_path, text, "mixer.override")
    assert str(error) == "[mixer.override] must be a table"


# --- nothing but ConfigError -----------------------------------------------------------------


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from([*EVERY_KEY, ("edge", "store")]), value=toml_values)
def test_any_value_for_any_key_loads_or_raises_config_error(
    tmp_path: Path, key: tuple[str, str], value: object
) -> None:
    section, name = key
    _written(tmp_path, _edited(default_config_text(), section, name, _toml(value)))
    try:
        load_config(tmp_path)
    except ConfigError as error:
        message = str(error)
    else:
        return
    assert f"[{section}] {name}" in message


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    direction=st.sampled_from(["u2j", "j2u"]),
    key=st.sampled_from([*OVERRIDE_INTEGERS, "timeout_seconds"]),
    value=toml_values,
)
def test_any_override_value_loads_or_raises_config_error(
    tmp_path: Path, direction: str, key: str, value: object
) -> None:
    _written(tmp_path, _with_override(direction, f"{key} = {_toml(value)}", "demo"))
    try:
        load_config(tmp_path)
    except ConfigError as error:
        message = str(error)
    else:
        return
    assert f"[mixer.override.{direction}]" in message


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_file_loads_or_raises_config_error(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / CONFIG_NAME
    path.write_bytes(raw)
    with pytest.raises(ConfigError):
        load_config(path)


# --- the edge's limits ----------------------------------------------------------------------

EDGE_LIMIT_SECONDS = [
    "header_timeout_seconds",
    "body_timeout_seconds",
    "response_timeout_seconds",
    "keep_alive_seconds",
]
EDGE_LIMIT_COUNTS = ["max_connections", "max_requests", "max_header_bytes", "page_bytes"]


def test_the_edge_limits_default_and_each_can_be_set(tmp_path: Path) -> None:
    assert load_config(_written(tmp_path, default_config_text())).edge.limits == EdgeLimits()
    text = default_config_text()
    for key in EDGE_LIMIT_SECONDS:
        text = _edited(text, "edge", key, "2.5")
    for key in EDGE_LIMIT_COUNTS:
        text = _edited(text, "edge", key, "70000")
    text = _edited(text, "edge", "max_queued_user", "500001")
    text = _edited(text, "edge", "max_queued_journalist", "101")
    limits = load_config(_written(tmp_path, text)).edge.limits
    assert [getattr(limits, key) for key in EDGE_LIMIT_SECONDS] == [2.5] * 4
    assert [getattr(limits, key) for key in EDGE_LIMIT_COUNTS] == [70000] * 4
    assert (limits.max_queued_user, limits.max_queued_journalist) == (500001, 101)


def test_the_queues_default_to_the_edge_database_and_may_be_elsewhere(tmp_path: Path) -> None:
    edge = load_config(_written(tmp_path, default_config_text())).edge
    assert edge.queue == f"sqlite:{tmp_path.resolve() / 'edge.sqlite3'}"
    for value, queue in (
        ('"nats://127.0.0.1:4222"', "nats://127.0.0.1:4222"),
        ('"tls://nats.example:4222/press"', "tls://nats.example:4222/press"),
        ('"sqlite:queues.sqlite3"', f"sqlite:{tmp_path.resolve() / 'queues.sqlite3'}"),
    ):
        text = _edited(default_config_text(), "edge", "queue", value)
        assert load_config(_written(tmp_path, text)).edge.queue == queue


@pytest.mark.parametrize("value", ['"nats://"', '"sqlite:"', '"postgresql://x"', "4222", '""'])
def test_a_queue_of_no_engine_is_refused(tmp_path: Path, value: str) -> None:
    _refused(tmp_path, _edited(default_config_text(), "edge", "queue", value), "edge", "queue")


@pytest.mark.parametrize("key", EDGE_LIMIT_SECONDS + EDGE_LIMIT_COUNTS)
@pytest.mark.parametrize("value", ["0", "-1", '"10"', "true", "1e40"])
def test_an_edge_limit_out_of_range_is_refused(tmp_path: Path, key: str, value: str) -> None:
    _refused(tmp_path, _edited(default_config_text(), "edge", key, value), "edge", key)


def test_the_edge_keeps_everything_in_sqlite_unless_a_store_is_set(tmp_path: Path) -> None:
    assert load_config(_written(tmp_path, default_config_text())).edge.store is None
    url = "postgresql://quietline@db.internal:5432/quietline"
    text = _edited(default_config_text(), "edge", "store", f'"{url}"')
    assert load_config(_written(tmp_path, text)).edge.store == url


@pytest.mark.parametrize(
    "value", ['"sqlite:///edge.sqlite3"', '"db.internal"', '"postgresql://["', "5", '""']
)
def test_a_store_that_is_not_a_postgresql_url_is_refused(tmp_path: Path, value: str) -> None:
    _refused(tmp_path, _edited(default_config_text(), "edge", "store", value), "edge", "store")


# --- the input alarm -----------------------------------------------------------------------


def test_without_an_alarm_table_the_alarm_has_its_defaults(tmp_path: Path) -> None:
    assert load_config(_written(tmp_path, default_config_text())).mixer.alarm == AlarmSettings()


def test_an_alarm_table_sets_the_keys_it_names(tmp_path: Path) -> None:
    text = default_config_text() + "\n[mixer.alarm]\nwindow_seconds = 600\nrate_factor = 8\n"
    alarm = load_config(_written(tmp_path, text)).mixer.alarm
    assert alarm == AlarmSettings(window=timedelta(minutes=10), rate_factor=8.0)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    key=st.sampled_from(
        [
            "window_seconds",
            "rate_factor",
            "share_factor",
            "smoothing",
            "warmup_windows",
            "min_count",
        ]
    ),
    value=toml_values,
)
def test_any_alarm_value_loads_or_raises_config_error(
    tmp_path: Path, key: str, value: object
) -> None:
    _written(tmp_path, default_config_text() + f"\n[mixer.alarm]\n{key} = {_toml(value)}\n")
    try:
        load_config(tmp_path)
    except ConfigError as error:
        message = str(error)
    else:
        return
    assert "[mixer.alarm]" in message


def test_the_desk_keeps_messages_until_told_how_many_days(tmp_path: Path) -> None:
    assert load_config(_written(tmp_path, default_config_text())).desk.keep_messages is None
    text = _edited(default_config_text(), "desk", "keep_messages_days", "90")
    assert load_config(_written(tmp_path, text)).desk.keep_messages == timedelta(days=90)
    for wrong in ("0", "1.5", '"90"', "true"):
        text = _edited(default_config_text(), "desk", "keep_messages_days", wrong)
        _refused(tmp_path, text, "desk", "keep_messages_days")
