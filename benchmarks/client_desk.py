"""What a source client and a recipient's desk cost: CPU per event, bytes and CPU per day.

Run: ``.venv/bin/python benchmarks/client_desk.py [--recipients R] [--repeat N]``

In one run:

1. Each event's CPU, through Quietline and through the bare libsodium calls it is made
   of (the ratio is Quietline's time over the raw time: 1.00 means no overhead). A
   source client, at every send, makes a cover U2C (or seals a real one: the same work)
   and re-randomises its vault; at every download it trial-decrypts the window of user
   dead drops against every recipient's messaging keys. A desk trial-decrypts each
   recipient dead drop with its messaging keys.
2. Bytes on the wire, measured through a counting relay in front of a real ``quietline
   edge`` process with R enrolled recipients, their keys and profiles published and the
   mixer's keys in force: a send, a key download and a dead-drop download, each a whole
   HTTP exchange (request and answer, headers included). Dead drops are full-size
   (production mixing: every release is padded to its output size), so a page of them is
   counted as the edge serialises it (``dead_drop_list_json``) plus the exchange's
   measured headers.
3. Per day, at the client's default schedule and production mixing's hourly releases:
   what one client and one desk send, receive and spend in CPU.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import nacl.bindings as sodium
import nacl.utils

from quietline.admin.ceremony import enroll, init, publish
from quietline.client import vault as vaults
from quietline.client.client import (
    DEAD_DROP_WINDOW,
    DEFAULT_DOWNLOAD_PERIOD_S,
    DEFAULT_SEND_PERIOD_S,
    KEYS_PERIOD,
)
from quietline.config import load_config
from quietline.edge_client import EdgeClient
from quietline.mixer.service import Mixer
from quietline.mixer.state import MixerStore
from quietline.processes import Supervisor, edge_ready, free_port, quietline_command, wait_until
from quietline.protocol import reencryption
from quietline.protocol.boxes import shared_key
from quietline.protocol.certificates import KeyRole, SignedKey
from quietline.protocol.constants import (
    ED25519_SIGNATURE_LEN,
    NONCE_LEN,
    U2C_MESSAGE_LEN,
)
from quietline.protocol.deaddrops import (
    DeadDrop,
    JournalistDeadDrop,
    JournalistTrialDecryptor,
    UserDeadDrop,
    UserTrialDecryptor,
    dead_drop_list_json,
)
from quietline.protocol.keys import EncryptionKeyPair
from quietline.protocol.messages import cover_j2u, encrypt_cover_u2c, filler_c2j
from quietline.protocol.mixing import PRODUCTION_J2U, PRODUCTION_U2J
from quietline.protocol.verification import VerifiedKeys, verify_published_keys

DAY_S = 86_400.0
RELEASES_PER_DAY = DAY_S / PRODUCTION_U2J.timeout.total_seconds()  # one an hour, at least


def best_of(operation: Callable[[], object], repeat: int) -> float:
    """The shortest of ``repeat`` timings of ``operation``, in seconds: the least disturbed
    by whatever else the machine runs."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        operation()
        times.append(time.perf_counter() - started)
    return min(times)


# --- bytes on the wire ---------------------------------------------------------------


