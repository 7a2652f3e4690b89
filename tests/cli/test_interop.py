"""``quietline interop``: the operator commands, on CoverDrop's integration snapshots."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from quietline.cli import app
from quietline.cli.files import parse_now
from tests.protocol.keyring import build_keyring

runner = CliRunner()
STEP = "003_journalist_replied_and_processed"


@pytest.fixture
def scenario(coverdrop_vectors: Path) -> dict[str, Path]:
    integration = coverdrop_vectors / "integration"
    base = integration / "messaging_scenario"
    return {
        "anchor": integration / "keys" / "organization-73ee6a1a.pub.json",
        "user": integration / "keys" / "user-4511b55a.keypair.json",
        "keys": base / "published_keys" / f"{STEP}.json",
        "drops": base / "user_dead_drops" / f"{STEP}.json",
        "now": base / "timestamp" / f"{STEP}.json",
    }


def _now(scenario: dict[str, Path]) -> str:
    value = json.loads(scenario["now"].read_text())
    assert isinstance(value, str)
    return value


def verify_keys(scenario: dict[str, Path], *args: str, now: str | None = None) -> Result:
    """``interop verify-keys`` with the scenario's anchor and time, then ``args``."""
    return runner.invoke(
        app,
        [
            "interop",
            "verify-keys",
            "--anchor",
            str(scenario["anchor"]),
            "--now",
            now or _now(scenario),
            *args,
        ],
    )


def open_drops(scenario: dict[str, Path], drops: Path) -> Result:
    """``interop open-user-dead-drops`` as user 4511b55a with the scenario's keys."""
    return runner.invoke(
        app,
        [
            "interop",
            "open-user-dead-drops",
            "--anchor",
            str(scenario["anchor"]),
            "--now",
            _now(scenario),
            "--keys",
            str(scenario["keys"]),
            "--user-key",
            str(scenario["user"]),
            str(drops),
        ],
    )


def test_verify_keys_lists_every_verified_key(scenario: dict[str, Path]) -> None:
    result = verify_keys(scenario, str(scenario["keys"]))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[-1] == "verified 7 keys"
    roles = [line.split()[0] for line in lines[:-1]]
    assert roles.count("journalist_msg") == 1
    assert roles.count("covernode_msg") == 1
    assert any("static_test_journalist" in line and "bd481b297b520da8" in line for line in lines)


def test_verify_keys_json(scenario: dict[str, Path]) -> None:
    result = verify_keys(scenario, "--json", str(scenario["keys"]))
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["count"] == 7 == len(document["verified"])
    assert document["rejected"] == []
    assert {key["role"] for key in document["verified"]} >= {"organization", "journalist_msg"}


def test_verify_keys_names_expired_keys(scenario: dict[str, Path]) -> None:
    result = verify_keys(scenario, str(scenario["keys"]), now="2023-11-15T00:00:00Z")
    assert result.exit_code == 1
    assert "covernode_id key of covernode_001 504560a698983c78" in result.stderr
    assert "expired at 2023-11-01T19:06:21" in result.stderr
    assert "its signing key was rejected" in result.stderr


def test_verify_keys_rejects_a_forged_certificate(
    scenario: dict[str, Path], tmp_path: Path
) -> None:
    document = json.loads(scenario["keys"].read_text())
    family = document["keys"][0]["journalists"][0]["journalists"]["static_test_journalist"][0]
    certificate = family["msg_pks"][0]["certificate"]
    family["msg_pks"][0]["certificate"] = ("0" if certificate[0] != "0" else "1") + certificate[1:]
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(document))
    result = verify_keys(scenario, str(forged))
    assert result.exit_code == 1
    assert "journalist_msg key of static_test_journalist bd481b297b520da8" in result.stderr
    assert "does not verify" in result.stderr


