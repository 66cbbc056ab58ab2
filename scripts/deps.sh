#!/usr/bin/env bash
# Install the Debian packages cairn needs to build and test, if any are missing.
# Safe to run repeatedly: it asks apt only when something is absent.
set -euo pipefail

pkgs=(build-essential cmake pkg-config
      liblmdb-dev libsodium-dev libmsgpack-dev libuv1-dev libjansson-dev
      valgrind)

missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=sudo
    else
        echo "cairn: missing packages: ${missing[*]}; run as root or install them" >&2
        exit 1
    fi
else
    SUDO=
fi

echo "cairn: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
