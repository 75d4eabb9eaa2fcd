#!/usr/bin/env bash
# The whole test suite: installs what is missing (scripts/install-test-deps.sh), starts the
# throw-away services (PostgreSQL, SeaweedFS S3), then runs every test of the workspace against
# them. Extra arguments go to `cargo nextest run`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
hash -r
scripts/test-services.sh start
# shellcheck disable=SC1091
source "${CAIRN_SERVICES_DIR:-/var/tmp/cairn-services}/env"
# With the services up, a test that cannot reach them fails instead of skipping.
export CAIRN_TEST_REQUIRE_SERVICES=1
cargo nextest run --workspace --no-fail-fast "$@"
