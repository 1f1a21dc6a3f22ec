import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { after, describe, test, type TestContext } from 'node:test';
import { promptForApprovals, type PromptTerminal } from '../../src/cli/approvalPrompt.js';
import { ApprovalQueue } from '../../src/core/approvals/approvalQueue.js';
import { TaskStore } from '../../src/core/state/taskStore.js';
import { makeTempDir, removeTempDirs } from '../helpers/tempWorkspace.js';

after(removeTempDirs);

const TASK = 'abcdef012345';
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A terminal the prompt can use: both ends claim to be TTYs; everything written is kept. */
function fakeTerminal(): PromptTerminal & { input: PassThrough; shown: () => string } {
  const input = Object.assign(new PassThrough(), { isTTY: true });
  const output = Object.assign(new PassThrough(), { isTTY: true });
  const written: Buffer[] = [];
  output.on('data', (chunk: Buffer) => written.push(chunk));
  return { input, output, shown: () => Buffer.concat(written).toString('utf8') };
}

/** Rejections nobody handled while the test ran: each one would end the CLI in the middle of `exec`. */
function unhandledRejections(t: TestContext): unknown[] {
  const seen: unknown[] = [];
  const listener = (reason: unknown) => seen.push(reason);
  process.on('unhandledRejection', listener);
  t.after(() => process.off('unhandledRejection', listener));
  return seen;
}

async function until(what: string, probe: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('promptForApprovals', () => {
  test('asks about a pending destination and records the answer', async (t) => {
    const rejections = unhandledRejections(t);
    const store = new TaskStore(makeTempDir('airlock-prompt-'));
    const queue = new ApprovalQueue(store.gatewayFiles(TASK).approvalsDir, TASK, store.audit(TASK));
    const request = queue.request({ kind: 'network', subject: 'api.example.test:443', reason: 'no rule decides it', phase: 'agent' }, 60_000);
    const terminal = fakeTerminal();
    const prompt = promptForApprovals(store, TASK, new AbortController().signal, terminal);
    assert.ok(prompt, 'a terminal on both ends gets a prompt');
    t.after(() => prompt.stop());
    await until('the question', () => terminal.shown().includes('wants to reach api.example.test:443'));
    terminal.input.write('t\n');
    await until('the answer', () => terminal.shown().includes('airlock: allowed (task)'));
    assert.deepEqual({ decision: queue.decision(request.id)?.decision, scope: queue.decision(request.id)?.scope }, { decision: 'allow', scope: 'task' });
    assert.deepEqual(rejections, []);
  });

  test('an approval folder that cannot be read is reported once; the poll goes on and nothing is left unhandled', async (t) => {
    const rejections = unhandledRejections(t);
    const store = new TaskStore(makeTempDir('airlock-prompt-'));
    const { approvalsDir } = store.gatewayFiles(TASK);
    fs.mkdirSync(path.dirname(approvalsDir), { recursive: true });
    // A link to itself: every read of the folder fails with ELOOP (root reads through any mode bits).
    fs.symlinkSync(path.basename(approvalsDir), approvalsDir);
    const terminal = fakeTerminal();
    const prompt = promptForApprovals(store, TASK, new AbortController().signal, terminal);
    assert.ok(prompt);
    t.after(() => prompt.stop());
    await until('the report', () => terminal.shown().includes('airlock: approval requests:'));
    // Several more polls fail the same way.
    await sleep(1000);
    assert.deepEqual(rejections, []);
    const reports = terminal.shown().split('\n').filter((line) => line.startsWith('airlock: approval requests:'));
    assert.equal(reports.length, 1, terminal.shown());
    assert.match(reports[0], /ELOOP/);

    // Once the folder is readable again, requests are asked about as usual.
    fs.unlinkSync(approvalsDir);
    const queue = new ApprovalQueue(approvalsDir, TASK, store.audit(TASK));
    const request = queue.request({ kind: 'network', subject: 'late.example.test:443', reason: 'no rule decides it', phase: 'agent' }, 60_000);
    await until('the question', () => terminal.shown().includes('wants to reach late.example.test:443'));
    terminal.input.write('d\n');
    await until('the answer', () => terminal.shown().includes('airlock: denied'));
    assert.equal(queue.decision(request.id)?.decision, 'deny');
  });

  test('nothing is asked when either end is not a terminal', () => {
    const store = new TaskStore(makeTempDir('airlock-prompt-'));
    const terminal = fakeTerminal();
    Object.assign(terminal.output, { isTTY: false });
    assert.equal(promptForApprovals(store, TASK, new AbortController().signal, terminal), undefined);
  });
});
