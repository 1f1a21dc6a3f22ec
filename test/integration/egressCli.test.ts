import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { ApprovalQueue } from '../../src/core/approvals/approvalQueue.js';
import { AuditLog } from '../../src/core/audit/auditLog.js';
import { startOrigin, type Origin } from '../helpers/egressFixtures.js';
import { copyBundle } from '../helpers/cliBundle.js';
import { type CliResult, launchNode, sleep, startTask as startTaskVia, stopTask as stopTaskVia, until } from '../helpers/cliProcess.js';
import { realEngine, TEST_IMAGE } from '../helpers/realEngine.js';
import { makeTempDir, removeTempDirs } from '../helpers/tempWorkspace.js';

const SLOW = { timeout: 120_000 };

/** Every name the tests use maps to host loopback, so a refusal can only come from the rules. */
const RESOLVE = {
  'api.example.test': '127.0.0.1',
  'other.example.test': '127.0.0.1',
  'registry.example.test': '127.0.0.1',
  'unlisted.example.test': '127.0.0.1',
};

type NetRecord = Record<string, unknown> & { type: string; time: string };

let cli = '';

/**
 * Runs the bundled CLI without blocking this process: the origin servers the tasks reach live in
 * this process, so a synchronous spawn would stop them from answering.
 */
function airlock(state: string, args: string[], timeoutMs = 110_000): Promise<CliResult> {
  return launchNode([cli, ...args], { env: { AIRLOCK_STATE_DIR: state, AIRLOCK_IMAGE: TEST_IMAGE, AIRLOCK_TEST_RESOLVE: JSON.stringify(RESOLVE) }, timeoutMs }).result;
}

const startTask = (state: string, workspace: string, flags: string[]) => startTaskVia((args, timeoutMs) => airlock(state, args, timeoutMs), workspace, flags);
const stopTask = (state: string, id: string) => stopTaskVia((args, timeoutMs) => airlock(state, args, timeoutMs), id);

async function netJson(state: string, id: string): Promise<NetRecord[]> {
  const result = await airlock(state, ['net', id, '--json']);
  assert.equal(result.status, 0, result.stderr);
  const records = JSON.parse(result.stdout) as NetRecord[];
  assert.ok(Array.isArray(records), '`net --json` prints one array');
  return records;
}

const attempts = (records: NetRecord[]) => records.filter((record) => record.type === 'network');

/** Polls `net --json` until `ready` holds (records are logged when a connection ends, a moment after curl exits). */
async function netJsonUntil(state: string, id: string, ready: (records: NetRecord[]) => boolean, timeoutMs = 10_000): Promise<NetRecord[]> {
  const deadline = Date.now() + timeoutMs;
  let records = await netJson(state, id);
  while (!ready(records) && Date.now() < deadline) {
    await sleep(200);
    records = await netJson(state, id);
  }
  return records;
}

function gatewayPid(records: NetRecord[]): number {
  const started = records.find((record) => record.type === 'network.gateway' && record.event === 'started');
  assert.ok(started, 'a network.gateway started record');
  assert.equal(typeof started.pid, 'number');
  return started.pid as number;
}

