#!/usr/bin/env bash
# saio.sh -- single-node OpenStack Swift ("Swift all in one") on loopback for
# the dupfs integration tests (package dupfs/integration/saio embeds this file
# and runs it; it also works by hand). Debian 12 packages (see
# scripts/install-test-deps.sh):
#   apt-get install -y --no-install-recommends swift swift-proxy swift-object \
#       swift-container swift-account memcached python3-swiftclient
#
# Usage: saio.sh start|stop|status|env|wipe
#   start   idempotent; writes configs, builds rings (once per port), starts
#           memcached and one python process serving the account, container,
#           object and proxy WSGI apps (Swift's own code and paste pipelines),
#           waits until auth and an account HEAD work, prints the settings.
#   stop    idempotent; SIGTERM by pid file (pid + command line checked),
#           SIGKILL after 5 s. Data is kept.
#   status  exit 0 if both processes are alive.
#   env     print the connection settings (shell syntax: eval "$(... env)").
#   wipe    stop, then delete the state directory.
# Environment:
#   SWIFT_SAIO_DIR   state dir (default /tmp/swift-saio); must support user xattrs
#   SWIFT_SAIO_PORT  proxy port (default 18080); object/container/account/memcached
#                    use PORT+1 .. PORT+4
#   SWIFT_SAIO_LISTING_LIMIT  max entries per listing page (default 10000, Swift's
#                    default); e.g. 2 exercises marker paging with a few objects
#   SWIFT_SAIO_FRESH=1  start with empty storage (no accounts, containers or
#                    objects) unless the server is already running
#   SWIFT_SAIO_OWNER_PID  a pid: the server stops itself (memcached too) within
#                    about a second once that process is gone, so a test binary
#                    that dies (panic, timeout, SIGKILL) leaves nothing behind
# Storage policies: 0 "Policy-0" (default), 1 "PCA" (X-Storage-Policy: PCA).
# Auth (tempauth, v1): test:tester/testing (.admin), test2:tester2/testing2,
#                      admin:admin/admin (.reseller_admin).
set -euo pipefail

DIR=$(realpath -m "${SWIFT_SAIO_DIR:-/tmp/swift-saio}")
PORT=${SWIFT_SAIO_PORT:-18080}
OBJ_PORT=$((PORT + 1)); CONT_PORT=$((PORT + 2)); ACC_PORT=$((PORT + 3)); MC_PORT=$((PORT + 4))
LISTING_LIMIT=${SWIFT_SAIO_LISTING_LIMIT:-10000}
FRESH=${SWIFT_SAIO_FRESH:-}
OWNER_PID=${SWIFT_SAIO_OWNER_PID:-}
PY=/usr/bin/python3 # Debian's python (a pyenv python3 on PATH lacks the swift modules)
ETC=$DIR/etc RUN=$DIR/run LOG=$DIR/log DEV=$DIR/srv/node
AUTH_URL=http://127.0.0.1:$PORT/auth/v1.0

# One process for the four servers, as Swift's own in-process functional tests
# (test/functional/__init__.py, in_process_setup) do: Swift is imported once
# (~1.2 s CPU instead of 4 x ~1.2 s). Swift reads swift.conf (hash prefix,
# storage policies) from the hard-coded /etc/swift/swift.conf; set_swift_dir()
# plus the two reloads (as in in_process_setup) switch to $DIR/etc/swift.conf,
# so nothing outside $DIR is read or touched.
LAUNCHER='import os, sys, time
etc = sys.argv[1]
owner = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2] else 0
run = sys.argv[3] if len(sys.argv) > 3 else ""

def proc_stat(pid):
    # (state, start time) of a pid, or None; the comm field may hold spaces.
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], fields[19]

owner_start = None
if owner:
    st = proc_stat(owner)
    if st is None or st[0] == "Z":
        sys.exit("swift-saio: owner %d is gone" % owner)
    owner_start = st[1]
from swift.common import utils, storage_policy, constraints
utils.set_swift_dir(etc)
constraints.reload_constraints()
storage_policy.reload_storage_policies()
utils.eventlet_monkey_patch()
import eventlet, eventlet.wsgi
from swift.common import wsgi
from swift.obj import server as object_server
os.environ["TZ"] = "UTC+0"; time.tzset()
threads = []
for name in ("account-server", "container-server", "object-server", "proxy-server"):
    path = os.path.join(etc, name + ".conf")
    conf = wsgi.appconfig(path, name=name)
    utils.get_logger(conf, name, log_to_console=True)  # all loggers -> stderr
    global_conf = {"log_name": name}
    if name == "object-server":
        object_server.global_conf_callback(conf, global_conf)
    app = wsgi.loadapp(path, global_conf=global_conf)  # Swift pipeline rules apply
    sock = wsgi.get_socket(conf)
    threads.append(eventlet.spawn(
        eventlet.wsgi.server, sock, app, utils.NullLogger(),
        protocol=wsgi.SwiftHttpProtocol, custom_pool=eventlet.GreenPool(1024),
        socket_timeout=60, capitalize_response_headers=False))

