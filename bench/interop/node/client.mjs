// Interop client: Node's `ws` against a rawws echo server.
// Usage: node client.mjs ws://127.0.0.1:PORT/  — exits 0 when every case echoes exactly.
import { WebSocket } from 'ws';
import { randomBytes } from 'node:crypto';

const url = process.argv[2];
const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 4 << 20 });
let failures = 0;
const report = (ok, name) => { if (!ok) failures++; console.log((ok ? 'ok   ' : 'FAIL ') + name); };

const next = () => new Promise((resolve, reject) => {
  const t = setTimeout(() => reject(new Error('timeout')), 10000);
  ws.once('message', (data, isBinary) => { clearTimeout(t); resolve({ data, isBinary }); });
});

ws.on('error', (e) => { console.log('FAIL error ' + e.message); process.exit(1); });
ws.on('open', async () => {
  const cases = [
    ['text 0 B', ''], ['text utf-8', 'grüße, 世界, 🚀'],
    ['binary 0 B', Buffer.alloc(0)], ['binary 125 B', randomBytes(125)], ['binary 126 B', randomBytes(126)],
    ['binary 64 KiB', randomBytes(64 << 10)], ['binary 1 MiB', randomBytes(1 << 20)],
  ];
  for (const [name, payload] of cases) {
    const got = next();
    ws.send(payload);
    const { data, isBinary } = await got;
    const text = typeof payload === 'string';
    report(isBinary === !text && (text ? data.toString() === payload : Buffer.compare(data, payload) === 0), name);
  }
  // Fragmented: ws sends fin=false then a final continuation.
  const got = next();
  ws.send(Buffer.from('frag-1/'), { fin: false });
  ws.send(Buffer.from('frag-2'), { fin: true });
  const { data } = await got;
  report(data.toString() === 'frag-1/frag-2', 'binary fragmented');
  const pong = new Promise((resolve) => ws.once('pong', (d) => resolve(d.toString())));
  ws.ping('rawws-ping');
  report(await pong === 'rawws-ping', 'ping');
  ws.once('close', (code) => { report(code === 1000, `close (code ${code})`); process.exit(failures ? 1 : 0); });
  ws.close(1000, 'bye');
});
setTimeout(() => { console.log('FAIL overall timeout'); process.exit(1); }, 60000);
