"""The network adversary: can an observer of the traffic tell sources from everyone else?

:func:`observe` runs a whole deployment as real processes (edge, mixer, desk) and
``clients`` real ``quietline source run`` clients, each through its own port of a
:class:`~tests.support.recording_proxy.RecordingProxy`. A seeded third of them are
*writers*: a person sends messages (the first with ``--new``) and reads replies at seeded
random moments, while the desk replies to every new source; the others only run. The
proxy records what a network observer sees of each client.

:func:`features` turns one client's trace into k-FP-style features (counts, gaps between
requests per route and overall, bursts and long gaps against the period everyone shows,
connections, bytes each way, answer sizes, header sets, latencies) and :func:`analyse`
asks how well they separate writers from the rest: a Mann-Whitney U test per feature
(Bonferroni-corrected), and a random forest's cross-validated ROC-AUC with a bootstrap
confidence interval and a permutation test (labels shuffled). :attr:`Analysis.distinguishable`
is the verdict the test asserts on; :func:`main` is the longer run from the command line::

    python -m tests.system.unobservable --clients 30 --minutes 10
"""

from __future__ import annotations

import argparse
import itertools
import math
import random
import re
import statistics
import subprocess
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import numpy as np
from scipy.stats import mannwhitneyu
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from quietline.client.client import MAX_IDLE_WAIT_S
from quietline.config import CONFIG_NAME
from quietline.processes import quietline_command
from tests.support.deployment import PASSPHRASE, RECIPIENT, Deployment, deploy
from tests.support.recording_proxy import Exchange, RecordingProxy, Trace

# The verdict: writers are distinguishable when any of these holds.
AUC_BOUND = 0.75  # the random forest's AUC, lower end of its 95 % interval, above this
# The permutation test's p, or any feature's Bonferroni-corrected p, below this. Three
# criteria are checked on every run: 0.001 keeps a clean client's chance of failing by
# luck well under one run in a hundred.
ALPHA = 0.001
TREES = 50
FOLDS = 4
PERMUTATIONS = 1999
# Besag-Clifford: stop shuffling once this many shuffles did at least as well (p is then
# well above ALPHA and known to enough precision).
PERMUTATION_STOP = 10
BOOTSTRAPS = 2000
# The sources' send period is twice the run loop's longest sleep, so the loop wakes
# between two slots: a send made at a wake-up rather than in its slot shows as an odd
# gap. Downloads come every three seconds.
SEND_PERIOD_S = 2 * MAX_IDLE_WAIT_S
DOWNLOAD_PERIOD_S = 3.0
WARM_UP_S = 10.0  # the people act only after every client has started and fetched keys