def test_open_user_dead_drops_finds_the_reply(scenario: dict[str, Path]) -> None:
    result = open_drops(scenario, scenario["drops"])
    assert result.exit_code == 0, result.output
    (line,) = result.stdout.splitlines()
    assert json.loads(line) == {
        "dead_drop_id": 1,
        "journalist_id": "static_test_journalist",
        "type": "text",
        "text": "This is a test message from the journalist to the user",
    }


def test_open_user_dead_drops_skips_a_bad_signature(
    scenario: dict[str, Path], tmp_path: Path
) -> None:
    document = json.loads(scenario["drops"].read_text())
    good = document["dead_drops"][0]
    document["dead_drops"].append(dict(good, id=2, created_at="2023-10-04T19:06:47Z"))
    drops = tmp_path / "drops.json"
    drops.write_text(json.dumps(document))
    result = open_drops(scenario, drops)
    assert result.exit_code == 1
    assert len(result.stdout.splitlines()) == 1
    assert "dead drop 2 skipped" in result.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [("not json", "is not a JSON file"), ('{"keys": 3}', "is not a valid published keys document")],
)
def test_bad_files_get_a_clear_error(
    scenario: dict[str, Path], tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "keys.json"
    path.write_text(content)
    result = verify_keys(scenario, str(path))
    assert result.exit_code == 1
    assert message in result.stderr


def test_missing_file_and_bad_time(scenario: dict[str, Path], tmp_path: Path) -> None:
    missing = runner.invoke(
        app,
        [
            "interop",
            "verify-keys",
            "--anchor",
            str(tmp_path / "nope.json"),
            "--now",
            _now(scenario),
            str(scenario["keys"]),
        ],
    )
    assert missing.exit_code == 1
    assert "cannot read organisation key" in missing.stderr
    bad_time = verify_keys(scenario, str(scenario["keys"]), now="yesterday")
    assert bad_time.exit_code == 1
    assert "--now must be an RFC 3339 time" in bad_time.stderr


def test_roundtrip_succeeds() -> None:
    result = runner.invoke(app, ["interop", "roundtrip", "--crowd", "5"])
    assert result.exit_code == 0, result.output
    assert "round trip succeeded" in result.stdout
    assert "6 clients each sent one 773-byte U2C" in result.stdout


# --- a Quietline deployment's document, with the organisation's statements ----------------

QUIETLINE_NOW = "2026-03-01T12:00:00Z"


def quietline_files(tmp_path: Path, *, swap: bool) -> tuple[Path, Path]:
    """An anchor and a ``?quietline=1`` document of a keyring, the recipients' family
    moved under the CoverNodes (with the genuine statements) when ``swap``."""
    keyring = build_keyring(parse_now(QUIETLINE_NOW), journalist_ids=("alice",))
    document = keyring.published_keys().to_json()
    assert "quietline" in document
    if swap:
        family = document["keys"][0]
        (journalists,) = family.pop("journalists")
        family["journalists"] = []
        family["covernodes"].append(
            {
                "provisioning_pk": journalists["provisioning_pk"],
                "covernodes": journalists["journalists"],
            }
        )
    anchor, keys = tmp_path / "anchor.json", tmp_path / "keys.json"
    anchor.write_text(json.dumps(keyring.anchor.to_json()))
    keys.write_text(json.dumps(document))
    return anchor, keys


def verify_quietline(anchor: Path, keys: Path) -> Result:
    arguments = ["interop", "verify-keys", "--anchor", str(anchor), "--now", QUIETLINE_NOW]
    return runner.invoke(app, [*arguments, str(keys)])


def test_verify_keys_holds_a_quietline_document_to_its_role_statements(tmp_path: Path) -> None:
    result = verify_quietline(*quietline_files(tmp_path, swap=False))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "verified 7 keys"

    swapped = verify_quietline(*quietline_files(tmp_path, swap=True))
    assert swapped.exit_code == 1
    assert "no statement of the organisation binds it to the covernodes" in swapped.stderr
    assert swapped.stdout.splitlines()[-1] == "verified 4 keys"  # the org key and the CoverNode's
