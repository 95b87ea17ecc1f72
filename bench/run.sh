#!/usr/bin/env bash
# The benchmark suite of issue 6: the release server on a seeded database (1M links
# by default), on SQLite and on PostgreSQL, driven by wrk. Prints one markdown table
# per backend (requests/s, p50, p99, peak RSS, and each figure as a ratio to /healthz
# measured in the same run, since the machine is shared and noisy), the query plan of
# every overview filter, and PASS/MISS lines for the budget. See bench/README.md.
#
# Exit status: non-zero when a query plan scans the whole table, a request failed, or
# (unless BENCH_NO_FAIL=1) a budget was missed.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: bench/run.sh [--write] [--skip-postgres] [--help]

  --write           also write bench/RESULTS.md (same as BENCH_WRITE=1)
  --skip-postgres   SQLite only (same as BENCH_SKIP_POSTGRES=1); default is both

Environment (defaults in brackets):
  BENCH_LINKS=1000000        links seeded per backend
  BENCH_DURATION=10s         wrk duration of each measurement
  BENCH_WARMUP=2s            wrk warm-up before each measurement (results discarded)
  BENCH_THREADS=2            wrk threads
  BENCH_CONNECTIONS=32       wrk connections for every GET and the pay flow
  BENCH_POST_CONNECTIONS=64  wrk connections for API create
  BENCH_PAYFLOW_CODES=40000  fresh payable links taken for the pay flow
  BENCH_SKIP_BUILD=1         do not run cargo build; use BENCH_BIN_DIR
  BENCH_BIN_DIR=DIR          where paybylink, notify_bench, overview_plans are
                             [target/release of this repository]
  BENCH_PG_URL=URL           PostgreSQL server [postgres://postgres@127.0.0.1:5432/postgres];
                             a database pbl_bench_<pid> is created and dropped
  BENCH_NO_FAIL=1            budget misses are warnings (failed requests and
                             full-scan plans still fail the run)
  BENCH_NO_ANALYZE=1         no ANALYZE after the seed (planner without statistics)
  BENCH_KEEP=1               keep the work directory (databases, logs)
  BENCH_BIN_NOTE=TEXT        where those binaries came from, for RESULTS.md
EOF
}

# ---------------------------------------------------------------- settings
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=$REPO/bench
WRITE=${BENCH_WRITE:-0}
SKIP_PG=${BENCH_SKIP_POSTGRES:-0}
COMMAND="bench/run.sh $*"
for arg in "$@"; do
  case $arg in
    --write) WRITE=1 ;;
    --skip-postgres) SKIP_PG=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; usage >&2; exit 2 ;;
  esac
done
# The settings that change what is measured go into RESULTS.md with the command.
for v in BENCH_NO_ANALYZE BENCH_LINKS BENCH_DURATION BENCH_WARMUP BENCH_THREADS BENCH_CONNECTIONS \
  BENCH_POST_CONNECTIONS BENCH_PAYFLOW_CODES BENCH_SKIP_BUILD BENCH_BIN_DIR \
  BENCH_SKIP_POSTGRES BENCH_NO_FAIL BENCH_WRITE; do
  if [[ -n ${!v:-} ]]; then COMMAND="$v=${!v} $COMMAND"; fi
done

