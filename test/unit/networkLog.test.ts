import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { AuditLog, type AuditEntry } from '../../src/core/audit/auditLog.js';
import { formatNetworkLog, networkRecords } from '../../src/core/egress/networkLog.js';
import { makeTempDir, removeTempDirs } from '../helpers/tempWorkspace.js';

after(removeTempDirs);

const TASK = 'abcdef012345';
const ESC = '\x1b]0;pwned\x07';
const time = '2024-05-01T10:00:00.000Z';

/** Nothing a terminal obeys, apart from the table's own line breaks. */
function assertClean(text: string): void {
  const found = [...text].find((char) => char !== '\n' && /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u.test(char));
  assert.equal(found, undefined, `carries U+${found?.codePointAt(0)?.toString(16).padStart(4, '0')}: ${JSON.stringify(text)}`);
}

describe('networkRecords', () => {
  test('keeps the network records and says how many lines could not be read', () => {
    const log = new AuditLog(path.join(makeTempDir('airlock-netlog-'), 'audit.jsonl'));
    log.append({ type: 'warning', task: TASK, message: 'not network' });
    log.append({ type: 'network.limit', task: TASK, limit: 'maxConnections', value: 64 });
    fs.appendFileSync(log.file, '{"time":"2024-05-01T10:00:00.000Z","type":"net');
    const { records, unreadable } = networkRecords(log);
    assert.deepEqual(records.map((record) => record.type), ['network.limit']);
    assert.equal(unreadable, 1);
  });
});

describe('formatNetworkLog', () => {
  test('a well-formed connection is one row with its numbers', () => {
    const shown = formatNetworkLog([{ time, type: 'network', phase: 'agent', method: 'CONNECT', host: 'api.example.test', port: 443, address: '127.0.0.1', decision: 'allow', rule: 'api.example.test', bytesUp: 10, bytesDown: 20, start: time, durationMs: 7 }]);
    const row = shown.trimEnd().split('\n')[1].split(/\s{2,}/);
    assert.deepEqual(row, ['10:00:00', 'agent', 'allow', 'api.example.test:443', '127.0.0.1', '10', '20', '7', 'api.example.test']);
  });

  test('every field is escaped, the port, pid and connection count too, whatever type a damaged log gives them', () => {
    const records: AuditEntry[] = [
      { time, type: 'network', phase: 'agent', method: 'GET', host: 'h.test', port: `80${ESC}`, decision: 'deny', reason: 'no', bytesUp: `1${ESC}`, bytesDown: { n: ESC }, durationMs: [ESC] },
      { time, type: 'network.phase', from: 'setup', to: 'agent', closedConnections: `3${ESC}` },
      { time, type: 'network.gateway', event: 'started', pid: `42${ESC}` },
      { time, type: 'network.limit', limit: 'maxBytes', value: { bytes: ESC } },
      { time, type: 'approval.requested', request: `not an object${ESC}` },
      { time, type: 'approval.decided', decision: null },
    ];
    const shown = formatNetworkLog(records);
    assertClean(shown);
    assert.ok(!shown.includes('[object Object]'), shown);
    assert.equal(shown.trimEnd().split('\n').length, records.length + 1, 'a header and one row per record');
    assert.ok(shown.includes('h.test:80\\u001b]0;pwned\\u0007'), shown);
    assert.ok(shown.includes('closed 3\\u001b'), shown);
    assert.ok(shown.includes('(pid 42\\u001b'), shown);
    assert.ok(shown.includes('{"bytes":"\\u001b'), shown);
  });
});
