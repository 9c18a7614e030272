#!/usr/bin/env bash
# obs_report.sh: `dagr run --report` writes one self-contained HTML report (alone, -np 3), parsed and rendered.
#
# Run by `make check` through tests/wrapper.sh (MPIRUN, PYTHON3_SYS, DAGR_TOP_BUILDDIR and Open
# MPI's variables). A graph of 21 tasks (fill, sleep, checksum and a noop whose key is HTML) runs
# with --report; the report is parsed with Python's html.parser (balanced elements, section ids,
# one task rectangle per task, kernel legend, facts, escaped keys, no external reference), then
# rendered to a PNG by Chromium, which is decoded here (zlib, the five PNG filters) and must
# show many colours, not be blank, and contain the kernel legend's colours. Prints ok/FAIL lines
# and "N passed, N failed" last.
set -u
B="${DAGR_TOP_BUILDDIR:-.}"
MPIRUN="${MPIRUN:-mpirun}"
PY="${PYTHON3_SYS:-/usr/bin/python3}"
limit=120
passed=0
failed=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dagr_report.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
ok() { echo "ok $1"; passed=$((passed + 1)); }
bad() { echo "FAIL $1: $2"; failed=$((failed + 1)); }
# Shows a checker's ok/FAIL lines (suffixed with the label) and adds them to the counts.
tally() {
  local label="$1" file="$2" line
  while IFS= read -r line; do
    case "$line" in
    ok\ *) echo "$line ($label)"; passed=$((passed + 1)) ;;
    FAIL\ *) echo "$line ($label)"; failed=$((failed + 1)) ;;
    *) echo "  $line" ;;
    esac
  done <"$file"
}

if [ ! -x "$B/dagr" ]; then
  echo "FAIL setup: $B/dagr is not built"
  echo "0 passed, 1 failed"
  exit 1
fi
if ! "$B/dagr" 2>&1 | grep -q -- "--report"; then
  echo "FAIL setup: dagr has no --report option (see dagr's usage)"
  echo "0 passed, 1 failed"
  exit 1
fi

# --- the graph: 21 tasks, 4 kernels, 2 MiB of fills pulled by the checksums ---------------------
ntasks=21
kernels="fill,sleep,checksum,noop"
hostile="<script>alert('k&y')</script> \"q\""
"$PY" - "$tmp/graph.json" "$hostile" <<'EOF'
import json, sys
path, hostile = sys.argv[1], sys.argv[2]
g = {}
for i in range(8):
    g["fill-%d" % i] = {"kernel": "fill", "params": {"bytes": 262144, "seed": i}}
    g["sleep-%d" % i] = {"kernel": "sleep", "args": ["fill-%d" % i], "params": {"ms": 2 + i % 3}}
sums = []
for j in range(4):
    k = "('sum', %d)" % j
    sums.append(k)
    g[k] = {"kernel": "checksum",
            "args": ["fill-%d" % (2 * j), "fill-%d" % (2 * j + 1), "sleep-%d" % (2 * j),
                     "sleep-%d" % (2 * j + 1)]}
g[hostile] = {"kernel": "noop", "args": sums}
json.dump({"graph": g, "outputs": sums + [hostile]}, open(path, "w"), indent=1)
EOF

# --- the HTML checker ---------------------------------------------------------------------------
cat >"$tmp/check_html.py" <<'EOF'
import html, re, sys
from collections import Counter
from html.parser import HTMLParser

path, ntasks, kernels, hostile, swatch_out = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(","), sys.argv[4], sys.argv[5]
def ok(m): print("ok " + m)
def bad(m, why): print("FAIL %s: %s" % (m, why))

raw = open(path, "rb").read()
try:
    text = raw.decode("utf-8")
    ok("report is valid UTF-8")
except UnicodeDecodeError as e:
    bad("report is valid UTF-8", str(e))
    text = raw.decode("utf-8", "replace")

VOID = {"meta", "br", "hr", "img", "input", "link", "area", "base", "col", "embed", "source",
        "track", "wbr"}
EXTERNAL_TAGS = {"script", "link", "img", "iframe", "object", "embed", "base", "audio", "video",
                 "source", "frame", "image", "use", "foreignobject", "picture"}
URL_ATTRS = {"src", "href", "xlink:href", "srcset", "action", "formaction", "data", "poster",
             "background", "ping", "manifest"}

