#!/usr/bin/env bash
# The API's OpenAPI contract test (ctest: test_openapi_contract, after the end-to-end tests):
#   1. installs the pinned npm packages (package-lock.json) with `npm ci` into the build tree,
#   2. lints docs/openapi.json with @redocly/cli (redocly.yaml: recommended, warnings are errors),
#   3. validates every gateway answer the end-to-end tests recorded (OUTDIAL_RECORD_RESPONSES,
#      tests/support/testsupport.c) against the document with ajv (validate.mjs),
#   4. verifies a delivery signed by webhook-svc's code with the npm `standardwebhooks` library,
#      as docs/webhooks.md tells customers to (verify_webhook.mjs), when given a signed sample.
# Exit 77 (ctest SKIP_RETURN_CODE) only when the npm registry cannot be reached; any other
# problem, a lint error or a mismatch fails.
#
# Usage: validate.sh <source dir> <work dir> <recordings dir> [<sign_sample binary>]
set -euo pipefail

src=$1
work=$2
recordings=$3
signer=${4:-}
here=$(cd "$(dirname "$0")" && pwd)

for tool in node npm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "openapi contract: FAIL: $tool is missing (Debian packages nodejs npm)" >&2
        exit 1
    fi
done

mkdir -p "$work"
# npm ci again only when the lock file changed (or nothing is installed yet)
if ! cmp -s "$here/package-lock.json" "$work/package-lock.json" ||
   [[ ! -d $work/node_modules/ajv || ! -d $work/node_modules/@redocly/cli ]]; then
    cp "$here/package.json" "$here/package-lock.json" "$work/"
    export npm_config_cache=$work/.npm-cache
    if ! timeout 60 npm ping >/dev/null 2>&1; then
        echo "openapi contract: SKIP: the npm registry ($(npm config get registry)) is unreachable," \
             "so the validator and the linter cannot be installed" >&2
        exit 77
    fi
    (cd "$work" && timeout 600 npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
fi
# ESM resolves packages next to the importing file: run the scripts from the work dir.
cp "$here/validate.mjs" "$here/verify_webhook.mjs" "$work/"

echo "== redocly lint docs/openapi.json"
"$work/node_modules/.bin/redocly" lint "$src/docs/openapi.json" --config "$here/redocly.yaml" \
    --format=stylish

echo "== recorded answers against docs/openapi.json"
node "$work/validate.mjs" "$src/docs/openapi.json" "$recordings"

if [[ -n $signer ]]; then
    echo "== docs/webhooks.md's Node example against a delivery signed by webhook-svc's code"
    "$signer" >"$work/signed-delivery.json"
    node "$work/verify_webhook.mjs" "$work/signed-delivery.json"
fi