LINKS=${BENCH_LINKS:-1000000}
DURATION=${BENCH_DURATION:-10s}
WARMUP=${BENCH_WARMUP:-2s}
THREADS=${BENCH_THREADS:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
POST_CONNECTIONS=${BENCH_POST_CONNECTIONS:-64}
PAYFLOW_CODES=${BENCH_PAYFLOW_CODES:-40000}
PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
NO_FAIL=${BENCH_NO_FAIL:-0}
BIN_DIR=${BENCH_BIN_DIR:-$REPO/target/release}
PASSWORD="bench-password-$$-long-enough"
EMAIL="bench@bench.example"

WORK=$(mktemp -d /tmp/pbl-bench.XXXXXX)
OUT=$WORK/output.md        # everything that goes into RESULTS.md
PG_DB=""                   # the PostgreSQL database of this run, once created
SERVER_PID=""
SAMPLER_PID=""
FAILURES=0                 # failed requests, full scans: always fail the run
MISSES=0                   # budget misses
export BENCH_LUA_DIR=$BENCH_DIR BENCH_THREADS=$THREADS
# Only warnings from the CLI and the server: a log line per request would cost the
# server time we want to measure.
export RUST_LOG=warn
# psql: no NOTICE for "DROP DATABASE IF EXISTS" of a database that is not there.
export PGOPTIONS="-c client_min_messages=warning"

# ---------------------------------------------------------------- helpers
log() { echo "== $*" >&2; }
# Lines for the report: printed and kept for RESULTS.md.
say() { echo "$*" | tee -a "$OUT"; }
fail() { echo "FAIL: $*" | tee -a "$WORK/failures" >&2; FAILURES=$((FAILURES + 1)); }
die() { echo "ERROR: $*" >&2; exit 1; }

cleanup() {
  local status=$?
  stop_sampler
  stop_server
  if [[ -n $PG_DB ]]; then
    psql -q -d "$PG_URL" -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  if [[ ${BENCH_KEEP:-0} == 1 || $status -ne 0 ]]; then
    echo "work directory kept: $WORK" >&2
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_ns() { date +%s%N; }
ms_since() { echo $((($(now_ns) - $1) / 1000000)); }

# One SQL query on the current backend; rows as tab-separated lines.
sql() {
  if [[ $BACKEND == sqlite ]]; then
    sqlite3 -batch -noheader -separator $'\t' "$DB_FILE" "$1"
  else
    psql -X -q -At -F $'\t' -v ON_ERROR_STOP=1 -d "$DATABASE_URL" -c "$1"
  fi
}

# Base64url without padding, as the overview's cursors are written.
b64url() { printf '%s' "$1" | base64 -w0 | tr '+/' '-_' | tr -d '='; }

# ---------------------------------------------------------------- build
build() {
  if [[ ${BENCH_SKIP_BUILD:-0} == 1 ]]; then
    log "not building (BENCH_SKIP_BUILD=1); binaries from $BIN_DIR"
  else
    log "cargo build --release --bins --examples"
    (cd "$REPO" && cargo build --release --bins --examples)
  fi
  PBL=$BIN_DIR/paybylink
  NOTIFY_BENCH=$BIN_DIR/examples/notify_bench
  [[ -x $NOTIFY_BENCH ]] || NOTIFY_BENCH=$BIN_DIR/notify_bench
  OVERVIEW_PLANS=$BIN_DIR/examples/overview_plans
  [[ -x $OVERVIEW_PLANS ]] || OVERVIEW_PLANS=$BIN_DIR/overview_plans
  [[ -x $PBL ]] || die "no paybylink binary at $PBL"
  [[ -x $NOTIFY_BENCH ]] || die "no notify_bench binary in $BIN_DIR"
  [[ -x $OVERVIEW_PLANS ]] || die "no overview_plans binary in $BIN_DIR"
  "$PBL" seed --help >/dev/null 2>&1 || die "$PBL has no seed command"
}

require_tools() {
  command -v wrk >/dev/null || die "wrk is missing (apt-get install -y wrk)"
  command -v jq >/dev/null || die "jq is missing (apt-get install -y jq)"
  if ! command -v sqlite3 >/dev/null; then
    log "installing sqlite3 (the CLI picks links for the runs)"
    apt-get install -y sqlite3 >/dev/null || die "could not install sqlite3"
  fi
  if [[ $SKIP_PG != 1 ]]; then
    command -v psql >/dev/null || die "psql is missing"
    psql -X -q -d "$PG_URL" -c 'SELECT 1' >/dev/null ||
      die "PostgreSQL does not answer at $PG_URL (use --skip-postgres to run SQLite only)"
  fi
}

# ---------------------------------------------------------------- database
# A fresh database for $BACKEND; sets DATABASE_URL (and DB_FILE for SQLite).
create_database() {
  if [[ $BACKEND == sqlite ]]; then
    DB_FILE=$WORK/bench.db
    rm -f "$DB_FILE" "$DB_FILE"-wal "$DB_FILE"-shm
    DATABASE_URL="sqlite://$DB_FILE"
  else
    PG_DB="pbl_bench_$$"
    psql -X -q -d "$PG_URL" -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null
    psql -X -q -d "$PG_URL" -c "CREATE DATABASE \"$PG_DB\"" >/dev/null
    DATABASE_URL="${PG_URL%/*}/$PG_DB"
  fi
  export DATABASE_URL
  "$PBL" migrate >/dev/null
}

drop_database() {
  if [[ $BACKEND == postgres && -n $PG_DB ]]; then
    psql -X -q -d "$PG_URL" -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null
    PG_DB=""
  fi
}

# Merchant, admin user and API client, through the CLI as an operator would.
create_accounts() {
  local json
  json=$("$PBL" merchant create --name "Bench Shop" --json)
  MERCHANT=$(jq -r .merchantId <<<"$json")
  PRODUCT=$(jq -r .productId <<<"$json")
  echo "$PASSWORD" | "$PBL" user create --merchant "$MERCHANT" --email "$EMAIL" \
    --role admin --password-stdin --json >/dev/null
  json=$("$PBL" client create --merchant "$MERCHANT" --json)
  CLIENT_ID=$(jq -r .clientId <<<"$json")
  CLIENT_SECRET=$(jq -r .clientSecret <<<"$json")
}

seed() {
  log "$BACKEND: seeding $LINKS links"
  local t0 json
  t0=$(now_ns)
  json=$("$PBL" seed --merchant "$MERCHANT" --links "$LINKS" --json 2>"$WORK/seed.$BACKEND.log")
  SEED_MS=$(ms_since "$t0")
  SEED_PAYMENTS=$(jq -r .payments <<<"$json")
  LINK_COUNT=$(sql "SELECT count(*) FROM links WHERE merchant_id = $MERCHANT")
  [[ $LINK_COUNT -ge $LINKS ]] || fail "$BACKEND: seed made $LINK_COUNT links, not $LINKS"
  analyze
}

# Planner statistics, as a database that grew over two years would have them
# (autovacuum on PostgreSQL). Straight after a bulk load there are none, and
# PostgreSQL then reads the whole payments table for every overview page; that is an
# artefact of seeding, not what the service does in use. Timed apart from the seed.
# BENCH_NO_ANALYZE=1 measures without them (SQLite in service has none unless the
# service runs ANALYZE or PRAGMA optimize itself).
analyze() {
  local t0
  if [[ ${BENCH_NO_ANALYZE:-0} == 1 ]]; then ANALYZE_MS=0; return; fi
  t0=$(now_ns)
  sql "ANALYZE" >/dev/null
  ANALYZE_MS=$(ms_since "$t0")
}

# The plan of every overview filter; the tool exits non-zero on a full table scan.
query_plans() {
  log "$BACKEND: query plans"
  local plans=$WORK/plans.$BACKEND
  if "$OVERVIEW_PLANS" --merchant "$MERCHANT" >"$plans" 2>&1; then
    PLANS_OK=1
  else
    PLANS_OK=0
    fail "$BACKEND: overview_plans reports a full table scan (or failed); see the plans"
  fi
  cat "$plans" >&2
}

# Inputs for the runs, picked by SQL from the seeded data.
pick_inputs() {
  local mid term_row
  # Deep page: the cursor of the link halfway down the default sort (newest first).
  mid=$(sql "SELECT created_at || '.' || id FROM links WHERE merchant_id = $MERCHANT
             ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET $((LINK_COUNT / 2))")
  DEEP_CURSOR=$(b64url "i$mid")

  # Detail pages and API reads over many links, not one cached row.
  sql "SELECT id FROM links WHERE merchant_id = $MERCHANT ORDER BY random() LIMIT 2000" \
    >"$WORK/ids"
  sed 's|^|/links/|' "$WORK/ids" >"$WORK/detail_paths"
  sed 's|^|/api/v1/pay-by-link/|' "$WORK/ids" >"$WORK/api_paths"

  # Shopper pages of links a shopper can still pay.
  sql "SELECT url_code FROM links WHERE merchant_id = $MERCHANT AND status = 'CREATED'
       AND due_date > $(($(date +%s) * 1000 + 3600000)) ORDER BY random() LIMIT 2000" |
    sed 's|^\(.*\)$|/p/\1?lang=en|' >"$WORK/shopper_paths"
  [[ -s $WORK/shopper_paths ]] || fail "$BACKEND: no payable link to show"

  # The realistic search: what staff type to find one order. A fragment of a PAID
  # link's order number (merchantTransactionId) that matches only a few links.
  term_row=$(sql "SELECT merchant_transaction_id, status FROM links
                  WHERE merchant_id = $MERCHANT AND status = 'PAID'
                  ORDER BY created_at DESC LIMIT 1 OFFSET $((LINK_COUNT / 7))")
  [[ -n $term_row ]] || term_row=$(sql "SELECT merchant_transaction_id, status FROM links
                  WHERE merchant_id = $MERCHANT LIMIT 1 OFFSET $((LINK_COUNT / 7))")
  SEARCH_STATUS=${term_row#*$'\t'}
  local order=${term_row%%$'\t'*}
  # The last 6 characters: staff paste or type the tail of an order number.
  SEARCH_TERM=${BENCH_SEARCH:-${order: -6}}
  SEARCH_MATCHES=$(count_matches "$SEARCH_TERM" "$SEARCH_STATUS")

  # The broad search: the most common word of the descriptions (e.g. "order"), which
  # matches a large share of the links; reported separately, labelled as such.
  BROAD_TERM=${BENCH_BROAD_SEARCH:-$(sql "SELECT description FROM links
      WHERE merchant_id = $MERCHANT AND description IS NOT NULL LIMIT 200" |
    tr -cs '[:alpha:]' '\n' | awk 'length >= 4' | tr '[:upper:]' '[:lower:]' |
    sort | uniq -c | sort -rn | awk 'NR == 1 {print $2}')}
  BROAD_TERM=${BROAD_TERM:-order}
  BROAD_MATCHES=$(count_matches "$BROAD_TERM" "$SEARCH_STATUS")
}

# How many links of the merchant with this status contain the term (as the overview
# searches: a case-insensitive substring of search_text).
count_matches() {
  local term=${1//\'/\'\'}
  sql "SELECT count(*) FROM links WHERE merchant_id = $MERCHANT AND status = '$2'
       AND search_text LIKE '%' || lower('$term') || '%'"
}

# Fresh payable links for the pay flow: one link per flow, since a link is paid once.
pick_payflow_codes() {
  local soon=$(($(date +%s) * 1000 + 3 * 3600000))
  sql "SELECT url_code FROM links WHERE merchant_id = $MERCHANT AND status = 'CREATED'
       AND due_date > $soon AND coalesce(payments_allowed, 2) >= 1
       AND (allowed_payment_methods IS NULL OR allowed_payment_methods LIKE '%visa%')
       LIMIT $((PAYFLOW_CODES + 10000))" >"$WORK/codes_all"
  # A fifth (at most 10,000) for the warm-up, the rest for the run.
  local total warm
  total=$(wc -l <"$WORK/codes_all")
  warm=$((total / 5 < 10000 ? total / 5 : 10000))
  head -n "$warm" "$WORK/codes_all" >"$WORK/codes_warmup"
  tail -n +$((warm + 1)) "$WORK/codes_all" >"$WORK/codes"
  PAYFLOW_AVAILABLE=$(wc -l <"$WORK/codes")
}

# ---------------------------------------------------------------- server
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts the release server and times start -> first 200 on /healthz, polling in a
# tight loop (each poll is one curl, a few ms).
start_server() {
  PORT=$(free_port)
  BASE=http://127.0.0.1:$PORT
  local t0
  t0=$(now_ns)
  PAYBYLINK_BIND=127.0.0.1:$PORT PAYBYLINK_ALLOW_PRIVATE_WEBHOOKS=true \
    "$PBL" serve >"$WORK/server.$BACKEND.log" 2>&1 &
  SERVER_PID=$!
  until curl -fs -o /dev/null --max-time 1 "$BASE/healthz"; do
    kill -0 "$SERVER_PID" 2>/dev/null || die "server exited; see $WORK/server.$BACKEND.log"
    (($(ms_since "$t0") < 60000)) || die "server not healthy after 60 s"
  done
  STARTUP_MS=$(ms_since "$t0")
  log "$BACKEND: /healthz 200 after $STARTUP_MS ms (pid $SERVER_PID)"
}

stop_server() {
  if [[ -n $SERVER_PID ]]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
}

# Session cookie of the admin, through the login form (CSRF field and cookie).
login() {
  local jar=$WORK/cookies.$BACKEND csrf status
  rm -f "$jar"
  csrf=$(curl -fsS -c "$jar" -b "$jar" "$BASE/login" |
    sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' | head -n 1)
  [[ -n $csrf ]] || die "no csrf_token on /login"
  status=$(curl -sS -o /dev/null -w '%{http_code}' -c "$jar" -b "$jar" \
    --data-urlencode "csrf_token=$csrf" --data-urlencode "email=$EMAIL" \
    --data-urlencode "password=$PASSWORD" --data-urlencode "next=/links" "$BASE/login")
  [[ $status == 303 ]] || die "login answered $status, not 303"
  # curl writes HttpOnly cookies as "#HttpOnly_host ..." lines.
  COOKIE=$(awk -F'\t' 'NF >= 7 && ($1 !~ /^#/ || $1 ~ /^#HttpOnly_/) {printf "%s%s=%s", sep, $6, $7; sep = "; "}' "$jar")
  [[ -n $COOKIE ]] || die "no session cookie after login"
  status=$(curl -sS -o /dev/null -w '%{http_code}' -H "Cookie: $COOKIE" "$BASE/links")
  [[ $status == 200 ]] || die "/links with the session cookie answered $status"
}

# The runs below only mean something if these pages show what they claim to: the
# deep cursor is taken (not "showing the first page") and the search finds its link.
sanity_checks() {
  local page
  page=$(curl -fsS -H "Cookie: $COOKIE" "$BASE/links?cursor=$DEEP_CURSOR")
  if grep -q "page position is not valid" <<<"$page"; then fail "$BACKEND: the deep-page cursor was refused"; fi
  page=$(curl -fsS -H "Cookie: $COOKIE" "$BASE/links?status=$SEARCH_STATUS&q=$SEARCH_TERM")
  grep -qi -- "$SEARCH_TERM" <<<"$page" || fail "$BACKEND: the search for $SEARCH_TERM shows no match"
}

token() {
  TOKEN=$(curl -fsS -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials \
    "$BASE/oauth/token" | jq -r .access_token)
  [[ -n $TOKEN && $TOKEN != null ]] || die "no access token"
}

# ---------------------------------------------------------------- measuring
# Peak VmRSS of the server, sampled every ~100 ms while wrk runs (pure bash reads,
# so the sampler itself costs next to nothing).
start_sampler() {
  echo 0 >"$WORK/rss"
  (
    peak=0
    while [[ -e /proc/$SERVER_PID/status ]]; do
      while read -r key value _; do
        if [[ $key == VmRSS: ]]; then
          if ((value > peak)); then peak=$value; echo "$peak" >"$WORK/rss"; fi
          break
        fi
      done </proc/"$SERVER_PID"/status || true
      sleep 0.1
    done
  ) &
  SAMPLER_PID=$!
}

stop_sampler() {
  if [[ -n $SAMPLER_PID ]]; then
    kill "$SAMPLER_PID" 2>/dev/null || true
    wait "$SAMPLER_PID" 2>/dev/null || true
    SAMPLER_PID=""
  fi
}

# measure NAME CONNECTIONS SCRIPT PATH [wrk args...]: a warm-up, then the run; keeps
# the RESULT line's fields in R_* variables and appends a row to the backend's table.
# Env for the Lua script is set by the caller (BENCH_PATHS, BENCH_CODES, ...).
measure() {
  local name=$1 conns=$2 script=$3 path=$4
  shift 4
  local log=$WORK/wrk.$BACKEND.$(tr -c '[:alnum:]' '_' <<<"$name").log
  log "$BACKEND: $name"
  if [[ -n ${WARMUP_CODES:-} ]]; then export BENCH_CODES=$WARMUP_CODES; fi
  BENCH_RUN_TAG="w$$" wrk -t"$THREADS" -c"$conns" -d"$WARMUP" --timeout 5s \
    -s "$BENCH_DIR/$script" "$@" "$BASE$path" >"$log.warmup" 2>&1 ||
    die "wrk failed; see $log.warmup"
  if [[ -n ${RUN_CODES:-} ]]; then export BENCH_CODES=$RUN_CODES; fi
  start_sampler
  BENCH_RUN_TAG="m$$" wrk --latency -t"$THREADS" -c"$conns" -d"$DURATION" --timeout 5s \
    -s "$BENCH_DIR/$script" "$@" "$BASE$path" >"$log" 2>&1 || die "wrk failed; see $log"
  stop_sampler
  local line
  line=$(grep '^RESULT ' "$log") || die "no RESULT line in $log"
  # RESULT key=value ... -> R_key=value
  local kv v
  for v in ${!R_@}; do unset "$v"; done
  for kv in ${line#RESULT }; do printf -v "R_${kv%%=*}" '%s' "${kv#*=}"; done
  R_rss_mb=$(awk -v kb="$(cat "$WORK/rss")" 'BEGIN {printf "%.1f", kb / 1024}')
  R_failed=$((R_unexpected + R_socket_errors))
  if ((R_requests == 0)); then
    fail "$BACKEND: $name: no request completed in $DURATION"
    R_failed=$((R_failed > 0 ? R_failed : 1))
  elif ((R_failed > 0)); then
    fail "$BACKEND: $name: $R_unexpected unexpected answers, $R_socket_errors socket errors" \
      "($(grep '^UNEXPECTED ' "$log" | cut -c 12-200 || true))"
  fi
  if [[ $(awk -v r="$R_rss_mb" -v p="$PEAK_RSS_MB" 'BEGIN {print (r > p)}') == 1 ]]; then
    PEAK_RSS_MB=$R_rss_mb
  fi
}

# row NAME RPS P50 P99 RSS [FAILED]: one line of the backend's table; the ratio is to
# /healthz. FAILED counts wrong answers and socket errors (timeouts after 5 s).
row() {
  local ratio="–"
  if [[ $2 != "–" && -n ${HEALTHZ_RPS:-} ]]; then
    ratio=$(awk -v a="$2" -v b="$HEALTHZ_RPS" 'BEGIN {printf "%.2f", a / b}')
  fi
  printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$1" "$(fmt_int "$2")" "$3" "$4" "$5" "$ratio" "${6:-–}" \
    >>"$WORK/table.$BACKEND"
}
fmt_int() { if [[ $1 == "–" ]]; then echo "–"; else printf '%.0f' "$1"; fi; }
ratio_of() { awk -v a="$1" -v b="$HEALTHZ_RPS" 'BEGIN {printf "%.2f", a / b}'; }

# check LABEL CONDITION(awk expression) DETAIL: one PASS/MISS line.
check() {
  local label=$1 cond=$2 detail=$3
  if [[ $(awk "BEGIN {print ($cond) ? 1 : 0}") == 1 ]]; then
    echo "PASS $label: $detail" >>"$WORK/budget"
  else
    echo "MISS $label: $detail" >>"$WORK/budget"
    MISSES=$((MISSES + 1))
  fi
}

run_get() { # NAME PATH [PATHS_FILE]
  BENCH_PATHS=${3:-} measure "$1" "$CONNECTIONS" get.lua "$2" -H "$AUTH_HEADER"
  row "$1" "$R_rps" "$R_p50_ms" "$R_p99_ms" "$R_rss_mb" "$R_failed"
}

# ---------------------------------------------------------------- one backend
bench_backend() {
  BACKEND=$1
  PEAK_RSS_MB=0
  : >"$WORK/table.$BACKEND"
  create_database
  create_accounts
  seed
  query_plans
  pick_inputs
  start_server
  login
  sanity_checks
  token
  export BENCH_MERCHANT=$MERCHANT BENCH_PRODUCT=$PRODUCT
  local q_status="status=$SEARCH_STATUS"

  # The ceiling: the cheapest answer this server gives, on this machine, now.
  AUTH_HEADER="X-Bench: healthz"
  HEALTHZ_RPS=""
  run_get "GET /healthz (ceiling)" /healthz
  HEALTHZ_RPS=$R_rps
  # Rewrite the ceiling's row now that its ratio is known (1.00).
  : >"$WORK/table.$BACKEND"
  row "GET /healthz (ceiling)" "$R_rps" "$R_p50_ms" "$R_p99_ms" "$R_rss_mb" "$R_failed"

  AUTH_HEADER="Cookie: $COOKIE"
  run_get "overview, no filter" "/links"
  run_get "overview, $q_status" "/links?$q_status"
  run_get "overview, $q_status + search \"$SEARCH_TERM\" ($SEARCH_MATCHES matches)" \
    "/links?$q_status&q=$SEARCH_TERM"
  # A run whose requests failed or timed out has no honest p99: it cannot pass.
  local search_p99=$R_p99_ms search_rps=$R_rps search_failed=$R_failed
  run_get "overview, $q_status + BROAD search \"$BROAD_TERM\" ($BROAD_MATCHES matches)" \
    "/links?$q_status&q=$BROAD_TERM"
  run_get "overview, deep page (cursor at link $((LINK_COUNT / 2)))" "/links?cursor=$DEEP_CURSOR"
  run_get "detail page /links/{id}" "/links" "$WORK/detail_paths"
  local detail_rps=$R_rps detail_failed=$R_failed

  AUTH_HEADER="Authorization: Bearer $TOKEN"
  run_get "API GET /api/v1/pay-by-link/{id}" "/api/v1/pay-by-link" "$WORK/api_paths"
  local api_get_rps=$R_rps api_get_failed=$R_failed
  measure "API POST /api/v1/pay-by-link (-c$POST_CONNECTIONS)" "$POST_CONNECTIONS" create.lua \
    /api/v1/pay-by-link -H "$AUTH_HEADER"
  row "API POST /api/v1/pay-by-link (-c$POST_CONNECTIONS)" "$R_rps" "$R_p50_ms" "$R_p99_ms" "$R_rss_mb" "$R_failed"
  local create_rps=$R_rps create_bad=$((R_n3xx + R_n4xx + R_n5xx)) create_sock=$R_socket_errors

  AUTH_HEADER="X-Bench: shopper"
  run_get "shopper page /p/{code}" "/p" "$WORK/shopper_paths"

  # After API create, which made fresh payable links if the seed left too few.
  pick_payflow_codes
  if ((PAYFLOW_AVAILABLE < 1000)); then fail "$BACKEND: only $PAYFLOW_AVAILABLE payable links for the pay flow"; fi
  WARMUP_CODES=$WORK/codes_warmup RUN_CODES=$WORK/codes \
    measure "pay flow" "$CONNECTIONS" payflow.lua /healthz
  if ((R_exhausted > 0)); then
    fail "$BACKEND: pay flow ran out of fresh links ($PAYFLOW_AVAILABLE); raise BENCH_PAYFLOW_CODES"
  fi
  row "full pay flow: page, POST pay, receipt (flows/s; flow latency)" \
    "$R_flows_per_s" "$R_flow_p50_ms" "$R_flow_p99_ms" "$R_rss_mb" "$R_failed"
  PAYFLOW_REQ_LINE="pay flow, per request: $(fmt_int "$R_rps") req/s, p50 $R_p50_ms ms, p99 $R_p99_ms ms"

  # Notification delivery (examples/notify_bench; its own receiver and dispatcher,
  # not this server: no RSS and latency of ours).
  local nb=${NOTIFY[$BACKEND]:-} nb_seconds="" nb_ok=0 nb_rate=""
  if [[ -n $nb ]]; then
    read -r nb_seconds nb_ok nb_rate <<<"$nb"
    row "notifications: 10,000 delivered in $nb_seconds s (deliveries/s)" "$nb_rate" "–" "–" "–"
  fi

  local hwm
  hwm=$(awk '/VmHWM/ {printf "%.1f", $2 / 1024}' /proc/"$SERVER_PID"/status)
  stop_server

  # ---- the report for this backend
  local label
  label=$([[ $BACKEND == sqlite ]] && echo SQLite || echo PostgreSQL)
  say ""
  say "### $label: $LINK_COUNT links"
  say ""
  say "Seed: $LINK_COUNT links and $SEED_PAYMENTS payments in $(awk -v ms="$SEED_MS" 'BEGIN {printf "%.1f", ms / 1000}') s." \
    "ANALYZE afterwards: $(awk -v ms="$ANALYZE_MS" 'BEGIN {printf "%.1f", ms / 1000}') s." \
    "Start to first /healthz 200: $STARTUP_MS ms. Peak RSS of the server over the whole run (VmHWM): $hwm MB."
  say ""
  say "| measurement | req/s | p50 ms | p99 ms | peak RSS MB | × /healthz | failed |"
  say "|---|---:|---:|---:|---:|---:|---:|"
  cat "$WORK/table.$BACKEND" | tee -a "$OUT"
  say ""
  say "$PAYFLOW_REQ_LINE."
  say ""

  check "$label overview status + search p99 < 20 ms" "$search_p99 < 20 && $search_failed == 0" \
    "p99 $search_p99 ms, $search_failed failed"
  check "$label overview status + search ≥ 25% of /healthz" \
    "$search_rps / $HEALTHZ_RPS >= 0.25 && $search_failed == 0" "$(ratio_of "$search_rps") × /healthz"
  check "$label detail page ≥ 50% of /healthz" "$detail_rps / $HEALTHZ_RPS >= 0.5 && $detail_failed == 0" \
    "$(ratio_of "$detail_rps") × /healthz, $detail_failed failed"
  check "$label API GET ≥ 50% of /healthz" "$api_get_rps / $HEALTHZ_RPS >= 0.5 && $api_get_failed == 0" \
    "$(ratio_of "$api_get_rps") × /healthz, $api_get_failed failed"
  check "$label API create ≥ 2,000 links/s, no failures at -c$POST_CONNECTIONS" \
    "$create_rps >= 2000 && $create_bad == 0 && $create_sock == 0" \
    "$(fmt_int "$create_rps") links/s, $create_bad non-2xx, $create_sock socket errors"
  if [[ -n $nb ]]; then
    check "$label 10,000 notifications in ≤ 10 s" "$nb_seconds <= 10 && $nb_ok" "$nb_seconds s"
  else
    echo "MISS $label 10,000 notifications in ≤ 10 s: no result from notify_bench" >>"$WORK/budget"
    MISSES=$((MISSES + 1))
  fi
  check "$label peak RSS under load < 100 MB" "$PEAK_RSS_MB < 100 && $hwm < 100" \
    "$PEAK_RSS_MB MB sampled during runs, $hwm MB VmHWM"
  check "$label start → /healthz 200 < 1 s ($LINK_COUNT links)" "$STARTUP_MS < 1000" "$STARTUP_MS ms"
  if [[ $BACKEND == sqlite ]]; then
    check "$label seed at ≥ 1,000,000 links/min" "$LINK_COUNT / ($SEED_MS / 1000) >= 1000000 / 60" \
      "$(awk -v n="$LINK_COUNT" -v ms="$SEED_MS" 'BEGIN {printf "%.0f", n / (ms / 1000)}') links/s"
  fi
  [[ $PLANS_OK == 1 ]] || echo "FAIL $label query plans: a full table scan" >>"$WORK/budget"

  {
    echo ""
    echo "<details><summary>$label: query plans of the overview filters (overview_plans)</summary>"
    echo ""
    echo '```'
    cat "$WORK/plans.$BACKEND"
    echo '```'
    echo "</details>"
  } >>"$WORK/plans.md"
  drop_database
}

# Notification throughput: notify_bench runs both backends itself and prints one
# line per backend: "SQLite: 10000 of 10000 delivered in 1.23 s = 8130 deliveries/s; …".
# NOTIFY[backend] = "SECONDS RATE_OK(1/0) RATE".
declare -A NOTIFY=()
notify_bench() {
  log "notification delivery (notify_bench)"
  local out=$WORK/notify.log line label key seconds rate ok
  if [[ $SKIP_PG == 1 ]]; then
    "$NOTIFY_BENCH" >"$out" 2>&1 || true
  else
    BENCH_POSTGRES_URL=$PG_URL "$NOTIFY_BENCH" >"$out" 2>&1 || true
  fi
  cat "$out" >&2
  for label in SQLite PostgreSQL; do
    line=$(grep "^$label: .* delivered in " "$out" | head -n 1) || continue
    key=$([[ $label == SQLite ]] && echo sqlite || echo postgres)
    seconds=$(sed -n 's/.* delivered in \([0-9.]*\) s.*/\1/p' <<<"$line")
    rate=$(sed -n 's/.* = \([0-9.]*\) deliveries\/s.*/\1/p' <<<"$line")
    ok=$([[ $line == *"0 duplicates"* && $line == *"10000 of 10000"* ]] && echo 1 || echo 0)
    [[ $ok == 1 ]] || fail "notify_bench: $line"
    NOTIFY[$key]="$seconds $ok $rate"
  done
}

# ---------------------------------------------------------------- report
# The commit and state of the tree when the run starts (the run takes a while, and
# the tree may change meanwhile). RESULTS.md itself does not make the tree dirty.
record_commit() {
  COMMIT=$(git -C "$REPO" rev-parse --short HEAD)
  DIRTY=$([[ -n $(git -C "$REPO" status --porcelain -- . ':!bench/RESULTS.md') ]] &&
    echo "dirty (uncommitted changes)" || echo "clean")
}

write_results() {
  local cpu mem
  cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
  mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
  {
    echo "# Benchmark results"
    echo ""
    echo "Written by \`bench/run.sh --write\`; see [README.md](README.md) for what each figure means."
    echo ""
    echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- Commit: \`$COMMIT\`, tree $DIRTY (at the start of the run)"
    if [[ ${BENCH_SKIP_BUILD:-0} == 1 ]]; then
      echo "- Binaries: not built by the script (BENCH_SKIP_BUILD=1), taken from \`$BIN_DIR\`${BENCH_BIN_NOTE:+: $BENCH_BIN_NOTE}"
    else
      echo "- Binaries: \`cargo build --release\` of this tree"
    fi
    echo "- Machine: $(nproc) cores, $cpu, $mem memory; shared, so compare ratios to /healthz rather than raw figures"
    echo "- wrk: $(wrk -v 2>&1 | head -n 1 | cut -d' ' -f1-2), -t$THREADS, -c$CONNECTIONS for GETs and the pay flow," \
      "-c$POST_CONNECTIONS for API create, $DURATION per run after a $WARMUP warm-up, --latency, --timeout 5s"
    echo "- Command: \`$COMMAND\`"
    echo ""
    cat "$OUT"
    if [[ -s $WORK/failures ]]; then
      echo ""
      echo "## Failures"
      echo ""
      echo '```'
      cat "$WORK/failures"
      echo '```'
    fi
    echo ""
    echo "## Budget"
    echo ""
    echo '```'
    cat "$WORK/budget"
    echo '```'
    cat "$WORK/plans.md"
  } >"$BENCH_DIR/RESULTS.md"
  log "wrote $BENCH_DIR/RESULTS.md"
}

main() {
  record_commit
  require_tools
  build
  : >"$OUT"
  : >"$WORK/budget"
  : >"$WORK/plans.md"
  : >"$WORK/failures"
  notify_bench
  say "## Results"
  bench_backend sqlite
  if [[ $SKIP_PG == 1 ]]; then
    say ""
    say "PostgreSQL: skipped (--skip-postgres)."
  else
    bench_backend postgres
  fi
  echo ""
  echo "## Budget"
  cat "$WORK/budget"
  if [[ -s $WORK/failures ]]; then echo ""; echo "## Failures"; cat "$WORK/failures"; fi
  [[ $WRITE == 1 ]] && write_results
  if ((FAILURES > 0)); then
    echo "$FAILURES failure(s): failed requests or full-scan plans" >&2
    exit 1
  fi
  if ((MISSES > 0)); then
    if [[ $NO_FAIL == 1 ]]; then
      echo "$MISSES budget miss(es) (BENCH_NO_FAIL=1: not failing)" >&2
    else
      echo "$MISSES budget miss(es)" >&2
      exit 1
    fi
  fi
}

main
