#!/usr/bin/env bash
# Redis CPU per message: the same load (two nodes, 1,000 clients, 10 per session, 1,000
# msg/s for 20 s) on the test services' one Redis and on their three-master Redis Cluster,
# with each Redis process's CPU over the run as a share of one core.
#   env_file=$(bash test/infra/services.sh up) && source "$env_file" && npm run build && bash load-tests/redis-cluster-cost.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
: "${DATABASE_URL:?source the env file of test/infra/services.sh first}" "${REDIS_URL:?}" "${TEST_REDIS_CLUSTER_NODES:?}"
PW=$(echo "$REDIS_URL" | sed -E 's#redis://:([^@]*)@.*#\1#')
cpu() { redis-cli -p "$1" -a $PW --no-auth-warning info cpu | awk -F: '/used_cpu_(sys|user):/{s+=$2} END{printf "%.3f", s}'; }
run() { # label, redis env...
  local label=$1; shift
  local dir; dir=$(mktemp -d)
  local pids=() urls=()
  for i in 0 1; do
    local port; port=$(node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
    env -u REDIS_URL "$@" DATABASE_URL="$DATABASE_URL" JWT_SECRET=load-test-secret-load-test-secret-0123 PORT=$port HOST=127.0.0.1 \
      DATA_DIR="$dir" LOG_LEVEL=warn NODE_ID="load-$label-$i" RATE_LIMIT_MESSAGE_SEND=1000000/1s RATE_LIMIT_CONNECTIONS=1000000/1s \
      RATE_LIMIT_REGISTER=1000000/1s RATE_LIMIT_SESSION_JOIN=1000000/1s RATE_LIMIT_HTTP=1000000/1s RATE_LIMIT_SESSION_CREATE=1000000/1s \
      node dist/src/main.js > "$dir/node-$i.log" 2>&1 &
    pids+=($!); urls+=("http://127.0.0.1:$port")
  done
  for u in "${urls[@]}"; do for _ in $(seq 1 100); do curl -sf "$u/readyz" >/dev/null && break; sleep 0.3; done; done
  local ports=("${REDIS_PORTS[@]}")
  local before=(); for p in "${ports[@]}"; do before+=("$(cpu "$p")"); done
  local t0; t0=$(date +%s.%N)
  URLS=$(IFS=,; echo "${urls[*]}") CLIENTS=1000 PER_SESSION=10 MODE=open RATE=1000 DURATION=20 node load-tests/session-load.mjs > "$dir/load.txt" 2>&1 || true
  local t1; t1=$(date +%s.%N)
  local line="$label:"
  for i in "${!ports[@]}"; do
    local after; after=$(cpu "${ports[$i]}")
    line+=" $(awk -v a="$after" -v b="${before[$i]}" -v t0="$t0" -v t1="$t1" 'BEGIN{printf "%.1f%%", 100*(a-b)/(t1-t0)}')"
  done
  echo "$line"; grep -E "msg/s|ack|delivered" "$dir/load.txt" | head -6
  kill "${pids[@]}" 2>/dev/null || true; wait "${pids[@]}" 2>/dev/null || true
  rm -rf "$dir"
}
single_port=${REDIS_URL##*:}
REDIS_PORTS=("$single_port"); run single REDIS_URL="$REDIS_URL"
mapfile -t cports < <(echo "$TEST_REDIS_CLUSTER_NODES" | tr ',' '\n' | sed 's/.*://')
REDIS_PORTS=("${cports[@]}"); run cluster REDIS_CLUSTER_NODES="$TEST_REDIS_CLUSTER_NODES"
