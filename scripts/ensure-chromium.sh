#!/usr/bin/env bash
# Makes sure a headless browser can drive the console's browser tests: Debian's
# `chromium` and its WebDriver, `chromium-driver`, installed with apt where they are
# missing. Fails loudly when they cannot be had: the browser tests never skip.
set -euo pipefail

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  echo "ensure-chromium: installing chromium and chromium-driver with apt" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium chromium-driver >/dev/null
fi

if ! chromium --headless --no-sandbox --disable-gpu --dump-dom about:blank >/dev/null 2>&1; then
  echo "ensure-chromium: chromium is installed but does not start headless" >&2
  exit 1
fi
command -v chromedriver >/dev/null
