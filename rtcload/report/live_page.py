# ruff: noqa: E501 -- the page's JavaScript is in strings; it is wrapped for reading, not to 120 columns
"""The live Quality page served inside Locust's web UI: one self-contained HTML document (inline CSS, vanilla JS,
inline SVG charts; no CDN, no network beyond its own `/quality/data` polls).

It polls `quality/data?since=SEQ` every 2 s, keeps the points, and redraws: MOS p50/p5; jitter, RTT and loss
p50/p95 at sub-millisecond precision; post-dial delay and call setup p50/p95; calls in progress, answered
and failed by cause; offered vs achieved CPS (open model); generator health (CPU, loop lag, send clock, and
any further figure a process reports, e.g. send gaps or stalls); the worst calls, each linked to its
calls.csv row. Every chart and series carries data-* attributes (points, last value) for tests.
"""

from __future__ import annotations

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:16px 24px;color:#222;background:#fafafa}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:22px 0 6px;border-bottom:1px solid #ddd}
a{color:#1565c0} .muted{color:#666} #state{font-weight:600}
.tiles{display:flex;flex-wrap:wrap;gap:8px;margin:10px 0}
.tile{background:#fff;border:1px solid #ddd;border-radius:6px;padding:6px 10px;min-width:120px}
.tile b{display:block;font-size:18px;font-variant-numeric:tabular-nums} .tile span{font-size:12px;color:#555}
.charts{display:flex;flex-wrap:wrap;gap:10px}
.chart{background:#fff;border:1px solid #ddd;border-radius:6px;padding:4px}
.chart svg text{font:11px sans-serif;fill:#444} .chart .title{font:600 13px sans-serif;fill:#222}
table{border-collapse:collapse;background:#fff;margin:6px 0} td,th{border:1px solid #ddd;padding:3px 8px;white-space:nowrap}
th{background:#f0f0f0;text-align:left} td.num{text-align:right;font-variant-numeric:tabular-nums}
"""

SCRIPT = r"""
const BASE = location.pathname.replace(/\/quality\/?$/, '');
const COLORS = ['#1f77b4','#d62728','#2ca02c','#ff7f0e','#9467bd','#8c564b','#e377c2','#17becf','#7f7f7f','#bcbd22'];
const NAMED = {'in progress': '#1f77b4', 'answered': '#2ca02c', 'failed': '#d62728'};  // answered is never red
let points = [], lastSeq = 0, data = null;
const esc = s => String(s ?? '').replace(/[&<>"']/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c]));
const num = v => (v === null || v === undefined || v === '' || isNaN(Number(v))) ? null : Number(v);
const fmt = (v, d, unit) => v === null || v === undefined ? '-' : Number(v).toFixed(d) + (unit || '');
const M = (k, s) => p => { const m = p.metrics && p.metrics[k]; return m && m[s] !== null && m[s] !== undefined ? m[s] : null; };
const ms = f => p => { const v = f(p); return v === null ? null : v * 1000; };
const pct = f => p => { const v = f(p); return v === null ? null : v * 100; };

function healthKeys() {  // extra health figures (send gaps, stalls, ...) as they appear, by name
  const keys = new Set();
  for (const p of points) for (const k of Object.keys(p.health || {}))
    if (/gap|stall/i.test(k)) keys.add(k);
  return [...keys].sort();
}
function causes() {
  const keys = new Set();
  for (const p of points) for (const k of Object.keys((p.calls || {}).failed_by_cause || {})) keys.add(k);
  return [...keys].sort();
}

function specs() {
  const out = [
    {id: 'mos', title: 'MOS (E-model), run so far', unit: '', d: 2, yMin: 1, yMax: 5,
     series: [['p50', M('mos', 'p50')], ['p5', M('mos', 'p5')]]},
    {id: 'jitter', title: 'Jitter (ms)', unit: ' ms', d: 3, series: [['p50', ms(M('jitter', 'p50'))], ['p95', ms(M('jitter', 'p95'))]]},
    {id: 'rtt', title: 'RTT (ms)', unit: ' ms', d: 3, series: [['p50', ms(M('rtt', 'p50'))], ['p95', ms(M('rtt', 'p95'))]]},
    {id: 'packet_loss', title: 'Packet loss (%)', unit: ' %', d: 3,
     series: [['p50', pct(M('packet_loss', 'p50'))], ['p95', pct(M('packet_loss', 'p95'))]]},
    {id: 'setup', title: 'Post-dial delay and call setup (ms)', unit: ' ms', d: 1,
     series: [['post-dial p50', ms(M('post_dial_delay', 'p50'))], ['post-dial p95', ms(M('post_dial_delay', 'p95'))],
              ['setup p50', ms(M('call_setup', 'p50'))], ['setup p95', ms(M('call_setup', 'p95'))]]},
    {id: 'calls', title: 'Calls', unit: '', d: 0,
     series: [['in progress', p => (p.calls || {}).in_progress ?? null], ['answered', p => (p.calls || {}).answered ?? null],
              ['failed', p => (p.calls || {}).failed ?? null],
              ...causes().map(c => ['failed: ' + c, p => (((p.calls || {}).failed_by_cause || {})[c]) || 0])]},
  ];
  if (points.some(p => p.cps))
    out.push({id: 'cps', title: 'Calls per second: offered vs achieved', unit: '/s', d: 2,
      series: [['offered', p => p.cps ? p.cps.offered : null], ['achieved', p => p.cps ? p.cps.achieved : null]]});
  const H = k => p => (p.health || {})[k] ?? null;
  out.push({id: 'cpu', title: 'Generator CPU (busiest process, % of a core)', unit: ' %', d: 0,
    series: [['cpu', pct(H('cpu'))]]});
  const lag = p => { const a = H('loop_lag_asyncio_p99_s')(p), g = H('loop_lag_gevent_p99_s')(p);
                     return a === null && g === null ? null : Math.max(a || 0, g || 0) * 1000; };
  const extra = healthKeys();
  out.push({id: 'health', title: 'Generator timing (ms, worst process, last 10 s)', unit: ' ms', d: 2,
    series: [['loop lag p99', lag], ['send clock late p99', ms(H('send_late_p99_s'))],
             ...extra.filter(k => k.endsWith('_s')).map(k => [k, ms(H(k))])]});
  const counts = extra.filter(k => !k.endsWith('_s'));
  if (counts.length) out.push({id: 'health_counts', title: 'Generator send gaps / stalls', unit: '', d: 0,
    series: counts.map(k => [k, H(k)])});
  return out;
}

function svgChart(spec) {
  const W = 540, H = 210, L = 58, R = 12, T = 22, B = 48;
  const series = spec.series.map(([name, get], i) => ({name, color: NAMED[name] || COLORS[i % COLORS.length],
    pts: points.map(p => [p.t, num(get(p))]).filter(([, v]) => v !== null)}));
  const all = series.flatMap(s => s.pts);
  const n = Math.max(0, ...series.map(s => s.pts.length));
  let x0 = Math.min(...all.map(q => q[0])), x1 = Math.max(...all.map(q => q[0]));
  let y0 = spec.yMin ?? Math.min(0, ...all.map(q => q[1])), y1 = spec.yMax ?? Math.max(...all.map(q => q[1]));
  if (!all.length) { x0 = 0; x1 = 1; y0 = spec.yMin ?? 0; y1 = spec.yMax ?? 1; }
  if (x1 <= x0) x1 = x0 + 1;
  if (y1 <= y0) y1 = y0 + (Math.abs(y0) || 1);
  else if (spec.yMax === undefined) y1 += (y1 - y0) * 0.08;
  const X = x => L + (x - x0) / (x1 - x0) * (W - L - R), Y = y => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
  let g = `<text class="title" x="${L}" y="14">${esc(spec.title)}</text>`;
  for (let i = 0; i <= 4; i++) {
    const y = y0 + (y1 - y0) * i / 4, x = x0 + (x1 - x0) * i / 4;
    g += `<line x1="${L}" x2="${W - R}" y1="${Y(y)}" y2="${Y(y)}" stroke="#eee"/>`;
    g += `<text x="${L - 4}" y="${Y(y) + 4}" text-anchor="end">${fmt(y, spec.d > 1 && (y1 - y0) < 1 ? spec.d : Math.min(spec.d, 1))}</text>`;
    g += `<text x="${X(x)}" y="${H - B + 14}" text-anchor="middle">${Math.round(x)}s</text>`;
  }
  series.forEach((s, i) => {
    const last = s.pts.length ? s.pts[s.pts.length - 1][1] : '';
    g += `<polyline data-series="${esc(s.name)}" data-points="${s.pts.length}" data-last="${last}" fill="none" ` +
         `stroke="${s.color}" stroke-width="1.8" points="${s.pts.map(([x, y]) => X(x).toFixed(1) + ',' + Y(y).toFixed(1)).join(' ')}"/>`;
    if (s.pts.length === 1) g += `<circle cx="${X(s.pts[0][0])}" cy="${Y(s.pts[0][1])}" r="2.5" fill="${s.color}"/>`;
    const lx = L + (i % 3) * 160, ly = H - 20 + Math.floor(i / 3) * 13;
    g += `<rect x="${lx}" y="${ly - 8}" width="10" height="3" fill="${s.color}"/>` +
         `<text x="${lx + 14}" y="${ly - 3}">${esc(s.name)}: ${last === '' ? '-' : fmt(last, spec.d, spec.unit)}</text>`;
  });
  const h = H + Math.max(0, Math.ceil(series.length / 3) - 1) * 13;
  return `<div class="chart"><svg data-chart="${spec.id}" data-points="${n}" width="${W}" height="${h}" viewBox="0 0 ${W} ${h}">${g}</svg></div>`;
}

function tiles(p) {
  if (!p) return '<p class="muted">No point yet: the first arrives 2 s after the test starts.</p>';
  const c = p.calls || {}, m = k => M(k[0], k[1])(p);
  const t = [
    ['MOS p50', fmt(m(['mos', 'p50']), 2)], ['MOS p5', fmt(m(['mos', 'p5']), 2)],
    ['jitter p95', fmt(ms(M('jitter', 'p95'))(p), 3, ' ms')], ['RTT p95', fmt(ms(M('rtt', 'p95'))(p), 3, ' ms')],
    ['loss p95', fmt(pct(M('packet_loss', 'p95'))(p), 3, ' %')],
    ['post-dial p95', fmt(ms(M('post_dial_delay', 'p95'))(p), 1, ' ms')], ['setup p95', fmt(ms(M('call_setup', 'p95'))(p), 1, ' ms')],
    ['calls in progress', fmt(c.in_progress, 0)], ['answered', fmt(c.answered, 0)], ['failed', fmt(c.failed, 0)],
    ['users', fmt(p.users, 0)], ['generator CPU', fmt(((p.health || {}).cpu ?? null) === null ? null : p.health.cpu * 100, 0, ' %')],
  ];
  if (p.cps) t.push(['CPS offered / achieved', fmt(p.cps.offered, 2) + ' / ' + fmt(p.cps.achieved, 2)]);
  const sampled = Object.values(p.metrics || {}).map(e => e.sampled_from).filter(n => n);  // live/values.py
  if (sampled.length) t.push(['percentiles from a uniform sample of', fmt(Math.min(...sampled), 0) + ' values']);
  return t.map(([k, v]) => `<div class="tile" data-tile="${esc(k)}"><b>${esc(v)}</b><span>${esc(k)}</span></div>`).join('');
}

function table(columns, rows, cell) {
  if (!rows.length) return '<p class="muted">none yet</p>';
  return '<table><tr>' + columns.map(c => `<th>${esc(c)}</th>`).join('') + '</tr>' +
    rows.map(r => '<tr>' + columns.map(c => cell(c, r)).join('') + '</tr>').join('') + '</table>';
}

function worstCell(c, r) {
  const v = r[c], n = num(v);
  if (c === 'call_id') return `<td><a href="${BASE}/quality/call.csv?id=${encodeURIComponent(v)}" title="its calls.csv row">${esc(v)}</a></td>`;
  if (c === 'recording' && v) return `<td><a href="${esc(v)}">recording</a></td>`;
  if (c === 'mos_mean' && n === null) return '<td title="answered, but no MOS was rated: no RTP came back">no MOS</td>';
  if (n === null) return `<td>${esc(v)}</td>`;
  if (c.startsWith('mos') || c.startsWith('audio')) return `<td class="num">${n.toFixed(2)}</td>`;
  if (c === 'loss_ratio_mean') return `<td class="num">${(n * 100).toFixed(3)} %</td>`;
  if (c.endsWith('_s')) return `<td class="num">${(n * 1000).toFixed(3)} ms</td>`;
  return `<td>${esc(v)}</td>`;
}

function render() {
  const p = points.length ? points[points.length - 1] : null;
  document.getElementById('state').textContent = data ? data.state : '';
  document.getElementById('tiles').innerHTML = tiles(p);
  document.getElementById('charts').innerHTML = points.length ? specs().map(svgChart).join('') : '';
  const fc = p ? Object.entries((p.calls || {}).failed_by_cause || {}) : [];
  document.getElementById('causes').innerHTML = table(['cause', 'calls'], fc.map(([k, v]) => ({cause: k, calls: v})),
    (c, r) => `<td${c === 'calls' ? ' class="num"' : ''}>${esc(r[c])}</td>`);
  const procs = Object.entries((data && data.processes) || {});
  const keys = [...new Set(procs.flatMap(([, h]) => Object.keys(h)))].sort();
  document.getElementById('processes').innerHTML = table(['figure', ...procs.map(([t]) => t)],
    keys.map(k => ({figure: k, ...Object.fromEntries(procs.map(([t, h]) => [t, h[k]]))})),
    (c, r) => { const v = r[c], n = typeof v === 'number' ? v : null;
      return c === 'figure' ? `<td>${esc(v)}</td>` : `<td class="num">${n === null ? esc(v) : (Number.isInteger(n) ? n : n.toPrecision(4))}</td>`; });
  const w = (data && data.worst) || {columns: [], rows: []};
  document.getElementById('worst').innerHTML = table(w.columns, w.rows, worstCell);
}

async function poll() {
  try {
    const r = await fetch(`${BASE}/quality/data?since=${lastSeq}`, {cache: 'no-store'});
    if (r.ok) {
      data = await r.json();
      if (data.points.length && data.points[0].seq <= lastSeq) points = [];  // a new test started over
      points.push(...data.points);
      if (points.length) lastSeq = points[points.length - 1].seq;
      if (points.length > 3600) points = points.filter((_, i) => i % 2 === 0 || i > points.length / 2);
      render();
      document.body.dataset.seq = String(lastSeq);
    }
  } catch (e) { document.getElementById('state').textContent = 'no connection: ' + e; }
}
poll();
setInterval(poll, 2000);
"""

BODY = """
<h1>Call quality <span class="muted">(rtcload, live)</span></h1>
<div class="muted">state: <span id="state"></span> &middot; <a href="./">Locust</a> &middot;
<a href="./quality/history.csv">quality history CSV</a> &middot; figures are the run so far (nearest-rank
percentiles of every sample, as summary.json computes them); health is the last 10 s</div>
<div class="tiles" id="tiles"></div>
<div class="charts" id="charts"></div>
<h2>Failed calls by cause</h2><div id="causes"></div>
<h2>Generator health per process</h2><div id="processes"></div>
<h2>Worst calls so far</h2>
<div class="muted">answered calls, lowest MOS first (then loss, then jitter); the call id opens its calls.csv row</div>
<div id="worst"></div>
"""


def render_page() -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>rtcload: call quality</title>'
        f"<style>{CSS}</style></head><body>{BODY}<script>{SCRIPT}</script></body></html>"
    )