def watch_owner():
    # The owner (a test binary) is gone, or its pid was recycled: stop
    # memcached (by its pid file, command line checked) and this process.
    while True:
        eventlet.sleep(0.5)
        st = proc_stat(owner)
        if st is None or st[0] == "Z" or st[1] != owner_start:
            break
    print("swift-saio: owner %d is gone, stopping" % owner, flush=True)
    try:
        with open(os.path.join(run, "memcached.pid")) as f:
            mc = int(f.read().strip())
        with open("/proc/%d/cmdline" % mc, "rb") as f:
            cmd = f.read().replace(b"\0", b" ")
        if cmd.startswith(b"memcached -l 127.0.0.1 "):
            os.kill(mc, 15)
    except (OSError, ValueError):
        pass
    os._exit(0)

if owner:
    threads.append(eventlet.spawn(watch_owner))
print("swift-saio: listening", flush=True)
for t in threads:
    t.wait()
'

# swift-ring-builder's own main(), called 9 times in one python process
# (0.9 s instead of ~10 s for 9 separate swift-ring-builder invocations).
RINGBUILDER='import sys
from swift.cli.ringbuilder import main
def rb(*a):
    try:
        main(["swift-ring-builder"] + list(a))
    except SystemExit as e:
        if e.code not in (0, None):
            raise
for t, p in zip(("account", "container", "object"), sys.argv[1:4]):
    rb(t + ".builder", "create", "8", "1", "1")      # 2^8 partitions, 1 replica
    rb(t + ".builder", "add", "r1z1-127.0.0.1:%s/d1" % p, "1")
    rb(t + ".builder", "rebalance")
'

print_env() {
  cat <<EOF
SWIFT_AUTHURL=$AUTH_URL
SWIFT_USERNAME=test:tester
SWIFT_PASSWORD=testing
SWIFT_AUTHVERSION=1
# swift -A $AUTH_URL -U test:tester -K testing stat
EOF
}

