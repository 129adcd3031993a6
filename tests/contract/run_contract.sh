#!/usr/bin/env bash
# The OpenAPI contract test of the carrier driver and carrier-sim (see contract.js).
#
# The contract is Twilio's OpenAPI description of the 2010-04-01 API, twilio_api_v2010.json
# (github.com/twilio/twilio-oai, spec/json/). GitHub is out of reach at test time, so the file
# is taken from the npm package @twilio/cli-core, which vendors it
# (src/services/twilio-api/twilio_api_v2010.json), and validated with ajv + ajv-formats, all
# from the npm registry. They are installed once into the build tree (contract-npm/).
#
# Usage: run_contract.sh <carrier-sim binary> <carrier_cli binary> <work dir>
set -euo pipefail

sim_bin=$1
cli_bin=$2
work=$3
here=$(cd "$(dirname "$0")" && pwd)
CLI_CORE_VERSION=9.0.0
AJV_VERSION=8.20.0
AJV_FORMATS_VERSION=3.0.1

need_node() {
    command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 && return 0
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
        echo "contract: installing nodejs and npm with apt-get" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm >&2 ||
            { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm >&2; }
    fi
    command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 && return 0
    echo "contract: FAIL: node and npm are needed (Debian packages nodejs npm; ./outdial lists them)" >&2
    exit 1
}
need_node

mkdir -p "$work"
deps=$work/node_modules
spec=$work/twilio_api_v2010.json
if [[ ! -f $deps/ajv/package.json || ! -f $deps/ajv-formats/package.json ]]; then
    (cd "$work" && npm install --no-audit --no-fund --no-save --silent \
        "ajv@$AJV_VERSION" "ajv-formats@$AJV_FORMATS_VERSION" >&2)
fi
if [[ ! -s $spec ]]; then
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "@twilio/cli-core@$CLI_CORE_VERSION" >/dev/null)
    tar -xzf "$tmp"/twilio-cli-core-*.tgz -C "$tmp" package/src/services/twilio-api/twilio_api_v2010.json
    mv "$tmp/package/src/services/twilio-api/twilio_api_v2010.json" "$spec"
    rm -rf "$tmp"
fi

NODE_PATH=$deps exec node "$here/contract.js" "$sim_bin" "$cli_bin" "$spec"
