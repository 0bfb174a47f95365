#!/usr/bin/env bash
# The hardening catalogue against the release binary, in one command; prints a table
# "category | tried | held". The short versions run in CI as tests/integration/harden.rs;
# this runs the long ones.
#
#   scripts/harden.sh                      # 50 crash trials, 10 ingests under searches
#   HARDEN_CRASH_TRIALS=200 HARDEN_UPDATES=30 scripts/harden.sh
#   LORE_BIN=/path/to/lore scripts/harden.sh   # skip the build
#
# Categories:
#   crash trials       kill -9 at a random moment of an ingest; then `lore doctor` must
#                      pass and `lore search` answer.
#   merge crash trials kill -9 at a random moment of `lore compact`; doctor passes, search
#                      answers, the next ingest succeeds and leaves no `*.tmp` folder.
#   damage catalogue   every file of a generation and its segments × {delete, truncate to half, flip 16
#                      bits}: `lore doctor` must report ✗, and `lore search` in every mode
#                      must answer or fail with exit 1 (never a panic, exit 101, or a signal).
#   pathological files the lead's: scripts/harden.d/pathological.sh, when present, is
#                      sourced and sets PATHOLOGICAL_TRIED and PATHOLOGICAL_HELD.
#   http abuse         runaway templates, 2,000 idle and 50 slow connections, a huge body,
#                      deeply nested JSON, a non-UTF-8 path, a long x-request-id: each must
#                      get its bounded answer, and the server must keep answering.
#   search under updates  searches over HTTP while `lore ingest` publishes new generations:
#                      every search must succeed.
# Needs python3 (for bit flips and raw sockets) and curl.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
TRIALS=${HARDEN_CRASH_TRIALS:-50}
UPDATES=${HARDEN_UPDATES:-10}

if [ -z "${LORE_BIN:-}" ]; then
  cargo build --release --quiet || exit 1
  LORE_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/lore"