/** Whether a process with this pid exists (process.kill(pid, 0) does not throw ESRCH). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
}

/** `airlock gateway …` processes of this bundle serving the given state folder. */
function gatewayProcesses(state: string): number[] {
  const found: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (argv[1] !== cli || argv[2] !== 'gateway') continue;
      const env = fs.readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      if (env.includes(`AIRLOCK_STATE_DIR=${state}`) && alive(Number(entry))) found.push(Number(entry));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

/**
 * realEngine() for a describe-level hook, whose context (a SuiteContext) has no skip(): in CI a
 * missing engine still throws, failing the suite; elsewhere the hook just starts nothing and each
 * test skips itself through realEngine(t).
 */
const engineForHook = () => realEngine({ skip: () => undefined } as unknown as TestContext);

before(() => {
  cli = copyBundle(makeTempDir('airlock-egcli-bundle-'));
});

after(() => removeTempDirs());

/** One task for rules, limits and, last, the gateway's death: --allow api… --allow-cidr 127.0.0.1/32 --max-connections 1. */
describe('`airlock start --allow` with the detached gateway (integration)', () => {
  let origin: Origin;
  let state = '';
  let id = '';
  let url = '';

  before(async () => {
    origin = await startOrigin();
    url = `http://api.example.test:${origin.port}`;
    if (!(await engineForHook())) return;
    state = makeTempDir('airlock-egcli-state-');
    const workspace = makeTempDir('airlock-egcli-ws-');
    fs.writeFileSync(path.join(workspace, 'README.md'), 'egress\n');
    id = await startTask(state, workspace, ['--allow', 'api.example.test', '--allow-cidr', '127.0.0.1/32', '--max-connections', '1']);
  });

  after(async () => {
    if (id) await stopTask(state, id);
    await origin?.close();
  });

  test('an allowed name is reached, another is refused with 403 before any connection, and `net` shows one record per attempt', SLOW, async (t) => {
    if (!(await realEngine(t))) return;
    assert.ok(id, 'the task did not start');
    const hello = await airlock(state, ['exec', id, '--', 'curl', '-sS', `${url}/hello/cli`]);
    assert.equal(hello.status, 0, hello.stderr);
    assert.equal(hello.stdout, `hello cli via api.example.test:${origin.port}\n`);
    const reached = origin.connections();
    assert.equal(reached, 1);

    const other = await airlock(state, ['exec', id, '--', 'curl', '-sS', '-o', '/dev/null', '-w', '%{http_code}', `http://other.example.test:${origin.port}/hello/x`]);
    assert.equal(other.status, 0, other.stderr);
    assert.equal(other.stdout, '403');
    assert.equal(origin.connections(), reached, 'a refused name never reaches the origin');

    const records = await netJsonUntil(state, id, (list) => attempts(list).length >= 2);
    const tried = attempts(records);
    assert.equal(tried.length, 2, JSON.stringify(tried));
    const [allowed, denied] = tried;
    assert.equal(allowed.decision, 'allow');
    assert.equal(allowed.host, 'api.example.test');
    assert.equal(allowed.port, origin.port);
    assert.equal(allowed.address, '127.0.0.1');
    assert.equal(allowed.phase, 'agent');
    assert.equal(allowed.method, 'GET');
    assert.match(String(allowed.rule), /allow api\.example\.test/);
    assert.ok((allowed.bytesUp as number) > 0 && (allowed.bytesDown as number) > 0, 'bytes both ways are counted');
    assert.equal(denied.decision, 'deny');
    assert.equal(denied.host, 'other.example.test');
    assert.equal(denied.status, 403);
    assert.equal(denied.address, undefined, 'a refused name is never resolved');
    assert.match(String(denied.reason), /not on the agent allowlist/);
    for (const record of records) assert.equal(record.task, id);
    const started = records.filter((record) => record.type === 'network.gateway');
    assert.equal(started.length, 1);
    assert.equal(started[0].event, 'started');
    assert.ok(records.indexOf(started[0]) < records.indexOf(allowed));

    const text = await airlock(state, ['net', id]);
    assert.equal(text.status, 0, text.stderr);
    const lines = text.stdout.split('\n');
    assert.match(lines[0], new RegExp(`^network: allowlist; gateway running \\(pid ${gatewayPid(records)}, phase agent, \\d+ open\\)$`));
    assert.match(lines[1], /^TIME\s+PHASE\s+EVENT\s+TARGET\s+ADDRESS/);
    assert.match(text.stdout, new RegExp(`^.*allow\\s+GET api\\.example\\.test:${origin.port}\\s+127\\.0\\.0\\.1 .*allow api\\.example\\.test`, 'm'));
    assert.match(text.stdout, new RegExp(`^.*deny\\s+GET other\\.example\\.test:${origin.port}\\s`, 'm'));
  });

  test('--max-connections 1: a second connection while one is open gets 503 and a network.limit record', SLOW, async (t) => {
    if (!(await realEngine(t))) return;
    assert.ok(id, 'the task did not start');
    const before = origin.connections();
    const script = `curl -sS ${url}/slow --max-time 4 >/dev/null & sleep 1; curl -sS -o /dev/null -w '%{http_code}' ${url}/hello/x; wait`;
    const result = await airlock(state, ['exec', id, '--', 'sh', '-c', script]);
    assert.equal(result.stdout, '503', result.stderr);
    assert.equal(origin.connections(), before + 1, 'only the slow connection reached the origin');
    const records = await netJsonUntil(state, id, (list) => attempts(list).some((record) => record.status === 503) && attempts(list).some((record) => record.host === 'api.example.test' && record.rule !== 'limit maxConnections' && (record.durationMs as number) >= 3000));
    const limit = records.filter((record) => record.type === 'network.limit');
    assert.equal(limit.length, 1, JSON.stringify(limit));
    assert.equal(limit[0].limit, 'maxConnections');
    assert.equal(limit[0].value, 1);
    const refused = attempts(records).filter((record) => record.status === 503);
    assert.equal(refused.length, 1);
    assert.equal(refused[0].decision, 'deny');
    assert.equal(refused[0].rule, 'limit maxConnections');
  });

  test('fails closed when the gateway process is killed: no connection gets out and `net` says it is not running', SLOW, async (t) => {
    if (!(await realEngine(t))) return;
    assert.ok(id, 'the task did not start');
    const pid = gatewayPid(await netJson(state, id));
    assert.ok(alive(pid), `gateway ${pid} is running`);
    const before = origin.connections();
    process.kill(pid, 'SIGKILL');
    assert.ok(await until(() => !alive(pid), 5000), `gateway ${pid} is gone`);

    let refusedAfterMs = -1;
    const killedAt = Date.now();
    const outcomes: string[] = [];
    while (Date.now() - killedAt < 10_000) {
      const tried = await airlock(state, ['exec', id, '--', 'curl', '-sS', '--max-time', '5', `${url}/hello/x`]);
      outcomes.push(`${tried.status}: ${tried.stdout.trim()} ${tried.stderr.trim()}`);
      assert.equal(origin.connections(), before, `nothing reaches the origin once the gateway is dead (${outcomes.join(' | ')})`);
      if (tried.status !== 0) {
        refusedAfterMs = Date.now() - killedAt;
        break;
      }
      await sleep(250);
    }
    assert.ok(refusedAfterMs >= 0, `curl kept succeeding after the gateway was killed: ${outcomes.join(' | ')}`);
    t.diagnostic(`attempts after the kill: ${outcomes.join(' | ')}`);
    assert.equal(origin.connections(), before);

    const text = await airlock(state, ['net', id]);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout.split('\n')[0], /^network: allowlist; gateway not running/);

    // `net --restart` brings it back, in the agent phase, and the allowlist works again.
    const restarted = await airlock(state, ['net', id, '--restart']);
    assert.equal(restarted.status, 0, restarted.stderr);
    assert.match(restarted.stderr, /gateway restarted/);
    assert.match(restarted.stdout.split('\n')[0], /^network: allowlist; gateway running \(pid \d+, phase agent, /);
    const again = await airlock(state, ['exec', id, '--', 'curl', '-sS', '--max-time', '5', `${url}/hello/back`]);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /^hello back via /);
    const twice = await airlock(state, ['net', id, '--restart']);
    assert.match(twice.stderr, /already running/);
  });
});