class Checker(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.external = [], [], []
        self.ids, self.tags = Counter(), Counter()
        self.task_rects = 0
        self.task_titles = []
        self.titles = []
        self.in_title = None
        self.in_style = False
        self.style = ""
        self.last_rect_is_task = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags[tag] += 1
        if tag not in VOID:
            self.stack.append(tag)
        if "id" in a:
            self.ids[a["id"]] += 1
        if tag in EXTERNAL_TAGS:
            self.external.append("<%s> at line %d" % (tag, self.getpos()[0]))
        for k, v in attrs:
            if k in URL_ATTRS or k.startswith("on"):
                self.external.append("%s= on <%s>" % (k, tag))
            if v and re.search(r"url\(|https?:|//|@import|javascript:", v, re.I):
                self.external.append("%s=%r on <%s>" % (k, v[:60], tag))
        if tag == "rect":
            self.last_rect_is_task = (a.get("class") or "").split()[:1] == ["t"]
            self.task_rects += self.last_rect_is_task
        if tag == "title":
            self.in_title = ""
        if tag == "style":
            self.in_style = True

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if tag == "title" and self.in_title is not None:
            self.titles.append(self.in_title)
            if self.stack[-2:-1] == ["rect"] and self.last_rect_is_task:
                self.task_titles.append(self.in_title)
            self.in_title = None
        if tag == "style":
            self.in_style = False
        if not self.stack or self.stack[-1] != tag:
            self.errors.append("</%s> at line %d closes <%s>" % (tag, self.getpos()[0],
                                                               self.stack[-1] if self.stack else "nothing"))
            if tag in self.stack:
                while self.stack and self.stack.pop() != tag:
                    pass
        else:
            self.stack.pop()

    def handle_data(self, data):
        if self.in_title is not None:
            self.in_title += data
        if self.in_style:
            self.style += data

p = Checker()
p.feed(text)
p.close()
if text.startswith("<!DOCTYPE html>"):
    ok("starts with <!DOCTYPE html>")
else:
    bad("starts with <!DOCTYPE html>", repr(text[:40]))
if p.errors or p.stack:
    bad("elements are balanced", "; ".join(p.errors[:5]) + (" unclosed: %s" % p.stack if p.stack else ""))
else:
    ok("elements are balanced (%d elements)" % sum(p.tags.values()))
for t in ("html", "head", "body", "main", "section", "table", "svg"):
    if not p.tags[t]:
        bad("has <%s>" % t, "missing")
ids = ["facts", "task-stream", "utilisation", "memory", "transfers", "kernels", "kernel-legend"]
missing = [i for i in ids if p.ids[i] != 1]
dups = [i for i, n in p.ids.items() if n > 1]
if missing or dups:
    bad("section ids present once", "missing %s, duplicated %s" % (missing, dups))
else:
    ok("section ids present once: " + ", ".join(ids))
if p.task_rects == ntasks:
    ok("one task rectangle per task (%d)" % ntasks)
else:
    bad("one task rectangle per task", "%d rects for %d tasks" % (p.task_rects, ntasks))
seen_k = Counter()
for t in p.task_titles:
    for k in kernels:
        if re.search(r"\n%s on rank \d+ thread \d+" % re.escape(k), t):
            seen_k[k] += 1
if sorted(seen_k) == sorted(kernels) and sum(seen_k.values()) == ntasks:
    ok("task tooltips name their kernel: %s" % dict(seen_k))
else:
    bad("task tooltips name their kernel", "%s of %d titles" % (dict(seen_k), len(p.task_titles)))
# Kernel legend: every kernel, each with its swatch colour (kept for the PNG check).
m = re.search(r'<div class="legend" id="kernel-legend">(.*?)</div>', text, re.S)
legend = {}
if m:
    for col, name in re.findall(r'<span class="sw" style="background:(#[0-9a-f]{6})"></span>([^<]*)</span>', m.group(1)):
        legend[html.unescape(name)] = col
if all(k in legend for k in kernels):
    ok("kernel legend lists %s" % ", ".join("%s %s" % (k, legend[k]) for k in kernels))
else:
    bad("kernel legend lists every kernel", "legend has %s" % legend)
with open(swatch_out, "w") as f:
    f.write(" ".join(legend[k] for k in kernels if k in legend))
m = re.search(r'id="kernels".*?</table>', text, re.S)
if m and all(re.search(r"</span>%s</td>" % re.escape(k), m.group(0)) for k in kernels):
    ok("kernel table lists every kernel")
else:
    bad("kernel table lists every kernel", "not found")
# Facts.
def fact(th):
    m = re.search(r"<th>%s</th><td data-value=\"([0-9.]+)\"" % re.escape(th), text)
    return float(m.group(1)) if m else None
if fact("tasks") == ntasks:
    ok("facts: %d tasks" % ntasks)
else:
    bad("facts: tasks", "found %s" % fact("tasks"))
for th in ("ranks", "hosts", "threads", "bytes moved", "spilled", "wall time", "critical path"):
    if fact(th) is None:
        bad("facts: %s" % th, "missing")
wall, cp = fact("wall time") or 0, fact("critical path") or 0
# sleep-i (2..4 ms) after fill-i, then a checksum and the noop: at least 4 ms on the longest chain.
if wall > 0.004 and 0.004 <= cp <= wall:
    ok("facts: wall time %.4f s, critical path %.4f s" % (wall, cp))
else:
    bad("facts: wall time and critical path", "wall %s, critical path %s" % (wall, cp))
# The HTML key is text in a tooltip, never markup.
if any(hostile in t for t in p.task_titles) and "<script" not in text.lower():
    ok("a key with markup is escaped")
else:
    bad("a key with markup is escaped", "title found: %s, <script in text: %s" %
        (any(hostile in t for t in p.task_titles), "<script" in text.lower()))
if p.external or re.search(r"url\(|@import|@font-face|https?://", p.style + text, re.I):
    bad("no external reference", "; ".join(p.external[:5]) or "url(/@import/http in the page")
else:
    ok("no external reference (scripts, links, images, fonts, url())")
if len(raw) < 5_000_000:
    ok("report size %d bytes" % len(raw))
else:
    bad("report size", "%d bytes" % len(raw))
EOF

# --- the PNG checker: a small decoder (zlib, 8-bit RGB/RGBA, the five filter types) ------------
cat >"$tmp/check_png.py" <<'EOF'
import struct, sys, zlib
from collections import Counter

path, want_w, want_h = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
swatches = sys.argv[4].split() if len(sys.argv) > 4 else []
def ok(m): print("ok " + m)
def bad(m, why): print("FAIL %s: %s" % (m, why))

def decode(data):
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, hdr = 8, [], None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    w, h, depth, ctype, _, _, interlace = hdr
    if depth != 8 or ctype not in (2, 6) or interlace:
        raise ValueError("unsupported PNG: depth %d colour type %d interlace %d" % (depth, ctype, interlace))
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = w * bpp
    out = bytearray(h * stride)
    prev = bytearray(stride)
    for y in range(h):
        base = y * (stride + 1)
        ft = raw[base]
        line = bytearray(raw[base + 1:base + 1 + stride])
        if ft == 1:    # Sub
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif ft == 2:  # Up
            line = bytearray((a + b) & 255 for a, b in zip(line, prev))
        elif ft == 3:  # Average
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 255
        elif ft == 4:  # Paeth
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                pr = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + pr) & 255
        elif ft != 0:
            raise ValueError("bad filter type %d in row %d" % (ft, y))
        out[y * stride:(y + 1) * stride] = line
        prev = line
    return w, h, bpp, out

