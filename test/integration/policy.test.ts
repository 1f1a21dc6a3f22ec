import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import type { EngineConnection } from '../../src/core/engine/locateEngine.js';
import { buildTag } from '../../src/core/devcontainer/imageBuild.js';
import { copyBundle } from '../helpers/cliBundle.js';
import { type CliResult, launchNode, type Running, sleep, until } from '../helpers/cliProcess.js';
import { startOrigin, type Origin } from '../helpers/egressFixtures.js';
import { realEngine, TEST_IMAGE } from '../helpers/realEngine.js';
import { makeTempDir, removeTempDirs, writeFiles } from '../helpers/tempWorkspace.js';

/**
 * Team policy (.airlock.json) end to end through the bundled CLI against the real engine: live
 * tightening of a running task's command and egress rules, an invalid file keeping the last good
 * rules, acceptance of a repository's loosenings, machine floors, repository setup commands passing
 * the command rules, devcontainer.json refusals, stripping and Dockerfile builds, and
 * `policy validate` / `policy schema`.
 */

const SLOW = { timeout: 180_000 };
const BUILD = { timeout: 300_000 };
const HOOK = { timeout: 300_000 };
const RUN = randomBytes(4).toString('hex');

/** Names the tasks use; each maps to host loopback, so a refusal can only come from the rules. */
const RESOLVE = { 'api.example.test': '127.0.0.1' };

let cli = '';
let state = '';
/** Tasks started and not stopped yet; the last test and `after` stop them. */
const tasks = new Set<string>();
/** Every workspace a task was (or may have been) started from: containers are found by its label. */
const workspaces: string[] = [];
/** Images this file made (built by airlock, or a base image for the devcontainer build). */
const images = new Set<string>();

interface CliOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
}

/** The bundled CLI with this file's state folder; never blocks this process (the origin lives here). */
function airlockBg(args: string[], { env = {}, cwd, timeoutMs = 120_000 }: CliOptions = {}): Running {
  return launchNode([cli, ...args], {
    env: { AIRLOCK_STATE_DIR: state, AIRLOCK_IMAGE: TEST_IMAGE, AIRLOCK_TEST_RESOLVE: JSON.stringify(RESOLVE), AIRLOCK_MACHINE_POLICY: '', ...env },
    timeoutMs,
    cwd: cwd ?? state,
  });
}

const airlock = (args: string[], options: CliOptions = {}): Promise<CliResult> => airlockBg(args, options).result;

/** A fresh workspace folder holding `files`, remembered for the container checks. */
function workspace(files: Record<string, string>): string {
  const dir = makeTempDir('airlock-pol-ws-');
  writeFiles(dir, { 'README.md': 'policy test\n', ...files });
  workspaces.push(dir);
  return dir;
}

/**
 * `airlock start` with no --image (the policy, a devcontainer or $AIRLOCK_IMAGE decides) and a short
 * approval timeout, so nothing can wait long for a reviewer who never comes.
 */
async function start(ws: string, flags: string[] = [], options: CliOptions = {}): Promise<CliResult> {
  const result = await airlock(['start', '--workspace', ws, '--ttl', '900', '--approval-timeout', '3', ...flags], { timeoutMs: 240_000, ...options });
  const id = result.stdout.trim();
  if (result.status === 0 && /^[0-9a-f]{12}$/.test(id)) tasks.add(id);
  return result;
}

async function startOk(ws: string, flags: string[] = [], options: CliOptions = {}): Promise<{ id: string; result: CliResult }> {
  const result = await start(ws, flags, options);
  assert.equal(result.status, 0, `start failed: ${result.stderr}`);
  const id = result.stdout.trim();
  assert.match(id, /^[0-9a-f]{12}$/, `start printed ${JSON.stringify(result.stdout)}`);
  return { id, result };
}

async function stop(id: string): Promise<void> {
  const stopped = await airlock(['stop', id]);
  assert.equal(stopped.status, 0, `stop ${id}: ${stopped.stderr}`);
  tasks.delete(id);
}

const exec = (id: string, argv: string[], options: CliOptions = {}) => airlock(['exec', id, '--', ...argv], { timeoutMs: 60_000, ...options });

const lines = (text: string) => text.split('\n').filter((line) => line !== '');

type AuditEntry = Record<string, unknown> & { type: string };

async function audit(id: string): Promise<AuditEntry[]> {
  const result = await airlock(['audit', id]);
  assert.equal(result.status, 0, result.stderr);
  return lines(result.stdout).map((line) => JSON.parse(line) as AuditEntry);
}

interface LiveRules {
  commands: { allow: string[]; ask: string[]; deny: string[] };
  egress: { agent: { allow: string[]; allowCidr: string[]; deny: string[] } };
}

/** `policy show --task ID --json`: the task's live rules, and `error` while the file is invalid. */
async function liveOf(id: string, env: NodeJS.ProcessEnv = {}): Promise<{ status: number | null; live: { task: string; rules: LiveRules; error?: string; digest?: string } }> {
  const result = await airlock(['policy', 'show', '--task', id, '--json'], { env });
  return { status: result.status, live: JSON.parse(result.stdout) };
}

interface ShownPolicy {
  repository?: { file: string; digest: string; accepted: boolean };
  floors: string[];
  sources: Array<{ field: string; value: string; layer: string }>;
  loosenings: Array<{ field: string; value: string }>;
  ignored: Array<{ field: string; value: string }>;
  policy: { resources: { memory: number } };
}

