import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { ApprovalBoard } from '../../src/core/approvals/approvalBoard.js';
import { approvalDecisionSchema, type ApprovalInput, type ApprovalRequest } from '../../src/core/approvals/approvalQueue.js';
import { TaskStore } from '../../src/core/state/taskStore.js';
import { type CliResult, launchNode, osUser as ME, type Running, sleep, startTask as startTaskVia, stopTask as stopTaskVia, until } from '../helpers/cliProcess.js';
import { realEngine, TEST_IMAGE } from '../helpers/realEngine.js';
import { makeTempDir, removeTempDirs } from '../helpers/tempWorkspace.js';

/**
 * Approval gates end to end, through separate processes as people use them: the bundled CLI
 * deciding, listing and waiting; small node scripts holding a queue and being killed; and the
 * command policy in front of every `airlock exec` of a real task.
 */

const REPO = process.cwd();
const BUNDLE = path.resolve('dist/cli.js');
const SLOW = { timeout: 120_000 };
const cliEnv = (state: string): NodeJS.ProcessEnv => ({ AIRLOCK_STATE_DIR: state, AIRLOCK_IMAGE: TEST_IMAGE });

function airlockBg(state: string, args: string[], timeoutMs = 60_000, nodeArgs: string[] = [], env: NodeJS.ProcessEnv = {}): Running {
  return launchNode([...nodeArgs, BUNDLE, ...args], { env: { ...cliEnv(state), ...env }, timeoutMs, cwd: REPO });
}

const airlock = (state: string, args: string[], timeoutMs = 60_000) => airlockBg(state, args, timeoutMs).result;

/** `airlock approvals --json` → the pending requests it lists. */
async function listed(state: string, extra: string[] = []): Promise<ApprovalRequest[]> {
  const result = await airlock(state, ['approvals', '--json', ...extra]);
  assert.equal(result.status, 0, result.stderr);
  const requests = JSON.parse(result.stdout) as ApprovalRequest[];
  assert.ok(Array.isArray(requests), '`approvals --json` prints one array');
  return requests;
}

type AuditEntry = Record<string, unknown> & { type: string; time: string };

function auditOf(state: string, task: string): AuditEntry[] {
  const text = fs.existsSync(path.join(state, 'tasks', task, 'audit.jsonl')) ? fs.readFileSync(path.join(state, 'tasks', task, 'audit.jsonl'), 'utf8') : '';
  return text.split('\n').filter(Boolean).map((line) => JSON.parse(line) as AuditEntry);
}

const decidedFor = (records: AuditEntry[], id: string) => records.filter((record) => record.type === 'approval.decided' && (record.decision as { id: string }).id === id);
const requestedFor = (records: AuditEntry[], id: string) => records.filter((record) => record.type === 'approval.requested' && (record.request as { id: string }).id === id);

/** A task folder with no container, as TaskStore.create leaves it: enough for its approval queue. */
function bareTask(state: string): { store: TaskStore; id: string; approvals: string } {
  const store = new TaskStore(state);
  const id = randomBytes(6).toString('hex');
  store.create(id);
  return { store, id, approvals: store.gatewayFiles(id).approvalsDir };
}

const commandInput = (subject: string): ApprovalInput => ({ kind: 'command', subject, reason: `${subject}: task ask rule "${subject.split(' ')[0]}"`, cwd: '/workspace' });

function readDecisionFile(approvals: string, id: string) {
  const text = fs.readFileSync(path.join(approvals, `${id}.decision.json`), 'utf8');
  return approvalDecisionSchema.parse(JSON.parse(text));
}

before(() => {
  assert.ok(fs.existsSync(BUNDLE), 'dist/cli.js is missing: run `npm run build` first');
});

after(() => removeTempDirs());