try:
    w, h, bpp, px = decode(open(path, "rb").read())
except Exception as e:
    bad("screenshot decodes", str(e))
    sys.exit(0)
if (w, h) == (want_w, want_h):
    ok("screenshot decodes: %dx%d, %d bytes per pixel" % (w, h, bpp))
else:
    bad("screenshot size", "%dx%d, expected %dx%d" % (w, h, want_w, want_h))
colors = Counter(zip(px[0::bpp], px[1::bpp], px[2::bpp]))
total = w * h
common = colors.most_common(2)
ink = total - sum(n for _, n in common)
white = colors.get((255, 255, 255), 0)
print("# %d distinct colours; most common %s; %.1f %% other than the two most common, "
      "%.1f %% not white" % (len(colors), common, 100.0 * ink / total, 100.0 * (total - white) / total))
if len(colors) >= 200:
    ok("screenshot has many colours (%d distinct)" % len(colors))
else:
    bad("screenshot has many colours", "%d distinct" % len(colors))
if ink >= 0.03 * total and total - white >= 0.10 * total:
    ok("screenshot is not blank (%.1f %% drawn)" % (100.0 * ink / total))
else:
    bad("screenshot is not blank", "%.2f %% drawn, %.2f %% not white" % (100.0 * ink / total, 100.0 * (total - white) / total))
