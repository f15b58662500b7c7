// Drive the official @telnyx/webrtc SDK in headless Chromium against an rtcload emulator.
//
// Why: the acceptance test for the emulator is "the real SDK logs in and completes calls". This
// script serves a tiny page plus the SDK bundle on 127.0.0.1, launches Debian's Chromium through
// playwright-core, runs ONE scenario, and prints one JSON object per line on stdout:
//   {"event": "...", "t_ms": <page ms since start>, ...}   (SDK state changes, errors, stats, ...)
//   {"result": {...}, "ok": true|false}                     (always last)
// Exit code 0 when the scenario succeeded.
//
// Usage: node harness.mjs <outbound|jwt|inbound|remote-bye> --url ws://127.0.0.1:PORT/
//          [--login L] [--password P] [--token JWT] [--dest echo] [--hold] [--hold-for S] [--dtmf 123]
//          [--stay 3] [--timeout 25] [--hangup local|remote] [--call-reports]
// Network: the page only talks to 127.0.0.1 (iceServers: [], no call reports); run it inside
// `unshare --net` with lo up to make that a guarantee.

import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = dirname(fileURLToPath(import.meta.url));
const BUNDLE = join(HERE, 'node_modules', '@telnyx', 'webrtc', 'lib', 'bundle.js');

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--allow-loopback-in-peer-connection',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--autoplay-policy=no-user-gesture-required',
];

function parseArgs(argv) {
  const opts = {
    scenario: argv[0],
    url: '',
    login: 'sdk-user',
    password: 'sdk-pass',
    token: '',
    dest: 'echo',
    hold: false,
    holdFor: 0, // seconds held before unhold, with getStats at both ends of the held time
    dtmf: '',
    stay: 3,
    timeout: 25,
    hangup: 'local',
    callReports: false,
    fakeAudio: '', // a WAV file Chromium captures instead of its beep (the twin test feeds both clients one file)
    trickle: false, // newCall({trickleIce: true})
  };
  for (let i = 1; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, '');
    if (key === 'hold') {
      opts.hold = true;
      continue;
    }
    if (key === 'trickle') {
      opts.trickle = true;
      continue;
    }
    if (key === 'call-reports') {
      opts.callReports = true; // the SDK uploads only if REGED carried call_report_id
      continue;
    }
    const value = argv[++i];
    if (value === undefined) throw new Error(`missing value for --${key}`);
    if (key === 'stay' || key === 'timeout') opts[key] = Number(value);
    else if (key === 'hold-for') opts.holdFor = Number(value);
    else if (key === 'fake-audio') opts.fakeAudio = value;
    else if (key in opts) opts[key] = value;
    else throw new Error(`unknown option --${key}`);
  }
  if (!['outbound', 'jwt', 'inbound', 'remote-bye'].includes(opts.scenario)) {
    throw new Error(`unknown scenario ${opts.scenario}`);
  }
  if (!/^wss?:\/\//.test(opts.url)) throw new Error('--url must be ws://host:port/ (the SDK turns bare hosts into wss://)');
  if (opts.scenario === 'jwt' && !opts.token) throw new Error('jwt needs --token');
  if (opts.scenario === 'remote-bye' && opts.dest === 'echo') opts.dest = 'echo;hangup=2';
  return opts;
}

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

const PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>rtcload sdk harness</title></head>
<body><audio id="remote" autoplay></audio><script src="/bundle.js"></script></body></html>`;

async function serve(bundle) {
  const server = createServer((req, res) => {
    if (req.url === '/bundle.js') {
      res.writeHead(200, { 'content-type': 'application/javascript' });
      res.end(bundle);
    } else if (req.url === '/' || req.url === '/index.html') {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(PAGE);
    } else if (req.url === '/favicon.ico') {
      res.writeHead(204);
      res.end();
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

// Installed before the bundle runs: wraps WebSocket so we can see the gateway state the SDK
// received (it has no public event for it) without changing what goes on the wire.
function initScript() {
  const Native = window.WebSocket;
  window.__wire = { gatewayStates: [], inMethods: [], outMethods: [], acks: [] };
  const serverRequests = new Map(); // id of a server->SDK request -> its method, to name the SDK's acks
  class Tapped extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (ev) => {
        try {
          const msg = JSON.parse(ev.data);
          const state = msg && msg.result && msg.result.params && msg.result.params.state;
          if (state) {
            window.__wire.gatewayStates.push(state);
            window.__emit && window.__emit({ event: 'gatewayState', state });
          }
          if (msg && msg.method) {
            window.__wire.inMethods.push(msg.method);
            if (msg.id !== undefined) serverRequests.set(msg.id, msg.method);
          }
        } catch (_) {
          /* not JSON: ignore */
        }
      });
    }
    send(data) {
      try {
        const msg = JSON.parse(data);
        if (msg && msg.method) window.__wire.outMethods.push(msg.method);
        if (msg && msg.method === 'login') {
          const ua = msg.params && msg.params['User-Agent'];
          window.__wire.sdkVersion = ua && ua.sdkVersion;
        }
        else if (msg && 'result' in msg && serverRequests.has(msg.id)) window.__wire.acks.push(serverRequests.get(msg.id));
      } catch (_) {
        /* ignore */
      }
      return super.send(data);
    }
  }
  window.WebSocket = Tapped;
}

// Runs inside the page. Everything the scenario does with the SDK lives here.
async function pageScenario(opts) {
  const t0 = performance.now();
  const now = () => Math.round((performance.now() - t0) * 10) / 10;
  const log = (event, extra = {}) => window.__emit({ event, t_ms: now(), ...extra });
  const timings = {};
  const mark = (name) => {
    if (!(name in timings)) timings[name] = now();
  };
  const errors = [];
  const warnings = [];
  const states = [];

  const waiter = () => {
    let resolve;
    const promise = new Promise((r) => (resolve = r));
    return { promise, resolve };
  };
  const withTimeout = (promise, ms, what) =>
    Promise.race([
      promise,
      new Promise((_, reject) => setTimeout(() => reject(new Error(`timeout waiting for ${what}`)), ms)),
    ]);

  const { TelnyxRTC } = window.TelnyxWebRTC;
  const options = { host: opts.url, iceServers: [], enableCallReports: opts.callReports };
  if (opts.scenario === 'jwt') options.login_token = opts.token;
  else Object.assign(options, { login: opts.login, password: opts.password });

  const client = new TelnyxRTC(options);
  client.remoteElement = 'remote';
  const ready = waiter();
  const callStates = new Map(); // call id -> waiters by state
  const incoming = waiter();

  const stateWaiter = (id, state) => {
    if (!callStates.has(id)) callStates.set(id, new Map());
    const byState = callStates.get(id);
    if (!byState.has(state)) byState.set(state, waiter());
    return byState.get(state);
  };

  client.on('telnyx.socket.open', () => {
    mark('socket_open');
    log('socket.open');
  });
  client.on('telnyx.socket.close', () => log('socket.close'));
  client.on('telnyx.socket.error', () => log('socket.error'));
  client.on('telnyx.ready', () => {
    mark('ready');
    log('ready');
    ready.resolve();
  });
  client.on('telnyx.error', (e) => {
    const err = e && e.error ? e.error : e;
    const item = { code: err && err.code, message: err && (err.message || String(err)) };
    errors.push(item);
    log('error', item);
  });
  client.on('telnyx.warning', (w) => {
    const warn = w && w.warning ? w.warning : w;
    const item = { code: warn && warn.code, message: warn && warn.message };
    warnings.push(item);
    log('warning', item);
  });
  client.on('telnyx.notification', (n) => {
    if (!n || n.type !== 'callUpdate' || !n.call) {
      log('notification', { type: n && n.type });
      return;
    }
    const call = n.call;
    states.push(call.state);
    mark(`call_${call.state}`);
    log('callUpdate', {
      call_id: call.id,
      state: call.state,
      direction: call.direction,
      cause: call.cause,
      causeCode: call.causeCode,
      sipCode: call.sipCode,
    });
    if (call.direction === 'inbound' && call.state === 'ringing') incoming.resolve(call);
    stateWaiter(call.id, call.state).resolve(call);
  });

  const stats = async (call) => {
    const pc = call.peer && call.peer.instance;
    if (!pc) return { error: 'no call.peer.instance' };
    const report = await pc.getStats();
    const out = { inbound: null, outbound: null, pair: null };
    report.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'audio') {
        out.inbound = {
          packetsReceived: s.packetsReceived,
          bytesReceived: s.bytesReceived,
          packetsLost: s.packetsLost,
          jitter: s.jitter,
          audioLevel: s.audioLevel,
          totalAudioEnergy: s.totalAudioEnergy,
        };
      } else if (s.type === 'outbound-rtp' && s.kind === 'audio') {
        out.outbound = { packetsSent: s.packetsSent, bytesSent: s.bytesSent };
      } else if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') {
        out.pair = { currentRoundTripTime: s.currentRoundTripTime };
      }
    });
    report.forEach((s) => {
      if (s.type === 'local-candidate' || s.type === 'remote-candidate') {
        out.candidates = out.candidates || [];
        out.candidates.push({ type: s.type, address: s.address || s.ip, port: s.port, protocol: s.protocol });
      }
    });
    return out;
  };

  const result = { scenario: opts.scenario, timings, states, errors, warnings };
  const ms = opts.timeout * 1000;
  client.connect();
  await withTimeout(ready.promise, ms, 'telnyx.ready');

  let call;
  if (opts.scenario === 'inbound') {
    log('waiting_incoming', { login: opts.login });
    call = await withTimeout(incoming.promise, ms, 'incoming call');
    result.remote_caller = { name: call.options.remoteCallerName, number: call.options.remoteCallerNumber };
    mark('answer_called');
    call.answer();
  } else {
    mark('newCall');
    const callOptions = { destinationNumber: opts.dest, audio: true, video: false };
    if (opts.trickle) callOptions.trickleIce = true;
    call = client.newCall(callOptions);
  }
  result.call_id = call.id;
  result.direction = call.direction;
  await withTimeout(stateWaiter(call.id, 'active').promise, ms, 'active call');
  const hangupW = stateWaiter(call.id, 'hangup');
  const destroyW = stateWaiter(call.id, 'destroy');

  if (opts.hold) {
    if (opts.holdFor > 0) {
      // hold once the platform's audio flows, so that "nothing arrives while held" means it stopped
      const until = performance.now() + ms;
      const heard = async () => ((await stats(call)).inbound || {}).packetsReceived > 0;
      while (!(await heard()) && performance.now() < until) await new Promise((r) => setTimeout(r, 100));
      result.audio_before_hold = await heard();
    }
    await call.hold();
    await withTimeout(stateWaiter(call.id, 'held').promise, ms, 'held');
    result.held = true;
    if (opts.holdFor > 0) {
      // what flows while held: the SDK's hold is signaling only, so its own RTP keeps going out
      await new Promise((r) => setTimeout(r, 500)); // packets in flight at the hold drain first
      const start = await stats(call);
      await new Promise((r) => setTimeout(r, opts.holdFor * 1000));
      result.hold_stats = { start, end: await stats(call), seconds: opts.holdFor };
    }
    // a second "active" waiter: the first one already resolved
    callStates.get(call.id).delete('active');
    await call.unhold();
    await withTimeout(stateWaiter(call.id, 'active').promise, ms, 'unheld');
    result.unheld = true;
  }
  for (const digit of opts.dtmf) {
    call.dtmf(digit);
    log('dtmf', { digit });
  }
  result.dtmf_sent = opts.dtmf;

  // Stay on the call; for remote-bye / remote hangup the call may end during the stay.
  // getStats is sampled every 500 ms so a call the remote ends early still has its last sample.
  const stayUntil = performance.now() + opts.stay * 1000;
  let ended = false;
  hangupW.promise.then(() => (ended = true));
  result.stats = null;
  while (!ended && performance.now() < stayUntil) {
    const sample = await stats(call).catch((e) => ({ error: String(e) }));
    if (!ended && sample && !sample.error) result.stats = sample;
    await Promise.race([hangupW.promise, new Promise((r) => setTimeout(r, 500))]);
  }
  if (!ended) {
    const sample = await stats(call).catch((e) => ({ error: String(e) }));
    if (sample && !sample.error) result.stats = sample;
  }
  log('stats', result.stats || { error: 'no getStats sample' });

  if (!ended) {
    if (opts.hangup === 'remote' || opts.scenario === 'remote-bye') {
      log('waiting_remote_hangup');
      await withTimeout(hangupW.promise, ms, 'remote hangup');
      result.ended_by = 'remote';
    } else {
      mark('hangup_called');
      call.hangup();
      result.ended_by = 'local';
    }
  } else {
    result.ended_by = 'remote';
  }
  await withTimeout(destroyW.promise, ms, 'destroy');
  result.cause = call.cause;
  result.causeCode = call.causeCode;
  result.sipCode = call.sipCode;
  result.wire = window.__wire;
  client.disconnect();
  return result;
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    emit({ result: { error: String(e.message || e) }, ok: false });
    process.exit(2);
  }
  const bundle = await readFile(BUNDLE, 'utf8');
  const server = await serve(bundle);
  const pageUrl = `http://127.0.0.1:${server.address().port}/`;
  const userDataDir = await mkdtemp(join(tmpdir(), 'rtcload-sdk-'));
  let context;
  let outcome = { result: null, ok: false };
  const watchdog = setTimeout(() => {
    emit({ result: { error: 'harness watchdog expired' }, ok: false });
    process.exit(3);
  }, (opts.timeout + opts.stay + 30) * 1000);
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      headless: true,
      args: opts.fakeAudio ? [...CHROMIUM_ARGS, `--use-file-for-fake-audio-capture=${opts.fakeAudio}`] : CHROMIUM_ARGS,
    });
    const page = context.pages()[0] || (await context.newPage());
    await page.exposeFunction('__emit', (obj) => emit(obj));
    page.on('console', (msg) => {
      const type = msg.type();
      if (type === 'error' || type === 'warning') emit({ event: 'console', level: type, text: msg.text().slice(0, 300) });
    });
    page.on('pageerror', (err) => emit({ event: 'pageerror', text: String(err).slice(0, 300) }));
    await page.addInitScript(initScript);
    await page.goto(pageUrl);
    await page.waitForFunction(() => !!window.TelnyxWebRTC);
    emit({ event: 'page_loaded', chromium: context.browser() ? context.browser().version() : null });
    const result = await page.evaluate(pageScenario, opts);
    outcome = { result, ok: true };
  } catch (e) {
    outcome = { result: { error: String((e && e.message) || e).split('\n')[0] }, ok: false };
  } finally {
    clearTimeout(watchdog);
    if (context) await context.close().catch(() => {});
    server.close();
    await rm(userDataDir, { recursive: true, force: true }).catch(() => {});
  }
  emit(outcome);
  process.exit(outcome.ok ? 0 : 1);
}

main();