/** Setup commands under their own rules, then the agent phase; and `stop` ending the gateway. */
describe('`airlock start --setup-allow … --setup …` (integration)', () => {
  let origin: Origin;
  let state = '';
  let id = '';
  let registry = '';

  before(async () => {
    origin = await startOrigin();
    registry = `http://registry.example.test:${origin.port}`;
    if (!(await engineForHook())) return;
    state = makeTempDir('airlock-egcli-state-');
    const workspace = makeTempDir('airlock-egcli-ws-');
    fs.writeFileSync(path.join(workspace, 'README.md'), 'setup\n');
    id = await startTask(state, workspace, [
      '--setup-allow', 'registry.example.test',
      '--allow', 'api.example.test',
      '--allow-cidr', '127.0.0.1/32',
      '--setup', `curl -sSf ${registry}/hello/setup > /workspace/setup.out`,
    ]);
  });

  after(async () => {
    if (id) await stopTask(state, id);
    await origin?.close();
  });

  test('the setup command reaches its registry; afterwards the agent cannot, and the phase switch is logged in between', SLOW, async (t) => {
    if (!(await realEngine(t))) return;
    assert.ok(id, 'the task did not start');
    assert.equal(origin.connections(), 1, 'the setup command connected once');
    const out = await airlock(state, ['exec', id, '--', 'cat', '/workspace/setup.out']);
    assert.equal(out.status, 0, out.stderr);
    assert.equal(out.stdout, `hello setup via registry.example.test:${origin.port}\n`);

    const agentRegistry = await airlock(state, ['exec', id, '--', 'curl', '-sS', '-o', '/dev/null', '-w', '%{http_code}', `${registry}/hello/agent`]);
    assert.equal(agentRegistry.status, 0, agentRegistry.stderr);
    assert.equal(agentRegistry.stdout, '403');
    assert.equal(origin.connections(), 1, 'the refused agent request never reached the origin');
    const agentApi = await airlock(state, ['exec', id, '--', 'curl', '-sS', `http://api.example.test:${origin.port}/hello/agent`]);
    assert.equal(agentApi.status, 0, agentApi.stderr);
    assert.equal(agentApi.stdout, `hello agent via api.example.test:${origin.port}\n`);

    const records = await netJsonUntil(state, id, (list) => attempts(list).length >= 3);
    const tried = attempts(records);
    assert.equal(tried.length, 3, JSON.stringify(tried));
    const [setupCall, agentDenied, agentAllowed] = tried;
    assert.deepEqual([setupCall.phase, setupCall.host, setupCall.decision, setupCall.address], ['setup', 'registry.example.test', 'allow', '127.0.0.1']);
    assert.match(String(setupCall.rule), /allow registry\.example\.test/);
    assert.deepEqual([agentDenied.phase, agentDenied.host, agentDenied.decision, agentDenied.status], ['agent', 'registry.example.test', 'deny', 403]);
    assert.deepEqual([agentAllowed.phase, agentAllowed.host, agentAllowed.decision], ['agent', 'api.example.test', 'allow']);

    const phases = records.filter((record) => record.type === 'network.phase');
    assert.equal(phases.length, 1, JSON.stringify(phases));
    assert.equal(phases[0].from, 'setup');
    assert.equal(phases[0].to, 'agent');
    assert.equal(typeof phases[0].closedConnections, 'number');
    const at = (record: NetRecord) => records.indexOf(record);
    assert.ok(at(setupCall) < at(phases[0]), 'the setup connection is logged before the phase switch');
    assert.ok(at(phases[0]) < at(agentDenied), 'the phase switch is logged before the agent connection');
  });

  test('`stop` ends the gateway process and the log ends with network.gateway stopped', SLOW, async (t) => {
    if (!(await realEngine(t))) return;
    assert.ok(id, 'the task did not start');
    const pid = gatewayPid(await netJson(state, id));
    assert.ok(alive(pid), `gateway ${pid} is running before stop`);
    const stopped = await airlock(state, ['stop', id]);
    assert.equal(stopped.status, 0, stopped.stderr);
    assert.equal(stopped.stdout, `${id} destroyed\n`);
    assert.ok(await until(() => !alive(pid), 5000), `gateway ${pid} still exists 5 s after stop`);
    const records = await netJsonUntil(state, id, (list) => list.at(-1)?.type === 'network.gateway' && list.at(-1)?.event === 'stopped', 5000);
    const last = records.at(-1)!;
    assert.equal(last.type, 'network.gateway');
    assert.equal(last.event, 'stopped');
    assert.equal(last.pid, pid);
    const text = await airlock(state, ['net', id]);
    assert.match(text.stdout.split('\n')[0], /^network: allowlist; gateway not running$/);
  });
});

