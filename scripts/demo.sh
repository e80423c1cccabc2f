#!/usr/bin/env bash
# Fresh-machine command 1: set up, build the Kaiping example and serve it.
#
#   bash scripts/demo.sh                     # then open http://127.0.0.1:8000
#   bash scripts/demo.sh --port 8080         # another port
#   bash scripts/demo.sh examples/xicheng    # another example app, the same way (options combine)
#   bash scripts/demo.sh examples/chongzhou  # the event hub (seed 003)
#
# SMS of the demo go to a loop-back gateway inside `specadmin serve` (--sms-sink): the outbox
# (系统管理 › 短信发送记录) shows them sent, the messages are in <app>/var/sms_sink.jsonl, and no
# real gateway is ever called. Needs only Python (no apt packages); safe to re-run.
set -euo pipefail
# shellcheck source=scripts/setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$SPECADMIN_ROOT"

EXAMPLE=examples/kaiping
PORT=8000
while [ $# -gt 0 ]; do
    case "$1" in
        --port) [ $# -ge 2 ] || die "--port needs a number, e.g. --port 8080"; PORT="$2"; shift 2 ;;
        --port=*) PORT="${1#--port=}"; shift ;;
        -h|--help) sed -n '2,11p' "${BASH_SOURCE[0]}"; exit 0 ;;
        -*) die "unknown option $1 (usage: bash scripts/demo.sh [APP_DIR] [--port N])" ;;
        *) EXAMPLE="$1"; shift ;;
    esac
done
[[ "$PORT" =~ ^[0-9]+$ ]] && [ "$PORT" -ge 1 ] && [ "$PORT" -le 65535 ] \
    || die "--port must be a number from 1 to 65535, not '$PORT'"
[ -f "$EXAMPLE/app.yaml" ] || die "$EXAMPLE is not an app folder (no app.yaml)"

specadmin_setup                      # venv + pip install -e ".[test]"

# Before the slow steps: is the port free? (the same socket option as the server's)
"$SPECADMIN_VENV/bin/python" - "$PORT" <<'EOF' || die "port $PORT is in use: bash scripts/demo.sh --port <another>"
import socket, sys
with socket.socket() as s:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(sys.argv[1])))
EOF

SA="$SPECADMIN_VENV/bin/specadmin"

# Regenerate only when the generated code is out of date with the spec.
"$SA" generate "$EXAMPLE" --check || "$SA" generate "$EXAMPLE"
"$SA" migrate "$EXAMPLE"
"$SA" demo "$EXAMPLE" --sms-sink

log "serving $EXAMPLE on http://127.0.0.1:$PORT"
exec "$SA" serve "$EXAMPLE" --host 127.0.0.1 --port "$PORT" --sms-sink
