#!/bin/sh
# The desk's browser tests drive Debian's Chromium (never a browser build Playwright
# downloads). Install it when it is absent and we may (root, as CI runs); otherwise say
# what to do: the browser tests skip without it, except under CI=true where they fail.
set -eu
CHROMIUM=/usr/bin/chromium
if [ -x "$CHROMIUM" ]; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's chromium for the desk's browser tests (apt-get install chromium)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null \
        || { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive \
             apt-get install -y --no-install-recommends chromium >/dev/null; }
    exit 0
fi
echo "note: $CHROMIUM is absent, so the desk's browser tests will skip;" \
     "install it with: sudo apt-get install chromium" >&2
