#!/usr/bin/env bash
# Builds the hub and agent images from their Dockerfiles on a machine without a Docker engine or
# a registry, with Debian's daemonless tools: buildah (vfs storage driver, chroot isolation for
# RUN steps), debootstrap and runc.
#
#   ./scripts/images.sh build [hub|agent]...   build the images (both by default); prints their names
#   ./scripts/images.sh buildah ARGS...        buildah on this script's image store (mount, inspect, rm)
#
# The Dockerfiles stay as they are for a real registry; here their bases come from this machine:
#   NODE_IMAGE  localhost/flotilla-node:<node>-bookworm   a debootstrapped Debian 12 (minbase,
#               ca-certificates, user node = 1000) with this machine's Node.js and npm, as the
#               official node:*-bookworm-slim images lay them out
#   tools       localhost/flotilla-tools:helm-<v>-kustomize-<v>   the helm and kustomize that
#               scripts/fixtures.sh built, given to the agent's build as its `tools` stage
#               (--build-context), so Go does not compile them again inside the build
# npm ci inside the builds fetches from the npm registry, as it would anywhere.
#
# What is slow is cached outside the repository, keyed by version, like the fixtures:
# ${FLOTILLA_CACHE:-~/.cache/flotilla}/images/debian-<suite>-<key>.tar (the debootstrapped root
# filesystem) and .../containers (buildah's image store, so base images are made once).
# Why chroot isolation: buildah's default OCI isolation runs RUN steps with crun, which refuses
# this machine's hybrid cgroup layout ("cgroups in hybrid mode not supported, drop all
# controllers from cgroupv2"); chroot isolation needs no runtime. runc (which does run here)
# runs the built images in test/src/images/.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${FLOTILLA_CACHE:-$HOME/.cache/flotilla}
IMAGES=$CACHE/images
STORE=$CACHE/containers
SUITE=bookworm
DEBIAN_MIRROR=${FLOTILLA_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# What the root filesystem holds; a change here is a new cache key.
ROOTFS_RECIPE="minbase ca-certificates node:1000 trimmed-v1"
DEBIAN_PACKAGES=(buildah debootstrap runc)
# The tag both images get.
TAG=${FLOTILLA_IMAGE_TAG:-dev}

log() { printf 'images: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

bah() { buildah --root "$STORE/storage" --runroot "$STORE/run" --storage-driver vfs "$@"; }

install_debian_packages() {
  local missing=() pkg
  for pkg in "${DEBIAN_PACKAGES[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  ((${#missing[@]} == 0)) && return
  local sudo=()
  ((EUID == 0)) || sudo=(sudo)
  log "installing debian packages: ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

has_image() { bah inspect --type image "$1" >/dev/null 2>&1; }

# The debootstrapped root filesystem as a tarball; made once per recipe.
rootfs_tar() {
  local key tar
  key=$(printf '%s' "$ROOTFS_RECIPE" | sha256sum | cut -c1-12)
  tar=$IMAGES/debian-$SUITE-$key.tar
  if [[ ! -f $tar ]]; then
    ((EUID == 0)) || die "debootstrap needs root to make $tar"
    log "debootstrap $SUITE (minbase) from $DEBIAN_MIRROR: a few minutes, once"
    local dir start=$SECONDS
    mkdir -p "$IMAGES"
    dir=$(mktemp -d "$IMAGES/.rootfs.XXXXXX")
    trap "rm -rf '$dir'" EXIT
    debootstrap --variant=minbase --include=ca-certificates "$SUITE" "$dir" "$DEBIAN_MIRROR" >"$dir.log" 2>&1 ||
      die "debootstrap failed; see $dir.log"
    # As the official node images: user and group node, uid/gid 1000, home /home/node.
    echo 'node:x:1000:1000::/home/node:/bin/sh' >>"$dir/etc/passwd"
    echo 'node:x:1000:' >>"$dir/etc/group"
    install -d -o 1000 -g 1000 "$dir/home/node"
    rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/* "$dir"/usr/share/doc/* "$dir"/usr/share/man/*
    tar --numeric-owner -C "$dir" -cf "$tar.part" .
    mv "$tar.part" "$tar"
    rm -rf "$dir" "$dir.log"
    trap - EXIT
    log "root filesystem: $tar ($((SECONDS - start))s)"
  fi
  printf '%s\n' "$tar"
}

# localhost/flotilla-node:<version>-bookworm: the root filesystem plus this machine's node and npm.
node_image() {
  local node version npm_dir image ctr mnt
  node=$(command -v node) || die "node is not on PATH"
  version=$("$node" -p process.versions.node)
  npm_dir=$(cd "$(dirname "$(readlink -f "$(command -v npm)")")/.." && pwd)
  [[ -f $npm_dir/package.json ]] || die "cannot find npm's directory (from $(command -v npm))"
  image=localhost/flotilla-node:$version-$SUITE
  if ! has_image "$image"; then
    local tar
    tar=$(rootfs_tar)
    log "making $image from $tar, $node and $npm_dir"
    ctr=$(bah from scratch)
    bah add "$ctr" "$tar" / >/dev/null
    mnt=$(bah mount "$ctr")
    install -m 0755 "$node" "$mnt/usr/local/bin/node"
    mkdir -p "$mnt/usr/local/lib/node_modules"
    cp -a "$npm_dir" "$mnt/usr/local/lib/node_modules/npm"
    ln -s ../lib/node_modules/npm/bin/npm-cli.js "$mnt/usr/local/bin/npm"
    ln -s ../lib/node_modules/npm/bin/npx-cli.js "$mnt/usr/local/bin/npx"
    bah umount "$ctr" >/dev/null
    bah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      --env "NODE_VERSION=$version" --cmd node "$ctr"
    bah commit -q "$ctr" "$image" >/dev/null
    bah rm "$ctr" >/dev/null
  fi
  printf '%s\n' "$image"
}

# localhost/flotilla-tools:...: /out/helm, /out/kustomize and the CA bundle, as the agent
# Dockerfile's `tools` stage leaves them.
tools_image() {
  local bin=$CACHE/bin/current helm kustomize image ctr mnt tar
  helm=$(readlink -f "$bin/helm") && kustomize=$(readlink -f "$bin/kustomize") ||
    die "helm and kustomize are not built; run ./scripts/fixtures.sh"
  # bin/<tool>-<version>/<tool>: the version is in the directory name.
  image=localhost/flotilla-tools:$(basename "$(dirname "$helm")")-$(basename "$(dirname "$kustomize")")
  if ! has_image "$image"; then
    tar=$(rootfs_tar)
    log "making $image"
    ctr=$(bah from scratch)
    mnt=$(bah mount "$ctr")
    install -d "$mnt/out" "$mnt/etc/ssl/certs"
    install -m 0755 "$helm" "$kustomize" "$mnt/out/"
    tar -xOf "$tar" ./etc/ssl/certs/ca-certificates.crt >"$mnt/etc/ssl/certs/ca-certificates.crt"
    bah umount "$ctr" >/dev/null
    bah commit -q "$ctr" "$image" >/dev/null
    bah rm "$ctr" >/dev/null
  fi
  printf '%s\n' "$image"
}

# Build-time trust for a TLS-intercepting proxy (as in this sandbox): the CA bundle npm uses on
# this machine (npm's cafile, else NODE_EXTRA_CA_CERTS) is mounted into the RUN steps with an
# npmrc naming it, and so never copied into an image.
npm_ca_args() {
  local ca
  ca=$(npm config get cafile 2>/dev/null || true)
  [[ -n $ca && $ca != null && $ca != undefined ]] || ca=${NODE_EXTRA_CA_CERTS:-}
  [[ -n $ca && -f $ca ]] || return 0
  printf 'cafile=/run/flotilla-build-ca.crt\n' >"$IMAGES/build-npmrc"
  printf '%s\n' --volume "$ca:/run/flotilla-build-ca.crt:ro" --volume "$IMAGES/build-npmrc:/usr/local/etc/npmrc:ro"
}

build() {
  local which=("$@") node tools start name ca_args
  ((${#which[@]} > 0)) || which=(hub agent)
  node=$(node_image)
  mapfile -t ca_args < <(npm_ca_args)
  for name in "${which[@]}"; do
    local dockerfile args=()
    case $name in
      hub) dockerfile=services/hub/Dockerfile ;;
      agent)
        dockerfile=agents/kubernetes/Dockerfile
        tools=$(tools_image)
        args+=(--build-context "tools=container-image://$tools")
        ;;
      *) die "no image $name (hub or agent)" ;;
    esac
    start=$SECONDS
    log "building localhost/flotilla-$name:$TAG from $dockerfile"
    (cd "$ROOT" && bah build --isolation chroot --network host \
      --build-arg "NODE_IMAGE=$node" "${args[@]}" "${ca_args[@]}" \
      -f "$dockerfile" -t "localhost/flotilla-$name:$TAG" . >"$IMAGES/build-$name.log" 2>&1) ||
      die "building $name failed; the end of $IMAGES/build-$name.log:$(printf '\n')$(tail -20 "$IMAGES/build-$name.log")"
    log "built localhost/flotilla-$name:$TAG in $((SECONDS - start))s"
    printf 'localhost/flotilla-%s:%s\n' "$name" "$TAG"
  done
  # The images these tags pointed at before, now nameless.
  bah rmi --prune >/dev/null 2>&1 || true
}

main() {
  local verb=${1:-}
  shift || true
  mkdir -p "$IMAGES" "$STORE"
  case $verb in
    build)
      install_debian_packages
      # Two builds at once would race on the same store.
      exec 9>"$IMAGES/.lock"
      flock 9
      build "$@"
      ;;
    buildah) bah "$@" ;;
    *) die "usage: $0 build [hub|agent]... | buildah ARGS..." ;;
  esac
}

main "$@"
