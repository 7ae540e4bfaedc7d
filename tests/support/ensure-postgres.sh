#!/bin/sh
# Makes sure PostgreSQL's server programs (initdb, pg_ctl, postgres) are
# installed, for the integration tests' throwaway servers. Idempotent: does
# nothing when they are already there. Installs Debian's `postgresql` package
# otherwise (needs root or sudo, and apt).
set -eu

have_server() {
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && return 0
    done
    command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1
}

if have_server; then
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "PostgreSQL server programs are missing and apt-get is not available;" >&2
    echo "install PostgreSQL 13 or later and set GPT_DEPLOY_PG_BIN to its bin directory." >&2
    exit 1
fi

# Runs a command as root: directly when we are root, else through sudo.
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
echo "installing PostgreSQL (Debian package postgresql)..." >&2
as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
# The package starts a cluster of its own on port 5432; the tests never use it.
have_server