for sw in swatches:
    rgb = tuple(int(sw[i:i + 2], 16) for i in (1, 3, 5))
    n = sum(c for col, c in colors.items() if max(abs(col[k] - rgb[k]) for k in range(3)) <= 2)
    if n >= 60:
        ok("legend colour %s is drawn (%d pixels)" % (sw, n))
    else:
        bad("legend colour %s is drawn" % sw, "%d pixels" % n)
EOF

CHROME=""
for c in chromium chromium-browser google-chrome; do
  if command -v "$c" >/dev/null 2>&1; then
    CHROME=$(command -v "$c")
    break
  fi
done

# report LABEL HTML -- COMMAND...: runs the job, then checks the report and renders it.
report() {
  local label="$1" out="$2"
  shift 3
  local t0=$SECONDS
  timeout --kill-after=10 "$limit" "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  if [ $rc -ne 0 ] || ! grep -q '"(.sum., 3)": "0x' "$tmp/out"; then
    bad "$label runs" "exit $rc: $(head -c 400 "$tmp/err")"
    return
  fi
  if [ ! -s "$out" ]; then
    bad "$label writes the report" "no $out: $(head -c 400 "$tmp/err")"
    return
  fi
  ok "$label writes the report ($(wc -c <"$out") bytes, $((SECONDS - t0)) s)"
  if ls "$(dirname "$out")" | grep -q '\.tmp-'; then
    bad "$label leaves no temporary file" "$(ls "$(dirname "$out")")"
  fi
  "$PY" "$tmp/check_html.py" "$out" "$ntasks" "$kernels" "$hostile" "$tmp/swatches" \
    >"$tmp/check" 2>&1 || echo "FAIL check_html.py: exit status $?" >>"$tmp/check"
  tally "$label" "$tmp/check"
  if [ -z "$CHROME" ]; then
    echo "SKIP render ($label): chromium is not installed (scripts/install-deps.sh installs it)"
    return
  fi
  local png="$tmp/$(basename "$out" .html).png"
  timeout --kill-after=10 60 "$CHROME" --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --user-data-dir="$tmp/chrome" --screenshot="$png" --window-size=1400,2000 \
    "file://$out" >"$tmp/chrome.log" 2>&1
  rc=$?
  if [ $rc -ne 0 ] || [ ! -s "$png" ]; then
    bad "$label renders in Chromium" "exit $rc: $(tail -c 400 "$tmp/chrome.log")"
    return
  fi
  ok "$label renders in Chromium"
  "$PY" "$tmp/check_png.py" "$png" 1400 2000 "$(cat "$tmp/swatches" 2>/dev/null)" \
    >"$tmp/check" 2>&1 || echo "FAIL check_png.py: exit status $?" >>"$tmp/check"
  tally "$label" "$tmp/check"
}

mkdir -p "$tmp/alone" "$tmp/np3" "$tmp/env"
report "alone" "$tmp/alone/report.html" -- "$B/dagr" run --report "$tmp/alone/report.html" \
  "$tmp/graph.json"
report "-np 3" "$tmp/np3/report.html" -- $MPIRUN -np 3 "$B/dagr" run --report \
  "$tmp/np3/report.html" "$tmp/graph.json"
# DAGR_REPORT asks for the same report without the option.
DAGR_REPORT="$tmp/env/report.html" timeout --kill-after=10 "$limit" "$B/dagr" run \
  "$tmp/graph.json" >"$tmp/out" 2>"$tmp/err"
if [ -s "$tmp/env/report.html" ] && grep -q 'id="task-stream"' "$tmp/env/report.html"; then
  ok "DAGR_REPORT writes the report"
else
  bad "DAGR_REPORT writes the report" "$(head -c 300 "$tmp/err")"
fi
# A report that cannot be written is named in a message, and nothing appears.
bad_path="$tmp/no-such-dir/report.html"
timeout --kill-after=10 "$limit" $MPIRUN -np 3 "$B/dagr" run --report "$bad_path" \
  "$tmp/graph.json" >"$tmp/out" 2>&1
if grep -qF "$bad_path" "$tmp/out" && [ ! -e "$tmp/no-such-dir" ]; then
  ok "an unwritable report is an error naming it"
else
  bad "an unwritable report is an error naming it" "$(head -c 400 "$tmp/out")"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