async function shownJson(ws: string, env: NodeJS.ProcessEnv = {}): Promise<ShownPolicy> {
  const result = await airlock(['policy', 'show', '--workspace', ws, '--json'], { env });
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout) as ShownPolicy;
}

/** Containers (any state) labelled with this workspace: what a start left behind. */
async function containersOf(engine: EngineConnection, ws: string): Promise<string[]> {
  const found = await engine.docker.listContainers({ all: true, filters: { label: ['airlock.task', `airlock.workspace=${ws}`] } });
  return found.map((item) => `${item.Names.join(',')} (${item.State})`);
}

async function inspectTask(engine: EngineConnection, id: string) {
  const [found] = await engine.docker.listContainers({ all: true, filters: { label: [`airlock.task=${id}`] } });
  assert.ok(found, `no container for task ${id}`);
  return engine.docker.getContainer(found.Id).inspect();
}

/** `ls -a --json` entries of a workspace with no recorded end (a vanished box included): a failed start must leave none. */
async function liveRecordsOf(ws: string): Promise<string[]> {
  const listed = await airlock(['ls', '-a', '--json']);
  assert.equal(listed.status, 0, listed.stderr);
  return (JSON.parse(listed.stdout) as Array<{ id: string; workspace: string; destroyedAt?: string }>).filter((task) => task.workspace === ws && !task.destroyedAt).map((task) => task.id);
}

const execFileAsync = promisify(execFile);

/** `docker …` with a hard timeout. */
async function docker(args: string[], input?: string, timeoutMs = 240_000): Promise<string> {
  const child = execFileAsync('docker', args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 });
  if (input !== undefined) {
    child.child.stdin!.end(input);
  }
  return (await child).stdout;
}

/** Whether a process with this pid exists. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
}

const WAITING = /^airlock: waiting for approval ([a-f0-9]{24}) /m;

/**
 * realEngine() for a describe-level hook (its context has no skip()): in CI a missing engine still
 * throws; elsewhere the hook starts nothing and each test skips itself through realEngine(t).
 */
const engineForHook = () => realEngine({ skip: () => undefined } as unknown as TestContext);

before(() => {
  cli = copyBundle(makeTempDir('airlock-pol-bundle-'));
  state = makeTempDir('airlock-pol-state-');
}, { timeout: 30_000 });

after(async () => {
  // The safety net: the last test already stops everything and checks that nothing is left.
  for (const id of [...tasks]) await airlock(['stop', id], { timeoutMs: 60_000 }).catch(() => undefined);
  const engine = await engineForHook().catch(() => undefined);
  if (engine) {
    for (const ws of workspaces) {
      const found = await engine.docker.listContainers({ all: true, filters: { label: ['airlock.task', `airlock.workspace=${ws}`] } }).catch(() => []);
      for (const item of found) await engine.docker.getContainer(item.Id).remove({ force: true, v: true }).catch(() => undefined);
    }
    for (const image of images) await engine.docker.getImage(image).remove({ force: true }).catch(() => undefined);
  }
  removeTempDirs();
}, HOOK);

/** Tests 1 and 2: one task whose command rules follow the file while it runs. */
describe('a running task follows tightenings of .airlock.json (integration)', () => {
  let ws = '';
  let id = '';
  const file = () => path.join(ws, '.airlock.json');

  before(async () => {
    if (!(await engineForHook())) return;
    ws = workspace({ '.airlock.json': '{\n  // denies nothing yet\n  "commands": { "deny": [] }\n}\n' });
    id = (await startOk(ws)).id;
  }, HOOK);

  after(async () => {
    if (id && tasks.has(id)) await stop(id);
  }, HOOK);

  test('a deny rule added to the file refuses the very next command: 126, one line naming the rule, a policy.tightened record', SLOW, async (t) => {
    if (!(await realEngine(t))) return;
    assert.ok(id, 'the task did not start');
    const first = await exec(id, ['echo', 'hi']);
    assert.equal(first.status, 0, first.stderr);
    assert.equal(first.stdout, 'hi\n');

    fs.writeFileSync(file(), '{\n  // the team now forbids echo\n  "commands": { "deny": ["echo"] }\n}\n');
    const refused = await exec(id, ['echo', 'hi']);
    assert.equal(refused.status, 126, refused.stderr);
    assert.equal(refused.stdout, '');
    assert.equal(lines(refused.stderr).length, 1, `one line: ${JSON.stringify(refused.stderr)}`);
    assert.match(refused.stderr, /^airlock: refused: echo hi: .*deny rule "echo"/);
    const other = await exec(id, ['true']);
    assert.equal(other.status, 0, other.stderr);

    const records = await audit(id);
    const tightened = records.filter((record) => record.type === 'policy.tightened');
    assert.equal(tightened.length, 1, JSON.stringify(tightened));
    assert.deepEqual((tightened[0].rules as LiveRules).commands.deny, ['echo']);
    const gated = records.filter((record) => record.type === 'command.gated' && record.command === 'echo hi');
    assert.equal(gated.length, 1, JSON.stringify(gated));
    assert.equal(gated[0].decision, 'deny');
    assert.ok(records.indexOf(tightened[0]) < records.indexOf(gated[0]), 'the tightening is recorded before the refusal it caused');
    assert.deepEqual(records.filter((record) => record.type === 'command' && JSON.stringify(record.argv) === '["echo","hi"]').length, 1, 'only the first echo ran');
  });

  test('a half-written file keeps the last good rules; `policy show` reports it; loosening waits for a new task', SLOW, async (t) => {
    if (!(await realEngine(t))) return;
    assert.ok(id, 'the task did not start');
    fs.writeFileSync(file(), '{ "commands": { "deny": [');

    const echo = await exec(id, ['echo', 'hi']);
    assert.equal(echo.status, 126, `an invalid file must not loosen anything: ${echo.stderr}`);
    assert.match(echo.stderr, /deny rule "echo"/);
    const other = await exec(id, ['true']);
    assert.equal(other.status, 0, `an invalid file must not block what was allowed: ${other.stderr}`);

    const shown = await airlock(['policy', 'show', '--workspace', ws]);
    assert.equal(shown.status, 1, shown.stdout);
    assert.match(shown.stderr, new RegExp(`^airlock: ${file().replace(/[.]/g, '\\.')}:1:\\d+: not valid JSON`, 'm'), shown.stderr);
    assert.match(shown.stderr, new RegExp(`^airlock: task ${id} keeps its last good policy: .*not valid JSON`, 'm'), shown.stderr);

    const { status, live } = await liveOf(id);
    assert.equal(status, 1);
    assert.equal(live.task, id);
    assert.match(live.error ?? '', /:1:\d+: not valid JSON/);
    assert.deepEqual(live.rules.commands.deny, ['echo'], 'the last good rules are still the live ones');
    const invalid = (await audit(id)).filter((record) => record.type === 'policy.invalid');
    assert.ok(invalid.length >= 1, 'a policy.invalid record');
    assert.match(String(invalid[0].error), /not valid JSON/);

    // Loosening the file (the deny removed) does not reach the running task; a new task gets it.
    fs.writeFileSync(file(), '{\n  "commands": { "deny": [] }\n}\n');
    const still = await exec(id, ['echo', 'hi']);
    assert.equal(still.status, 126, `a loosening must wait for a new task: ${still.stderr}`);
    const valid = await liveOf(id);
    assert.equal(valid.status, 0);
    assert.equal(valid.live.error, undefined, 'the file is valid again');
    assert.deepEqual(valid.live.rules.commands.deny, ['echo']);
    assert.equal((await airlock(['policy', 'show', '--workspace', ws])).status, 0);

    const fresh = await startOk(ws);
    const hi = await exec(fresh.id, ['echo', 'hi']);
    assert.equal(hi.status, 0, hi.stderr);
    assert.equal(hi.stdout, 'hi\n');
    await stop(fresh.id);
  });
});

