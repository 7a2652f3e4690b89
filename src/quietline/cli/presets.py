"""The crowd presets' figures as Markdown tables (``quietline admin presets``), the form
docs/deploy.md shows them in."""

from __future__ import annotations

import math
from datetime import timedelta

from quietline.admin.crowd import CrowdFigures
from quietline.protocol.mixing import PRODUCTION_U2J, MixingParameters, next_release
from quietline.protocol.mixing_simulation import START


def _duration(hours: float) -> str:
    if math.isnan(hours):
        return "n/a"
    if hours < 1 / 60:
        return f"{hours * 3600:.0f} s"
    if hours < 1:
        return f"{hours * 60:.0f} min"
    if hours < 48:
        return f"{hours:.1f} h"
    return f"{hours / 24:.1f} days"


def _size(count: float) -> str:
    for unit, scale in (("M", 1e6), ("k", 1e3)):
        if count >= scale:
            return f"{count / scale:.3g}{unit}"
    return f"{count:.3g}"


def _bytes(count: float) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= scale:
            return f"{count / scale:.3g} {unit}"
    return f"{count:.0f} B"


def _parameters(parameters: MixingParameters) -> str:
    return (
        f"{parameters.threshold_min:,} / {parameters.threshold_max:,} /"
        f" {_duration(parameters.timeout.total_seconds() / 3600)} / {parameters.output_size:,}"
    )


def production_interval(figures: CrowdFigures) -> str:
    """How long CoverDrop's production U2J mix takes between releases at this crowd."""
    rate = figures.crowd.u2j.inputs_per_hour / 3600
    due = next_release(PRODUCTION_U2J, 0, START, rate, START)
    return "never" if due is None else _duration((due - START) / timedelta(hours=1))


def presets_table(rows: list[tuple[str, CrowdFigures]], days: float, seed: int) -> list[str]:
    """Two Markdown tables: each preset's traffic and parameters, then what they cost."""
    lines = [
        "| preset | running clients | desks | inputs/h U2J (real) | inputs/h J2U (real) |"
        " U2J min / max / timeout / output | J2U min / max / timeout / output |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    for name, figures in rows:
        crowd, mixing = figures.crowd, figures.mixing
        lines.append(
            f"| {name} | {crowd.clients:,} | {crowd.desks} |"
            f" {_size(crowd.u2j.inputs_per_hour)} ({crowd.u2j.real_per_hour:g}) |"
            f" {_size(crowd.j2u.inputs_per_hour)} ({crowd.j2u.real_per_hour:g}) |"
            f" {_parameters(mixing.u2j)} | {_parameters(mixing.j2u)} |"
        )
    lines += [
        "",
        "| preset | source → desk delay, mean (p95) | desk → source delay, mean (p95) |"
        " journalist dead drops/h | anonymity set per journalist dead drop: inputs (clients) |"
        " per user dead drop: inputs | source client up / down a day |"
        " desk up / down a day | a reply is found after an absence if younger than |"
        " CoverDrop's production U2J releases every |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for name, figures in rows:
        u2j, j2u = figures.u2j, figures.j2u
        down = _bytes(figures.client_download_per_day)
        if not figures.client_keeps_up:
            down += " (falls behind)"
        lines.append(
            f"| {name} | {_duration(u2j.mean_delay_h)} ({_duration(u2j.p95_delay_h)}) |"
            f" {_duration(j2u.mean_delay_h)} ({_duration(j2u.p95_delay_h)}) |"
            f" {u2j.releases_per_hour:.2f} |"
            f" {_size(u2j.inputs_per_release)} ({_size(figures.clients_per_batch)}) |"
            f" {_size(j2u.inputs_per_release)} |"
            f" {_bytes(figures.client_upload_per_day)} / {down} |"
            f" {_bytes(figures.desk_upload_per_day)} / {_bytes(figures.desk_download_per_day)} |"
            f" {_duration(figures.reply_reach_h)} |"
            f" {production_interval(figures)} |"
        )
    lines += [
        "",
        f"Measured by `quietline admin presets --days {days:g} --seed {seed}`: the mixer's own"
        " batch machine driven with Poisson arrivals. Bytes are ciphertext (base64 on the"
        " wire adds a third).",
    ]
    return lines