class CountingRelay:
    """A TCP relay on loopback that counts every byte each way."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.up = 0
        self.down = 0
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def counts(self) -> tuple[int, int]:
        with self._lock:
            return self.up, self.down

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, up: bool) -> None:
        """Copy one direction until it ends, then pass the end on (the other direction's
        pump may have closed both sockets by then)."""
        with contextlib.suppress(OSError):
            while chunk := source.recv(65536):
                with self._lock:
                    if up:
                        self.up += len(chunk)
                    else:
                        self.down += len(chunk)
                sink.sendall(chunk)
            sink.shutdown(socket.SHUT_WR)
        if not up:
            source.close()
            sink.close()

    def close(self) -> None:
        self._server.close()


def exchange(relay: CountingRelay, call: Callable[[], object]) -> tuple[int, int]:
    """Bytes up and down for one call through ``relay`` (its connection closed after)."""
    before = relay.counts()
    call()
    time.sleep(0.2)  # the relay's threads finish pumping the closed connection
    after = relay.counts()
    return after[0] - before[0], after[1] - before[1]


def full_user_dead_drop(now: datetime) -> DeadDrop[UserDeadDrop]:
    entries = b"".join(cover_j2u().data for _ in range(PRODUCTION_J2U.output_size))
    body = UserDeadDrop(now, entries, nacl.utils.random(ED25519_SIGNATURE_LEN))
    return body.published(1)


def full_journalist_dead_drop(now: datetime) -> DeadDrop[JournalistDeadDrop]:
    entries = b"".join(filler_c2j().data for _ in range(PRODUCTION_U2J.output_size))
    body = JournalistDeadDrop(now, entries, nacl.utils.random(ED25519_SIGNATURE_LEN), 1)
    return body.published(1)


def page_bytes(
    dead_drops: list[DeadDrop[UserDeadDrop]] | list[DeadDrop[JournalistDeadDrop]],
) -> int:
    return len(json.dumps(dead_drop_list_json(dead_drops), separators=(",", ":")).encode())


def published_deployment(folder: Path, recipients: int) -> tuple[Supervisor, str, VerifiedKeys]:
    """A real edge with ``recipients`` recipients and the mixer's keys published."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    now = datetime.now(UTC)
    layout = init(folder / "org", now, edge_port=port)
    for n in range(recipients):
        enroll(
            layout,
            now,
            recipient_id=f"recipient_{n:03d}",
            display_name=f"Recipient {n}",
            description="A recipient of the benchmark's organisation, as long as most are.",
            is_desk=False,
            default=n == 0,
        )
    supervisor = Supervisor(folder)
    supervisor.start("edge", quietline_command("edge", "--config", str(layout.folder)))
    wait_until(edge_ready(url), time.monotonic() + 30, "the edge to listen")
    settings = load_config(layout.folder).mixer
    anchor = SignedKey.from_json(json.loads(settings.anchor.read_text()))
    with EdgeClient(url) as edge, MixerStore(settings.database) as store:
        publish(layout, edge, now, lambda _line: None)
        Mixer(settings, edge, [anchor], store).step(now)  # publishes its messaging keys
        keys = verify_published_keys(edge.public_keys(), [anchor], now).verified
    return supervisor, url, keys