/** Test 3: the egress gateway watches the file and refuses new connections at once. */
describe('the egress gateway follows a tightening of network rules (integration)', () => {
  let origin: Origin;
  let ws = '';
  let id = '';
  let url = '';

  before(async () => {
    origin = await startOrigin();
    url = `http://api.example.test:${origin.port}`;
    if (!(await engineForHook())) return;
    ws = workspace({ '.airlock.json': JSON.stringify({ network: { agent: { allow: ['api.example.test'], allowCidr: ['127.0.0.1/32'] } } }, null, 2) });
    const accepted = await airlock(['policy', 'accept', '--yes', '--workspace', ws]);
    assert.equal(accepted.status, 0, accepted.stderr);
    assert.match(accepted.stdout, /^ {2}network\.agent\.allow: api\.example\.test /m);
    id = (await startOk(ws)).id;
  }, HOOK);

  after(async () => {
    if (id && tasks.has(id)) await stop(id);
    await origin?.close();
  }, HOOK);

  const curlCode = (route: string) => exec(id, ['curl', '-sS', '--max-time', '10', '-o', '/dev/null', '-w', '%{http_code}', `${url}${route}`]);

  test('an allowed host is reached; after network.agent.deny is added, the next connection is refused (403) and logged', SLOW, async (t) => {
    if (!(await realEngine(t))) return;
    assert.ok(id, 'the task did not start');
    const hello = await exec(id, ['curl', '-sS', '--max-time', '10', `${url}/hello/policy`]);
    assert.equal(hello.status, 0, hello.stderr);
    assert.equal(hello.stdout, `hello policy via api.example.test:${origin.port}\n`);

    const edited = Date.now();
    fs.writeFileSync(path.join(ws, '.airlock.json'), JSON.stringify({ network: { agent: { allow: ['api.example.test'], allowCidr: ['127.0.0.1/32'], deny: ['api.example.test'] } } }, null, 2));
    let last: CliResult | undefined;
    const refused = await until(async () => {
      last = await curlCode('/hello/poll');
      return last.stdout === '403';
    }, 20_000, 200);
    assert.ok(refused, `still reached ${Date.now() - edited} ms after the edit: ${last?.stdout} ${last?.stderr}`);
    t.diagnostic(`refused ${Date.now() - edited} ms after the edit`);

    const reached = origin.connections();
    const again = await curlCode('/hello/again');
    assert.equal(again.stdout, '403', again.stderr);
    assert.equal(origin.connections(), reached, 'a refused connection never reaches the origin');

    let records: Array<Record<string, unknown>> = [];
    const logged = await until(async () => {
      const net = await airlock(['net', id, '--json']);
      assert.equal(net.status, 0, net.stderr);
      records = JSON.parse(net.stdout) as Array<Record<string, unknown>>;
      return records.filter((record) => record.type === 'network' && record.decision === 'deny').length >= 2;
    }, 10_000, 200);
    assert.ok(logged, JSON.stringify(records));
    const attempts = records.filter((record) => record.type === 'network');
    assert.deepEqual([attempts[0].host, attempts[0].decision], ['api.example.test', 'allow']);
    const denied = attempts.filter((record) => record.decision === 'deny');
    for (const record of denied) {
      assert.equal(record.host, 'api.example.test');
      assert.equal(record.status, 403);
      assert.equal(record.phase, 'agent');
      assert.match(String(record.rule), /deny api\.example\.test/);
    }
    const text = await airlock(['net', id]);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /^\S+\s+agent\s+deny\s+GET api\.example\.test:\d+\s.*deny api\.example\.test/m);

    // A half-written file does not undo the tightening: the gateway keeps its last good rules.
    fs.writeFileSync(path.join(ws, '.airlock.json'), '{ "network": { "agent": { "allow": [');
    await sleep(1000);
    const invalid = await curlCode('/hello/invalid');
    assert.equal(invalid.stdout, '403', invalid.stderr);
    assert.equal(origin.connections(), reached);

    // `stop` ends the gateway process with the task.
    const started = records.find((record) => record.type === 'network.gateway' && record.event === 'started');
    assert.equal(typeof started?.pid, 'number', 'a network.gateway started record with its pid');
    const pid = started!.pid as number;
    await stop(id);
    assert.ok(await until(() => !alive(pid), 5000), `gateway ${pid} still runs 5 s after stop`);
  });
});

