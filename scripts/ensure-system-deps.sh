#!/usr/bin/env bash
# Installs the Debian packages the mesh and its tests need, when missing.
# As root it installs them with apt-get; otherwise it prints the exact command to run.
set -euo pipefail

# command → Debian package
declare -A need=(
  [ip]=iproute2
  [ss]=iproute2
  [iptables]=iptables
  [iptables-restore]=iptables
  [tcpdump]=tcpdump
  [stunnel4]=stunnel4
)
missing=()
for cmd in "${!need[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin" command -v "$cmd" >/dev/null 2>&1 || missing+=("${need[$cmd]}")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi
pkgs=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: $pkgs"
  echo "run: sudo apt-get update && sudo apt-get install -y $pkgs"
  exit 1
fi
echo "installing Debian packages: $pkgs"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $pkgs
