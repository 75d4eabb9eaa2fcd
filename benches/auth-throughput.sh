#!/usr/bin/env bash
# Authentication cost, measured the way the field measures it: wrk against the real server over
# loopback, comparing an authenticated `GET .../audit-events?pageSize=1` with the unauthenticated
# `/healthz` of the same server in the same run.
#
#   benches/auth-throughput.sh [DURATION_SECONDS] [CONNECTIONS]     (defaults: 15, 64)
#
# A third row isolates the cost of authentication itself: the same credentials with an
# `X-Atl-Account-Id` naming someone else run the whole Basic check and are then refused (403)
# without touching the store.
#
# Needs wrk (apt-get install wrk). Builds the release binary. Prints a Markdown table.
# The per-account rate limit is raised for the run (it would otherwise answer 429 at 100/s,
# which is the point of a rate limit, not a cost of authentication).
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-15}
conns=${2:-64}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/cairn-target}
cargo build --release -q -p cairn
bin=$CARGO_TARGET_DIR/release/cairn
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
cat > "$work/cairn.toml" <<TOML
database_max_connections = ${CAIRN_BENCH_DB_CONNECTIONS:-16}
[auth]
rate_per_second = 100000000
rate_burst = 100000000
TOML
"$bin" serve --data-dir "$work/data" --config "$work/cairn.toml" --listen 127.0.0.1:0 >"$work/out" 2>"$work/log" &
pid=$!
for _ in $(seq 1 100); do grep -q "Cairn is serving on" "$work/out" 2>/dev/null && break; sleep 0.1; done
base=$(sed -n 's/^Cairn is serving on //p' "$work/out")
org=$(awk '/Organization id:/ {print $3}' "$work/out")
email=$(awk '/Admin email:/ {print $3}' "$work/out")
token=$(awk '/API token:/ {print $3}' "$work/out")
auth="Authorization: Basic $(printf '%s:%s' "$email" "$token" | base64 -w0)"
audit="$base/public/backup-management/v2/orgs/$org/audit-events?pageSize=1"
curl -sf -H "$auth" "$audit" >/dev/null || { echo "authenticated request failed" >&2; exit 1; }

run() { # name url [header...]
  local name=$1 url=$2 out
  shift 2
  local headers=()
  for h in "$@"; do headers+=(-H "$h"); done
  out=$(wrk -t2 -c"$conns" -d"${duration}s" --latency "${headers[@]}" "$url")
  local rps p50 p99 non2xx
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out"); non2xx=${non2xx:-0}
  echo "$name|$rps|$p50|$p99|$non2xx"
}
wrk -t2 -c"$conns" -d3s "$base/healthz" >/dev/null   # warm-up
health=$(run healthz "$base/healthz")
authed=$(run audit-events "$audit" "$auth")
authonly=$(run "auth only (403)" "$audit" "$auth" "X-Atl-Account-Id: someone-else")
h_rps=$(cut -d'|' -f2 <<<"$health"); a_rps=$(cut -d'|' -f2 <<<"$authed"); o_rps=$(cut -d'|' -f2 <<<"$authonly")
ratio=$(awk -v a="$a_rps" -v h="$h_rps" 'BEGIN { printf "%.0f%%", 100 * a / h }')
ratio_auth=$(awk -v a="$o_rps" -v h="$h_rps" 'BEGIN { printf "%.0f%%", 100 * a / h }')
echo "| route | requests/s | p50 | p99 | non-2xx |"
echo "|---|---|---|---|---|"
for row in "$health" "$authed" "$authonly"; do IFS='|' read -r n r p5 p9 e <<<"$row"; echo "| $n | $r | $p5 | $p9 | $e |"; done
echo
echo "authenticated audit-events / healthz throughput: $ratio; authentication alone / healthz: $ratio_auth"
echo "($conns connections, ${duration}s each, wrk -t2 on the same 2 cores, same server, same run; non-2xx of the last row are the expected 403s)"