describe('approval queue across processes (integration, no engine)', () => {
  test('two deciders at once: for each of 10 requests exactly one of `approve` and `deny` wins; one decision file, one audit record', SLOW, async (t) => {
    const state = makeTempDir('airlock-appr-state-');
    const { store, id, approvals } = bareTask(state);
    const queue = new ApprovalBoard(store).queue(id);
    const requests = Array.from({ length: 10 }, (_, index) => queue.request(commandInput(`touch /workspace/race-${index}.txt`), 60_000));
    assert.equal((await listed(state)).length, 10);

    // Node startup is far slower than a decision, so two processes started together would rarely
    // overlap where it matters. A preload holds each decider at link(2) of the decision file until
    // one shared instant, so both link within about a millisecond of each other.
    const tools = makeTempDir('airlock-appr-tools-');
    const barrier = path.join(tools, 'barrier.cjs');
    const barrierLog = path.join(tools, 'barrier.log');
    fs.writeFileSync(
      barrier,
      `const fs = require('node:fs');
const at = Number(process.env.BARRIER_AT);
const link = fs.linkSync;
fs.linkSync = function (existing, target) {
  if (String(target).endsWith('.decision.json')) {
    const early = at - Date.now();
    if (early > 3) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, early - 3);
    while (Date.now() < at) {}
    fs.appendFileSync(process.env.BARRIER_LOG, process.pid + ' ' + (early > 0 ? 'held' : 'late') + ' ' + early + '\\n');
  }
  return link.apply(this, arguments);
};
`,
    );
    // Far enough ahead that all 20 deciders (node and the whole CLI bundle each) have started, even
    // on two busy cores; a late one checks the decision before linking and never reaches link(2).
    const at = Date.now() + 9000;
    const env = { BARRIER_AT: String(at), BARRIER_LOG: barrierLog };
    const pairs = requests.map((request, index) => {
      const approve = () => airlockBg(state, ['approve', request.id], 30_000, ['--require', barrier], env);
      const deny = () => airlockBg(state, ['deny', request.id, '--reason', `race ${index}`], 30_000, ['--require', barrier], env);
      // Alternate which one is spawned first, so spawn order cannot favour either.
      const [first, second] = index % 2 === 0 ? [approve(), deny()] : [deny(), approve()];
      const [approver, denier] = index % 2 === 0 ? [first, second] : [second, first];
      return { request, approver, denier };
    });

    let approvesWon = 0;
    for (const { request, approver, denier } of pairs) {
      const [approved, denied] = await Promise.all([approver.result, denier.result]);
      const statuses = [approved.status, denied.status].sort();
      assert.deepEqual(statuses, [0, 1], `${request.id}: approve exited ${approved.status} (${approved.stderr.trim()}), deny exited ${denied.status} (${denied.stderr.trim()})`);
      const [winner, loser] = approved.status === 0 ? [approved, denied] : [denied, approved];
      const wonBy = approved.status === 0 ? 'allow' : 'deny';
      if (wonBy === 'allow') approvesWon++;
      assert.equal(loser.stdout, '');
      assert.match(loser.stderr, new RegExp(`^airlock: ${request.id} was already ${wonBy === 'allow' ? 'allowed' : 'denied'} by ${ME}.*; your decision was not recorded\\n$`));
      assert.equal(winner.stderr, '');
      assert.match(winner.stdout, new RegExp(`^${request.id} ${wonBy === 'allow' ? 'allowed once' : 'denied'}: touch /workspace/race-\\d\\.txt\\n$`));

      const decision = readDecisionFile(approvals, request.id);
      assert.equal(decision.id, request.id);
      assert.equal(decision.decision, wonBy);
      assert.equal(decision.by, ME);
      assert.equal(decision.scope, 'once');
      if (wonBy === 'deny') assert.match(decision.reason ?? '', /^race \d$/);
    }
    const leftovers = fs.readdirSync(approvals).filter((name) => !/^[a-f0-9]{24}\.(request|decision)\.json$/.test(name));
    assert.deepEqual(leftovers, [], 'no temporary files are left behind');
    assert.equal(fs.readdirSync(approvals).filter((name) => name.endsWith('.decision.json')).length, 10);

    const records = auditOf(state, id);
    for (const request of requests) {
      assert.equal(requestedFor(records, request.id).length, 1, `one approval.requested for ${request.id}`);
      const decided = decidedFor(records, request.id);
      assert.equal(decided.length, 1, `exactly one approval.decided for ${request.id}: ${JSON.stringify(decided)}`);
      assert.deepEqual(decided[0].decision, readDecisionFile(approvals, request.id), 'the audit record is the decision on file');
    }
    assert.equal(records.length, 20);
    assert.deepEqual(await listed(state), []);

    const log = fs.existsSync(barrierLog) ? fs.readFileSync(barrierLog, 'utf8').trim().split('\n') : [];
    // The outcome above holds however the deciders arrived; this checks the race was really run:
    // deciders met at link(2). A decider that arrives after its pair's decision (a busy machine
    // starting 20 CLIs) checks first and never links, which is the other path, also asserted above.
    assert.ok(log.length <= 20 && new Set(log.map((line) => line.split(' ')[0])).size === log.length, 'no decider reached link(2) twice');
    assert.ok(log.filter((line) => line.includes(' held ')).length >= 4, `at least two pairs met at the barrier: ${log.join(' | ')}`);
    t.diagnostic(`approve won ${approvesWon}/10; deciders held at the barrier: ${log.filter((line) => line.includes(' held ')).length}/20 (late ones linked as soon as they arrived)`);
  });

  test('expiry: a request nobody decides is listed, then not; it ends as deny by airlock and cannot be approved afterwards', SLOW, async () => {
    const state = makeTempDir('airlock-appr-state-');
    const { store, id, approvals } = bareTask(state);
    const queue = new ApprovalBoard(store).queue(id);
    // Long enough for one CLI listing on a busy machine (node and the bundle start in it).
    const request = queue.request(commandInput('touch /workspace/late.txt'), 4000);
    const before = await listed(state);
    assert.ok(Date.now() < Date.parse(request.expiresAt), 'listing took longer than the 4 s timeout; the test cannot tell');
    assert.deepEqual(before.map((item) => item.id), [request.id]);
    assert.equal(before[0].subject, 'touch /workspace/late.txt');
    assert.equal(before[0].kind, 'command');
    assert.equal(before[0].task, id);

    await sleep(Math.max(0, Date.parse(request.expiresAt) - Date.now()) + 200);
    assert.deepEqual(await listed(state), []);
    const decision = readDecisionFile(approvals, request.id);
    assert.deepEqual({ decision: decision.decision, by: decision.by, reason: decision.reason }, { decision: 'deny', by: 'airlock', reason: 'no decision before the timeout' });

    const approved = await airlock(state, ['approve', request.id.slice(0, 8)]);
    assert.equal(approved.status, 1);
    assert.equal(approved.stdout, '');
    assert.match(approved.stderr, new RegExp(`^airlock: ${request.id} expired before your decision and was refused`));
    assert.deepEqual(readDecisionFile(approvals, request.id), decision, 'the late approval changed nothing');
    const decided = decidedFor(auditOf(state, id), request.id);
    assert.equal(decided.length, 1);
    assert.equal((decided[0].decision as { by: string }).by, 'airlock');
  });

  test(
    'a decision made in time is reported as such to a second, late decider (not as "expired and refused")',
    SLOW,
    async () => {
      const state = makeTempDir('airlock-appr-state-');
      const { store, id, approvals } = bareTask(state);
      const request = new ApprovalBoard(store).queue(id).request(commandInput('touch /workspace/in-time.txt'), 1500);
      const approved = await airlock(state, ['approve', request.id]);
      assert.equal(approved.status, 0, approved.stderr);
      await sleep(Math.max(0, Date.parse(request.expiresAt) - Date.now()) + 200);
      const denied = await airlock(state, ['deny', request.id]);
      assert.equal(denied.status, 1);
      assert.equal(readDecisionFile(approvals, request.id).decision, 'allow', 'the allow stands');
      // What the second reviewer must be told: it was allowed (by whom), not that it was refused.
      assert.match(denied.stderr, new RegExp(`was already allowed by ${ME}`), `told: ${denied.stderr.trim()}`);
    },
  );
});

