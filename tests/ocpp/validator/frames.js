// Independent strict validation of captured frames: every frame the charge point sent during a Python-CSMS test,
// checked with ocpp-rpc's own OCPP 1.6 schemas (its strict-mode validator, the same one validator.js uses as a
// live CSMS) and the OCPP-J framing rules ocpp-rpc applies when it parses a message.
// Protocol on stdio, one JSON object per line:
//   stdin:  {"ref": "t1", "frames": [{"frame": "<raw text>", "method": "<action of the CALL it answers>"?}, ...]}
//   stdout: {"ref": "t1", "checked": N, "violations": [{"index": i, "method": .., "error": .., "frame": ..}, ...]}
'use strict';
const readline = require('readline');
const validators = require('ocpp-rpc/lib/standard-validators');

const validator = validators.find((v) => v.subprotocol === 'ocpp1.6');
// OCPP-J 1.6 §4.2.3, table 7: the error codes a CALLERROR may carry
const ERROR_CODES = new Set([
  'NotImplemented', 'NotSupported', 'InternalError', 'ProtocolError', 'SecurityError', 'FormationViolation',
  'PropertyConstraintViolation', 'OccurenceConstraintViolation', 'TypeConstraintViolation', 'GenericError',
]);
// OCPP-J 1.6 §4.1.4: a message id is at most 36 characters
const MAX_MESSAGE_ID = 36;

function check(entry) {
  let message;
  try { message = JSON.parse(entry.frame); } catch (e) { return { error: 'not JSON' }; }
  if (!Array.isArray(message)) return { error: 'not an array' };
  const [type, id, ...more] = message;
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_MESSAGE_ID) {
    return { error: `bad message id ${JSON.stringify(id)}` };
  }
  try {
    if (type === 2) {
      const [method, params] = more;
      if (typeof method !== 'string' || more.length !== 2) return { error: 'CALL must be [2, id, action, payload]' };
      validator.validate(`urn:${method}.req`, params);
      return null;
    }
    if (type === 3) {
      if (more.length !== 1) return { error: 'CALLRESULT must be [3, id, payload]' };
      if (!entry.method) return { error: `CALLRESULT ${id} answers no CALL of the CSMS` };
      validator.validate(`urn:${entry.method}.conf`, more[0]);
      return null;
    }
    if (type === 4) {
      const [code, description, details] = more;
      if (more.length !== 3 || !ERROR_CODES.has(code) || typeof description !== 'string'
          || details === null || typeof details !== 'object' || Array.isArray(details)) {
        return { error: 'CALLERROR must be [4, id, errorCode (OCPP-J table 7), description, details object]' };
      }
      return null;
    }
    return { error: `unknown message type ${JSON.stringify(type)}` };
  } catch (error) {
    return { error: String(error.message), code: error.rpcErrorCode };
  }
}

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  let request;
  try { request = JSON.parse(line); } catch (e) { return; }
  const violations = [];
  (request.frames || []).forEach((entry, index) => {
    const problem = check(entry);
    if (problem) violations.push({ index, method: entry.method, frame: entry.frame.slice(0, 300), ...problem });
  });
  process.stdout.write(JSON.stringify({ ref: request.ref, checked: (request.frames || []).length, violations }) + '\n');
});
rl.on('close', () => process.exit(0));
