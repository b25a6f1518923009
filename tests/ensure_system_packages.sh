#!/usr/bin/env bash
# The system programs the tests use: the PostgreSQL 15 server (tests start a throwaway one on
# 127.0.0.1), ffmpeg (the scan benchmark's reference decoder), chromium (the review UI's browser
# tests drive Debian's build through Playwright; never `playwright install`), docker-compose
# (`docker-compose config` validates deploy/compose.yaml; no Docker daemon needed),
# systemd-analyze (verifies deploy/systemd/) and the Mosquitto MQTT broker (tests start a throwaway
# one on 127.0.0.1, tests/mqttbroker.py). Installed from Debian's packages when missing and we
# are root; otherwise say what is missing and fail.
set -euo pipefail
missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql-15)
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
[ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "error: missing Debian packages: ${missing[*]} (install them: apt-get install ${missing[*]})" >&2
    exit 1
fi
echo "installing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
