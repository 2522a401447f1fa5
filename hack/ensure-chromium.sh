#!/usr/bin/env bash
# Installs Debian's chromium (for the console page's browser test) when it is missing. Debian's package
# repositories are the only place it comes from; nothing is downloaded by a test tool.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || [ -n "${CHROMIUM:-}" ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "chromium is missing: install Debian's chromium package (sudo apt-get install chromium), or set CHROMIUM" >&2
  exit 1
fi
echo "[ensure-chromium] installing Debian's chromium package" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium >/dev/null
