#!/usr/bin/env bash
# Run N `humanloop-mock serve --isolate-keys` processes behind HAProxy, which routes every request by a
# consistent hash of its X-API-KEY: each tenant lives in exactly one process. See docs/scaling.md.
#
#   examples/scaling/run.sh N PORT [serve args...]
#
# Backends use the `humanloop-mock` on PATH, each on a free loopback port (`--port 0`, read back from
# its banner), with the serve args given here (e.g. --seed 7 --config spec.toml); HAProxy listens on
# 127.0.0.1:PORT. The script stays in the foreground until HAProxy stops, SIGTERM or Ctrl-C, and then
# stops everything it started. It writes what it started to $STATE_DIR/state, one line each:
#     proxy 127.0.0.1:PORT pid PID
#     backend mock1 127.0.0.1:PORT pid PID
# STATE_DIR is $HUMANLOOP_MOCK_SCALING_DIR if set (kept on exit), else a temporary folder (removed).
# It also holds the generated haproxy.cfg and each backend's log (mockN.log).
set -euo pipefail

readonly MAX_BACKENDS=64
readonly START_TIMEOUT=30 # seconds for a backend's banner, and for the proxy's first answer

usage() {
    say "usage: $0 N PORT [humanloop-mock serve args...]   (N backends, 1..$MAX_BACKENDS; PORT for HAProxy)" >&2
    exit 2
}

die() {
    say "run.sh: $*" >&2
    exit 1
}

# Print, never fail: output that goes nowhere (a closed stdout, a reader that went away) must not stop
# the script or skip its cleanup. SIGPIPE is ignored for the same reason.
say() {
    printf '%s\n' "$*" 2>/dev/null || true
}
trap '' PIPE