@dataclass(frozen=True)
class Plan:
    """Who writes, and when each person acts (seconds after the clients started)."""

    clients: int
    writers: frozenset[int]
    actions: dict[int, list[tuple[float, str]]]  # writer -> (when, "first"|"send"|"inbox")

    @classmethod
    def seeded(cls, seed: int, clients: int, seconds: float, actions_each: int) -> Plan:
        rng = random.Random(seed)
        writers = frozenset(rng.sample(range(clients), clients // 3))
        actions: dict[int, list[tuple[float, str]]] = {}
        last = max(WARM_UP_S + 1, seconds - 10.0)
        for n in sorted(writers):
            times = sorted(rng.uniform(WARM_UP_S, last) for _ in range(actions_each))
            kinds = ["first"] + [rng.choice(["send", "inbox"]) for _ in times[1:]]
            actions[n] = list(zip(times, kinds, strict=True))
        return cls(clients, writers, actions)


REPLY = "thank you: we read it"


class Command(NamedTuple):
    """What a person types: the command, and the text it reads on standard input (the
    passphrase always reaches it on a pipe, ``--passphrase-fd``)."""

    argv: list[str]
    stdin: str = ""


def person(deployment: Deployment, n: int, action: str, to: str = RECIPIENT) -> bool:
    """What the person at client ``n`` does: ``first`` (the first message, which starts
    the vault), ``send`` or ``inbox``; whether it worked (a command that hangs on an
    overloaded machine did not). The key derivation is what the client's installation
    records (the default unless the options given to ``source run`` say otherwise)."""
    try:
        if action == "inbox":
            return deployment.inbox(n) is not None
        return deployment.write(n, f"from client {n}: the ledger is in the blue folder", to)
    except subprocess.TimeoutExpired:
        return False


def desk_reply(deployment: Deployment, source: str) -> Command:
    """The command the deployment's own desk runs to answer ``source``."""
    return Command(deployment.desk("reply", source), REPLY)


def observed_desk_command(config: Path, *args: str) -> Command:
    """A command of an observed desk (``run``, ``sources --json``, ``reply SOURCE``...), at
    the default key derivation cost, what a real desk pays."""
    argv = quietline_command("desk", *args, "--config", str(config))
    return Command(argv, REPLY if args[0] == "reply" else "")


def _ran(deployment: Deployment, command: Command) -> bool:
    """Whether ``command`` worked (a command that hangs on an overloaded machine did not)."""
    try:
        done = deployment.supervisor.run(command.argv, stdin=command.stdin, passphrase=PASSPHRASE)
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def _answer(deployment: Deployment, command: list[str]) -> dict[str, Any] | None:
    try:
        return deployment.answer(command)
    except subprocess.TimeoutExpired:
        return None


@dataclass
class Observation:
    plan: Plan
    traces: list[Trace]
    window: tuple[float, float]  # time.monotonic() of the clients' start and stop
    done: dict[int, list[str]]  # writer -> the actions that succeeded
    failed: dict[int, list[str]] = field(default_factory=dict)


@contextmanager
def _people(deployment: Deployment, plan: Plan, started: float) -> Iterator[Observation]:
    """Runs every writer's actions and the desk's replies in threads until the block ends."""
    observation = Observation(plan, [], (started, started), defaultdict(list), defaultdict(list))
    stop = threading.Event()

    def act(n: int) -> None:
        for at, action in plan.actions[n]:
            if stop.wait(max(0.0, started + at - time.monotonic())):
                return
            # A first message waits for the client's first key download: try again.
            for _ in range(5 if action == "first" else 1):
                if person(deployment, n, action):
                    observation.done[n].append(action)
                    break
                if stop.wait(2.0):
                    return
            else:
                observation.failed[n].append(action)

    def reply() -> None:
        replied: set[str] = set()
        while not stop.wait(5.0):
            answer = _answer(deployment, deployment.desk("sources", "--json"))
            for row in answer["sources"] if answer else []:
                source = row["source"]
                if source not in replied and _ran(deployment, desk_reply(deployment, source)):
                    replied.add(source)

    with _threads([partial(act, n) for n in plan.actions] + [reply], stop):
        yield observation


@contextmanager
def _threads(targets: Sequence[Callable[[], None]], stop: threading.Event) -> Iterator[None]:
    """Runs ``targets`` in threads; when the block ends, sets ``stop`` and waits for them."""
    threads = [threading.Thread(target=target, daemon=True) for target in targets]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=180)


def observe(
    folder: Path,
    plan: Plan,
    seconds: float,
    period: float = SEND_PERIOD_S,
    download_period: float = DOWNLOAD_PERIOD_S,
) -> Observation:
    """Run the deployment and ``plan.clients`` clients through the proxy for ``seconds``."""
    # Small vaults: each client re-randomises its vault at every send, and 24 of them at
    # a 2 s period must fit on two cores (a real client sends once a minute). The key
    # derivation stays at the default cost, the stall a real person's device causes.
    options = (
        *("--period", f"{period:g}", "--download-period", f"{download_period:g}"),
        *("--vault-blocks", "32"),
    )
    with deploy(folder, plan.clients, source_options=options) as deployment:
        edge = urlsplit(deployment.url)
        assert edge.hostname is not None
        assert edge.port is not None
        with RecordingProxy(edge.hostname, edge.port) as proxy:
            for n in range(plan.clients):
                port = proxy.listen(f"client-{n}")
                deployment.source_edges[n] = f"http://127.0.0.1:{port}"
            started = time.monotonic()
            for n in range(plan.clients):
                deployment.start(f"source-{n}")
            with _people(deployment, plan, started) as observation:
                time.sleep(max(0.0, started + seconds - time.monotonic()))
                deployment.supervisor.check_alive()
                ended = time.monotonic()
            for n in range(plan.clients):
                deployment.supervisor.stop(deployment.running[f"source-{n}"])
            with proxy.frozen() as traces:
                observation.traces = [traces[f"client-{n}"] for n in range(plan.clients)]
            observation.window = (started, ended)
            return observation


def _desk_folder(deployment: Deployment, folder: Path, edge_url: str) -> Path:
    """A deployment folder for one more desk: the organisation's configuration with the
    desk's edge URL (a proxy port) and its own vault, period one second."""
    folder.mkdir(parents=True)
    text = deployment.layout.config.read_text(encoding="utf-8")
    head, desk = text.split("[desk]", 1)
    desk = re.sub(r'(?m)^edge_url = ".*"', f'edge_url = "{edge_url}"', desk, count=1)
    desk = re.sub(r"(?m)^period_seconds = .*", "period_seconds = 1", desk, count=1)
    head = re.sub(
        r'(?m)^anchor = ".*"', f'anchor = "{deployment.layout.anchor.resolve()}"', head, count=1
    )
    (folder / CONFIG_NAME).write_text(f"{head}[desk]{desk}", encoding="utf-8")
    return folder


def observe_desks(folder: Path, plan: Plan, seconds: float) -> Observation:
    """The same for desks: ``plan.clients`` more desks, each run through its own proxy port,
    each written to by one source client from the start; the writers of ``plan`` are the
    desks whose people reply (at ``plan``'s moments), the others never reply."""
    names = [f"desk_{d}" for d in range(plan.clients)]
    options = ("--period", "1", "--download-period", "3", "--vault-blocks", "32")
    with deploy(folder, plan.clients, recipients=names, source_options=options) as deployment:
        edge = urlsplit(deployment.url)
        assert edge.hostname is not None
        assert edge.port is not None
        with RecordingProxy(edge.hostname, edge.port) as proxy:
            configs = []
            for name in names:
                url = f"http://127.0.0.1:{proxy.listen(name)}"
                config = _desk_folder(deployment, folder / "desks" / name, url)
                bundle = str(deployment.layout.bundle(name))
                add = observed_desk_command(config, "add-recipient", bundle)
                done = deployment.supervisor.run(add.argv, passphrase=PASSPHRASE)
                assert done.returncode == 0, done.stderr
                configs.append(config)
            started = time.monotonic()
            for d, config in enumerate(configs):
                run = observed_desk_command(config, "run")
                deployment.supervisor.start(names[d], run.argv, passphrase=PASSPHRASE)
            for n in range(plan.clients):
                deployment.start(f"source-{n}")
            with _desk_people(deployment, plan, configs, started) as observation:
                time.sleep(max(0.0, started + seconds - time.monotonic()))
                deployment.supervisor.check_alive()
                ended = time.monotonic()
            with proxy.frozen() as traces:
                observation.traces = [traces[name] for name in names]
            observation.window = (started, ended)
            return observation


@contextmanager
def _desk_people(
    deployment: Deployment, plan: Plan, configs: list[Path], started: float
) -> Iterator[Observation]:
    """Each source writes once to its desk; each replying desk's person answers every
    source it has heard from at the plan's moments."""
    observation = Observation(plan, [], (started, started), defaultdict(list), defaultdict(list))
    stop = threading.Event()

    def write(n: int) -> None:
        for _ in range(10):
            if person(deployment, n, "first", to=f"desk_{n}") or stop.wait(2.0):
                return

    def reply(d: int) -> None:
        for at, _kind in plan.actions[d]:
            if stop.wait(max(0.0, started + at - time.monotonic())):
                return
            rows: list[dict[str, str]] = []
            for _ in range(5):  # the first message may still be in the mix: try again
                listing = observed_desk_command(configs[d], "sources", "--json")
                answer = _answer(deployment, listing.argv)
                rows = answer["sources"] if answer else []
                if rows or stop.wait(2.0):
                    break
            for row in rows:
                command = observed_desk_command(configs[d], "reply", row["source"])
                ok = _ran(deployment, command)
                (observation.done if ok else observation.failed)[d].append("reply")
            if not rows:
                observation.failed[d].append("nobody to reply to")

    writers = [partial(write, n) for n in range(plan.clients)]
    with _threads([*writers, *(partial(reply, d) for d in plan.actions)], stop):
        yield observation


def route(exchange: Exchange) -> str:
    """The method and path with numbers left out: what an observer groups requests by."""
    path = "/".join("N" if part.isdigit() else part for part in exchange.path.split("/"))
    return f"{exchange.method} {path}"


def _header_set(exchange: Exchange) -> tuple[tuple[str, str], ...]:
    # Host carries the proxy port each client was given: not the client's doing.
    return tuple((k, "" if k.lower() == "host" else v) for k, v in exchange.headers)


def _stats(prefix: str, values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {f"{prefix} {s}": 0.0 for s in ("mean", "std", "min", "max", "p10", "p50", "p90")}
    ordered = sorted(values)

    def pct(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {
        f"{prefix} mean": statistics.fmean(ordered),
        f"{prefix} std": statistics.pstdev(ordered),
        f"{prefix} min": ordered[0],
        f"{prefix} max": ordered[-1],
        f"{prefix} p10": pct(0.1),
        f"{prefix} p50": pct(0.5),
        f"{prefix} p90": pct(0.9),
    }


def _gaps(exchanges: Sequence[Exchange]) -> list[float]:
    return [b.at - a.at for a, b in itertools.pairwise(exchanges)]


def periods(observation: Observation) -> dict[str, float]:
    """The period of each route as an observer infers it from everyone: the median gap."""
    gaps: dict[str, list[float]] = defaultdict(list)
    for trace in observation.traces:
        by_route: dict[str, list[Exchange]] = defaultdict(list)
        for exchange in _within(trace, observation.window):
            by_route[route(exchange)].append(exchange)
        for name, exchanges in by_route.items():
            gaps[name] += _gaps(exchanges)
    return {name: statistics.median(values) for name, values in gaps.items() if values}


def _within(trace: Trace, window: tuple[float, float]) -> list[Exchange]:
    return [e for e in trace.exchanges() if window[0] <= e.at <= window[1]]


def features(
    trace: Trace, window: tuple[float, float], period: dict[str, float]
) -> dict[str, float]:
    """One client's k-FP-style features over ``window`` (see the module's docstring)."""
    exchanges = _within(trace, window)
    out: dict[str, float] = {}
    for name in sorted(period):
        mine = [e for e in exchanges if route(e) == name]
        gaps = _gaps(mine)
        out[f"{name}: requests"] = len(mine)
        out |= _stats(f"{name}: gap", gaps)
        out[f"{name}: bursts"] = sum(g < period[name] / 2 for g in gaps)
        out[f"{name}: long gaps"] = sum(g > period[name] * 1.5 for g in gaps)
        out |= _stats(f"{name}: bytes up", [e.request_bytes for e in mine])
        out |= _stats(f"{name}: bytes down", [e.response_bytes for e in mine])
        out[f"{name}: bytes down total"] = sum(e.response_bytes for e in mine)
        out[f"{name}: header sets"] = len({_header_set(e) for e in mine})
        out[f"{name}: not 2xx"] = sum(not (e.status and 200 <= e.status < 300) for e in mine)
        latencies = [e.answered_at - e.at for e in mine if e.answered_at is not None]
        out[f"{name}: latency max"] = max(latencies, default=0.0)
    connections = [c for c in trace.connections if c.opened_at <= window[1]]
    per_connection = [sum(window[0] <= e.at <= window[1] for e in c.exchanges) for c in connections]
    all_gaps = _gaps(exchanges)
    shortest = min(period.values(), default=1.0)
    out |= {
        "connections": len(connections),
        "requests per connection max": max(per_connection, default=0),
        "requests per connection min": min(per_connection, default=0),
        "connections closed": sum(
            c.closed_at is not None and c.closed_at <= window[1] for c in connections
        ),
        "unparsed connections": sum(c.unparsed for c in connections),
        "requests": len(exchanges),
        "bytes up": sum(e.request_bytes for e in exchanges),
        "bytes down": sum(e.response_bytes for e in exchanges),
        "header sets": len({_header_set(e) for e in exchanges}),
        "any gap max": max(all_gaps, default=0.0),
        "any gap min": min(all_gaps, default=0.0),
        "any bursts": sum(g < shortest / 10 for g in all_gaps),
    }
    return out


@dataclass
class FeatureTest:
    name: str
    writers: float  # the writers' median
    others: float  # the non-writers' median
    auc: float  # P(writer's value > non-writer's), ties half
    p: float  # Mann-Whitney U, two-sided
    p_bonferroni: float


@dataclass
class Analysis:
    writers: int
    others: int
    features: int
    auc: float  # the random forest's out-of-fold ROC-AUC
    auc_interval: tuple[float, float]  # bootstrap 95 %
    permutation_p: float
    permutations: int
    tests: list[FeatureTest]

    @property
    def distinguishable(self) -> bool:
        return (
            self.auc_interval[0] > AUC_BOUND
            or self.permutation_p < ALPHA
            or any(t.p_bonferroni < ALPHA for t in self.tests)
        )

    def table(self, rows: int = 15) -> str:
        """The verdict and the most telling features, for people."""
        low, high = self.auc_interval
        lines = [
            f"{self.writers} writers, {self.others} others, {self.features} features",
            f"random forest ({TREES} trees, {FOLDS}-fold CV): ROC-AUC {self.auc:.3f} "
            f"(95 % bootstrap {low:.3f}-{high:.3f}; fails above {AUC_BOUND}), "
            f"permutation p {self.permutation_p:.4f} ({self.permutations} shuffles; "
            f"fails below {ALPHA})",
            f"{'feature':<48} {'writers':>10} {'others':>10} {'AUC':>6} {'p':>9} {'p x k':>9}",
        ]
        for t in sorted(self.tests, key=lambda t: (t.p, -abs(t.auc - 0.5)))[:rows]:
            lines.append(
                f"{t.name[:48]:<48} {t.writers:>10.4g} {t.others:>10.4g} {t.auc:>6.3f} "
                f"{t.p:>9.2e} {t.p_bonferroni:>9.2e}"
            )
        lines.append("distinguishable" if self.distinguishable else "not distinguishable")
        return "\n".join(lines)


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """ROC-AUC from ranks (ties count half)."""
    positives = labels == 1
    n1, n0 = int(positives.sum()), int((~positives).sum())
    less = (scores[positives][:, None] > scores[~positives][None, :]).sum()
    ties = (scores[positives][:, None] == scores[~positives][None, :]).sum()
    return float((less + ties / 2) / (n1 * n0))


def _forest_scores(x: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    forest = RandomForestClassifier(n_estimators=TREES, random_state=seed)
    smallest = min(int(y.sum()), int(len(y) - y.sum()))
    folds = StratifiedKFold(n_splits=min(FOLDS, smallest), shuffle=True, random_state=seed)
    scores: np.ndarray = cross_val_predict(forest, x, y, cv=folds, method="predict_proba")[:, 1]
    return scores


def analyse(
    rows: list[dict[str, float]],
    labels: Sequence[bool],
    seed: int,
    permutations: int = PERMUTATIONS,
) -> Analysis:
    """Per-feature tests and the random forest on ``rows`` (one per client, features by
    name; a missing feature counts as 0), ``labels`` true for writers."""
    names = sorted({name for row in rows for name in row})
    x = np.array([[row.get(name, 0.0) for name in names] for row in rows], dtype=float)
    y = np.array([int(label) for label in labels])
    tests = []
    varying = [i for i in range(len(names)) if np.ptp(x[:, i]) > 0]
    for i in varying:
        w, o = x[y == 1, i], x[y == 0, i]
        p = float(mannwhitneyu(w, o, alternative="two-sided").pvalue)
        tests.append(
            FeatureTest(
                names[i],
                float(np.median(w)),
                float(np.median(o)),
                auc(x[:, i], y),
                p,
                min(1.0, p * max(1, len(varying))),
            )
        )
    scores = _forest_scores(x, y, seed)
    observed = auc(scores, y)
    rng = np.random.default_rng(seed)
    boot = []
    positives, negatives = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    for _ in range(BOOTSTRAPS):
        pick = np.concatenate(
            [rng.choice(positives, len(positives)), rng.choice(negatives, len(negatives))]
        )
        boot.append(auc(scores[pick], y[pick]))
    low, high = np.percentile(boot, [2.5, 97.5])
    as_good = 0
    shuffles = 0
    for shuffles in range(1, permutations + 1):  # noqa: B007 - the count is the result
        as_good += auc(_forest_scores(x, rng.permutation(y), seed), y) >= observed
        if as_good >= PERMUTATION_STOP:
            break
    p = as_good / shuffles if as_good >= PERMUTATION_STOP else (as_good + 1) / (shuffles + 1)
    return Analysis(
        int(y.sum()),
        int(len(y) - y.sum()),
        len(names),
        observed,
        (float(low), float(high)),
        p,
        shuffles,
        tests,
    )


def feature_rows(observation: Observation) -> list[dict[str, float]]:
    period = periods(observation)
    return [features(trace, observation.window, period) for trace in observation.traces]


def summary(observation: Observation) -> str:
    done = sum(len(v) for v in observation.done.values())
    failed = sum(len(v) for v in observation.failed.values())
    seconds = observation.window[1] - observation.window[0]
    return (
        f"{observation.plan.clients} clients for {seconds:.0f} s; people's actions done "
        f"{done}, failed {failed}"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=30)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--period", type=float, default=SEND_PERIOD_S)
    parser.add_argument("--download-period", type=float, default=DOWNLOAD_PERIOD_S)
    parser.add_argument("--actions", type=int, default=0, help="per writer (default: 1/min, >=3)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--desks", action="store_true", help="observe desks, not sources")
    args = parser.parse_args(argv)
    seconds = args.minutes * 60
    actions = args.actions or max(3, math.ceil(args.minutes))
    plan = Plan.seeded(args.seed, args.clients, seconds, actions)
    with tempfile.TemporaryDirectory() as folder:
        if args.desks:
            observation = observe_desks(Path(folder), plan, seconds)
        else:
            observation = observe(Path(folder), plan, seconds, args.period, args.download_period)
    labels = [n in plan.writers for n in range(plan.clients)]
    print(summary(observation))
    print(analyse(feature_rows(observation), labels, args.seed).table())


if __name__ == "__main__":
    main()