fi
[ -x "$LORE_BIN" ] || { echo "no lore binary at $LORE_BIN" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 is needed" >&2; exit 1; }

WORK=$(mktemp -d)
SERVER_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"
unset LORE_CONFIG LORE_INDEX LORE_ADDR LORE_CHAT_BASE_URL RUST_LOG
lore() { "$LORE_BIN" "$@"; }
declare -a ROWS

# A corpus of six topics plus filler notes; `round` changes the notes' text.
write_corpus() { # dir round notes
  python3 - "$1" "$2" "$3" <<'EOF'
import os, sys
d, rnd, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(os.path.join(d, "notes"), exist_ok=True)
topics = {
  "bread.md": "# Sourdough\n\nFeed the sourdough starter equal weights of flour and water every day.\n",
  "terns.md": "# Arctic terns\n\nThe Arctic tern migrates from pole to pole every year.\n",
  "k8s.md": "# Autoscaling\n\nThe HorizontalPodAutoscaler adds replicas when CPU use is high.\n",
}
for name, text in topics.items():
    open(os.path.join(d, name), "w").write(text)
for i in range(n):
    body = "".join(f"Paragraph {j} of note {i}, revision {rnd}: instrument {i*7+j} drifted by {(i+j+rnd)%13} units. " for j in range(40))
    open(os.path.join(d, "notes", f"n{i}.md"), "w").write(f"# Note {i}\n\n{body}\n")
EOF
}

# ---------------------------------------------------------------------------------------
echo "== crash trials ($TRIALS × kill -9 during an ingest)" >&2
write_corpus corpus 0 40
lore ingest corpus --index crash -q >/dev/null 2>&1 || { echo "first ingest failed" >&2; exit 1; }
start=$(date +%s%N)
write_corpus corpus 1 40
lore ingest corpus --index crash -q >/dev/null 2>&1
took_ms=$(( ($(date +%s%N) - start) / 1000000 ))
held=0
for t in $(seq 1 "$TRIALS"); do
  write_corpus corpus $((t + 1)) 40
  delay=$(( RANDOM % (took_ms + 200) ))
  lore ingest corpus --index crash -q >/dev/null 2>&1 &
  pid=$!
  sleep "$(printf '0.%03d' $((delay % 1000)))"; [ "$delay" -ge 1000 ] && sleep $((delay / 1000))
  kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  if lore doctor --index crash >doctor.txt 2>&1 &&
     lore search sourdough --index crash --top-k 1 >search.txt 2>&1 && grep -q bread.md search.txt; then
    held=$((held + 1))
  else
    echo "  trial $t (kill at ${delay} ms) failed:" >&2; grep -v "^✓" doctor.txt search.txt >&2
  fi
done
ROWS+=("crash trials (kill -9 during ingest) | $TRIALS | $held")

# ---------------------------------------------------------------------------------------
echo "== merge crash trials ($TRIALS × kill -9 during \`lore compact\`)" >&2
# Each trial first adds a segment (one changed note), so there is always something to
# merge; then `lore compact` (every segment into one) is killed at a random moment.
# Held: doctor passes, the search answers, and the next ingest succeeds and leaves no
# unfinished folder behind.
lore ingest corpus --index crash -q >/dev/null 2>&1
start=$(date +%s%N)
lore compact --index crash >/dev/null 2>&1
took_ms=$(( ($(date +%s%N) - start) / 1000000 ))
held=0
for t in $(seq 1 "$TRIALS"); do
  printf '\nMerge trial %s changed this note.\n' "$t" >> corpus/notes/n$((t % 40)).md
  lore ingest corpus --index crash -q >/dev/null 2>&1
  delay=$(( RANDOM % (took_ms + 100) ))
  lore compact --index crash >/dev/null 2>&1 &
  pid=$!
  sleep "$(printf '0.%03d' $((delay % 1000)))"; [ "$delay" -ge 1000 ] && sleep $((delay / 1000))
  kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  if lore doctor --index crash >doctor.txt 2>&1 &&
     lore search sourdough --index crash --top-k 1 >search.txt 2>&1 && grep -q bread.md search.txt &&
     lore ingest corpus --index crash -q >ingest.txt 2>&1 &&
     [ -z "$(find crash -maxdepth 2 -name '*.tmp' -print -quit)" ]; then
    held=$((held + 1))
  else
    echo "  merge trial $t (kill at ${delay} ms of ~${took_ms}) failed:" >&2
    grep -v "^✓" doctor.txt search.txt ingest.txt >&2; find crash -maxdepth 2 -name '*.tmp' >&2
  fi
done
ROWS+=("merge crash trials (kill -9 during compact) | $TRIALS | $held")

# ---------------------------------------------------------------------------------------
echo "== damage catalogue" >&2
write_corpus dcorpus 0 10
lore ingest dcorpus --index pristine -q >/dev/null 2>&1 || exit 1
gen=$(python3 -c 'import json;print(json.load(open("pristine/CURRENT"))["dir"])')
tried=0; held=0
while IFS= read -r rel; do
  for how in delete truncate flip; do
    tried=$((tried + 1))
    rm -rf damaged; cp -r pristine damaged
    f="damaged/$rel"
    case $how in
      delete) rm -f "$f" ;;
      truncate) truncate -s $(( $(stat -c %s "$f") / 2 )) "$f" ;;
      flip) python3 - "$f" "$tried" <<'EOF'
