#!/usr/bin/env bash
# Installs what the test suite needs when it is missing: a C compiler for
# go-sqlite3, Debian's ansible-core, ansible-lint and yamllint for the
# playbooks and the YAML files (make lint), nginx, Apache and HAProxy,
# which the playbook tests run on loopback, and promtool, which checks the
# bot's /metrics, systemd-analyze, which verifies the systemd unit, sudo,
# through which the playbooks become root, and PostgreSQL, which the
# storage tests start in a temporary directory (storage/pgtest).
set -euo pipefail
need=()
command -v gcc >/dev/null || need+=(gcc libc6-dev)
command -v ansible-playbook >/dev/null || need+=(ansible-core)
command -v ansible-lint >/dev/null || need+=(ansible-lint)
command -v yamllint >/dev/null || need+=(yamllint)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || need+=(haproxy)
command -v apache2ctl >/dev/null || [ -x /usr/sbin/apache2 ] || need+=(apache2)
command -v systemd-analyze >/dev/null || need+=(systemd)
# The playbooks run their server steps with become (sudo), in the tests too.
command -v sudo >/dev/null || need+=(sudo)
# Debian's package is named postgresql; its programs live in
# /usr/lib/postgresql/<version>/bin, off the PATH. The tests start their own
# server; the one the package starts (if any) is not used.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
need_promtool=false
command -v promtool >/dev/null || need_promtool=true
if [ ${#need[@]} -eq 0 ] && ! $need_promtool; then
  exit 0
fi
echo "installing test dependencies: ${need[*]}$($need_promtool && echo " promtool")"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then
    sudo="sudo"
  else
    echo "not root and no sudo: install ${need[*]} (Debian packages) and run again" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
if [ ${#need[@]} -gt 0 ]; then
  # --no-install-recommends keeps ansible-core from pulling the whole
  # 350 MB ansible collection bundle.
  $sudo apt-get install -y -q --no-install-recommends "${need[@]}"
fi
if $need_promtool; then
  # promtool (the metrics test runs "promtool check metrics") ships only in
  # Debian's prometheus server package: take the one binary from it rather
  # than install, and start, a Prometheus server.
  tmp=$(mktemp -d)
  chmod 755 "$tmp"
  (cd "$tmp" && apt-get download -q prometheus)
  dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/root"
  $sudo install -m 0755 "$tmp/root/usr/bin/promtool" /usr/local/bin/promtool
  rm -rf "$tmp"
fi