/** Test 4: a repository's loosenings wait for `policy accept`, and any change asks again. */
describe('accepting a repository policy (integration)', () => {
  const GiB = 1024 ** 3;

  test('before accept: loosenings ignored (2 GiB, no allow rule); after: 3 GiB and the allow rule; a change asks again and lists what is NEW', SLOW, async (t) => {
    const engine = await realEngine(t);
    if (!engine) return;
    const ws = workspace({ '.airlock.json': '{\n  // the team wants more memory and lets tests run\n  "resources": { "memory": "3g" },\n  "commands": { "allow": ["npm test"] }\n}\n' });

    const first = await startOk(ws);
    assert.match(first.result.stderr, /loosens these, which are ignored until you accept it \(airlock policy accept\):/);
    assert.match(first.result.stderr, /^ {2}resources\.memory: 3g /m);
    assert.match(first.result.stderr, /^ {2}commands\.allow: npm test /m);
    assert.equal((await inspectTask(engine, first.id)).HostConfig.Memory, 2 * GiB);
    assert.deepEqual((await liveOf(first.id)).live.rules.commands.allow, []);
    const unaccepted = await shownJson(ws);
    assert.equal(unaccepted.repository?.accepted, false);
    assert.deepEqual(unaccepted.ignored.map((item) => item.field).sort(), ['commands.allow', 'resources.memory']);

    const accepted = await airlock(['policy', 'accept', '--yes', '--workspace', ws]);
    assert.equal(accepted.status, 0, accepted.stderr);
    assert.match(accepted.stdout, /^Accepting lets it loosen your protection:$/m);
    assert.match(accepted.stdout, /^ {2}resources\.memory: 3g \(raises the built-in 2g\)$/m);
    assert.match(accepted.stdout, /^ {2}commands\.allow: npm test /m);
    assert.doesNotMatch(accepted.stdout, /NEW/);
    assert.match(accepted.stdout, /^accepted \(digest [0-9a-f]{12}\)/m);

    const second = await startOk(ws);
    assert.doesNotMatch(second.result.stderr, /ignored until you accept/);
    assert.equal((await inspectTask(engine, second.id)).HostConfig.Memory, 3 * GiB);
    assert.deepEqual((await liveOf(second.id)).live.rules.commands.allow, ['npm test']);
    const shown = await shownJson(ws);
    assert.equal(shown.repository?.accepted, true);
    assert.deepEqual(shown.ignored, []);
    assert.deepEqual(shown.sources.find((row) => row.field === 'resources.memory'), { field: 'resources.memory', value: '3g', layer: 'repo' });
    assert.deepEqual(shown.sources.find((row) => row.field === 'commands.allow'), { field: 'commands.allow', value: 'npm test', layer: 'repo' });
    const again = await airlock(['policy', 'accept', '--yes', '--workspace', ws]);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /already accepted/);

    // Any change asks again; the new loosening is marked NEW, the ones accepted before are not.
    fs.writeFileSync(path.join(ws, '.airlock.json'), '{\n  "resources": { "memory": "3g" },\n  "commands": { "allow": ["npm test"] },\n  "network": { "agent": { "allow": ["api.example.test"] } }\n}\n');
    const text = await airlock(['policy', 'show', '--workspace', ws]);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /^ {2}repository: .*\.airlock\.json \(not accepted: its loosenings are ignored, digest [0-9a-f]{12}\)$/m);
    assert.match(text.stdout, /^ignored until you accept the repository policy/m);
    const changed = await shownJson(ws);
    assert.equal(changed.repository?.accepted, false);
    assert.deepEqual(changed.ignored.map((item) => `${item.field}=${item.value}`).sort(), ['commands.allow=npm test', 'network.agent.allow=api.example.test', 'resources.memory=3g']);
    const third = await startOk(ws);
    assert.equal((await inspectTask(engine, third.id)).HostConfig.Memory, 2 * GiB, 'a changed, unaccepted policy loosens nothing');

    const reaccepted = await airlock(['policy', 'accept', '--yes', '--workspace', ws]);
    assert.equal(reaccepted.status, 0, reaccepted.stderr);
    assert.match(reaccepted.stdout, /changed since you accepted it/);
    assert.match(reaccepted.stdout, /^ {2}NEW network\.agent\.allow: api\.example\.test /m);
    assert.match(reaccepted.stdout, /^ {2}resources\.memory: 3g /m, 'what was accepted before is not NEW');
    assert.equal((await shownJson(ws)).repository?.accepted, true);

    const revoked = await airlock(['policy', 'revoke', '--workspace', ws]);
    assert.equal(revoked.status, 0, revoked.stderr);
    assert.equal((await shownJson(ws)).repository?.accepted, false);
    for (const id of [first.id, second.id, third.id]) await stop(id);
  });
});