import random, sys
p = sys.argv[1]; random.seed(int(sys.argv[2]))
b = bytearray(open(p, "rb").read()) or bytearray(b"\xff")
for _ in range(16):
    i = random.randrange(len(b) * 8); b[i // 8] ^= 1 << (i % 8)
open(p, "wb").write(b)
EOF
      ;;
    esac
    ok=1
    lore doctor --index damaged >doctor.txt 2>&1
    rc=$?
    if [ "$rc" -ne 1 ] || ! grep -q "✗" doctor.txt; then ok=0; echo "  $rel $how: doctor passed (exit $rc)" >&2; fi
    for mode in bm25 dense hybrid; do
      lore search "sourdough starter" --mode "$mode" --index damaged >search.txt 2>&1
      rc=$?
      if [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ]; then
        ok=0; echo "  $rel $how: search --mode $mode exited $rc" >&2; head -3 search.txt >&2
      fi
      if [ "$rc" -eq 1 ] && ! grep -q "^error: " search.txt; then
        ok=0; echo "  $rel $how: search --mode $mode failed without a message" >&2
      fi
    done
    held=$((held + ok))
  done
done < <(cd pristine && find "$gen" segments -type f ! -name '*.lock' 2>/dev/null | sort)
ROWS+=("damage catalogue (files × delete/truncate/flip) | $tried | $held")

# ---------------------------------------------------------------------------------------
PATHOLOGICAL_TRIED="-"; PATHOLOGICAL_HELD="- (not run: scripts/harden.d/pathological.sh is the lead's hook)"
if [ -f "$ROOT/scripts/harden.d/pathological.sh" ]; then
  echo "== pathological files" >&2
  # shellcheck source=/dev/null
  source "$ROOT/scripts/harden.d/pathological.sh"
fi
ROWS+=("pathological files | $PATHOLOGICAL_TRIED | $PATHOLOGICAL_HELD")

# ---------------------------------------------------------------------------------------
echo "== http abuse" >&2
ulimit -n 16384 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
cat >lore.toml <<'EOF'
[server]
allow_request_templates = true
header_timeout_s = 3
idle_timeout_s = 3
max_connections = 4096
request_timeout_s = 20
reload_poll_ms = 200
EOF
cp -r pristine served
lore serve --addr 127.0.0.1:0 --index served --config lore.toml >serve.log 2>&1 &
SERVER_PID=$!
base=""
for _ in $(seq 1 300); do
  base=$(grep -o 'http://127.0.0.1:[0-9]*' serve.log | head -1)
  [ -n "$base" ] && break
  sleep 0.1
done
[ -n "$base" ] || { echo "the server did not start:" >&2; cat serve.log >&2; exit 1; }
python3 - "$base" >abuse.txt <<'EOF'
import json, resource, socket, sys, time, urllib.request, urllib.error
base = sys.argv[1]
host, port = base.split("//")[1].split(":"); port = int(port)
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 16384), hard))
tried = held = 0

