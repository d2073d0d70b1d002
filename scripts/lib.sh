# Shared by the README's two commands (scripts/demo.sh, scripts/test.sh). Sourced, not run.
# Everything here is idempotent: a second run installs nothing, fetches nothing and rebuilds
# only what changed (ccache, when present, makes even a fresh build tree cheap).

A4PS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
A4PS_BUILD_DIR=${A4PS_BUILD_DIR:-$A4PS_ROOT/build}

A4PS_APT_PACKAGES=(
  build-essential cmake ninja-build ccache git ca-certificates openssl pkg-config curl
  libtomlplusplus-dev libcli11-dev nlohmann-json3-dev libvalijson-dev libcpp-httplib-dev libsqlite3-dev
  libxml2-dev libpoppler-cpp-dev libfaiss-dev libhnswlib-dev zlib1g-dev libssl-dev libarchive-dev
  runsc bubblewrap python3  # the Tool Forge's sandboxes and the tools' interpreter
  libgtest-dev libgmock-dev libbenchmark-dev
)

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Installs the Debian packages that are missing (apt-get update only when something is).
ensure_packages() {
  local missing=() pkg
  for pkg in "${A4PS_APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
      missing+=("$pkg")
  done
  command -v npm >/dev/null || missing+=(npm)
  if ((${#missing[@]})); then
    local sudo=""
    [[ $(id -u) -eq 0 ]] || sudo=sudo
    say "installing Debian packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null
  fi
}

# ccache keyed by what is compiled, not where: CI builds a clean clone in another folder, and
# with the clone's absolute path in every compiler line no object of an earlier build would be
# found. The cache is large enough for llama.cpp and both variants of our code.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$A4PS_ROOT}
export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-true}
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-8G}

# llama.cpp's threads meet at a barrier after every operation of a model's graph, and OpenMP's
# default is to spin there. When more threads want the CPU than it has (the test suite runs two
# tests at a time on CI's two cores, or a build runs beside the demo), a spinning thread burns
# the time slice its partner needs: the demo's models ran four times slower that way (issue 13's
# note). Waiting passively costs little on an idle machine.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}

# Configures the build tree once, then builds the given targets.
build_targets() {
  "$A4PS_ROOT/scripts/fetch-llama.sh"
  # A4PS_CMAKE_ARGS (e.g. -DA4PS_CUDA=ON) re-configures an existing tree too.
  if [[ ! -f "$A4PS_BUILD_DIR/build.ninja" || -n "${A4PS_CMAKE_ARGS:-}" ]]; then
    say "configuring $A4PS_BUILD_DIR"
    cmake -S "$A4PS_ROOT" -B "$A4PS_BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      ${A4PS_CMAKE_ARGS:-} >/dev/null
  fi
  say "building: $*"
  cmake --build "$A4PS_BUILD_DIR" --target "$@"
}

# The JavaScript clients the tests drive (tests/node/: the official openai package). Each npm
# folder is installed from the registry at the versions its package-lock.json pins, and again
# only when the lock changed.
ensure_node_test_deps() {
  ensure_npm_folder "$A4PS_ROOT/tests/node"
}

# What a4ps serve hands to browsers (web/: swagger-ui-dist for /docs).
ensure_web_deps() {
  ensure_npm_folder "$A4PS_ROOT/web"
}

ensure_npm_folder() {
  local dir=$1
  if [[ -f "$dir/node_modules/.package-lock.json" && "$dir/node_modules/.package-lock.json" -nt "$dir/package-lock.json" ]]; then
    return
  fi
  say "installing the npm packages of ${dir#"$A4PS_ROOT"/}"
  npm ci --prefix "$dir" --no-audit --no-fund >&2
}
