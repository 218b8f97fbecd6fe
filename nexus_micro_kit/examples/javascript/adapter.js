#!/usr/bin/env node
'use strict';
// Conformance kit adapter, protocol v1 revision 2 (nexus_micro_kit/README.md), JSON lines over stdin/stdout.
// Replies may hold big integers, so they are printed with our own stringify (BigInt-exact).

const readline = require('node:readline');
const nm = require('./nexus_micro.js');

function write(obj) {
  process.stdout.write(nm.stringify(obj) + '\n');
}

// Revision 2 features: drift notes on every reply (S11), a deadline (S21b), a token provider (S18).
const FEATURES = ['drift', 'deadline', 'token_provider'];

// A note as S11 prints it: `index` an integer (our printer writes JS numbers as floats, 0.0).
const canonicalNote = (n) => ({ index: BigInt(n.index), field: n.field, type: n.type, action: n.action, rule: n.rule });

function outcome(seq, fn) {
  return fn().then(
    (records) => ({ seq, ok: true, micro_deposits: nm.toCanonical(records), drift: records.drift.map(canonicalNote) }),
    (e) => {
      if (e instanceof nm.NexusError) {
        const reply = { seq, ok: false, error: e.category, message: e.message };
        if (e.category === 'schema_drift' && e.note) reply.drift = [canonicalNote(e.note)]; // the note strict mode raised
        return reply;
      }
      return { seq, errored: true, message: `${e && e.name}: ${e && e.message}`, traceback: String(e && e.stack) };
    });
}

async function handle(msg) {
  const seq = msg.seq;
  switch (msg.op) {
    case 'start':
      if (msg.protocol !== 1) return [{ seq, ok: false, error: 'unsupported_protocol' }, true];
      return [{
        seq,
        ok: true,
        implementation: { name: 'nexus-micro-js', language: 'javascript', version: nm.VERSION },
        ops: ['parse', 'fetch'],
        features: FEATURES,
      }, false];
    case 'parse': {
      const body = Buffer.from(msg.body_b64 || '', 'base64');
      return [await outcome(seq, async () => nm.parseResponse(msg.status, msg.headers || [], body, { strict: !!msg.strict })), false];
    }
    case 'fetch': {
      const opts = { baseUrl: msg.base_url };
      if (msg.timeout !== undefined && msg.timeout !== null) opts.timeout = msg.timeout;
      if (msg.max_response_bytes !== undefined && msg.max_response_bytes !== null) opts.maxResponseBytes = msg.max_response_bytes;
      if (typeof msg.deadline === 'number') opts.deadline = msg.deadline;
      if (typeof msg.refresh_token === 'string') opts.tokenProvider = () => msg.refresh_token;
      return [await outcome(seq, () => nm.listMicrodeposits(msg.token, opts)), false];
    }
    case 'stop':
      return [{ seq, ok: true }, true];
    default:
      return [{ seq, skipped: true, reason: `unknown op ${JSON.stringify(msg.op)}` }, false];
  }
}

async function main() {
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of rl) {
    if (line.trim() === '') continue;
    let msg;
    try {
      msg = JSON.parse(line); // runner messages hold no big integers
    } catch (e) {
      process.stderr.write(`adapter: bad input line: ${e.message}\n`);
      continue;
    }
    let reply;
    let stop = false;
    try {
      [reply, stop] = await handle(msg);
    } catch (e) {
      reply = { seq: msg.seq, errored: true, message: `${e.name}: ${e.message}`, traceback: String(e.stack) };
    }
    write(reply);
    if (stop) break;
  }
  rl.close();
  process.stdin.destroy();
  await new Promise((r) => process.stdout.write('', r)); // flush before exit
}

main().then(() => process.exit(0), (e) => {
  process.stderr.write(`adapter: ${e.stack}\n`);
  process.exit(1);
});