/** Test 5: machine floors bound every layer, and a floor that oversteps fails closed. */
describe('machine floors (integration)', () => {
  test('a floor of 1g and deny echo beats an accepted repository asking for 3g', SLOW, async (t) => {
    const engine = await realEngine(t);
    if (!engine) return;
    const floorDir = makeTempDir('airlock-pol-floor-');
    const floor = path.join(floorDir, 'floor.json');
    fs.writeFileSync(floor, '{\n  // the administrator\'s limits\n  "resources": { "memory": "1g" },\n  "commands": { "deny": ["echo"] }\n}\n');
    const env = { AIRLOCK_MACHINE_POLICY: floor };
    const ws = workspace({ '.airlock.json': '{ "resources": { "memory": "3g" } }\n' });
    const accepted = await airlock(['policy', 'accept', '--yes', '--workspace', ws], { env });
    assert.equal(accepted.status, 0, accepted.stderr);

    const shown = await shownJson(ws, env);
    assert.equal(shown.repository?.accepted, true);
    assert.deepEqual(shown.floors, [floor]);
    assert.deepEqual(shown.sources.find((row) => row.field === 'resources.memory'), { field: 'resources.memory', value: '1g', layer: 'machine' });
    assert.deepEqual(shown.sources.find((row) => row.field === 'commands.deny'), { field: 'commands.deny', value: 'echo', layer: 'machine' });

    const { id, result } = await startOk(ws, [], { env });
    assert.match(result.stderr, /resources\.memory: 3g is above the machine limit 1g/);
    assert.equal((await inspectTask(engine, id)).HostConfig.Memory, 1024 ** 3);
    const echo = await exec(id, ['echo', 'hi'], { env });
    assert.equal(echo.status, 126, echo.stderr);
    assert.match(echo.stderr, /^airlock: refused: echo hi: .*"echo"/);
    const noFloorNow = await exec(id, ['echo', 'hi']);
    assert.equal(noFloorNow.status, 126, 'the floor is part of the task from its start, whatever the environment of a later exec');
    await stop(id);
  });

  test('a floor that sets `image` fails closed: start, show, accept and validate fail naming the field and its line', SLOW, async (t) => {
    const engine = await realEngine(t);
    if (!engine) return;
    const floorDir = makeTempDir('airlock-pol-floor-');
    const floor = path.join(floorDir, 'floor.json');
    fs.writeFileSync(floor, '{\n  "resources": { "memory": "1g" },\n  "commands": { "deny": ["echo"] }\n}\n');
    const ws = workspace({ '.airlock.json': '{ "resources": { "memory": "3g" } }\n' });
    const { id } = await startOk(ws, [], { env: { AIRLOCK_MACHINE_POLICY: floor } });

    fs.writeFileSync(floor, '{\n  "resources": { "memory": "1g" },\n  "image": "example.invalid/other:latest"\n}\n');
    const env = { AIRLOCK_MACHINE_POLICY: floor };
    const where = new RegExp(`${floor.replace(/[.]/g, '\\.')}:3:\\d+: image: a machine policy sets limits`);
    const started = await start(ws, [], { env });
    assert.notEqual(started.status, 0);
    assert.equal(started.stdout, '');
    assert.match(started.stderr, where);
    for (const args of [['policy', 'show', '--workspace', ws], ['policy', 'show', '--workspace', ws, '--json'], ['policy', 'accept', '--yes', '--workspace', ws], ['policy', 'validate', '--machine', floor]]) {
      const result = await airlock(args, { env });
      assert.equal(result.status, 1, `${args.join(' ')}: ${result.stdout}${result.stderr}`);
      assert.match(result.stdout + result.stderr, where, args.join(' '));
    }
    assert.deepEqual(await containersOf(engine, ws), [`${(await inspectTask(engine, id)).Name} (running)`], 'no new container');

    // The running task keeps its last good rules (the old floor's deny echo) rather than dropping them.
    const echo = await exec(id, ['echo', 'hi'], { env });
    assert.equal(echo.status, 126, echo.stderr);
    const { status, live } = await liveOf(id, env);
    assert.equal(status, 1);
    assert.match(live.error ?? '', /image: a machine policy sets limits/);
    await stop(id);
  });
});

