#!/usr/bin/env bash
# Build the humanloop-mock image with no image registry: a Debian base root file system made by
# mmdebstrap from Debian's own packages, imported into podman, then the top-level Containerfile on it.
#
#   examples/container/build.sh [TAG]          (default TAG: localhost/humanloop-mock:dev)
#
# The base is cached: as a podman image tagged with a hash of its recipe, and as a tarball in
# $HUMANLOOP_MOCK_CACHE (default ~/.cache/humanloop-mock/container); delete both to refresh it.
# CONTAINERS_CONF defaults to containers.conf beside this script; runc is used when installed
# (PODMAN_RUNTIME overrides). Prints the image's size against the budget in docs/container.md.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
tag="${1:-localhost/humanloop-mock:dev}"
budget_mb=300

for tool in podman mmdebstrap; do
  command -v "$tool" >/dev/null || { echo "build.sh: $tool is missing (apt-get install podman runc mmdebstrap)" >&2; exit 2; }
done
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/containers.conf}"
runtime="${PODMAN_RUNTIME:-$(command -v runc || true)}"
podman=(podman ${runtime:+--runtime "$runtime"})

# The base: Python 3.11, venv and CA certificates from Debian 12, nothing else (no apt, docs or locales).
recipe=(--variant=essential --include=python3,python3-venv,ca-certificates
        --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
        "--dpkgopt=path-exclude=/usr/share/man/*" "--dpkgopt=path-exclude=/usr/share/locale/*"
        "--dpkgopt=path-exclude=/usr/share/info/*" "--dpkgopt=path-exclude=/usr/share/doc/*"
        "--dpkgopt=path-include=/usr/share/doc/*/copyright" bookworm)
key="$(printf '%s\n' "${recipe[@]}" | sha256sum | cut -c1-12)"
base="localhost/humanloop-mock-base:bookworm-$key"
cache="${HUMANLOOP_MOCK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/humanloop-mock/container}"
tarball="$cache/base-bookworm-$key.tar"

started=$SECONDS
mkdir -p "$cache"
exec 9>"$cache/base-$key.lock"
flock 9  # two builds at once (two checkouts, two CI jobs) make the base once
if "${podman[@]}" image exists "$base"; then
  echo "base: $base (already in podman's store)"
else
  if [ ! -s "$tarball" ]; then
    echo "base: running mmdebstrap (Debian packages; about 30-90 s)"
    partial="$cache/partial-$key.tar" log="$cache/mmdebstrap-$key.log"
    if ! mmdebstrap --format=tar "${recipe[@]}" "$partial" >"$log" 2>&1; then
      tail -n 30 "$log" >&2; echo "build.sh: mmdebstrap failed (whole log: $log)" >&2; exit 1
    fi
    mv "$partial" "$tarball"
  fi
  "${podman[@]}" import -q "$tarball" "$base" >/dev/null
  echo "base: $base from $tarball ($((SECONDS - started)) s)"
fi
exec 9>&-

started=$SECONDS
secret=()
ca_bundle="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"  # lets pip inside the build trust a TLS proxy
[ -s "$ca_bundle" ] && secret=(--secret "id=ca-bundle,src=$ca_bundle")
# --format docker keeps the HEALTHCHECK (the OCI image format has no place for it).
"${podman[@]}" build -q --format docker --build-arg "BASE=$base" "${secret[@]}" \
  -f "$root/Containerfile" -t "$tag" "$root" >/dev/null
bytes="$("${podman[@]}" image inspect "$tag" --format '{{.Size}}')"
mb=$(( (bytes + 500000) / 1000000 ))
echo "image: $tag (built in $((SECONDS - started)) s)"
echo "size: $mb MB ($bytes bytes); budget $budget_mb MB"
if [ "$mb" -gt "$budget_mb" ]; then
  echo "build.sh: the image is over its $budget_mb MB budget (docs/container.md)" >&2
  exit 1
fi
