#!/bin/bash
# The compliance report as HTML: rendered from records the real audit
# library wrote (their times spread over several days, plus one record with
# hostile strings), it must be well-formed (python3's html.parser with a tag
# stack, and xmllint as XML), self-contained (a CSP allowing nothing, no
# script, no external reference), escape what the records hold, and open in
# headless Chromium with a screenshot that is not blank.
set -euo pipefail
cd "$(dirname "$0")/../.."
O=${O:-build}
BIN=${VV_BIN:-$PWD/$O}
ADMIN=$BIN/varvault-admin
WRITER=$BIN/tests/helpers/audit_writer
RENDER=$BIN/tests/helpers/audit_render
PY=${PYTHON:-/usr/bin/python3}
T=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] && cp "$T/shot.png" "$T/report.html" "$KEEP"/; rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
for tool in xmllint chromium; do
	command -v $tool >/dev/null || { echo "$tool missing: install the test packages of packaging/deps.txt (make deps)"; exit 77; }
done

mkdir "$T/k"
"$ADMIN" audit keygen --out "$T/k" --name test.varvault.invalid/audit >/dev/null
"$WRITER" "$T/log.db" "$T/k/audit.key" "$T/k/audit.k0" 60 16 test.varvault.invalid/audit >"$T/cp"
"$ADMIN" audit verify --db "$T/log.db" --pubkey "$T/k/audit.pub" --k0 "$T/k/audit.k0" --checkpoint "$T/cp" >/dev/null ||
	fail "the log does not verify"
"$PY" - "$T/log.db" "$T/recs.json" <<'PY'
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
recs = [json.loads(r[0]) for r in db.execute("SELECT leaf FROM audit_records ORDER BY seq")]
# spread over five days, so the chart has several bars
for i, r in enumerate(recs):
    r["time"] = "2026-12-%02dT%02d:%02d:00.000000Z" % (1 + i * 5 // len(recs), i % 24, i % 60)
recs.append({"seq": len(recs), "time": "2026-12-05T23:59:59.000000Z", "event": "request",
             "action": "<img src=x onerror=alert(1)>",
             "actor": {"subject": "CN=\"><script>alert(1)</script>", "role": "x'y"},
             "outcome": "denied", "reason": "a & b < c > d \u0001"})
json.dump(recs, open(sys.argv[2], "w"))
PY
"$RENDER" html "$T/recs.json" "$T/cp" verified 2026-12-01 2026-12-06 >"$T/report.html"
"$RENDER" text "$T/recs.json" "$T/cp" verified 2026-12-01 >"$T/report.txt"
grep -q "Records:     61 (ok " "$T/report.txt" || fail "text report: $(head -8 "$T/report.txt")"

# well-formed: every element closed in order (void elements excepted)
"$PY" - "$T/report.html" <<'PY'
import sys
from html.parser import HTMLParser
VOID = {"meta", "br", "img", "hr", "link", "input"}
class P(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.tags = [], [], set()
    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        for k, v in attrs:
            # nothing may be fetched or run: no src, href or event handler
            if k in ("src", "href", "action", "srcset") or k.startswith("on"):
                self.errors.append("<%s %s=%r>" % (tag, k, v))
        if tag not in VOID:
            self.stack.append(tag)
    def handle_startendtag(self, tag, attrs):
        self.tags.add(tag)
    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append("unexpected </%s> at %s, open: %s" % (tag, self.getpos(), self.stack[-3:]))
        else:
            self.stack.pop()
p = P()
p.feed(open(sys.argv[1], encoding="utf-8").read())
p.close()
assert not p.errors, p.errors[:5]
assert not p.stack, "unclosed: %s" % p.stack
assert "script" not in p.tags and "img" not in p.tags, p.tags
assert {"svg", "rect", "table", "title"} <= p.tags, p.tags
PY
xmllint --noout "$T/report.html" 2>"$T/xmlerr" || fail "xmllint: $(head -5 "$T/xmlerr")"
# self-contained and escaped
grep -q "Content-Security-Policy\" content=\"default-src 'none'" "$T/report.html" || fail "no CSP"
grep -Eqi "<script|url\(|@import" "$T/report.html" && fail "report refers outside or runs script"
grep -q "CN=&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" "$T/report.html" || fail "subject not escaped"
grep -q "&lt;img src=x onerror=alert(1)&gt;" "$T/report.html" || fail "action not escaped"
grep -q "x&#39;y" "$T/report.html" || fail "role not escaped"
[ "$(grep -o "<rect" "$T/report.html" | wc -l)" -ge 10 ] || fail "too few bars in the charts"
grep -q "$(sed -n 3p "$T/cp")" "$T/report.html" || fail "the checkpoint's root is not shown"

# headless Chromium renders it: the screenshot has more than one colour
export HOME=$T
set +e
timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run \
	--window-size=1200,1400 --screenshot="$T/shot.png" "file://$T/report.html" >"$T/chromium.log" 2>&1
rc=$?
set -e
[ -s "$T/shot.png" ] || fail "chromium made no screenshot (exit $rc): $(tail -5 "$T/chromium.log")"
"$PY" - "$T/shot.png" <<'PY'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat, w = 8, b"", 0
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
        assert depth == 8 and ctype in (2, 6), (depth, ctype)
        bpp = 3 if ctype == 2 else 4
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
raw = zlib.decompress(idat)
stride = w * bpp
prev = bytearray(stride)
colours, dark = set(), 0
for y in range(h):
    f = raw[y * (stride + 1)]
    line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    if y % 4 == 0:
        for x in range(0, w, 3):
            px = tuple(line[x * bpp:x * bpp + 3])
            colours.add(px)
            if sum(px) < 300:
                dark += 1
    prev = line
assert len(colours) > 20 and dark > 100, "blank screenshot: %d colours, %d dark samples" % (len(colours), dark)
print("screenshot %dx%d: %d colours, %d dark samples" % (w, h, len(colours), dark))
PY
echo "audit report html ok"
