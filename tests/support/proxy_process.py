"""A real local proxy process (pproxy, from PyPI) serving SOCKS5 and HTTP CONNECT on one
loopback port, as a VPN's local proxy or Tor's SOCKS port would.

Its resolver knows names this test process cannot resolve (``names``: a name under the
reserved ``.test`` domain mapped to 127.0.0.1), so a client that reaches such a name can
only have let the proxy resolve it. The proxy's log (``-v``: one line per connection,
``PROTOCOL CLIENT -> HOST:PORT``) says which connections it carried and where to.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from quietline.processes import free_port

START_DEADLINE_S = 10.0
# pproxy's own entry point, in a process whose getaddrinfo knows the names in argv[1]
# ("name=address,..."); every other name is looked up as usual.
WITH_NAMES = """
import socket, sys
names = dict(pair.split("=", 1) for pair in sys.argv[1].split(",") if pair)
lookup = socket.getaddrinfo
def getaddrinfo(host, *args, **kwargs):
    name = host.decode() if isinstance(host, bytes) else host
    return lookup(names.get(name, host), *args, **kwargs)
socket.getaddrinfo = getaddrinfo
from pproxy.server import main
sys.argv = ["pproxy", *sys.argv[2:]]
main()
"""
CONNECTION = re.compile(r"^(socks5|http) \S+ -> (\S+)$", re.MULTILINE)


@dataclass
class RunningProxy:
    port: int
    log: Path

    def url(self, scheme: str) -> str:
        """The proxy's URL for ``scheme`` (``socks5h`` or ``http``)."""
        return f"{scheme}://127.0.0.1:{self.port}"

    def connections(self) -> list[tuple[str, str]]:
        """The connections carried so far: (protocol, target HOST:PORT) in order."""
        return CONNECTION.findall(self.log.read_text(encoding="utf-8"))


@contextmanager
def running_proxy(folder: Path, names: dict[str, str]) -> Iterator[RunningProxy]:
    """Run pproxy on a free loopback port until the block ends."""
    folder.mkdir(parents=True, exist_ok=True)
    proxy = RunningProxy(free_port(), folder / "proxy.log")
    mapping = ",".join(f"{name}={address}" for name, address in names.items())
    listen = f"socks5+http://127.0.0.1:{proxy.port}"
    with proxy.log.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-u", "-c", WITH_NAMES, mapping, "-l", listen, "-v"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + START_DEADLINE_S
        while "Serving on" not in proxy.log.read_text(encoding="utf-8"):
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"the proxy did not start: {proxy.log.read_text()}")
            time.sleep(0.05)
        yield proxy
    finally:
        process.terminate()
        process.wait(timeout=START_DEADLINE_S)
