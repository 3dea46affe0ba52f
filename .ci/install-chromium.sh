#!/usr/bin/env bash
# Make sure Debian's chromium is at /usr/bin/chromium for the browser end-to-end tests.
# Idempotent: exits 0 at once when it is already installed. Otherwise installs it with apt-get,
# as root or through passwordless sudo; without either it says so and exits 0, and the browser
# tests skip. Playwright drives this system browser: never run `playwright install` (it downloads
# a browser build of its own, which this network refuses).
set -euo pipefail

if [[ -x /usr/bin/chromium ]]; then
    exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
else
    echo "install-chromium: /usr/bin/chromium missing and neither root nor sudo; browser tests will skip" >&2
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-chromium: no apt-get on this machine; browser tests will skip" >&2
    exit 0
fi

echo "install-chromium: installing Debian chromium" >&2
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium fonts-liberation
test -x /usr/bin/chromium
/usr/bin/chromium --version 2>/dev/null || true
