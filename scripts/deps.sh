#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine with Go, and
# nothing when it is already there. Run as root (CI is) or with sudo.
set -euo pipefail

need=()
# Add packages here as the suite grows: "command:package".
for pair in "$@"; do
  cmd=${pair%%:*} pkg=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 || need+=("$pkg")
done

if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "deps: installing ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
go mod download