describe('a deciding or waiting process killed while a request is pending (integration, no engine)', () => {
  let tools = '';

  before(() => {
    tools = makeTempDir('airlock-appr-scripts-');
    const src = (rel: string) => JSON.stringify(path.join(REPO, 'src', rel));
    const header = `import { ApprovalBoard } from ${src('core/approvals/approvalBoard.ts')};\nimport { TaskStore } from ${src('core/state/taskStore.ts')};\nconst [state, task, id, delay] = process.argv.slice(2);\nconst queue = new ApprovalBoard(new TaskStore(state)).queue(task);\n`;
    // Waits on a request as a gated command does, and prints the decision it ends with.
    fs.writeFileSync(
      path.join(tools, 'waiter.mts'),
      `${header}async function main() {
  const request = queue.find(id);
  if (!request) throw new Error('no request ' + id);
  process.stdout.write('waiting ' + request.id + '\\n');
  const decision = await queue.wait(request);
  process.stdout.write(JSON.stringify(decision) + '\\n');
}
main().catch((error) => { console.error(error); process.exit(3); });
`,
    );
    // Holds the queue and would deny after a delay: a reviewer's process that dies before deciding.
    fs.writeFileSync(
      path.join(tools, 'decider.mts'),
      `${header}if (!queue.find(id)) throw new Error('no request ' + id);
process.stdout.write('ready\\n');
setTimeout(() => process.stdout.write(queue.decide(id, { decision: 'deny', scope: 'once', by: 'doomed-decider' }) + '\\n'), Number(delay));
`,
    );
  });

  const script = (name: string, args: string[], timeoutMs = 60_000) => launchNode(['--import', 'tsx', path.join(tools, name), ...args], { timeoutMs, cwd: REPO });

  async function killed(running: Running): Promise<CliResult> {
    running.child.kill('SIGKILL');
    const result = await running.result;
    assert.equal(result.signal, 'SIGKILL', `expected SIGKILL, got status ${result.status}: ${result.stderr}`);
    return result;
  }

  test('the decider is SIGKILLed before it decides: the request stays pending, a new process approves, the waiter sees allow', SLOW, async () => {
    const state = makeTempDir('airlock-appr-state-');
    const { store, id, approvals } = bareTask(state);
    const request = new ApprovalBoard(store).queue(id).request(commandInput('touch /workspace/restart.txt'), 45_000);

    const waiter = script('waiter.mts', [state, id, request.id]);
    const decider = script('decider.mts', [state, id, request.id, '60000']);
    assert.ok(await until(() => waiter.stdout().includes(`waiting ${request.id}`), 30_000), `the waiter did not start: ${waiter.stderr()}`);
    assert.ok(await until(() => decider.stdout() === 'ready\n', 30_000), `the decider did not start: ${decider.stderr()}`);
    const deciderResult = await killed(decider);
    assert.equal(deciderResult.stdout, 'ready\n', 'the decider never decided');

    assert.ok(!fs.existsSync(path.join(approvals, `${request.id}.decision.json`)), 'no decision is on file');
    assert.deepEqual((await listed(state)).map((item) => item.id), [request.id], 'the request is still pending');
    assert.equal(waiter.child.exitCode, null, 'the waiter is still waiting');

    const approved = await airlock(state, ['approve', request.id]);
    assert.equal(approved.status, 0, approved.stderr);
    const waited = await waiter.result;
    assert.equal(waited.status, 0, waited.stderr);
    const seen = approvalDecisionSchema.parse(JSON.parse(waited.stdout.trim().split('\n').at(-1)!));
    assert.deepEqual({ id: seen.id, decision: seen.decision, by: seen.by, scope: seen.scope }, { id: request.id, decision: 'allow', by: ME, scope: 'once' });
    assert.ok(Date.now() < Date.parse(request.expiresAt), 'the allow came well before the timeout');
    const decided = decidedFor(auditOf(state, id), request.id);
    assert.equal(decided.length, 1);
    assert.equal((decided[0].decision as { decision: string }).decision, 'allow');
  });

  test('the waiter is SIGKILLed: the request stays listed until it expires, then is recorded as denied by airlock', SLOW, async () => {
    const state = makeTempDir('airlock-appr-state-');
    const { store, id, approvals } = bareTask(state);
    const request = new ApprovalBoard(store).queue(id).request(commandInput('touch /workspace/orphan.txt'), 6000);
    const waiter = script('waiter.mts', [state, id, request.id]);
    assert.ok(await until(() => waiter.stdout().includes(`waiting ${request.id}`), 30_000), `the waiter did not start: ${waiter.stderr()}`);
    await killed(waiter);

    const stillListed = await listed(state);
    assert.ok(Date.now() < Date.parse(request.expiresAt), 'the waiter took too long to start; raise the request timeout');
    assert.deepEqual(stillListed.map((item) => item.id), [request.id], 'an orphaned request is still offered to reviewers until it expires');
    assert.ok(!fs.existsSync(path.join(approvals, `${request.id}.decision.json`)));

    await sleep(Math.max(0, Date.parse(request.expiresAt) - Date.now()) + 200);
    assert.deepEqual(await listed(state), []);
    const decision = readDecisionFile(approvals, request.id);
    assert.deepEqual({ decision: decision.decision, by: decision.by, reason: decision.reason }, { decision: 'deny', by: 'airlock', reason: 'no decision before the timeout' });
    const decided = decidedFor(auditOf(state, id), request.id);
    assert.equal(decided.length, 1);
    assert.deepEqual(decided[0].decision, decision);
  });
});

