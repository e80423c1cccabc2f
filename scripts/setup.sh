#!/usr/bin/env bash
# Shared set-up steps for specadmin.
#
#   source scripts/setup.sh; specadmin_setup [apt-package ...]
#   bash scripts/setup.sh [apt-package ...]          # same, as a command
#
# Idempotent and non-interactive: apt runs only for packages that are not
# installed (and `apt-get update` at most once), the virtualenv is created only
# if missing, and `pip install -e ".[test]"` is skipped when pyproject.toml has
# not changed since the last successful install (stamp file inside .venv).

SPECADMIN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SPECADMIN_VENV="$SPECADMIN_ROOT/.venv"

log() { printf '[specadmin] %s\n' "$*" >&2; }
die() { printf '[specadmin] ERROR: %s\n' "$*" >&2; exit 1; }

# Run a command as root (we normally are root; fall back to sudo otherwise).
as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null; then sudo -n "$@"
    else die "need root to run: $*"; fi
}

# True when dpkg reports the package as fully installed. (`dpkg -s` alone also
# succeeds for removed packages whose config files remain.)
apt_installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

_APT_UPDATED=0
ensure_apt_packages() {
    local missing=() p
    for p in "$@"; do apt_installed "$p" || missing+=("$p"); done
    if [ ${#missing[@]} -eq 0 ]; then return 0; fi
    log "installing apt packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if [ "$_APT_UPDATED" = 0 ]; then
        # One retry: a mirror hiccup should not fail a CI run.
        as_root apt-get update -qq || { sleep 5; as_root apt-get update -qq; } \
            || die "apt-get update failed"
        _APT_UPDATED=1
    fi
    as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null \
        || die "apt-get install failed: ${missing[*]}"
}

# Pick the interpreter for the venv: python3 if it is 3.11/3.12, else python3.11.
find_python() {
    local c
    for c in python3 python3.11 python3.12; do
        if command -v "$c" >/dev/null &&
           "$c" -c 'import sys; sys.exit(not ((3,11) <= sys.version_info[:2] < (3,13)))' 2>/dev/null; then
            echo "$c"; return 0
        fi
    done
    return 1
}

ensure_venv() {
    [ -x "$SPECADMIN_VENV/bin/python" ] && return 0
    local py
    py="$(find_python)" || { ensure_apt_packages python3 python3-venv; py="$(find_python)"; } \
        || die "no Python 3.11/3.12 found"
    # Debian's python3 ships without ensurepip unless python3-venv is installed.
    if ! "$py" -c 'import ensurepip, venv' 2>/dev/null; then
        ensure_apt_packages python3-venv
    fi
    log "creating $SPECADMIN_VENV with $("$py" --version 2>&1)"
    "$py" -m venv "$SPECADMIN_VENV" || die "venv creation failed"
}

ensure_python_deps() {
    local stamp="$SPECADMIN_VENV/.specadmin-install-stamp" want
    want="$(sha256sum "$SPECADMIN_ROOT/pyproject.toml" | cut -d' ' -f1)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] &&
       "$SPECADMIN_VENV/bin/python" -c 'import importlib.util as u, sys
sys.exit(not all(map(u.find_spec, ["specadmin", "pytest", "playwright", "asyncpg"])))' 2>/dev/null; then
        return 0
    fi
    log 'pip install -e ".[test]" (this takes a while on a fresh machine)'
    (cd "$SPECADMIN_ROOT" &&
        "$SPECADMIN_VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip &&
        "$SPECADMIN_VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[test]") \
        </dev/null || die "pip install failed"
    echo "$want" >"$stamp"
}

# Browser libraries from the npm registry, into a cache outside the repository, copied to
# themes/default/static/vendor/ (gitignored, never committed). Skipped when present. Optional:
# without them pages still work (charts show their tables, /schema links to its JSON), so a
# failure only warns. These machines reach no CDN: pages load the files from /static/vendor/.
#   ensure_npm_files <package@range> <folder under vendor/ or .> <file in the package>...
ensure_npm_files() {
    local spec="$1" dest="$2"; shift 2
    local pkg="${spec%@*}" vendor="$SPECADMIN_ROOT/themes/default/static/vendor"
    local cache="${SPECADMIN_NPM_PREFIX:-$HOME/.cache/specadmin/npm}" f missing=0
    for f in "$@"; do [ -s "$vendor/$dest/$(basename "$f")" ] || missing=1; done
    [ "$missing" = 0 ] && return 0
    for f in "$@"; do [ -s "$cache/node_modules/$pkg/$f" ] || missing=2; done
    if [ "$missing" = 2 ]; then
        # A subshell: ensure_apt_packages exits on failure, which must not end the whole set-up.
        if ! command -v npm >/dev/null && ! (ensure_apt_packages nodejs npm); then
            log "WARNING: npm unavailable; $pkg not installed"; return 0
        fi
        log "npm install $spec (into $cache)"
        mkdir -p "$cache"
        npm install --prefix "$cache" --no-audit --no-fund --loglevel=error "$spec" </dev/null \
            || { log "WARNING: $pkg not installed"; return 0; }
    fi
    mkdir -p "$vendor/$dest"
    for f in "$@"; do cp "$cache/node_modules/$pkg/$f" "$vendor/$dest/"; done
}

# ECharts for the chart pages (statistics, related panels, /logs/*, the big screen); Swagger UI
# for the API documentation at /schema (runtime/pages/apidocs.py); Leaflet for map pages (runtime/maps).
ensure_browser_assets() {
    ensure_npm_files echarts@5 . dist/echarts.min.js
    ensure_npm_files swagger-ui-dist@5 swagger-ui swagger-ui-bundle.js swagger-ui.css
    ensure_npm_files leaflet@1 leaflet dist/leaflet.js dist/leaflet.css
}

# Full set-up: optional apt packages, then venv and Python dependencies.
specadmin_setup() {
    if [ $# -gt 0 ]; then ensure_apt_packages "$@"; fi
    ensure_venv
    ensure_python_deps
    ensure_browser_assets
}

# Executed directly (not sourced): run the full set-up.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    specadmin_setup "$@"
    log "setup done"
fi
