// Independent strict OCPP 1.6J validator peer for the evse tests: a CSMS built on the npm package `ocpp-rpc`
// in strict mode. Every CALL the charge point sends and every response it gives is validated against the
// ocpp-rpc 1.6 schemas (its own copy, not the Python package's). Protocol on stdio, one JSON object per line:
//   stdout: {"event":"listening","port":N} | {"event":"connected","identity":..} | {"event":"call","method":..,"params":..}
//           {"event":"violation",...} | {"event":"result","ref":..,"result":..} | {"event":"error","ref":..,"error":..}
//   stdin:  {"ref":"r1","method":"RemoteStartTransaction","params":{...}}   (a CALL to the connected charge point)
'use strict';
const readline = require('readline');
const { RPCServer } = require('ocpp-rpc');

const port = Number(process.argv[2] || 0);
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const now = () => new Date().toISOString();
let txId = 5000;
let client = null;

const answers = {
  BootNotification: () => ({ status: 'Accepted', currentTime: now(), interval: 300 }),
  Heartbeat: () => ({ currentTime: now() }),
  Authorize: () => ({ idTagInfo: { status: 'Accepted' } }),
  StartTransaction: () => ({ transactionId: ++txId, idTagInfo: { status: 'Accepted' } }),
  StopTransaction: () => ({ idTagInfo: { status: 'Accepted' } }),
  DataTransfer: () => ({ status: 'Accepted' }),
};

async function main() {
  const server = new RPCServer({ protocols: ['ocpp1.6'], strictMode: true });
  server.auth((accept, reject, handshake) => accept({}));
  server.on('client', (c) => {
    client = c;
    out({ event: 'connected', identity: c.identity, protocol: c.protocol });
    c.on('strictValidationFailure', (ev) => {
      out({ event: 'violation', method: ev.method, outbound: ev.outbound, isCall: ev.isCall, params: ev.params,
            result: ev.result, error: String(ev.error && ev.error.message), details: ev.error && ev.error.details });
    });
    c.on('badMessage', (ev) => {
      out({ event: 'violation', kind: 'badMessage', message: String(ev.buffer), error: String(ev.error) });
    });
    c.handle(({ method, params }) => {
      out({ event: 'call', method, params });
      const answer = answers[method];
      return answer ? answer(params) : {};
    });
    c.on('close', () => out({ event: 'closed' }));
  });
  const http = await server.listen(port, '127.0.0.1');
  out({ event: 'listening', port: http.address().port });

  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', async (line) => {
    let cmd;
    try { cmd = JSON.parse(line); } catch (e) { return; }
    if (!client) { out({ event: 'error', ref: cmd.ref, error: 'no charge point connected' }); return; }
    try {
      const result = await client.call(cmd.method, cmd.params, { callTimeoutMs: 10000 });
      out({ event: 'result', ref: cmd.ref, result });
    } catch (error) {
      out({ event: 'error', ref: cmd.ref, error: String(error.message), rpcErrorCode: error.rpcErrorCode });
    }
  });
  rl.on('close', () => process.exit(0));
}

main().catch((e) => { out({ event: 'fatal', error: String(e) }); process.exit(1); });