/** Test 6: a repository's setup commands pass the command rules until its policy is accepted. */
describe('repository setup commands (integration)', () => {
  test('an unaccepted `git push` setup command waits for a reviewer, is refused, and nothing is left', SLOW, async (t) => {
    const engine = await realEngine(t);
    if (!engine) return;
    const ws = workspace({ '.airlock.json': '{ "setupCommands": ["git push origin main"] }\n' });
    const started = Date.now();
    const failed = await start(ws);
    const elapsed = Date.now() - started;
    assert.notEqual(failed.status, 0);
    assert.equal(failed.stdout, '', 'no task id is printed');
    assert.match(failed.stderr, WAITING, 'the built-in ask on git push waits for a reviewer');
    assert.match(failed.stderr, /refused: .*git push origin main.*no decision before the timeout/);
    assert.ok(elapsed >= 2500, `refused after ${elapsed} ms, before the 3 s approval timeout`);
    assert.deepEqual(await containersOf(engine, ws), []);
    assert.deepEqual(await liveRecordsOf(ws), []);
    assert.match(failed.stderr, /setupCommands\.0/, `the refusal names the field: ${failed.stderr}`);
  });

  test('an unaccepted setup command matching the repository\'s own deny rule is refused at once', SLOW, async (t) => {
    const engine = await realEngine(t);
    if (!engine) return;
    const ws = workspace({ '.airlock.json': '{ "setupCommands": ["touch /tmp/ran"], "commands": { "deny": ["touch"] } }\n' });
    const failed = await start(ws);
    assert.notEqual(failed.status, 0);
    assert.equal(failed.stdout, '');
    assert.doesNotMatch(failed.stderr, WAITING);
    assert.match(failed.stderr, /refused: touch \/tmp\/ran: .*deny rule "touch"/);
    assert.deepEqual(await containersOf(engine, ws), []);
    assert.deepEqual(await liveRecordsOf(ws), []);
    assert.match(failed.stderr, /setupCommands\.0/, `the refusal names the field: ${failed.stderr}`);
  });

  test('an ask rule gates the unaccepted setup command; once accepted it runs ungated, and the rule still gates the agent', SLOW, async (t) => {
    const engine = await realEngine(t);
    if (!engine) return;
    const ws = workspace({ '.airlock.json': '{ "setupCommands": ["touch /tmp/ran"], "commands": { "ask": ["touch"] } }\n' });
    const started = Date.now();
    const waited = await start(ws);
    const elapsed = Date.now() - started;
    assert.notEqual(waited.status, 0, 'refused when nobody approves');
    assert.match(waited.stderr, WAITING);
    assert.match(waited.stderr, /refused: .*touch \/tmp\/ran.*no decision before the timeout/);
    assert.ok(elapsed >= 2500, `refused after ${elapsed} ms`);
    assert.deepEqual(await containersOf(engine, ws), []);

    const accepted = await airlock(['policy', 'accept', '--yes', '--workspace', ws]);
    assert.equal(accepted.status, 0, accepted.stderr);
    assert.match(accepted.stdout, /^Its setup commands will run without passing the command rules:\n {2}setupCommands\.0: touch \/tmp\/ran$/m);
    const { id, result } = await startOk(ws);
    assert.doesNotMatch(result.stderr, WAITING);
    const ran = await exec(id, ['test', '-f', '/tmp/ran']);
    assert.equal(ran.status, 0, ran.stderr);
    const agent = await exec(id, ['touch', '/tmp/agent']);
    assert.equal(agent.status, 126, agent.stderr);
    assert.match(agent.stderr, WAITING);
    await stop(id);
  });
});

