# Sourced by scripts/harden.sh: pathological files through the real binary. Each case is a
# folder ingested with a wall-clock limit; it "held" when the ingest finished in time with the
# file either read (every chunk within the byte cap) or skipped with a reason, and a search
# still answers afterwards. Uses $LORE_BIN, $WORK and python3 from the caller.
PATHOLOGICAL_TRIED=0
PATHOLOGICAL_HELD=0
path_case() { # name python-expression-writing-file ext limit_s
  local name=$1 expr=$2 ext=$3 limit=$4
  local dir="$WORK/patho-$name" idx="$WORK/patho-$name-index"
  mkdir -p "$dir"
  printf '# Control\n\nThe control document about lighthouses stays searchable.\n' > "$dir/control.md"
  python3 -c "import sys; open(sys.argv[1], 'wb').write($expr)" "$dir/case.$ext"
  PATHOLOGICAL_TRIED=$((PATHOLOGICAL_TRIED + 1))
  local ok=0
  if timeout "$limit" "$LORE_BIN" --index "$idx" ingest "$dir" --json > "$WORK/patho-$name.json" 2>/dev/null; then
    if python3 - "$WORK/patho-$name.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["files_found"] == 2, r
assert r["files_read"] + r["files_skipped"] == 2, r
PY
    then
      if "$LORE_BIN" --index "$idx" search "lighthouses" --json 2>/dev/null | grep -q control.md; then
        ok=1
      fi
    fi
  fi
  if [ $ok = 1 ]; then
    PATHOLOGICAL_HELD=$((PATHOLOGICAL_HELD + 1))
  else
    echo "  pathological case $name did not hold" >&2
  fi
}
MB=1000000
path_case nested-1000 "b''.join((b'  ' * (i % 1000) + b'- item text\n') for i in range(1000))" md 120
# Sizes here are bounded by embedding time (every chunk is embedded); the criterion bench
# `chunking_pathological` chunks the full 10 MB line and 50 MB file.
path_case line-3mb "b'many words on one very long line ' * (3 * $MB // 34)" txt 300
path_case word-10mb "b'x' * (10 * $MB)" md 300
path_case file-60mb "b'# Too big\n' + b'word ' * (12 * $MB)" md 120
path_case html-deep "b'<div>' * 200000 + b'text'" html 60
path_case html-huge-table "b'<table>' + b'<tr><td>a</td><td>b</td></tr>' * 500000 + b'</table>'" html 300
path_case rst-unterminated "b'.. code-block:: python\n\n' + b'   x = 1\n' * 200000 + b'Title\n' + b'=' * 100000" rst 120
path_case adoc-unterminated "b'----\n' + b'code line\n' * 200000" adoc 120
path_case ipynb-broken "b'{\"cells\": [' + b'{\"cell_type\": \"markdown\", \"source\": \"x\"},' * 100000" ipynb 60
path_case pdf-garbage "b'%PDF-1.7\n' + bytes(range(256)) * 40000" pdf 60
path_case pdf-truncated "b'%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n3 0 obj\n<< /Type /Page /Parent 2 0 R /Contents 4 0 R >>\nendobj\n4 0 obj\n<< /Length 100000 >>\nstream\nBT (abc'" pdf 60
path_case docx-zip-bomb "__import__('zipfile') and (lambda z, io: (lambda buf: (lambda zf: (zf.writestr('word/document.xml', b'<w:document xmlns:w=\"x\"><w:body>' + b' ' * (300 * $MB) + b'</w:body></w:document>'), zf.close(), buf.getvalue())[2])(z.ZipFile(buf, 'w', z.ZIP_DEFLATED)))(io.BytesIO()))(__import__('zipfile'), __import__('io'))" docx 120
path_case binary-md "bytes(range(256)) * 4000" md 60
path_case latin1 "'# Caf\u00e9\n\nLatin-1 na\u00efve text.\n'.encode('latin-1')" txt 60
path_case utf16 "'\ufeff# Notes\n\nUTF-16 text.\n'.encode('utf-16-le')" txt 60
