// Drive rtcload's live Quality view (inside Locust's web UI) in headless Chromium during a real run.
//
// Why: the view is JavaScript drawing SVG from /quality/data; only a browser shows that it loads, draws
// points while the run runs, and ends on the figures summary.json will have. Prints JSON lines on stdout:
//   {"phase": "during", ...}  the view while the test runs: charts, their point counts and last values
//   {"phase": "locust", ...}  Locust's own page: the Quality tab and its table, the link to the view
//   {"phase": "final", ...}   the view once the run stopped and no new point came for --settle seconds
//   {"ok": true|false, "error": ...}  (always last)
// Usage: node live_view.mjs --url http://127.0.0.1:PORT [--screenshot PATH] [--tab-screenshot PATH]
//          [--timeout 80] [--settle 8]
// Network: only the given loopback URL is visited; the page loads nothing else (no CDN).

import { chromium } from 'playwright-core';

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

function parseArgs(argv) {
  const opts = { url: '', screenshot: '', tabScreenshot: '', timeout: 80, settle: 8 };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '').replace(/-(\w)/g, (_, c) => c.toUpperCase());
    if (!(key in opts)) throw new Error(`unknown option ${argv[i]}`);
    opts[key] = typeof opts[key] === 'number' ? Number(argv[i + 1]) : argv[i + 1];
  }
  if (!opts.url.startsWith('http://127.0.0.1:')) throw new Error('--url must be http://127.0.0.1:PORT');
  return opts;
}

const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

// What the view shows, read from its DOM (every chart and series carries data-* attributes).
function readView() {
  const charts = {};
  for (const svg of document.querySelectorAll('svg[data-chart]')) {
    const series = {};
    for (const line of svg.querySelectorAll('polyline[data-series]')) {
      series[line.dataset.series] = { points: Number(line.dataset.points),
        last: line.dataset.last === '' ? null : Number(line.dataset.last) };
    }
    charts[svg.dataset.chart] = { points: Number(svg.dataset.points), series };
  }
  const worst = document.querySelector('#worst table');
  return {
    state: document.getElementById('state').textContent,
    seq: Number(document.body.dataset.seq || 0),
    charts,
    tiles: Object.fromEntries([...document.querySelectorAll('[data-tile]')].map((t) => [t.dataset.tile, t.querySelector('b').textContent])),
    worstHeader: worst ? [...worst.querySelectorAll('th')].map((th) => th.textContent) : [],
    worstLinks: worst ? [...worst.querySelectorAll('a')].map((a) => a.getAttribute('href')).slice(0, 3) : [],
    processes: document.querySelectorAll('#processes th').length - 1,
  };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const deadline = Date.now() + opts.timeout * 1000;
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, args: ARGS });
  const foreign = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1680, height: 1000 } });
    page.on('request', (req) => { if (!req.url().startsWith(opts.url)) foreign.push(req.url()); });
    page.on('pageerror', (err) => emit({ event: 'pageerror', text: String(err).slice(0, 300) }));
    await page.goto(`${opts.url}/quality`);
    // during the run: the MOS chart has at least two points while the state is running
    await page.waitForFunction(() => {
      const svg = document.querySelector('svg[data-chart="mos"]');
      return svg && Number(svg.dataset.points) >= 2 && /running|spawning/.test(document.getElementById('state').textContent);
    }, null, { timeout: Math.max(1000, deadline - Date.now()), polling: 500 });
    emit({ phase: 'during', ...(await page.evaluate(readView)) });

    const locust = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    locust.on('request', (req) => { if (!req.url().startsWith(opts.url)) foreign.push(req.url()); });
    await locust.goto(`${opts.url}/?tab=rtcload-quality`);
    await locust.waitForFunction(() => [...document.querySelectorAll('td')].some((td) => td.textContent.startsWith('MOS')),
      null, { timeout: 20000, polling: 500 });
    emit({ phase: 'locust', tabs: await locust.$$eval('[role="tab"]', (els) => els.map((e) => e.textContent)),
      rows: await locust.$$eval('tr', (rows) => rows.slice(0, 4).map((r) => r.textContent)),
      link: await locust.$eval('#rtcload-quality-link', (a) => a.getAttribute('href')).catch(() => null) });
    if (opts.tabScreenshot) await locust.screenshot({ path: opts.tabScreenshot });
    await locust.close();

    // the end: stopped, then no new point for `settle` seconds (every worker's last report is in)
    await page.waitForFunction(() => document.getElementById('state').textContent === 'stopped', null,
      { timeout: Math.max(1000, deadline - Date.now()), polling: 500 });
    let seq = -1;
    let since = Date.now();
    while (Date.now() - since < opts.settle * 1000) {
      if (Date.now() > deadline) throw new Error('the view kept changing until the deadline');
      const now = await page.evaluate(() => Number(document.body.dataset.seq || 0));
      if (now !== seq) { seq = now; since = Date.now(); }
      await page.waitForTimeout(500);
    }
    const view = await page.evaluate(readView);
    // the first worst call's link: its calls.csv row as the master holds it (header + row)
    const worstRow = view.worstLinks.length ? await page.evaluate(async (href) => (await fetch(href)).text(), view.worstLinks[0]) : '';
    emit({ phase: 'final', ...view, worstRow });
    if (opts.screenshot) await page.screenshot({ path: opts.screenshot, fullPage: true });
    emit({ ok: foreign.length === 0, foreign: foreign.slice(0, 5) });
  } catch (e) {
    emit({ ok: false, error: String((e && e.message) || e).split('\n')[0] });
  } finally {
    await browser.close();
  }
}

main();
