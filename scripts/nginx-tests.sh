#!/usr/bin/env bash
# Runs files of nginx's own test suite (nginx/nginx-tests, kept outside this repository) against
# ngxr, one line per file and a closing count, so README's list of passing files can be checked.
#
#   scripts/nginx-tests.sh [FILE.t ...]        default: the 37 files issue 6 names
#
# NGINX_TESTS_DIR  the suite's work tree (default /tmp/nginx-tests; `fetch github:nginx/nginx-tests`
#                  then `git --git-dir=DIR --work-tree=/tmp/nginx-tests checkout HEAD -- .`)
# NGXR             the binary under test (default target/release/ngxr, built if missing);
#                  NGXR=/usr/sbin/nginx runs the same files against nginx for comparison
#                  (as root, nginx's workers become "nobody": run it as an ordinary user)
# Per-file TAP output goes to $LOGS (default a fresh directory under /tmp).
set -u

cd "$(dirname "$0")/.." || exit 2
SUITE=${NGINX_TESTS_DIR:-/tmp/nginx-tests}
if [ ! -f "$SUITE/lib/Test/Nginx.pm" ]; then
  echo "nginx-tests: no suite at $SUITE (set NGINX_TESTS_DIR); nothing run" >&2
  exit 0
fi
command -v prove >/dev/null || { echo "nginx-tests: prove not found (apt-get install perl)" >&2; exit 2; }

BIN=${NGXR:-$PWD/target/release/ngxr}
if [ -z "${NGXR:-}" ] && [ ! -x "$BIN" ]; then
  cargo build --release --quiet || exit 2
fi
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac

STAGE1="http_location.t map.t map_complex.t proxy_websocket.t upstream.t upstream_least_conn.t
  upstream_keepalive.t proxy.t proxy_variables.t proxy_noclose.t proxy_upstream_cookie.t
  http_server_name.t http_uri.t http_host.t http_method.t http_expect_100_continue.t
  access_log_variables.t config_dump.t ssl_certificate_chain.t ssl_proxy_upgrade.t"
STAGE2="proxy_next_upstream.t proxy_non_idempotent.t proxy_pass_request.t proxy_chunked_extra.t
  proxy_unix.t proxy_implicit.t http_location_auto.t server_tokens.t http_listen.t
  upstream_zone.t map_volatile.t ignore_invalid_headers.t ssl_certificates.t ssl_sni.t
  ssl_session_reuse.t proxy_next_upstream_tries.t proxy_upgrade.t"
if [ $# -gt 0 ]; then FILES="$*"; else FILES="$STAGE1 $STAGE2"; fi

LOGS=${LOGS:-$(mktemp -d /tmp/ngxr-nginx-tests-XXXXXX)}
pass=0 fail=0 skip=0
start=$(date +%s)
for f in $FILES; do
  log=$LOGS/${f%.t}.log
  # Each file in its own process group with a time limit, so nothing it starts outlives it.
  (cd "$SUITE" && TEST_NGINX_BINARY=$BIN exec setsid timeout -k 5 120 prove -v "$f") >"$log" 2>&1
  reason=$(sed -nE 's/^[^ ]+\.t \.+ skipped: //p' "$log" | head -1)
  if [ -n "$reason" ]; then
    skip=$((skip + 1)); echo "SKIP $f: $reason"
  elif grep -q '^Result: PASS' "$log"; then
    pass=$((pass + 1)); echo "PASS $f"
  else
    fail=$((fail + 1))
    why=$(grep -E '^not ok' "$log" | grep -v '# TODO' | cut -c1-60 | head -3 | paste -sd';' -)
    echo "FAIL $f: ${why:-$(grep -m1 -E "emerg|Can't start|timeout|Dubious" "$log" | cut -c1-120)}"
  fi
done
echo "$pass passed, $fail failed, $skip skipped in $(($(date +%s) - start)) s (logs: $LOGS)"
[ "$fail" -eq 0 ]