(($# >= 2)) || usage
count=$1
proxy_port=$2
shift 2
if ! [[ $count =~ ^[1-9][0-9]*$ && $proxy_port =~ ^[1-9][0-9]*$ ]] ||
    ((count < 1 || count > MAX_BACKENDS || proxy_port < 1 || proxy_port > 65535)); then
    usage
fi
for arg in "$@"; do
    case $arg in
    --host | --host=* | --port | --port=*)
        die "$arg: the backends' addresses are chosen here (127.0.0.1, free ports); PORT is the proxy's" ;;
    esac
done
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin" # where haproxy lives, if PATH lacks it
command -v humanloop-mock >/dev/null || die "humanloop-mock is not on PATH (activate the venv it is installed in)"
command -v haproxy >/dev/null || die "haproxy is not installed (Debian/Ubuntu: apt-get install haproxy)"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [[ -n ${HUMANLOOP_MOCK_SCALING_DIR:-} ]]; then
    mkdir -p "$HUMANLOOP_MOCK_SCALING_DIR"
    state_dir=$(cd "$HUMANLOOP_MOCK_SCALING_DIR" && pwd)
    keep_state_dir=1
else
    state_dir=$(mktemp -d "${TMPDIR:-/tmp}/humanloop-mock-scaling.XXXXXX")
    keep_state_dir=0
fi
rm -f "$state_dir/state" "$state_dir/state.tmp"

# Everything started here is a background job of this shell, so `jobs -pr` lists exactly what is
# still running of it (never an unrelated process that reused a pid).
# shellcheck disable=SC2317 # stop_all and cleanup run from the EXIT trap
stop_all() {
    local running
    running=$(jobs -pr)
    [[ -n $running ]] || return 0
    # shellcheck disable=SC2086 # one pid per word
    kill -TERM $running 2>/dev/null || true
    for _ in {1..30}; do # up to 3 s for graceful stops (answers in flight may end)
        [[ -n $(jobs -pr) ]] || break
        sleep 0.1
    done
    running=$(jobs -pr)
    # shellcheck disable=SC2086
    [[ -z $running ]] || kill -KILL $running 2>/dev/null || true
    wait 2>/dev/null || true
}

# shellcheck disable=SC2317
cleanup() {
    local status=$?
    trap '' INT TERM
    trap - EXIT
    [[ -z $(jobs -pr) ]] || say "run.sh: stopping haproxy and the backends" >&2
    stop_all
    ((keep_state_dir)) || rm -rf "$state_dir"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# 0 when GET /healthz on 127.0.0.1:$1 answers 200 (bash's /dev/tcp: no curl needed).
answers_health() (
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf 'GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
    IFS= read -r -t 5 status_line <&3 || exit 1
    [[ $status_line == HTTP/1.[01]\ 200* ]]
) 2>/dev/null

# Sets `port` to the port a backend printed in its banner ("serving Humanloop v4 at
# http://127.0.0.1:PORT/v4"). Runs in this shell (no $(...)), so a signal is handled within 0.1 s.
read_banner_port() {
    local log=$1 pid=$2 line
    for _ in $(seq $((START_TIMEOUT * 10))); do
        if line=$(grep -m1 -o 'serving Humanloop v4 at http://127\.0\.0\.1:[0-9]*/v4' "$log" 2>/dev/null); then
            line=${line%/v4}
            port=${line##*:}
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    say "run.sh: backend $(basename "$log" .log) did not start; its output:" >&2
    sed 's/^/    /' "$log" >&2 2>/dev/null || true
    return 1
}

# Something already answering on PORT would pass for the proxy below: refuse it now, before starting anything.
if (exec 3<>"/dev/tcp/127.0.0.1/$proxy_port") 2>/dev/null; then
    die "port $proxy_port on 127.0.0.1 is in use; pick a free one"
fi

backend_pids=()
for ((i = 1; i <= count; i++)); do
    # --log-level first, so a --log-level among the serve args wins.
    humanloop-mock serve --log-level warning "$@" --isolate-keys --host 127.0.0.1 --port 0 \
        </dev/null >"$state_dir/mock$i.log" 2>&1 &
    backend_pids+=("$!")
done

backend_ports=()
servers=""
for ((i = 1; i <= count; i++)); do
    read_banner_port "$state_dir/mock$i.log" "${backend_pids[i - 1]}" || exit 1
    backend_ports+=("$port")
    servers+="server mock$i 127.0.0.1:$port"$'\n    '
    line="backend mock$i 127.0.0.1:$port pid ${backend_pids[i - 1]}"
    echo "$line" >>"$state_dir/state.tmp"
    say "  $line"
done

config=$(<"$here/haproxy.cfg.template")
config=${config//@PROXY_PORT@/"$proxy_port"}
config=${config//@STATE_DIR@/"$state_dir"}
config=${config//@SERVERS@/"$servers"}
printf '%s\n' "$config" >"$state_dir/haproxy.cfg"

haproxy -db -f "$state_dir/haproxy.cfg" </dev/null &
haproxy_pid=$!

ready=0
for _ in $(seq $((START_TIMEOUT * 10))); do
    kill -0 "$haproxy_pid" 2>/dev/null || die "haproxy did not start (its messages are above; is port $proxy_port free?)"
    if answers_health "$proxy_port"; then
        ready=1
        break
    fi
    sleep 0.1
done
((ready)) || die "haproxy did not answer on 127.0.0.1:$proxy_port within ${START_TIMEOUT}s"

line="proxy 127.0.0.1:$proxy_port pid $haproxy_pid"
{ echo "$line" && cat "$state_dir/state.tmp"; } >"$state_dir/state"
rm -f "$state_dir/state.tmp"
say "  $line"
say "  state, config and logs: $state_dir"
plural=s
((count > 1)) || plural=""
say "ready: http://127.0.0.1:$proxy_port/v4 ($count backend$plural; Ctrl-C or SIGTERM stops everything)"

status=0
wait "$haproxy_pid" || status=$?
say "run.sh: haproxy exited with status $status; stopping the backends" >&2
exit "$status"
