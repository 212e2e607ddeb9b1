#!/usr/bin/env bash
# Pins every base image of the Dockerfile by digest: for each FROM line it
# asks the registry for the digest the tag points at now and writes
# "image:tag@sha256:…" in place (a pinned line is refreshed the same way).
# Needs a registry to reach and one of: docker (buildx), skopeo or crane.
#   scripts/pin-images.sh [Dockerfile]
set -euo pipefail
cd "$(dirname "$0")/.."
file=${1:-Dockerfile}

digest() {
  local ref=$1
  if command -v docker >/dev/null && docker buildx version >/dev/null 2>&1; then
    docker buildx imagetools inspect "$ref" | awk '$1 == "Digest:" { print $2; exit }'
  elif command -v skopeo >/dev/null; then
    skopeo inspect --format '{{.Digest}}' "docker://$ref"
  elif command -v crane >/dev/null; then
    crane digest "$ref"
  else
    echo "pin-images: need docker buildx, skopeo or crane to ask the registry" >&2
    return 1
  fi
}

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
while IFS= read -r line; do
  if [[ $line =~ ^FROM[[:space:]]+([^[:space:]@]+)(@sha256:[0-9a-f]{64})?(.*)$ ]]; then
    ref=${BASH_REMATCH[1]} rest=${BASH_REMATCH[3]}
    d=$(digest "$ref")
    if [[ ! $d =~ ^sha256:[0-9a-f]{64}$ ]]; then
      echo "pin-images: no digest for $ref (got \"$d\")" >&2
      exit 1
    fi
    echo "$ref -> $d" >&2
    line="FROM $ref@$d$rest"
  fi
  printf '%s\n' "$line"
done <"$file" >"$tmp"
cat "$tmp" >"$file"
