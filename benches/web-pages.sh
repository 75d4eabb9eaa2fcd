#!/usr/bin/env bash
# What the web pages cost: wrk against the real server over loopback. The token page with a
# session (cookie look-up: session, account, memberships, then the token list, rendered) beside
# the login page (no session, one nonce) and the embedded stylesheet; then the time of a login
# (one Argon2id verification), from sequential curl requests.
#
#   benches/web-pages.sh [DURATION_SECONDS] [CONNECTIONS] [LOGINS]     (defaults: 15, 64, 20)
#
# Needs wrk and curl. Builds the release binary. Prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-15}
conns=${2:-64}
logins=${3:-20}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/cairn-target}
cargo build --release -q -p cairn
bin=$CARGO_TARGET_DIR/release/cairn
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
"$bin" serve --data-dir "$work/data" --listen 127.0.0.1:0 >"$work/out" 2>"$work/log" &
pid=$!
for _ in $(seq 1 100); do grep -q "Cairn is serving on" "$work/out" 2>/dev/null && break; sleep 0.1; done
base=$(sed -n 's/^Cairn is serving on //p' "$work/out")
email=$(awk '/Admin email:/ {print $3}' "$work/out")
password=$(awk '/Web password:/ {print $3}' "$work/out")

login() { # prints the session cookie; the POST's seconds go to $work/times
  local jar=$work/jar csrf
  rm -f "$jar"
  csrf=$(curl -sf -c "$jar" "$base/login" | grep -o 'name="csrf" value="[0-9a-f]*"' | cut -d'"' -f4)
  curl -s -o /dev/null -b "$jar" -c "$jar" -w '%{time_total}\n' \
    --data-urlencode "csrf=$csrf" --data-urlencode "email=$email" --data-urlencode "password=$password" \
    "$base/login" >>"$work/times"
  awk '$6 == "cairn_session" {print $7}' "$jar"
}
session=$(login)
page="$base/manage-profile/security/api-tokens"
[[ $(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: cairn_session=$session" "$page") == 200 ]] \
  || { echo "the token page did not answer 200 with the session" >&2; exit 1; }

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
  echo "| $name | $rps | $p50 | $p99 | $non2xx |"
}
wrk -t2 -c"$conns" -d3s "$base/healthz" >/dev/null   # warm-up
echo "| route | requests/s | p50 | p99 | non-2xx |"
echo "|---|---|---|---|---|"
run '`GET /healthz`' "$base/healthz"
run '`GET /static/cairn.css`' "$base/static/cairn.css"
run '`GET /login` (no session)' "$base/login"
run '`GET /manage-profile/security/api-tokens` (session)' "$page" "Cookie: cairn_session=$session"
: >"$work/times"
for _ in $(seq 1 "$logins"); do login >/dev/null; done
echo
sort -n "$work/times" | awk '{ t[NR] = $1 } END {
  printf "login (POST /login, %d sequential): median %.1f ms, max %.1f ms\n", NR, 1000 * t[int((NR + 1) / 2)], 1000 * t[NR] }'
echo "($conns connections, ${duration}s each, wrk -t2 on the same 2 cores as the server)"