describe('`airlock start` refusals (integration)', () => {
  let origin: Origin;

  before(async () => {
    origin = await startOrigin();
  });

  after(async () => {
    await origin?.close();
  });

  test('a failing setup command fails start, names setupCommands.0 and leaves no container, record or gateway behind', SLOW, async (t) => {
    const engine = await realEngine(t);
    if (!engine) return;
    const state = makeTempDir('airlock-egcli-state-');
    const workspace = makeTempDir('airlock-egcli-ws-');
    fs.writeFileSync(path.join(workspace, 'README.md'), 'fails\n');
    // Tasks are labelled with their workspace, so this finds exactly the containers these starts made.
    const containers = async () => (await engine.docker.listContainers({ all: true, filters: { label: ['airlock.task', `airlock.workspace=${workspace}`] } })).map((item) => item.Names.join(','));

    const failed = await airlock(state, ['start', '--workspace', workspace, '--setup-allow', 'registry.example.test', '--allow-cidr', '127.0.0.1/32', '--setup', 'exit 3']);
    assert.notEqual(failed.status, 0);
    assert.equal(failed.stdout, '', 'no task id is printed');
    assert.match(failed.stderr, /setupCommands\.0: "exit 3" exited with code 3; the task was not started/);

    // The setup phase may not use the agent's rules: this one can only fail.
    const origins = origin.connections();
    const crossing = await airlock(state, ['start', '--workspace', workspace, '--setup-allow', 'registry.example.test', '--allow', 'api.example.test', '--allow-cidr', '127.0.0.1/32', '--setup', `curl -sSf http://api.example.test:${origin.port}/hello/x`]);
    assert.notEqual(crossing.status, 0);
    assert.match(crossing.stderr, /setupCommands\.0: .* exited with code 22/);
    assert.match(crossing.stderr, /403/);
    assert.equal(origin.connections(), origins);

    assert.deepEqual(await containers(), [], 'no airlock.task container remains for this workspace');
    assert.deepEqual(fs.readdirSync(path.join(state, 'tasks')), [], 'no task record remains');
    assert.ok(await until(() => gatewayProcesses(state).length === 0, 5000), `gateway processes left: ${gatewayProcesses(state).join(', ')}`);
  });

  test('contradictory or malformed network flags are refused, naming the option', SLOW, async (t) => {
    if (!(await realEngine(t))) return;
    const state = makeTempDir('airlock-egcli-state-');
    const workspace = makeTempDir('airlock-egcli-ws-');
    const start = (flags: string[]) => airlock(state, ['start', '--workspace', workspace, ...flags]);

    const contradictory = await start(['--network', 'deny', '--allow', 'x.example.test']);
    assert.equal(contradictory.status, 1);
    assert.match(contradictory.stderr, /^airlock: network: allow rules \(or ask\) were given with network "deny"/);
    const star = await start(['--allow', '*']);
    assert.equal(star.status, 1);
    assert.match(star.stderr, /--allow: "\*": a wildcard is only allowed as a leading "\*\."/);
    const cidr = await start(['--allow-cidr', '10.0.0.0/33']);
    assert.equal(cidr.status, 1);
    assert.match(cidr.stderr, /--allow-cidr: "10\.0\.0\.0\/33" is not an IP address or CIDR range/);
    const tld = await start(['--allow', '*.test']);
    assert.equal(tld.status, 1);
    assert.match(tld.stderr, /--allow: .*would match a whole top-level domain/);
    const size = await start(['--allow', 'api.example.test', '--max-net-bytes', 'lots']);
    assert.equal(size.status, 1);
    assert.match(size.stderr, /egress\.limits\.maxBytes/);
    for (const result of [contradictory, star, cidr, tld, size]) assert.equal(result.stdout, '');
    assert.ok(!fs.existsSync(path.join(state, 'tasks')) || fs.readdirSync(path.join(state, 'tasks')).length === 0, 'nothing was created');
  });
});