# A killed child of an exited script is reparented to PID 1; until PID 1 reaps it
# (here: ~2 s; in a container without an init: never) kill -0 still succeeds on
# the zombie, so look at the state of every thread instead (the main thread can
# be a zombie while other threads still hold the listening sockets)...
pid_running() {
  local f st
  for f in /proc/"$1"/task/*/stat; do
    st=$(sed 's/.*) //' "$f" 2>/dev/null | cut -d' ' -f1)
    [ -n "$st" ] && [ "$st" != Z ] && return 0
  done
  return 1
}
# ...and at the command line, so that a recycled pid is never signalled.
ours() { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qE -- "$ETC/launch.py|^memcached -l 127.0.0.1 "; }
alive() { local pid; [ -f "$RUN/$1.pid" ] && pid=$(cat "$RUN/$1.pid") && pid_running "$pid" && ours "$pid"; }
all_alive() { alive memcached && alive swift; }

write_configs() {
  mkdir -p "$ETC" "$RUN" "$LOG" "$DEV/d1"
  printf '%s' "$LAUNCHER" >"$ETC/launch.py"
  cat >"$ETC/swift.conf" <<EOF
[swift-hash]
swift_hash_path_prefix = saio-prefix
swift_hash_path_suffix = saio-suffix

[storage-policy:0]
name = Policy-0
default = yes

[storage-policy:1]
name = PCA

[swift-constraints]
container_listing_limit = $LISTING_LIMIT
account_listing_limit = $LISTING_LIMIT
EOF
  local t p
  for t in account container object; do
    case $t in account) p=$ACC_PORT ;; container) p=$CONT_PORT ;; object) p=$OBJ_PORT ;; esac
    cat >"$ETC/$t-server.conf" <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $p
swift_dir = $ETC
devices = $DEV
mount_check = false
disable_fallocate = true
log_name = $t-server
log_level = INFO

[pipeline:main]
pipeline = $t-server

[app:$t-server]
use = egg:swift#$t
EOF
  done
  cat >"$ETC/proxy-server.conf" <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $PORT
swift_dir = $ETC
log_name = proxy-server
log_level = INFO

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats dlo slo tempauth copy versioned_writes proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
allow_account_management = true

[filter:tempauth]
use = egg:swift#tempauth
user_admin_admin = admin .admin .reseller_admin
user_test_tester = testing .admin
user_test2_tester2 = testing2 .admin

# tempauth keeps its tokens in memcache: without a reachable memcached,
# GET /auth/v1.0 answers 503.
[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$MC_PORT

[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:dlo]
use = egg:swift#dlo
[filter:slo]
use = egg:swift#slo
[filter:copy]
use = egg:swift#copy
[filter:versioned_writes]
use = egg:swift#versioned_writes
EOF
}

build_rings() {
  # Rebuilt only when the port layout changes. Policies 0 and 1 use the one
  # device, so object-1 (policy 1 = PCA) is a copy of the object ring.
  if [ -f "$ETC/object-1.ring.gz" ] && [ "$(cat "$ETC/rings.stamp" 2>/dev/null)" = "$PORT" ]; then
    return 0
  fi
  rm -rf "$ETC"/*.builder "$ETC"/*.ring.gz "$ETC/backups"
  (cd "$ETC" && "$PY" -c "$RINGBUILDER" "$ACC_PORT" "$CONT_PORT" "$OBJ_PORT" >/dev/null)
  cp "$ETC/object.builder" "$ETC/object-1.builder"
  cp "$ETC/object.ring.gz" "$ETC/object-1.ring.gz"
  echo "$PORT" >"$ETC/rings.stamp"
}

check_xattr() {
  "$PY" -c 'import os,sys; p=sys.argv[1]; os.setxattr(p,"user.saio",b"1"); os.removexattr(p,"user.saio")' "$DEV/d1" ||
    { echo "swift-saio: $DEV has no user xattrs (tmpfs before Linux 6.6?); set SWIFT_SAIO_DIR" >&2; exit 1; }
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

do_start() {
  if all_alive; then print_env; return 0; fi
  do_stop >/dev/null
  write_configs
  check_xattr
  local p
  for p in $PORT $OBJ_PORT $CONT_PORT $ACC_PORT $MC_PORT; do
    for _ in $(seq 1 30); do port_free "$p" && break; sleep 0.1; done
    port_free "$p" || { echo "swift-saio: port $p already in use" >&2; exit 1; }
  done
  build_rings
  if [ -n "$FRESH" ]; then
    rm -rf "$DEV"
    mkdir -p "$DEV/d1"
  fi
  local mcuser=()
  [ "$(id -u)" = 0 ] && mcuser=(-u root)
  # setsid: own session, so a terminal's Ctrl-C does not reach them; all output
  # to files, so a caller reading our stdout (e.g. Go's exec.Cmd.Output) is not
  # kept waiting by the background processes.
  setsid memcached -l 127.0.0.1 -p "$MC_PORT" -U 0 -m 64 "${mcuser[@]}" </dev/null >"$LOG/memcached.log" 2>&1 &
  echo $! >"$RUN/memcached.pid"
  setsid "$PY" "$ETC/launch.py" "$ETC" "$OWNER_PID" "$RUN" </dev/null >>"$LOG/swift.log" 2>&1 &
  echo $! >"$RUN/swift.pid"
  local i hdrs tok url
  for i in $(seq 1 300); do
    if ! alive memcached || ! alive swift; then
      echo "swift-saio: a process died; see $LOG" >&2; tail -n 5 "$LOG/swift.log" >&2; do_stop >&2; exit 1
    fi
    # ready = a token from tempauth (proxy + memcached) and an account HEAD
    # through the proxy (account server); all four ports are bound together.
    hdrs=$(curl -s -o /dev/null -D - -H 'X-Auth-User: test:tester' -H 'X-Auth-Key: testing' "$AUTH_URL" 2>/dev/null | tr -d '\r' || true)
    tok=$(printf '%s\n' "$hdrs" | awk -F': ' 'tolower($1)=="x-auth-token"{print $2}')
    url=$(printf '%s\n' "$hdrs" | awk -F': ' 'tolower($1)=="x-storage-url"{print $2}')
    if [ -n "$tok" ] && curl -sf -o /dev/null -I -H "X-Auth-Token: $tok" "$url"; then
      print_env; return 0
    fi
    sleep 0.1
  done
  echo "swift-saio: not ready after 30 s; see $LOG" >&2; do_stop >&2; exit 1
}

do_stop() {
  local s pids=() i left
  for s in swift memcached; do
    if alive "$s"; then pids+=("$(cat "$RUN/$s.pid")"); fi
  done
  if [ ${#pids[@]} -gt 0 ]; then
    kill -TERM "${pids[@]}" 2>/dev/null || true
    for i in $(seq 1 50); do
      left=0
      for s in "${pids[@]}"; do pid_running "$s" && left=1; done
      [ $left = 0 ] && break
      sleep 0.1
    done
    for s in "${pids[@]}"; do pid_running "$s" && kill -KILL "$s" 2>/dev/null || true; done
  fi
  rm -f "$RUN"/*.pid
  echo "swift-saio: stopped"
}

case ${1:-} in
  start) do_start ;;
  stop) do_stop ;;
  status) if all_alive; then echo "swift-saio: running"; print_env; else echo "swift-saio: not running"; exit 1; fi ;;
  env) print_env ;;
  wipe) do_stop; rm -rf "$DIR" ;;
  *) echo "usage: $0 start|stop|status|env|wipe" >&2; exit 2 ;;
esac
