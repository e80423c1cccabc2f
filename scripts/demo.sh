#!/usr/bin/env bash
# Fresh-machine command 1: set up, build the Kaiping example and serve it.
#
#   bash scripts/demo.sh                     # then open http://127.0.0.1:8000
#   bash scripts/demo.sh examples/xicheng    # another example app, the same way
#
# Needs only Python (no apt packages); safe to re-run.
set -euo pipefail
# shellcheck source=scripts/setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$SPECADMIN_ROOT"

specadmin_setup                      # venv + pip install -e ".[test]"

SA="$SPECADMIN_VENV/bin/specadmin"
EXAMPLE="${1:-examples/kaiping}"

# Regenerate only when the generated code is out of date with the spec.
"$SA" generate "$EXAMPLE" --check || "$SA" generate "$EXAMPLE"
"$SA" migrate "$EXAMPLE"
"$SA" demo "$EXAMPLE"

log "serving $EXAMPLE on http://127.0.0.1:8000"
exec "$SA" serve "$EXAMPLE" --host 127.0.0.1 --port 8000