def req(method, path, body=None, headers=None, timeout=30):
    r = urllib.request.Request(base + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(r, timeout=timeout) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()

def healthy():
    try:
        return req("GET", "/healthz", timeout=5)[0] == 200
    except Exception:
        return False

def case(name, fn):
    global tried, held
    tried += 1
    try:
        ok = bool(fn()) and healthy()
    except Exception as e:
        ok = False; name += f" ({e})"
    held += ok
    print(("held " if ok else "FAILED ") + name, file=sys.stderr)

def json_error(status, expect, headers, body):
    return status == expect and headers.get("content-type", "").startswith("application/json") \
        and "error" in json.loads(body)

def template(t, word):
    start = time.time()
    s, h, b = req("POST", "/v1/prompt", json.dumps({"query": "sourdough", "template": t}).encode(),
                  {"content-type": "application/json"})
    return json_error(s, 400, h, b) and word in b.decode() and time.time() - start < 10

case("template output cap", lambda: template('{% for a in range(20) %}{{ "x " * 5000000 }}{% endfor %}', "bytes"))
case("template fuel", lambda: template("{% for a in range(100000) %}{% for b in range(100000) %}{% set x = a + b %}{% endfor %}{% endfor %}", "fuel"))

def idle_connections():
    conns = [socket.create_connection((host, port)) for _ in range(2000)]
    start = time.time(); ok = healthy() and time.time() - start < 2
    deadline = time.time() + 12; closed = 0
    for c in conns:
        c.settimeout(max(0.01, deadline - time.time()))
        try:
            closed += c.recv(1) == b""
        except ConnectionResetError:
            closed += 1
        except socket.timeout:
            pass
        c.close()
    return ok and closed == len(conns)
case("2,000 idle connections", idle_connections)

def slow_connections():
    conns = [socket.create_connection((host, port)) for _ in range(50)]
    for c in conns:
        c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        c.settimeout(0.05)
    start = time.time(); open_ = set(range(len(conns)))
    while open_ and time.time() - start < 10:
        for i in list(open_):
            try:
                conns[i].sendall(b"a")
                if conns[i].recv(1024) == b"":
                    open_.discard(i)
            except socket.timeout:
                pass
            except OSError:
                open_.discard(i)
        time.sleep(0.2)
    for c in conns: c.close()
    return not open_ and time.time() - start < 8
case("50 slowloris connections", slow_connections)

def huge_body():
    # Raw socket with `expect: 100-continue`, as curl does: the server can refuse on the
    # declared length before the body is sent (sending it anyway makes the refusal race
    # with a reset, which an HTTP library reports as a broken pipe instead of the answer).
    c = socket.create_connection((host, port)); c.settimeout(10)
    body = b'{"query": "' + b"a" * (4 << 20) + b'"}'
    c.sendall(b"POST /v1/search HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\n"
              + f"content-length: {len(body)}\r\nexpect: 100-continue\r\nconnection: close\r\n\r\n".encode())
    answer = c.recv(65536)
    if answer.startswith(b"HTTP/1.1 100"):
        answer = answer.partition(b"\r\n\r\n")[2]
        try:
            c.sendall(body)
        except OSError:
            pass
    try:
        while chunk := c.recv(65536):
            answer += chunk
    except OSError:
        pass
    c.close()
    head, _, payload = answer.partition(b"\r\n\r\n")
    return head.startswith(b"HTTP/1.1 413") and b"application/json" in head.lower() \
        and b"payload_too_large" in payload
case("4 MB body", huge_body)

def nested():
    s, h, b = req("POST", "/v1/search", b"[" * 100000 + b"]" * 100000, {"content-type": "application/json"})
    return 400 <= s < 500 and json.loads(b)["error"]
case("deeply nested JSON", nested)

def bad_path():
    s, h, b = req("DELETE", "/v1/documents/%ff%fe")
    return json_error(s, 400, h, b)
case("non-UTF-8 document path", bad_path)

def long_id():
    s, h, b = req("GET", "/healthz", headers={"x-request-id": "a" * 5000})
    rid = h.get("x-request-id", "")
    return s == 200 and rid and rid != "a" * 5000 and len(rid) <= 128
case("5,000-character x-request-id", long_id)

print(f"{tried} {held}")
EOF
read -r tried held < <(tail -1 abuse.txt)
ROWS+=("http abuse | ${tried:-0} | ${held:-0}")

# ---------------------------------------------------------------------------------------
echo "== searches under updates ($UPDATES ingests)" >&2
(
  for r in $(seq 1 "$UPDATES"); do
    write_corpus dcorpus $((r + 100)) 10
    lore ingest dcorpus --index served -q >/dev/null 2>&1 || echo "ingest $r failed" >&2
  done
  touch updates.done
) &
UPDATER_PID=$!
python3 - "$base" >updates.txt <<'EOF'
import json, os, sys, urllib.request, urllib.error
base = sys.argv[1]; tried = ok = 0
gens = set()
while not os.path.exists("updates.done"):
    for mode in ("bm25", "dense", "hybrid"):
        tried += 1
        body = json.dumps({"query": "sourdough starter", "mode": mode, "top_k": 3}).encode()
        r = urllib.request.Request(base + "/v1/search", data=body, headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(r, timeout=30) as resp:
                v = json.load(resp)
                if resp.status == 200 and v["results"]:
                    ok += 1; gens.add(v["generation"])
                else:
                    print(f"{mode}: {v}", file=sys.stderr)
        except Exception as e:
            print(f"{mode}: {e}", file=sys.stderr)
print(f"generations seen: {sorted(gens)}", file=sys.stderr)
print(f"{tried} {ok}")
EOF
wait "$UPDATER_PID"
read -r tried held < <(tail -1 updates.txt)
ROWS+=("searches during $UPDATES ingests | ${tried:-0} | ${held:-0}")
kill -TERM "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; SERVER_PID=""

# ---------------------------------------------------------------------------------------
echo
echo "| category | tried | held |"
echo "|---|---:|---:|"
failed=0
for row in "${ROWS[@]}"; do
  echo "| $row |"
  IFS='|' read -r _ t h <<<"$row"
  t=${t// /}; h=${h// /}
  [[ "$t" =~ ^[0-9]+$ ]] && [ "$t" != "$h" ] && failed=1
done
exit $failed
