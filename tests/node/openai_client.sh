#!/usr/bin/env bash
# Starts the fixture API server and runs the official openai client against it.
# usage: openai_client.sh TEST_API_SERVER_BIN
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if [[ ! -d "$here/node_modules/openai" ]]; then
  echo "tests/node/node_modules is missing: run scripts/test.sh (npm ci --prefix tests/node)" >&2
  exit 1
fi
coproc SERVER { "$1"; }
read -r -t 30 word port <&"${SERVER[0]}"
[[ "$word" == port ]] || { echo "the fixture server did not start" >&2; exit 1; }
status=0
node "$here/openai_client.mjs" "http://127.0.0.1:$port" || status=$?
exec {SERVER[1]}>&-  # closing its stdin stops it
wait "$SERVER_PID" || true
exit $status
