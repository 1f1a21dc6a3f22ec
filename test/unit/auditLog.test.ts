import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { AuditLog } from '../../src/core/audit/auditLog.js';
import { makeTempDir, removeTempDirs } from '../helpers/tempWorkspace.js';

after(removeTempDirs);

const TASK = 'abcdef012345';

function freshLog(): AuditLog {
  return new AuditLog(path.join(makeTempDir('airlock-audit-'), 'audit.jsonl'));
}

/** What a writer killed in the middle of its append(2) leaves: the first part of a line, no newline. */
function tornAppend(log: AuditLog): void {
  fs.appendFileSync(log.file, '{"time":"2024-05-01T10:00:00.000Z","type":"network","task":"abcdef012345","host":"api.exa');
}

describe('AuditLog', () => {
  test('records come back in order, each with its time and type', () => {
    const log = freshLog();
    log.append({ type: 'warning', task: TASK, message: 'first' });
    log.append({ type: 'network.phase', task: TASK, from: 'setup', to: 'agent', closedConnections: 2 });
    const records = log.records();
    assert.deepEqual(records.map((record) => [record.type, record.task]), [['warning', TASK], ['network.phase', TASK]]);
    assert.equal(records[1].closedConnections, 2);
    assert.ok(records.every((record) => !Number.isNaN(Date.parse(record.time))));
    assert.equal(log.readRecords().unreadable, 0);
  });

  test('a missing log reads as empty', () => {
    assert.deepEqual(freshLog().readRecords(), { records: [], unreadable: 0 });
  });

  test('a torn last line (a crash mid-append) is left out and counted; the rest still reads', () => {
    const log = freshLog();
    log.append({ type: 'warning', task: TASK, message: 'before the crash' });
    tornAppend(log);
    const { records, unreadable } = log.readRecords();
    assert.deepEqual(records.map((record) => record.message), ['before the crash']);
    assert.equal(unreadable, 1);
    assert.equal(log.records().length, 1, 'records() keeps its shape: the readable records');
  });

  test('the next writer after a torn line lands on the same line, and its record is still read', () => {
    const log = freshLog();
    log.append({ type: 'warning', task: TASK, message: 'one' });
    tornAppend(log);
    log.append({ type: 'warning', task: TASK, message: 'after the crash' });
    log.append({ type: 'warning', task: TASK, message: 'three' });
    const { records, unreadable } = log.readRecords();
    assert.deepEqual(records.map((record) => record.message), ['one', 'after the crash', 'three']);
    assert.equal(unreadable, 1);
  });

  test('lines that are JSON but not records (no type or time, or not an object) are left out and counted', () => {
    const log = freshLog();
    log.append({ type: 'warning', task: TASK, message: 'kept' });
    fs.appendFileSync(log.file, '[1,2]\n"text"\nnull\n{"type":5,"time":"x"}\n{"time":"2024-05-01T10:00:00.000Z"}\n{"type":"warning","time":"2024-05-01T10:00:00.000Z","task":7}\n');
    const { records, unreadable } = log.readRecords();
    assert.deepEqual(records.map((record) => record.message), ['kept']);
    assert.equal(unreadable, 6);
  });

  test('fields a reader does not know are kept as written', () => {
    const log = freshLog();
    fs.appendFileSync(log.file, '{"time":"2024-05-01T10:00:00.000Z","type":"future.kind","extra":{"nested":[1,2]}}\n');
    assert.deepEqual(log.records(), [{ time: '2024-05-01T10:00:00.000Z', type: 'future.kind', extra: { nested: [1, 2] } }]);
  });
});