/**
 * realEngine() for a describe-level hook (its context has no skip()): in CI a missing engine still
 * throws; elsewhere the hook starts nothing and each test skips itself through realEngine(t).
 */
const engineForHook = () => realEngine({ skip: () => undefined } as unknown as TestContext);

const startTask = (state: string, workspace: string, flags: string[]) => startTaskVia((args, timeoutMs) => airlock(state, args, timeoutMs), workspace, flags, 120_000);
const stopTask = (state: string, id: string) => stopTaskVia((args, timeoutMs) => airlock(state, args, timeoutMs), id);

const WAITING = /^airlock: waiting for approval ([a-f0-9]{24}) \(approve in the Airlock panel or with `airlock approve \1`\)$/m;

/** Waits for a gated exec to print its waiting line; returns the request id. */
async function waitingId(running: Running): Promise<string> {
  assert.ok(await until(() => WAITING.test(running.stderr()) || running.child.exitCode !== null, 30_000), `no waiting line: ${running.stderr()}`);
  const match = WAITING.exec(running.stderr());
  assert.ok(match, `the exec ended without waiting: ${running.stderr()}`);
  return match[1];
}

const lines = (text: string) => text.split('\n').filter((line) => line !== '');

describe('command policy in `airlock exec` of a real task (integration)', () => {
  let state = '';
  let gated = '';
  let quick = '';

  before(async () => {
    if (!(await engineForHook())) return;
    state = makeTempDir('airlock-appr-state-');
    const workspace = makeTempDir('airlock-appr-ws-');
    fs.writeFileSync(path.join(workspace, 'README.md'), 'gates\n');
    gated = await startTask(state, workspace, ['--command-deny', 'curl', '--command-ask', 'touch', '--approval-timeout', '20']);
    quick = await startTask(state, workspace, ['--approval-timeout', '2']);
  });

  after(async () => {
    if (gated) await stopTask(state, gated);
    if (quick) await stopTask(state, quick);
  });

  const audit = async (id: string) => {
    const result = await airlock(state, ['audit', id]);
    assert.equal(result.status, 0, result.stderr);
    return lines(result.stdout).map((line) => JSON.parse(line) as AuditEntry);
  };
  const ran = (records: AuditEntry[], argv: string[]) => records.filter((record) => record.type === 'command' && JSON.stringify(record.argv) === JSON.stringify(argv));
  const gatedRecords = (records: AuditEntry[], command: string) => records.filter((record) => record.type === 'command.gated' && record.command === command);

  test('`policy check` with the task\'s rules: 0 allow, 1 ask, 2 deny', SLOW, async (t) => {
    if (!(await realEngine(t))) return;
    const check = (argv: string[]) => airlock(state, ['policy', 'check', '--task', gated, '--', ...argv]);
    assert.equal((await check(['ls', '-la'])).status, 0);
    assert.equal((await check(['touch', 'x'])).status, 1);
    assert.equal((await check(['git', 'push'])).status, 1);
    const denied = await check(['sh', '-c', 'curl x']);
    assert.equal(denied.status, 2);
    assert.match(denied.stdout, /deny: curl x: task deny rule "curl"/);
  });

  test('a deny rule: exit 126, one stderr line naming the rule, a command.gated record and no command record', SLOW, async (t) => {
    if (!(await realEngine(t))) return;
    const direct = await airlock(state, ['exec', gated, '--', 'curl', 'http://127.0.0.1:1']);
    assert.equal(direct.status, 126, direct.stderr);
    assert.equal(direct.stdout, '');
    assert.equal(lines(direct.stderr).length, 1, `one line: ${JSON.stringify(direct.stderr)}`);
    assert.ok(direct.stderr.endsWith('\n'));
    assert.match(direct.stderr, /^airlock: refused: curl http:\/\/127\.0\.0\.1:1: .*"curl"/);

    const nested = await airlock(state, ['exec', gated, '--', 'sh', '-c', 'curl x']);
    assert.equal(nested.status, 126, nested.stderr);
    assert.equal(lines(nested.stderr).length, 1, `one line: ${JSON.stringify(nested.stderr)}`);
    assert.match(nested.stderr, /^airlock: refused: curl x: .*"curl"/);

    const records = await audit(gated);
    const first = gatedRecords(records, 'curl http://127.0.0.1:1');
    assert.equal(first.length, 1, JSON.stringify(records.filter((record) => record.type === 'command.gated')));
    assert.equal(first[0].decision, 'deny');
    assert.equal(first[0].cwd, '/workspace');
    assert.deepEqual((first[0].findings as Array<{ decision: string; rule: string }>).map((finding) => [finding.decision, finding.rule]), [['deny', 'curl']]);
    const second = gatedRecords(records, "sh -c 'curl x'");
    assert.equal(second.length, 1);
    assert.equal(second[0].decision, 'deny');
    assert.deepEqual(ran(records, ['curl', 'http://127.0.0.1:1']), [], 'a refused command has no command record');
    assert.deepEqual(ran(records, ['sh', '-c', 'curl x']), []);
    assert.equal(records.filter((record) => record.type === 'approval.requested').length, 0, 'a deny rule asks nobody');
  });

  test('an ask rule waits; `approve --scope task` from another process runs it, and the same command later runs without asking', SLOW, async (t) => {
    if (!(await realEngine(t))) return;
    const argv = ['touch', '/workspace/gated.txt'];
    const pending = airlockBg(state, ['exec', gated, '--', ...argv]);
    const requestId = await waitingId(pending);
    const offered = await listed(state, ['--task', gated]);
    assert.deepEqual(offered.map((item) => [item.id, item.kind, item.subject, item.cwd]), [[requestId, 'command', 'touch /workspace/gated.txt', '/workspace']]);
    assert.match(offered[0].reason, /task ask rule "touch"/);
    assert.equal(pending.child.exitCode, null, 'the command waits for the reviewer');
    const before = await airlock(state, ['exec', gated, '--', 'test', '-e', '/workspace/gated.txt']);
    assert.equal(before.status, 1, 'nothing ran while the request waited');

    const approved = await airlock(state, ['approve', requestId, '--scope', 'task']);
    assert.equal(approved.status, 0, approved.stderr);
    assert.match(approved.stdout, /allowed for the rest of the task/);
    const result = await pending.result;
    assert.equal(result.status, 0, result.stderr);
    assert.equal(lines(result.stderr).length, 1, `only the waiting line: ${result.stderr}`);
    const exists = await airlock(state, ['exec', gated, '--', 'test', '-f', '/workspace/gated.txt']);
    assert.equal(exists.status, 0, exists.stderr);

    const requestsBefore = (await audit(gated)).filter((record) => record.type === 'approval.requested').length;
    const again = await airlock(state, ['exec', gated, '--', ...argv], 30_000);
    assert.equal(again.status, 0, again.stderr);
    assert.doesNotMatch(again.stderr, /waiting for approval/);
    assert.ok(again.ms < 15_000, `the granted command took ${again.ms} ms`);
    const records = await audit(gated);
    assert.equal(records.filter((record) => record.type === 'approval.requested').length, requestsBefore, 'no new request');
    const gates = gatedRecords(records, 'touch /workspace/gated.txt');
    assert.equal(gates.length, 2);
    assert.equal(gates[0].grantedBy, undefined);
    assert.equal(gates[1].grantedBy, requestId, 'the second run names the grant that let it through');
    assert.equal(ran(records, argv).length, 2);
    assert.deepEqual(ran(records, argv).map((record) => record.exitCode), [0, 0]);
  });

  test('another ask command denied with --reason: 126, and the refusal line carries the reason and the denier', SLOW, async (t) => {
    if (!(await realEngine(t))) return;
    const argv = ['touch', '/workspace/denied.txt'];
    const pending = airlockBg(state, ['exec', gated, '--', ...argv]);
    const requestId = await waitingId(pending);
    const denied = await airlock(state, ['deny', requestId.slice(0, 10), '--reason', 'not in this task']);
    assert.equal(denied.status, 0, denied.stderr);
    const result = await pending.result;
    assert.equal(result.status, 126, result.stderr);
    assert.equal(result.stdout, '');
    const [waitingLine, refusal, ...rest] = lines(result.stderr);
    assert.match(waitingLine, WAITING);
    assert.deepEqual(rest, [], result.stderr);
    assert.match(refusal, new RegExp(`^airlock: refused: touch /workspace/denied\\.txt: .*${requestId}.*denied by ${ME}: not in this task$`));
    const exists = await airlock(state, ['exec', gated, '--', 'test', '-e', '/workspace/denied.txt']);
    assert.equal(exists.status, 1, 'the refused command never ran');
    const records = await audit(gated);
    assert.deepEqual(ran(records, argv), []);
    const decided = decidedFor(records, requestId);
    assert.equal(decided.length, 1);
    assert.deepEqual({ ...(decided[0].decision as Record<string, unknown>), at: undefined }, { id: requestId, decision: 'deny', scope: 'once', by: ME, reason: 'not in this task', at: undefined });
  });

  test('an exec that gives up (SIGTERM) while waiting ends its request as denied by airlock, at once', SLOW, async (t) => {
    if (!(await realEngine(t))) return;
    const pending = airlockBg(state, ['exec', gated, '--', 'touch', '/workspace/abandoned.txt']);
    const requestId = await waitingId(pending);
    pending.child.kill('SIGTERM');
    const result = await pending.result;
    assert.equal(result.status, 126, result.stderr);
    assert.ok(result.ms < 15_000, `took ${result.ms} ms, about the 20 s approval timeout`);
    const decided = decidedFor(await audit(gated), requestId);
    assert.equal(decided.length, 1);
    const decision = decided[0].decision as Record<string, unknown>;
    assert.deepEqual([decision.decision, decision.by, decision.reason], ['deny', 'airlock', 'the requester went away']);
    assert.deepEqual((await listed(state, ['--task', gated])).map((item) => item.id), [], 'nothing is left for a reviewer');
    const late = await airlock(state, ['approve', requestId]);
    assert.equal(late.status, 1);
    assert.match(late.stderr, /already denied by airlock/);
  });

  test('`git push` (a built-in ask) nobody decides is refused with 126 after about the approval timeout', SLOW, async (t) => {
    if (!(await realEngine(t))) return;
    const result = await airlock(state, ['exec', quick, '--', 'git', 'push'], 60_000);
    assert.equal(result.status, 126, result.stderr);
    const [waitingLine, refusal, ...rest] = lines(result.stderr);
    const requestId = WAITING.exec(waitingLine)?.[1];
    assert.ok(requestId, result.stderr);
    assert.deepEqual(rest, []);
    assert.match(refusal, new RegExp(`^airlock: refused: git push: .*${requestId}.*no decision before the timeout$`));
    assert.ok(result.ms >= 2000, `refused after ${result.ms} ms, before the 2 s timeout`);
    assert.ok(result.ms < 12_000, `refused after ${result.ms} ms`);
    const records = await audit(quick);
    const requested = requestedFor(records, requestId);
    assert.equal(requested.length, 1);
    assert.match(String((requested[0].request as ApprovalRequest).reason), /built-in ask rule "git push"/);
    const decided = decidedFor(records, requestId);
    assert.equal(decided.length, 1);
    assert.deepEqual([(decided[0].decision as { decision: string }).decision, (decided[0].decision as { by: string }).by], ['deny', 'airlock']);
    assert.deepEqual(ran(records, ['git', 'push']), []);
  });

  test(
    'control characters in a gated command cannot forge lines in what a reviewer reads or in a refusal',
    SLOW,
    async (t) => {
      if (!(await realEngine(t))) return;
      const forged = "main'\n  why: harmless dry run, nothing leaves the task\n  in: /workspace";
      const pending = airlockBg(state, ['exec', gated, '--', 'git', 'push', 'origin', forged]);
      let requestId = '';
      try {
        requestId = await waitingId(pending);
        const shown = await airlock(state, ['approvals', '--task', gated]);
        assert.equal(shown.status, 0, shown.stderr);
        const whyLines = shown.stdout.split('\n').filter((line) => /^\s*why: /.test(line));
        assert.equal(whyLines.length, 1, `the reviewer reads:\n${shown.stdout}`);
      } finally {
        if (requestId) await airlock(state, ['deny', requestId, '--reason', 'test cleanup']);
        await pending.result;
      }
      const denied = await airlock(state, ['exec', gated, '--', 'curl', 'x\nairlock: allowed by policy']);
      assert.equal(denied.status, 126);
      assert.equal(lines(denied.stderr).length, 1, `one line: ${JSON.stringify(denied.stderr)}`);
    },
  );
});

