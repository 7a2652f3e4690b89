#!/bin/sh
# The desk's browser tests drive Debian's Chromium (never a browser build Playwright
# downloads). Install it when it is absent and we may (root, as CI runs); otherwise say
# what to do: the browser tests skip without it, except under CI=true where they fail.
set -u
CHROMIUM=/usr/bin/chromium
[ -x "$CHROMIUM" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's chromium for the desk's browser tests (apt-get install chromium)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 \
        || { apt-get update >/dev/null 2>&1 \
             && apt-get install -y --no-install-recommends chromium >/dev/null 2>&1; }
    [ -x "$CHROMIUM" ] && exit 0
    echo "error: apt-get could not install chromium (is a Debian mirror reachable?)" >&2
else
    echo "note: $CHROMIUM is absent, so the desk's browser tests will skip;" \
         "install it with: sudo apt-get install chromium" >&2
fi
# CI must run the browser tests: stop here rather than fail later, test by test.
[ "${CI:-}" = true ] && exit 1
exit 0
