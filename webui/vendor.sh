#!/usr/bin/env bash
# Refreshes the page's vendored map library from the npm registry: the pinned Leaflet release's
# distribution files and licence go to assets/vendor/leaflet/, which src/assets.rs embeds, so
# building needs no Node and the page loads nothing from a CDN.
#
# Usage: webui/vendor.sh   (needs npm, sha256sum, tar)
# To upgrade: change VERSION, run it once with SHA256 empty to print the tarball's digest, review
# the registry's release, put the digest in SHA256, run it again, and commit the changed files.
set -euo pipefail

VERSION=1.9.4
# sha256 of leaflet-$VERSION.tgz as the registry serves it.
SHA256=84c65a256e50657896f54c33bd857b6849ebe94c817803be818bf32a3dde0b77

here=$(cd "$(dirname "$0")" && pwd)
dest="$here/assets/vendor/leaflet"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent "leaflet@$VERSION" >/dev/null)
tarball="$work/leaflet-$VERSION.tgz"
actual=$(sha256sum "$tarball" | cut -d' ' -f1)
if [ "$actual" != "$SHA256" ]; then
  echo "leaflet-$VERSION.tgz has sha256 $actual, expected ${SHA256:-(none pinned)}" >&2
  exit 1
fi
tar -xzf "$tarball" -C "$work"

rm -rf "$dest"
mkdir -p "$dest/images"
cp "$work/package/LICENSE" "$work/package/dist/leaflet.js" "$work/package/dist/leaflet.css" "$dest/"
# The layers control's icon, which leaflet.css references; the page draws no image markers.
cp "$work/package/dist/images/layers.png" "$work/package/dist/images/layers-2x.png" "$dest/images/"
echo "leaflet $VERSION -> ${dest#"$here"/}"