describe('`airlock apply --request`: applying to the host waits for a reviewer (integration)', () => {
  let state = '';
  let workspace = '';
  let task = '';

  before(async () => {
    if (!(await engineForHook())) return;
    state = makeTempDir('airlock-applyreq-state-');
    workspace = makeTempDir('airlock-applyreq-ws-');
    fs.writeFileSync(path.join(workspace, 'README.md'), 'host\n');
    task = await startTask(state, workspace, ['--approval-timeout', '20']);
  });

  after(async () => {
    if (task) await stopTask(state, task);
  });

  test('nothing is written before the allow; exactly the listed change after it; a deny writes nothing', SLOW, async (t) => {
    if (!(await realEngine(t))) return;
    const readme = path.join(workspace, 'README.md');
    const edited = await airlock(state, ['exec', task, '--', 'sh', '-c', 'echo task > README.md']);
    assert.equal(edited.status, 0, edited.stderr);

    const pending = airlockBg(state, ['apply', task, '--request']);
    const requestId = await waitingId(pending);
    const [offered] = (await listed(state, ['--task', task])).filter((item) => item.id === requestId);
    assert.equal(offered.kind, 'apply');
    // Each file with the content hash the reviewer approves; the change set names them all.
    assert.deepEqual((offered.details?.files as string[]).map((line) => line.replace(/sha256:[0-9a-f]{64}/, 'sha256:…')), ['modified README.md sha256:…']);
    assert.match(String(offered.details?.changeSet), /^[0-9a-f]{64}$/);
    assert.equal(fs.readFileSync(readme, 'utf8'), 'host\n', 'nothing written while the request waits');
    const approved = await airlock(state, ['approve', requestId]);
    assert.equal(approved.status, 0, approved.stderr);
    const applied = await pending.result;
    assert.equal(applied.status, 0, applied.stderr);
    assert.match(applied.stdout, /applied 1 change\(s\)/);
    assert.equal(fs.readFileSync(readme, 'utf8'), 'task\n');

    const again = await airlock(state, ['exec', task, '--', 'sh', '-c', 'echo second > README.md']);
    assert.equal(again.status, 0, again.stderr);
    const refused = airlockBg(state, ['apply', task, '--request']);
    const second = await waitingId(refused);
    const denied = await airlock(state, ['deny', second, '--reason', 'not this one']);
    assert.equal(denied.status, 0, denied.stderr);
    const outcome = await refused.result;
    assert.equal(outcome.status, 1);
    assert.match(outcome.stderr, /apply refused: denied by .+: not this one; nothing was written/);
    assert.equal(fs.readFileSync(readme, 'utf8'), 'task\n', 'a deny writes nothing');
  });

  test('--no-wait files the request and returns; `airlock approve` writes exactly it, once, and the audit names the request', SLOW, async (t) => {
    if (!(await realEngine(t))) return;
    const notes = path.join(workspace, 'notes.txt');
    const edited = await airlock(state, ['exec', task, '--', 'sh', '-c', 'echo from-the-box > notes.txt']);
    assert.equal(edited.status, 0, edited.stderr);
    const filed = await airlock(state, ['apply', task, 'notes.txt', '--request', '--no-wait']);
    assert.equal(filed.status, 0, filed.stderr);
    const requestId = filed.stdout.trim();
    assert.match(requestId, /^[0-9a-f]{24}$/);
    assert.match(filed.stderr, /approving it writes it/);
    const [offered] = (await listed(state, ['--task', task])).filter((item) => item.id === requestId);
    assert.equal(offered.details?.writer, 'reviewer');
    // The box changes after the request: what is written is what the request named.
    assert.equal((await airlock(state, ['exec', task, '--', 'sh', '-c', 'echo later > notes.txt'])).status, 0);
    assert.equal(fs.existsSync(notes), false, 'nothing written while it waits');

    const approved = await airlock(state, ['approve', requestId.slice(0, 8), '--json']);
    assert.equal(approved.status, 0, approved.stderr);
    assert.match(approved.stderr, new RegExp(`^${requestId} allowed once; writing it: apply 1 change`, 'm'));
    const report = JSON.parse(approved.stdout) as { written: Array<{ path: string; action: string }>; reviewed: boolean };
    assert.deepEqual(report.written.map((item) => `${item.action} ${item.path}`), ['write notes.txt']);
    assert.equal(report.reviewed, true);
    assert.equal(fs.readFileSync(notes, 'utf8'), 'from-the-box\n', 'the requested content, not the later one');
    const applied = auditOf(state, task).filter((record) => record.type === 'changes.applied' && record.request === requestId);
    assert.equal(applied.length, 1, 'one apply, naming its request');

    const twice = await airlock(state, ['approve', requestId]);
    assert.equal(twice.status, 1);
    assert.match(twice.stderr, /was already allowed by .+; your decision was not recorded/);
    assert.equal(auditOf(state, task).filter((record) => record.type === 'changes.applied' && record.request === requestId).length, 1, 'never written twice');
    fs.rmSync(notes);
  });

  test('--no-wait without --request is refused with one line', SLOW, async (t) => {
    if (!(await realEngine(t))) return;
    const refused = await airlock(state, ['apply', task, '--no-wait']);
    assert.equal(refused.status, 2);
    assert.equal(refused.stderr, 'airlock: apply: --no-wait goes with --request (it files a request and returns)\n');
  });
});