/** Test 7: devcontainer.json through .airlock.json. */
describe('devcontainer (integration)', () => {
  const HOSTILE = [
    '{',
    '  // everything a devcontainer.json can do to widen a container',
    '  "name": "hostile",',
    '  "image": "airlock-test:bookworm",',
    '  "privileged": true,',
    '  "capAdd": ["SYS_ADMIN"],',
    '  "mounts": ["source=/var/run/docker.sock,target=/var/run/docker.sock,type=bind"],',
    '  "runArgs": ["--network=host"],',
    '  "forwardPorts": [3000],',
    '  "initializeCommand": "echo on the host",',
    '  "features": { "ghcr.io/devcontainers/features/docker-in-docker:2": {} },',
    '  "containerEnv": { "HOME_COPY": "${localEnv:HOME}" }',
    '}',
    '',
  ].join('\n');
  /** Each refused field and the line of the file it is on. */
  const REFUSED: Array<[string, string]> = [
    ['privileged', '"privileged"'],
    ['capAdd.0', '"capAdd"'],
    ['mounts.0', '"mounts"'],
    ['runArgs.0', '"runArgs"'],
    ['forwardPorts', '"forwardPorts"'],
    ['initializeCommand', '"initializeCommand"'],
    ['features.ghcr.io/devcontainers/features/docker-in-docker:2', '"features"'],
    ['containerEnv.HOME_COPY', '"containerEnv"'],
  ];
  const lineOf = (key: string) => HOSTILE.split('\n').findIndex((line) => line.includes(key)) + 1;
  const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

  test('a hostile devcontainer.json: start refuses, naming every field, and creates nothing; `policy validate` gives file:line:col', SLOW, async (t) => {
    const engine = await realEngine(t);
    if (!engine) return;
    const ws = workspace({ '.airlock.json': '{ "devcontainer": { "path": ".devcontainer/devcontainer.json" } }\n', '.devcontainer/devcontainer.json': HOSTILE });
    const failed = await start(ws);
    assert.notEqual(failed.status, 0);
    assert.equal(failed.stdout, '');
    assert.match(failed.stderr, /devcontainer: 8 fields would widen the sandbox and are refused/);
    for (const [field, key] of REFUSED) assert.match(failed.stderr, new RegExp(`^ {2}${escape(field)} \\(line ${lineOf(key)}\\): `, 'm'), field);
    assert.deepEqual(await containersOf(engine, ws), []);
    assert.deepEqual(await liveRecordsOf(ws), []);

    const validated = await airlock(['policy', 'validate', '.devcontainer/devcontainer.json'], { cwd: ws });
    assert.equal(validated.status, 1, validated.stdout);
    for (const [field, key] of REFUSED) {
      assert.match(validated.stderr, new RegExp(`^\\.devcontainer/devcontainer\\.json:${lineOf(key)}:\\d+: ${escape(field)}: refused: `, 'm'), field);
    }
    assert.equal(lines(validated.stderr).length, REFUSED.length, validated.stderr);
    const whole = await airlock(['policy', 'validate'], { cwd: ws });
    assert.equal(whole.status, 1, 'the .airlock.json that points at it does not validate either');
  });

  test('the same with "onRefused": "strip": the task starts without any of it', SLOW, async (t) => {
    const engine = await realEngine(t);
    if (!engine) return;
    const ws = workspace({ '.airlock.json': '{ "devcontainer": { "path": ".devcontainer/devcontainer.json", "onRefused": "strip" } }\n', '.devcontainer/devcontainer.json': HOSTILE });
    const { id, result } = await startOk(ws);
    for (const [field] of REFUSED) assert.match(result.stderr, new RegExp(`^airlock: devcontainer ${escape(field)}: left out \\(`, 'm'), field);
    const info = await inspectTask(engine, id);
    assert.equal(info.HostConfig.Privileged, false);
    assert.deepEqual(info.HostConfig.CapAdd ?? [], []);
    assert.deepEqual(info.HostConfig.Binds ?? [], []);
    assert.notEqual(info.HostConfig.NetworkMode, 'host');
    assert.equal(info.HostConfig.NetworkMode, 'none');
    assert.deepEqual(info.HostConfig.PortBindings ?? {}, {});
    const mounts = [...(info.HostConfig.Mounts ?? []).map((mount) => `${mount.Source ?? ''}:${mount.Target}`), ...info.Mounts.map((mount) => `${mount.Source}:${mount.Destination}`)];
    assert.ok(!mounts.some((mount) => mount.includes('docker.sock')), mounts.join(', '));
    assert.ok(info.Mounts.every((mount) => mount.Type !== 'bind'), JSON.stringify(info.Mounts));
    const inside = await exec(id, ['sh', '-c', 'echo "[${HOME_COPY-unset}]"; test -e /var/run/docker.sock && echo socket || echo no-socket']);
    assert.equal(inside.status, 0, inside.stderr);
    assert.equal(inside.stdout, '[unset]\nno-socket\n');
    await stop(id);
  });

  describe('a Dockerfile devcontainer', () => {
    const base = `airlock-pol-base-${RUN}:latest`;
    let ws = '';
    let tag = '';

    before(async () => {
      if (!(await engineForHook())) return;
      // The test image has no uid-1000 account; this base adds one, named, for remoteUser.
      await docker(['build', '--network', 'none', '--label', `airlock.test=${RUN}`, '-t', base, '-'], `FROM ${TEST_IMAGE}\nRUN echo 'dev:x:1000:1000:dev:/home/dev:/bin/bash' >> /etc/passwd && echo 'dev:x:1000:' >> /etc/group\n`);
      images.add(base);
      ws = workspace({
        '.airlock.json': '{ "devcontainer": { "path": ".devcontainer/devcontainer.json" } }\n',
        '.devcontainer/devcontainer.json': JSON.stringify({ build: { dockerfile: 'Dockerfile', context: '..' }, remoteUser: 'dev', postCreateCommand: 'touch /tmp/post', containerEnv: { GREETING: 'hello' } }, null, 2),
        '.devcontainer/Dockerfile': `FROM ${base}\nRUN echo built > /built\nCOPY . /context\n`,
        '.dockerignore': 'build-secret.txt\n',
        'build-secret.txt': 'not for the image\n',
      });
      tag = buildTag({ dockerfile: path.join(ws, '.devcontainer', 'Dockerfile'), context: ws, args: {} }, ws);
      images.add(tag);
    }, HOOK);

    after(async () => {
      const engine = await engineForHook().catch(() => undefined);
      for (const id of [...tasks]) if (engine) await stop(id).catch(() => undefined);
      if (engine && tag) await engine.docker.getImage(tag).remove({ force: true }).catch(() => undefined);
      if (engine) await engine.docker.getImage(base).remove({ force: true }).catch(() => undefined);
    }, HOOK);

    const env = () => ({ AIRLOCK_IMAGE: base });

    test('unaccepted: the build is ignored with a warning and the task runs on the default image', BUILD, async (t) => {
      const engine = await realEngine(t);
      if (!engine) return;
      const { id, result } = await startOk(ws, [], { env: env() });
      assert.match(result.stderr, /ignored until you accept it/);
      assert.match(result.stderr, /^ {2}devcontainer\.build: .*Dockerfile \(builds the repository's Dockerfile/m);
      assert.doesNotMatch(result.stderr, /building /);
      assert.equal((await inspectTask(engine, id)).Config.Image, base);
      const built = await exec(id, ['test', '-f', '/built'], { env: env() });
      assert.equal(built.status, 1, 'nothing was built');
      await assert.rejects(engine.docker.getImage(tag).inspect(), 'no image was built');
      await stop(id);
    });

    test('accepted: built without network, with its user, environment and postCreateCommand; the built image is removed afterwards', BUILD, async (t) => {
      const engine = await realEngine(t);
      if (!engine) return;
      const accepted = await airlock(['policy', 'accept', '--yes', '--workspace', ws], { env: env() });
      assert.equal(accepted.status, 0, accepted.stderr);
      assert.match(accepted.stdout, /^ {2}devcontainer\.build: /m);
      assert.match(accepted.stdout, /^ {2}devcontainer\.postCreateCommand: touch \/tmp\/post$/m);
      const { id, result } = await startOk(ws, [], { env: env(), timeoutMs: 280_000 });
      assert.match(result.stderr, /building .*Dockerfile \(no network during the build\)/);
      assert.match(tag, /^airlock-build-/);
      assert.equal((await inspectTask(engine, id)).Config.Image, tag);

      const cat = await exec(id, ['cat', '/built'], { env: env() });
      assert.equal(cat.status, 0, cat.stderr);
      assert.equal(cat.stdout, 'built\n');
      const greeting = await exec(id, ['sh', '-c', 'echo $GREETING'], { env: env() });
      assert.equal(greeting.stdout, 'hello\n', greeting.stderr);
      const post = await exec(id, ['test', '-f', '/tmp/post'], { env: env() });
      assert.equal(post.status, 0, 'postCreateCommand ran');
      const uid = await exec(id, ['id', '-u'], { env: env() });
      assert.equal(uid.stdout, '1000\n', uid.stderr);
      const context = await exec(id, ['sh', '-c', 'test -f /context/README.md && ! test -e /context/build-secret.txt'], { env: env() });
      assert.equal(context.status, 0, '.dockerignore kept build-secret.txt out of the build context');
      await stop(id);

      await engine.docker.getImage(tag).remove({ force: true });
      images.delete(tag);
      await assert.rejects(engine.docker.getImage(tag).inspect());
    });
  });

  test('unaccepted Dockerfile devcontainer whose remoteUser exists only in the image it would build: still starts on the default image', SLOW, async (t) => {
    const engine = await realEngine(t);
    if (!engine) return;
    const ws = workspace({
      '.airlock.json': '{ "devcontainer": { "path": ".devcontainer/devcontainer.json" } }\n',
      '.devcontainer/devcontainer.json': JSON.stringify({ build: { dockerfile: 'Dockerfile' }, remoteUser: 'builder' }, null, 2),
      '.devcontainer/Dockerfile': `FROM ${TEST_IMAGE}\nRUN echo 'builder:x:1000:1000::/tmp:/bin/bash' >> /etc/passwd && echo built > /built\n`,
    });
    const tag = buildTag({ dockerfile: path.join(ws, '.devcontainer', 'Dockerfile'), context: path.join(ws, '.devcontainer'), args: {} }, ws);
    images.add(tag);
    const result = await start(ws);
    assert.match(result.stderr, /^ {2}devcontainer\.build: /m, 'the build is listed as ignored');
    assert.equal(result.status, 0, `the build is ignored, so its user cannot be looked up in the default image; start should not fail: ${result.stderr}`);
    const id = result.stdout.trim();
    const built = await exec(id, ['test', '-f', '/built']);
    assert.equal(built.status, 1);
    const uid = await exec(id, ['id', '-u']);
    assert.notEqual(uid.stdout, '0\n');
    await stop(id);
  });
});

/** Test 8: the file checks, no engine needed. */
describe('`policy validate` and `policy schema` (integration, no engine)', () => {
  test('a good file (comments, trailing commas) is valid; an unknown key is named with its line', SLOW, async () => {
    const dir = makeTempDir('airlock-pol-validate-');
    writeFiles(dir, {
      '.airlock.json': '{\n  // team policy\n  "resources": { "memory": "2g", },\n  "commands": { "deny": ["curl"] },\n}\n',
      'bad/.airlock.json': '{\n  "resources": { "memory": "2g" },\n  "resourcez": { "cpus": 4 }\n}\n',
      'typo/.airlock.json': '{\n  "network": {\n    "agent": { "alow": ["x.example.test"] }\n  }\n}\n',
    });
    const good = await airlock(['policy', 'validate'], { cwd: dir });
    assert.equal(good.status, 0, good.stderr);
    assert.equal(good.stdout, '.airlock.json: valid\n');
    const named = await airlock(['policy', 'validate', path.join(dir, '.airlock.json')]);
    assert.equal(named.status, 0, named.stderr);
    assert.match(named.stdout, /: valid\n$/);

    const bad = await airlock(['policy', 'validate', 'bad/.airlock.json'], { cwd: dir });
    assert.equal(bad.status, 1, bad.stdout);
    assert.equal(bad.stdout, '');
    assert.match(bad.stderr, /^airlock: bad\/\.airlock\.json:3:3: resourcez: unknown field "resourcez"/m);
    const typo = await airlock(['policy', 'validate', 'typo/.airlock.json'], { cwd: dir });
    assert.equal(typo.status, 1);
    assert.match(typo.stderr, /typo\/\.airlock\.json:3:16: network\.agent\.alow: unknown field "alow" \(allowed here: allow, allowCidr, deny\)/);
  });

  test('`policy schema` prints the JSON Schema with network, commands and resources; the build ships the same', SLOW, async () => {
    const result = await airlock(['policy', 'schema']);
    assert.equal(result.status, 0, result.stderr);
    const schema = JSON.parse(result.stdout) as { type: string; properties: Record<string, unknown>; additionalProperties?: boolean };
    assert.equal(schema.type, 'object');
    for (const key of ['network', 'commands', 'resources', 'devcontainer', 'setupCommands']) assert.ok(key in schema.properties, key);
    assert.equal(schema.additionalProperties, false, 'unknown keys are refused');
    const shipped = path.resolve('dist/airlock-policy.schema.json');
    assert.ok(fs.existsSync(shipped), 'dist/airlock-policy.schema.json is missing: run `npm run build`');
    assert.deepEqual(JSON.parse(fs.readFileSync(shipped, 'utf8')), schema);
  });
});

test('nothing is left behind: every task stopped, no container of these workspaces remains', SLOW, async (t) => {
  const engine = await realEngine(t);
  if (!engine) return;
  for (const id of [...tasks]) await stop(id);
  await sleep(200);
  const left: string[] = [];
  for (const ws of workspaces) left.push(...(await containersOf(engine, ws)));
  assert.deepEqual(left, []);
});