describe('`airlock start --ask` without a terminal (integration)', () => {
  let origin: Origin;
  let state = '';
  let workspace = '';

  before(async () => {
    origin = await startOrigin();
    state = makeTempDir('airlock-egcli-state-');
    workspace = makeTempDir('airlock-egcli-ws-');
    fs.writeFileSync(path.join(workspace, 'README.md'), 'ask\n');
  });

  after(async () => {
    await origin?.close();
  });

  test('an unlisted destination waits for the ask timeout, then is refused and the refusal is recorded as by airlock', SLOW, async (t) => {
    if (!(await realEngine(t))) return;
    const id = await startTask(state, workspace, ['--allow', 'api.example.test', '--allow-cidr', '127.0.0.1/32', '--ask', '--ask-timeout', '2']);
    t.after(() => stopTask(state, id));
    const before = origin.connections();
    const started = Date.now();
    const asked = await airlock(state, ['exec', id, '--', 'curl', '-sS', '-o', '/dev/null', '-w', '%{http_code}', `http://unlisted.example.test:${origin.port}/hello/x`]);
    const elapsed = Date.now() - started;
    assert.equal(asked.status, 0, asked.stderr);
    assert.equal(asked.stdout, '403');
    assert.ok(elapsed >= 1500, `refused after ${elapsed} ms, before the 2 s ask timeout`);
    assert.ok(elapsed < 30_000, `refused after ${elapsed} ms`);
    assert.equal(origin.connections(), before);

    const records = await netJsonUntil(state, id, (list) => attempts(list).length >= 1 && list.some((record) => record.type === 'approval.decided'));
    const requested = records.filter((record) => record.type === 'approval.requested');
    const decided = records.filter((record) => record.type === 'approval.decided');
    assert.equal(requested.length, 1, JSON.stringify(records));
    assert.equal(decided.length, 1, JSON.stringify(records));
    const request = requested[0].request as Record<string, unknown>;
    const decision = decided[0].decision as Record<string, unknown>;
    assert.equal(request.subject, `unlisted.example.test:${origin.port}`);
    assert.equal(request.kind, 'network');
    assert.equal(request.phase, 'agent');
    assert.equal(decision.id, request.id);
    assert.equal(decision.decision, 'deny');
    assert.equal(decision.by, 'airlock');
    const [refused] = attempts(records);
    assert.equal(refused.host, 'unlisted.example.test');
    assert.equal(refused.decision, 'deny');
    assert.equal(refused.status, 403);
    assert.equal(refused.address, undefined, 'an unanswered name is never resolved');
    assert.ok(records.indexOf(requested[0]) < records.indexOf(decided[0]));
  });

  test('an approval written to the queue while the request waits lets that one connection through', SLOW, async (t) => {
    if (!(await realEngine(t))) return;
    const id = await startTask(state, workspace, ['--allow', 'api.example.test', '--allow-cidr', '127.0.0.1/32', '--ask', '--ask-timeout', '60']);
    t.after(() => stopTask(state, id));
    const taskDir = path.join(state, 'tasks', id);
    const approvals = path.join(taskDir, 'approvals');
    const before = origin.connections();
    const pending = airlock(state, ['exec', id, '--', 'curl', '-sS', '--max-time', '50', `http://unlisted.example.test:${origin.port}/hello/approved`]);
    const requestFile = () => (fs.existsSync(approvals) ? fs.readdirSync(approvals).find((name) => name.endsWith('.request.json')) : undefined);
    assert.ok(await until(() => requestFile() !== undefined, 20_000), 'no approval request appeared');
    const requestId = requestFile()!.replace(/\.request\.json$/, '');
    const request = JSON.parse(fs.readFileSync(path.join(approvals, `${requestId}.request.json`), 'utf8')) as Record<string, unknown>;
    assert.equal(request.subject, `unlisted.example.test:${origin.port}`);
    assert.equal(origin.connections(), before, 'nothing is dialled while the request waits');

    const queue = new ApprovalQueue(approvals, id, new AuditLog(path.join(taskDir, 'audit.jsonl')));
    assert.equal(queue.decide(requestId, { decision: 'allow', scope: 'once', by: 'test' }), 'decided');
    const result = await pending;
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, `hello approved via unlisted.example.test:${origin.port}\n`);
    assert.equal(origin.connections(), before + 1);

    const records = await netJsonUntil(state, id, (list) => attempts(list).length >= 1);
    const decided = records.filter((record) => record.type === 'approval.decided');
    assert.equal(decided.length, 1, JSON.stringify(decided));
    assert.deepEqual({ ...(decided[0].decision as Record<string, unknown>), at: undefined }, { id: requestId, decision: 'allow', scope: 'once', by: 'test', at: undefined });
    const [allowed] = attempts(records);
    assert.equal(allowed.host, 'unlisted.example.test');
    assert.equal(allowed.decision, 'allow');
    assert.equal(allowed.address, '127.0.0.1');
    assert.match(String(allowed.rule), new RegExp(`^approval ${requestId}: once; allow-cidr 127\\.0\\.0\\.1/32$`));

    // "once" is once: the next request to the same name asks again (and, unanswered, is refused).
    const again = airlock(state, ['exec', id, '--', 'curl', '-sS', '-o', '/dev/null', '-w', '%{http_code}', `http://unlisted.example.test:${origin.port}/hello/again`]);
    assert.ok(await until(() => (fs.readdirSync(approvals).filter((name) => name.endsWith('.request.json')).length === 2), 20_000), 'the second request was not asked about');
    const second = fs.readdirSync(approvals).find((name) => name.endsWith('.request.json') && !name.startsWith(requestId))!.replace(/\.request\.json$/, '');
    assert.equal(queue.decide(second, { decision: 'deny', scope: 'once', by: 'test' }), 'decided');
    const refused = await again;
    assert.equal(refused.stdout, '403', refused.stderr);
    assert.equal(origin.connections(), before + 1);
  });
});
