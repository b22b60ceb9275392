#!/usr/bin/env bash
# `npm install`'s postinstall: builds every package (tsc -b) and makes sure a nats-server >= 2.10 is
# available (tools/install-nats-server.sh), so `npm start` and `npm test` need nothing else.
# A nats-server that cannot be installed (e.g. offline) is a warning, not a failed install.
set -euo pipefail
cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.."
node_modules/.bin/tsc -b
if ! bash tools/install-nats-server.sh >/dev/null; then
  echo "postinstall: could not install nats-server >= 2.10; run 'bash tools/install-nats-server.sh' to see why (npm start and npm test need it)" >&2
fi
