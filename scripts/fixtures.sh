#!/usr/bin/env bash
# Builds the real servers and tools the end-to-end tests run, from upstream Go
# modules at pinned versions, and installs the Debian packages they need.
#
#   ./scripts/fixtures.sh            build what is missing; a second run builds nothing
#
# Binaries go to ${FLOTILLA_CACHE:-$HOME/.cache/flotilla}/bin/<tool>-<version>/<tool>
# and bin/current/<tool> links to the version pinned here, which is where
# packages/devfleet/src/fixtures.ts looks. Needs Go (on PATH or in /usr/local/go)
# and, on a fresh machine, root for apt-get. Builds run under `nice` with FLOTILLA_BUILD_JOBS
# (default 2) parallel compiles so that they share the CPU politely.
set -euo pipefail

# Pins. The Kubernetes, etcd and kstatus versions are those required by the modules in
# packages/devfleet/fixtures/k8s, .../etcd and .../kstatus; change them there (go get +
# go mod tidy).
NATS_SERVER_VERSION=v2.14.9
KWOK_VERSION=v0.8.0
HELM_VERSION=v3.19.5
# The Kubernetes minor of helm's own k8s.io/client-go (v0.34.x for helm v3.19.5). helm's
# Makefile stamps it into the .Capabilities.KubeVersion default and the lint deprecation
# checks; a plain `go install` leaves them at 1.20. helm_build checks it against go.mod.
HELM_K8S_MINOR=34
# v5.8.3 needs Go 1.27; v5.8.2 is the newest that builds with Go 1.26.
KUSTOMIZE_VERSION=v5.8.2
# The TCP proxy the fault suite cuts and slows links through (latency, resets, blackholes).
TOXIPROXY_VERSION=v2.12.0
# Prometheus 3.x as a Go module (its v0.3xx tags are the v3.x releases), for the metric
# analysis tests. Built with remove_all_sd: the tests scrape static targets, and leaving out the
# cloud service discoveries (AWS, Azure, GCE, Kubernetes, ...) halves the build. No web UI
# assets are embedded (that needs npm); the HTTP API the hub queries is all there.
PROMETHEUS_VERSION=v0.316.0
# chromium: the dashboard's browser tests drive Debian's build through playwright-core (no
# browser download works where the tests run). faketime: the fault suite preloads its
# libfaketime into one hub replica to skew that replica's wall clock alone.
DEBIAN_PACKAGES=(git redis-server openssl ca-certificates chromium faketime)

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${FLOTILLA_CACHE:-$HOME/.cache/flotilla}
BIN=$CACHE/bin
JOBS=${FLOTILLA_BUILD_JOBS:-2}