# --- the run ---------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=20, help="the organisation's size")
    parser.add_argument("--repeat", type=int, default=5, help="timings per event (best kept)")
    options = parser.parse_args()
    repeat = options.repeat
    now = datetime.now(UTC)

    with tempfile.TemporaryDirectory() as temp:
        supervisor, url, keys = published_deployment(Path(temp), options.recipients)
        with supervisor:
            wrapping = keys.covernode_wrapping_keys()
            relay = CountingRelay(("127.0.0.1", int(url.rsplit(":", 1)[1])))
            with EdgeClient(f"http://127.0.0.1:{relay.port}") as edge:
                send = exchange(relay, lambda: edge.send_u2c(encrypt_cover_u2c(wrapping)))
                key_download = exchange(relay, edge.public_keys)
                empty_page = exchange(
                    relay, lambda: edge.dead_drop_window(UserDeadDrop, DEAD_DROP_WINDOW, 0)
                )
                journalist_empty = exchange(relay, lambda: edge.dead_drops(JournalistDeadDrop, 0))
            relay.close()

    # What one download of the window and one hour's recipient dead drop weigh.
    empty = len(json.dumps(dead_drop_list_json([]), separators=(",", ":")).encode())
    user_page = [full_user_dead_drop(now) for _ in range(DEAD_DROP_WINDOW)]
    window_down = empty_page[1] - empty + page_bytes(user_page)
    journalist_down = journalist_empty[1] - empty + page_bytes([full_journalist_dead_drop(now)])

    # --- CPU per event --------------------------------------------------------------
    source = EncryptionKeyPair.generate()
    covernode = EncryptionKeyPair.generate()
    slot_key = nacl.utils.random(32)
    message = nacl.utils.random(U2C_MESSAGE_LEN)
    user_trial = UserTrialDecryptor(source, keys)
    journalist_keys = list(keys.of_role(KeyRole.JOURNALIST_MSG).values())
    shared = [
        shared_key(source, key.encryption_key()) for group in journalist_keys for key in group
    ]
    vault = vaults.install(blocks=vaults.DEFAULT_BLOCKS)
    blocks = vaults.DEFAULT_BLOCKS
    block = reencryption.encrypt(reencryption.public_key(reencryption.random_scalar()), bytes(29))
    points = [block[i : i + 32] for i in range(0, 128, 32)]
    scalar = reencryption.random_scalar()
    window = [full_user_dead_drop(now) for _ in range(DEAD_DROP_WINDOW)]
    entry = window[0].body.entries()[0].data
    desk_key = EncryptionKeyPair.generate()
    desk = JournalistTrialDecryptor([desk_key], wrapping)
    journalist_drop = full_journalist_dead_drop(now)
    c2j = journalist_drop.body.entries()[0].data
    desk_shared = [shared_key(desk_key, key) for key in wrapping]

    def raw_cover() -> None:
        for key in wrapping[:2]:
            sodium.crypto_box_seal(slot_key, key.raw)
        sodium.crypto_box_seal(message[:545], covernode.public.raw)
        sodium.crypto_secretbox(message, bytes(NONCE_LEN), slot_key)

    def raw_rerandomise() -> None:
        for _ in range(blocks):
            for point in points:
                sodium.crypto_scalarmult_ed25519_noclamp(scalar, point)
            sodium.crypto_core_ed25519_add(points[0], points[1])
            sodium.crypto_core_ed25519_add(points[2], points[3])

    def raw_user_window() -> None:
        for _ in range(DEAD_DROP_WINDOW * PRODUCTION_J2U.output_size):
            for key in shared:
                try:
                    sodium.crypto_box_open_afternm(entry[NONCE_LEN:], entry[:NONCE_LEN], key)
                except Exception:
                    continue

    def raw_journalist_drop() -> None:
        for _ in range(PRODUCTION_U2J.output_size):
            for key in desk_shared:
                try:
                    sodium.crypto_box_open_afternm(c2j[:-NONCE_LEN], c2j[-NONCE_LEN:], key)
                except Exception:
                    continue

    events = [
        ("cover U2C (every send)", lambda: encrypt_cover_u2c(wrapping), raw_cover),
        (
            f"vault re-randomised ({blocks} blocks)",
            lambda: vaults.rerandomise(vault),
            raw_rerandomise,
        ),
        (
            f"user dead drops trial-decrypted ({DEAD_DROP_WINDOW} x {PRODUCTION_J2U.output_size},"
            f" {len(shared)} keys)",
            lambda: [user_trial.open(drop) for drop in window],
            raw_user_window,
        ),
        (
            f"recipient dead drop trial-decrypted ({PRODUCTION_U2J.output_size} entries)",
            lambda: desk.open(journalist_drop),
            raw_journalist_drop,
        ),
    ]
    timed = [(name, best_of(ours, repeat), best_of(raw, repeat)) for name, ours, raw in events]
    cover_s, rerandomise_s, window_s, journalist_s = (ours for _, ours, _ in timed)

    print(f"{'CPU per event':<58} {'quietline ms':>12} {'raw ms':>8} {'ratio':>6}")
    print("-" * 87)
    for name, ours, raw in timed:
        print(f"{name:<58} {ours * 1e3:>12.2f} {raw * 1e3:>8.2f} {ours / raw:>6.2f}")

    sends = DAY_S / DEFAULT_SEND_PERIOD_S
    downloads = DAY_S / DEFAULT_DOWNLOAD_PERIOD_S
    key_downloads = DAY_S / KEYS_PERIOD.total_seconds()
    client_up = sends * send[0] + key_downloads * key_download[0] + downloads * empty_page[0]
    client_down = sends * send[1] + key_downloads * key_download[1] + downloads * window_down
    client_cpu = sends * (cover_s + rerandomise_s) + downloads * window_s
    desk_down = RELEASES_PER_DAY * journalist_down
    desk_cpu = RELEASES_PER_DAY * journalist_s
    print()
    print(f"{'one exchange, headers included (bytes)':<58} {'up':>10} {'down':>10}")
    print("-" * 80)
    print(f"{'a send (POST /user/messages)':<58} {send[0]:>10,} {send[1]:>10,}")
    print(
        f"{f'a key download ({options.recipients} recipients)':<58}"
        f" {key_download[0]:>10,} {key_download[1]:>10,}"
    )
    print(
        f"{f'a dead-drop download (window of {DEAD_DROP_WINDOW})':<58}"
        f" {empty_page[0]:>10,} {window_down:>10,}"
    )
    print(
        f"{'a recipient dead drop (one release)':<58}"
        f" {journalist_empty[0]:>10,} {journalist_down:>10,}"
    )
    print()
    print(
        f"per day: a client sends every {DEFAULT_SEND_PERIOD_S:g} s, downloads a window every "
        f"{DEFAULT_DOWNLOAD_PERIOD_S:g} s and the keys every {KEYS_PERIOD.total_seconds():g} s;"
        f" a desk reads {RELEASES_PER_DAY:g} releases"
    )
    print(f"{'per day':<30} {'sent MB':>9} {'received MB':>12} {'CPU s':>8} {'CPU %':>7}")
    print("-" * 70)
    for name, up, down, cpu in (
        ("one source client", client_up, client_down, client_cpu),
        ("one desk (its dead drops)", RELEASES_PER_DAY * journalist_empty[0], desk_down, desk_cpu),
    ):
        print(f"{name:<30} {up / 1e6:>9.2f} {down / 1e6:>12.2f} {cpu:>8.1f} {cpu / DAY_S:>7.2%}")


if __name__ == "__main__":
    main()
