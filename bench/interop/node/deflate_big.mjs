// Interop client: Node's `ws` against a rawws echo server with
// permessage-deflate, one message of SIZE random bytes (incompressible: the
// compressed frame is a little larger than the message).
// Usage: node deflate_big.mjs ws://127.0.0.1:PORT/ SIZE — exits 0 when it echoes exactly.
import { WebSocket } from 'ws';
import { randomBytes } from 'node:crypto';

const [url, sizeArg] = process.argv.slice(2);
const size = Number(sizeArg);
// threshold 0: ws compresses every message, as it does above 1 KiB anyway.
const ws = new WebSocket(url, { perMessageDeflate: { threshold: 0 }, maxPayload: size + (size >> 3) + 1024 });
const msg = randomBytes(size);
const fail = (why) => { console.log('FAIL ' + why); process.exit(1); };

ws.on('error', (e) => fail('error ' + e.message));
ws.on('close', (code, reason) => fail(`closed before the echo: ${code} ${reason}`));
ws.on('open', () => {
  const ext = ws.extensions;
  if (!ext.includes('permessage-deflate')) fail('permessage-deflate not negotiated: ' + ext);
  ws.once('message', (data, isBinary) => {
    if (!isBinary || Buffer.compare(data, msg) !== 0) fail(`echo differs: ${data.length} bytes, want ${size}`);
    console.log(`ok   ${size} random bytes echoed over ${ext}`);
    ws.removeAllListeners('close');
    ws.once('close', () => process.exit(0));
    ws.close(1000, 'bye');
  });
  ws.send(msg);
});
setTimeout(() => fail('overall timeout'), 80000);