log() { printf 'fixtures: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

install_debian_packages() {
  local missing=() pkg
  for pkg in "${DEBIAN_PACKAGES[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if ((${#missing[@]} == 0)); then
    log "debian packages present: ${DEBIAN_PACKAGES[*]}"
    return
  fi
  local sudo=()
  ((EUID == 0)) || sudo=(sudo)
  log "installing debian packages: ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

find_go() {
  if ! command -v go >/dev/null 2>&1; then
    [[ -x /usr/local/go/bin/go ]] || die "Go is not installed (looked on PATH and in /usr/local/go)"
    export PATH=/usr/local/go/bin:$PATH
  fi
  # Never fetch another toolchain: a module asking for a newer Go must fail
  # here, loudly, rather than download one.
  export GOTOOLCHAIN=local
  export GOFLAGS="-p=$JOBS -trimpath -buildvcs=false"
  export CGO_ENABLED=0
  log "using $(go version)"
}

# Version of a module required by one of our build modules, e.g.
# module_version packages/devfleet/fixtures/k8s k8s.io/kubernetes -> v1.34.4
module_version() {
  (cd "$ROOT/$1" && go list -m -f '{{.Version}}' "$2")
}

# fixture TOOL VERSION BUILDER [ARGS...]: unless <tool>-<version>/<tool> exists,
# runs BUILDER with $OUT set to an empty directory it must leave <tool> (and
# any data files) in, then moves them into place; always points current/<tool>
# at VERSION.
fixture() {
  local tool=$1 version=$2
  shift 2
  local dir=$BIN/$tool-$version
  if [[ -x $dir/$tool ]]; then
    log "$tool $version: already built"
  else
    log "$tool $version: building ..."
    local start=$SECONDS out
    out=$(mktemp -d "$BIN/.build-$tool.XXXXXX")
    # Remove the scratch directory if the build fails or is interrupted.
    trap "rm -rf '$out'" EXIT
    OUT=$out "$@"
    [[ -x $out/$tool ]] || die "$tool: the build left no $tool binary"
    mkdir -p "$dir"
    # Data files first: the binary being there is what marks a finished build.
    find "$out" -mindepth 1 -maxdepth 1 ! -name "$tool" -exec mv -f {} "$dir/" \;
    mv -f "$out/$tool" "$dir/$tool"
    rm -rf "$out"
    trap - EXIT
    log "$tool $version: built in $((SECONDS - start))s"
  fi
  ln -sfn "../$tool-$version/$tool" "$BIN/current/$tool"
}

# go install of a main package whose module has no replace directives.
go_install() {
  GOBIN=$OUT nice -n 10 go install "$1"
}

# go build of PACKAGE inside one of our modules under packages/devfleet/fixtures.
go_build_in() {
  local module=$1 package=$2 output=$3
  shift 3
  (cd "$ROOT/$module" && nice -n 10 go build -o "$OUT/$output" "$@" "$package")
}

kube_build() {
  local tool=$1 version=$2
  # What hack/lib/version.sh stamps into release builds, so that /version and
  # the compatibility version report v1.34.x rather than v0.0.0-master.
  local minor=${version#v1.}
  minor=${minor%%.*}
  local ldflags="-s -w" pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  go_build_in packages/devfleet/fixtures/k8s "k8s.io/kubernetes/cmd/$tool" "$tool" -ldflags "$ldflags"
}

# kwok plus the Stages that make it act as a kubelet (nodes ready, pods
# running), taken from the same release so that they match its Stage API:
# the defaults kwokctl uses, with node heartbeats through Leases.
kwok_build() {
  local version=$1 src f
  go_install "sigs.k8s.io/kwok/cmd/kwok@$version"
  src=$(go mod download -json "sigs.k8s.io/kwok@$version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  [[ -d $src ]] || die "kwok: cannot find the source of sigs.k8s.io/kwok@$version in the module cache"
  for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
    pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    printf -- '---\n'
    cat "$src/kustomize/stage/$f"
  done >"$OUT/stages.yaml"
}

# helm with the Kubernetes version its Makefile stamps in, so that `helm template` renders
# charts for Kubernetes 1.$HELM_K8S_MINOR (.Capabilities.KubeVersion), not 1.20.
helm_build() {
  local version=$1 minor=$2 gomod actual
  gomod=$(go mod download -json "helm.sh/helm/v3@$version" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')
  actual=$(sed -n 's/^\tk8s.io\/client-go v0\.\([0-9]*\)\..*/\1/p' "$gomod")
  [[ $actual == "$minor" ]] || die "helm $version uses k8s.io/client-go v0.$actual; set HELM_K8S_MINOR=$actual"
  local ldflags="-s -w" pkg
  for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
    ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$minor"
  done
  GOBIN=$OUT nice -n 10 go install -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$version"
}

# toxiproxy's server command is named `server` upstream; install it as toxiproxy-server.
toxiproxy_build() {
  local version=$1
  GOBIN=$OUT nice -n 10 go install "github.com/Shopify/toxiproxy/v2/cmd/server@$version"
  mv "$OUT/server" "$OUT/toxiproxy-server"
}

prometheus_build() {
  GOBIN=$OUT nice -n 10 go install -tags remove_all_sd -ldflags "-s -w" \
    "github.com/prometheus/prometheus/cmd/prometheus@$1"
}

main() {
  install_debian_packages
  find_go
  mkdir -p "$BIN/current"
  # Outside any Go module, so that `go install mod@version` and `go mod
  # download` behave the same wherever the script is run from.
  cd "$CACHE"
  # Two runs at once (say, two terminals) would race on the same paths.
  exec 9>"$CACHE/.fixtures.lock"
  flock 9

  local total=$SECONDS
  local k8s etcd kstatus promlint
  k8s=$(module_version packages/devfleet/fixtures/k8s k8s.io/kubernetes)
  etcd=$(module_version packages/devfleet/fixtures/etcd go.etcd.io/etcd/server/v3)
  # Our own command wraps kstatus: a change to it must rebuild too, so its hash is in the key.
  kstatus=$(module_version packages/devfleet/fixtures/kstatus sigs.k8s.io/cli-utils)-$(sha256sum "$ROOT/packages/devfleet/fixtures/kstatus/main.go" | cut -c1-8)

  fixture nats-server "$NATS_SERVER_VERSION" go_install "github.com/nats-io/nats-server/v2@$NATS_SERVER_VERSION"
  fixture etcd "$etcd" go_build_in packages/devfleet/fixtures/etcd . etcd -ldflags "-s -w"
  local tool
  for tool in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    fixture "$tool" "$k8s" kube_build "$tool" "$k8s"
  done
  fixture kwok "$KWOK_VERSION" kwok_build "$KWOK_VERSION"
  fixture kstatus "$kstatus" go_build_in packages/devfleet/fixtures/kstatus . kstatus -ldflags "-s -w"
  # promlint: the linter of `promtool check metrics`, from client_golang, for the metrics test.
  promlint=$(module_version packages/devfleet/fixtures/promlint github.com/prometheus/client_golang)-$(sha256sum "$ROOT/packages/devfleet/fixtures/promlint/main.go" | cut -c1-8)
  fixture promlint "$promlint" go_build_in packages/devfleet/fixtures/promlint . promlint -ldflags "-s -w"
  # The k8s suffix is part of the cache key, so machines with a plain build rebuild once.
  fixture helm "$HELM_VERSION-k8s1.$HELM_K8S_MINOR" helm_build "$HELM_VERSION" "$HELM_K8S_MINOR"
  fixture kustomize "$KUSTOMIZE_VERSION" go_install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
  fixture toxiproxy-server "$TOXIPROXY_VERSION" toxiproxy_build "$TOXIPROXY_VERSION"
  fixture prometheus "$PROMETHEUS_VERSION" prometheus_build "$PROMETHEUS_VERSION"

  log "all fixtures ready in $BIN/current ($((SECONDS - total))s)"
}

main "$@"
