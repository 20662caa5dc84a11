// Interop client: Debian's headless Chromium, driven by playwright-core,
// against rawws echo servers.
// Usage: node browser.mjs ws://127.0.0.1:PORT/ [more URLs...]
// Serves a page on 127.0.0.1 (an ephemeral port), opens it in a fresh
// profile, and from the page opens a WebSocket to each URL: checks the
// negotiated extensions name permessage-deflate (unless RAWWS_NO_DEFLATE=1),
// then echoes text and binary messages of several sizes. Prints one line
// per case ("ok   ..." / "FAIL ...") and exits 0 when all pass.
import { chromium } from 'playwright-core';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const urls = process.argv.slice(2);
if (urls.length === 0) {
  console.error('usage: node browser.mjs ws://127.0.0.1:PORT/ ...');
  process.exit(2);
}
const wantDeflate = process.env.RAWWS_NO_DEFLATE !== '1';

// The page runs every case in the browser and returns the results.
const page = `<!doctype html><meta charset="utf-8"><title>rawws browser interop</title>
<script>
async function run(url, wantDeflate) {
  const results = [];
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  const queue = [], waiters = [];
  ws.onmessage = (e) => { const w = waiters.shift(); if (w) w(e.data); else queue.push(e.data); };
  const next = () => new Promise((resolve, reject) => {
    if (queue.length) return resolve(queue.shift());
    const t = setTimeout(() => reject(new Error('timeout waiting for echo')), 15000);
    waiters.push((d) => { clearTimeout(t); resolve(d); });
  });
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error('websocket error')); });
  results.push({ name: 'extensions "' + ws.extensions + '"', ok: !wantDeflate || /(^|,\\s*)permessage-deflate(;|,|$)/.test(ws.extensions) });
  const json = (n) => { let s = '['; for (let i = 0; s.length < n; i++) s += (i ? ',' : '') + JSON.stringify({ id: i, user: 'user' + (i % 97), price: (i * 7.31).toFixed(2), side: i % 2 ? 'buy' : 'sell' }); return s.slice(0, n); };
  const rnd = (n) => { const b = new Uint8Array(n); for (let i = 0; i < n; i += 65536) crypto.getRandomValues(b.subarray(i, Math.min(n, i + 65536))); return b; };
  const texts = [['text 0 B', ''], ['text 16 B', json(16)], ['text utf-8', 'grüße, 世界, 🚀 '.repeat(40)],
    ['text 1 KiB JSON', json(1024)], ['text 64 KiB JSON', json(64 << 10)], ['text 1 MiB JSON', json(1 << 20)]];
  for (const [name, s] of texts) {
    ws.send(s);
    const got = await next();
    results.push({ name, ok: typeof got === 'string' && got === s });
  }
  const bins = [['binary 0 B', new Uint8Array(0)], ['binary 1 KiB random', rnd(1024)],
    ['binary 64 KiB zeros', new Uint8Array(64 << 10)], ['binary 256 KiB random', rnd(256 << 10)]];
  for (const [name, b] of bins) {
    ws.send(b);
    const got = await next();
    const same = got instanceof ArrayBuffer && got.byteLength === b.length && new Uint8Array(got).every((v, i) => v === b[i]);
    results.push({ name, ok: same });
  }
  // Many small messages in a row: context takeover must stay in step.
  const burst = []; for (let i = 0; i < 200; i++) { burst.push(json(200 + i)); ws.send(burst[i]); }
  let burstOK = true; for (let i = 0; i < 200; i++) { if ((await next()) !== burst[i]) burstOK = false; }
  results.push({ name: '200 messages in a row', ok: burstOK });
  const closed = new Promise((resolve) => { ws.onclose = (e) => resolve(e.code); });
  ws.close(1000, 'done');
  const code = await closed;
  results.push({ name: 'close 1000 (got ' + code + ')', ok: code === 1000 });
  return results;
}
</script>`;

const server = createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
  res.end(page);
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const pageURL = `http://127.0.0.1:${server.address().port}/`;

const profile = mkdtempSync(join(tmpdir(), 'rawws-chromium-'));
let failures = 0;
let context;
try {
  // A persistent context on a fresh directory is Chromium's --user-data-dir.
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    timeout: 60000,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const tab = context.pages()[0] || await context.newPage();
  await tab.goto(pageURL);
  for (const url of urls) {
    let results;
    try {
      results = await tab.evaluate(([u, d]) => run(u, d), [url, wantDeflate]);
    } catch (e) {
      results = [{ name: 'run: ' + e.message, ok: false }];
    }
    for (const r of results) {
      if (!r.ok) failures++;
      console.log((r.ok ? 'ok   ' : 'FAIL ') + url + ' ' + r.name);
    }
  }
  console.log('browser: ' + (await context.browser()?.version?.() ?? 'chromium'));
} catch (e) {
  failures++;
  console.log('FAIL launch: ' + e.message);
} finally {
  if (context) await context.close();
  server.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(failures ? 1 : 0);
