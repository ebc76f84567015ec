# bench/lib.sh — sourced by bench/run and every bench/run-bN script.
#
#   root      the checkout
#   cache     the tools cache outside the repository (peers, built once per version)
#   bin       a temporary folder for this run's binaries (removed on exit)
#   log MSG   progress to stderr
#   go_tool NAME MODULE VERSION   prints the path of a peer built from the
#             Go module proxy (go install MODULE@VERSION), once per version
#             (a failed build returns 1, which a caller's x=$(...) sees)
#   build_cascade  builds ./cmd/cascade into $bin/cascade (prints the path)
#   gnu_time  sets time_args=(--time /usr/bin/time) when GNU time is there
#             (installed with apt when missing and running as root)
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${CASCADE_TOOLS_CACHE:-$HOME/.cache/cascade-tools}
mkdir -p "$cache"
if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
	export PATH="/usr/local/go/bin:${PATH}"
fi
bin=$(mktemp -d "${TMPDIR:-/tmp}/cascade-bench-bin.XXXXXX")
trap 'rm -rf "$bin"' EXIT

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }

go_tool() {
	local name=$1 module=$2 version=$3 dir="$cache/$1-$3"
	if [[ ! -x "$dir/$name" ]]; then
		log "installing $name $version into $dir"
		(cd "$bin" && GOFLAGS= GOBIN="$dir.tmp.$$" go install "$module@$version") >&2 || return 1
		rm -rf "$dir" && mv "$dir.tmp.$$" "$dir" || return 1
	fi
	printf '%s\n' "$dir/$name"
}

build_cascade() {
	if [[ ! -x "$bin/cascade" ]]; then
		(cd "$root" && go build -trimpath -o "$bin/cascade" ./cmd/cascade) >&2 || return 1
	fi
	printf '%s\n' "$bin/cascade"
}

time_args=()
gnu_time() {
	if [[ ! -x /usr/bin/time ]] && [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
		log "installing GNU time (Debian package time)"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >&2 || true
	fi
	if [[ -x /usr/bin/time ]]; then
		time_args=(--time /usr/bin/time)
	else
		log "GNU time not found: peak RSS from the process's rusage instead"
	fi
}
