# Sourced by scripts/test.sh (and by hand: `source scripts/k8s-tools.sh && ensure_k8s_tools`):
# builds the tools that check the Helm chart and the alert rules offline, once per version,
# into $VOICEHELPER_CACHE/tools, and exports where they are:
#   HELM_BIN          helm, built from the Go module proxy
#   KUBECONFORM_BIN   kubeconform, built from the Go module proxy
#   PROMTOOL_BIN      promtool, built from the Go module proxy without the cloud service
#                     discoveries (build tag remove_all_sd: 287 s instead of 612 s on a
#                     fresh 2-core machine; rule checks and rule tests need none of them)
#   KUBE_SCHEMAS_DIR  JSON schemas per kind, generated from the OpenAPI spec that the
#                     k8s.io/kubernetes module ships (api/openapi-spec/swagger.json) by
#                     test/infra/kube-schemas.ts, plus the Prometheus Operator's
#                     ServiceMonitor and PrometheusRule from its CRDs
# On a fresh 2-core machine (empty Go caches) all of it takes about 4 minutes (225 s:
# kubeconform 21 s, helm 115 s, schemas 3 s, promtool 86 s on helm's compiled packages);
# afterwards a call returns at once.
# Each tool lives in a directory named by its version and is marked complete last (a
# `.complete` file), so an interrupted build is redone and a finished one is never rebuilt.
# Needs Go (the machine's /usr/local/go) and Node.js 24 on PATH (scripts/node.sh).
K8S_HELM_MODULE=helm.sh/helm/v4
K8S_HELM_VERSION=v4.3.2
K8S_KUBECONFORM_VERSION=v0.8.0
K8S_PROMETHEUS_VERSION=v0.316.0 # promtool of Prometheus 3.x, as the Go module proxy names it
K8S_KUBERNETES_VERSION=v1.34.2
K8S_PROMETHEUS_OPERATOR_VERSION=v0.85.0

# Builds one Go command into $1 (its directory) unless it is already there; further
# arguments go to `go install` (build tags).
_k8s_go_install() {
  local dir=$1 package=$2 name
  shift 2
  name=$(basename "${package%@*}")
  [ -f "$dir/.complete" ] && return 0
  echo "[k8s-tools] building $package into $dir" >&2
  local started=$SECONDS
  rm -rf "$dir"
  mkdir -p "$dir/bin"
  # Static binaries, no debug information: smaller and quicker to link.
  CGO_ENABLED=0 GOBIN="$dir/bin" GOFLAGS=-buildvcs=false \
    go install -trimpath -ldflags='-s -w' "$@" "$package" >&2
  [ -x "$dir/bin/$name" ] || { echo "[k8s-tools] $package built no $name" >&2; return 1; }
  echo "[k8s-tools] $name built in $((SECONDS - started))s" >&2
  touch "$dir/.complete"
}

# The directory of a module version in the Go module cache, downloaded if missing.
_k8s_go_module_dir() {
  (cd / && GOFLAGS=-mod=mod go mod download -json "$1" | node -e '
    let text = "";
    process.stdin.on("data", (chunk) => { text += chunk; });
    process.stdin.on("end", () => {
      const module = JSON.parse(text);
      if (!module.Dir) { console.error(module.Error ?? "no directory"); process.exit(1); }
      console.log(module.Dir);
    });')
}

_k8s_schemas() {
  local dir=$1 generator=$2
  [ -f "$dir/.complete" ] && return 0
  echo "[k8s-tools] generating JSON schemas from k8s.io/kubernetes@$K8S_KUBERNETES_VERSION into $dir" >&2
  local started=$SECONDS kubernetes operator
  kubernetes=$(_k8s_go_module_dir "k8s.io/kubernetes@$K8S_KUBERNETES_VERSION") || return 1
  operator=$(_k8s_go_module_dir "github.com/prometheus-operator/prometheus-operator@$K8S_PROMETHEUS_OPERATOR_VERSION") ||
    return 1
  rm -rf "$dir"
  mkdir -p "$dir"
  node "$generator" "$dir" "$kubernetes/api/openapi-spec/swagger.json" \
    "$operator/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml" \
    "$operator/example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml" >&2 || return 1
  echo "[k8s-tools] schemas generated in $((SECONDS - started))s" >&2
  touch "$dir/.complete"
}

ensure_k8s_tools() {
  local repo root generator_hash
  repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  root=${VOICEHELPER_CACHE:-$HOME/.cache/voicehelper}/tools
  if ! command -v go >/dev/null; then
    [ -x /usr/local/go/bin/go ] && export PATH="$PATH:/usr/local/go/bin"
  fi
  command -v go >/dev/null || { echo "[k8s-tools] Go is needed to build helm, kubeconform and promtool" >&2; return 1; }
  mkdir -p "$root"
  local generator=$repo/test/infra/kube-schemas.ts
  generator_hash=$(sha256sum "$generator" | cut -c1-12)
  (
    # One build at a time on a machine: a second test run waits for the first one's tools.
    flock 9
    _k8s_go_install "$root/kubeconform-$K8S_KUBECONFORM_VERSION" \
      "github.com/yannh/kubeconform/cmd/kubeconform@$K8S_KUBECONFORM_VERSION" &&
      _k8s_go_install "$root/helm-$K8S_HELM_VERSION" "$K8S_HELM_MODULE/cmd/helm@$K8S_HELM_VERSION" &&
      _k8s_schemas "$root/kube-schemas-$K8S_KUBERNETES_VERSION-$K8S_PROMETHEUS_OPERATOR_VERSION-$generator_hash" \
        "$generator" &&
      _k8s_go_install "$root/promtool-$K8S_PROMETHEUS_VERSION-nosd" \
        "github.com/prometheus/prometheus/cmd/promtool@$K8S_PROMETHEUS_VERSION" -tags remove_all_sd
  ) 9>"$root/.lock" || return 1
  export HELM_BIN=$root/helm-$K8S_HELM_VERSION/bin/helm
  export KUBECONFORM_BIN=$root/kubeconform-$K8S_KUBECONFORM_VERSION/bin/kubeconform
  export PROMTOOL_BIN=$root/promtool-$K8S_PROMETHEUS_VERSION-nosd/bin/promtool
  export KUBE_SCHEMAS_DIR=$root/kube-schemas-$K8S_KUBERNETES_VERSION-$K8S_PROMETHEUS_OPERATOR_VERSION-$generator_hash
}
