import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { connectEngine, type EngineConnection } from '../../src/core/engine/locateEngine.js';
import { TASK_LABEL } from '../../src/core/state/taskRecord.js';
import { copyBundle } from '../helpers/cliBundle.js';
import { type CliResult, launchNode } from '../helpers/cliProcess.js';
import { startOrigin, type Origin } from '../helpers/egressFixtures.js';
import { labelled, TEST_IMAGE } from '../helpers/realEngine.js';
import { secondEngine, stopSecondEngine } from '../helpers/secondEngine.js';
import { sshEngine, stopSshEngine } from '../helpers/sshEngine.js';
import { makeTempDir, removeTempDirs, writeFiles } from '../helpers/tempWorkspace.js';

/**
 * Remote engines (issue 19): the whole CLI, as shipped (the bundle), against an engine it reaches
 * over ssh:// (Debian's sshd on loopback, the key in ssh-agent) and over tcp:// with TLS both ways
 * (a second dockerd the test owns, certificates it makes). Nothing of Airlock's runs on the
 * engine's side: the snapshot goes in, the change scanner's answers and the egress relay's bytes
 * come out, all over the engine API. Refusals are tested too: an engine whose certificate another
 * authority signed, and an ssh host that is not, or no longer, the one known_hosts has.
 */

const SLOW = { timeout: 300_000 };
const RESOLVE = { 'api.example.test': '127.0.0.1', 'other.example.test': '127.0.0.1' };

let cli = '';
let origin: Origin;

before(async () => {
  cli = copyBundle(makeTempDir('airlock-remote-bundle-'));
  origin = await startOrigin();
});

after(async () => {
  await origin?.close();
  await stopSshEngine();
  await stopSecondEngine();
  removeTempDirs();
});

interface Remote {
  name: string;
  env: NodeJS.ProcessEnv;
  /** A client of the same engine, for what the test checks behind the CLI's back. */
  connection: EngineConnection;
}

function airlockOn(remote: Remote, state: string) {
  return (args: string[], timeoutMs = 180_000): Promise<CliResult> =>
    launchNode([cli, ...args], { env: { ...remote.env, AIRLOCK_STATE_DIR: state, AIRLOCK_DAEMON: '0', AIRLOCK_IMAGE: TEST_IMAGE, AIRLOCK_TEST_RESOLVE: JSON.stringify(RESOLVE) }, timeoutMs }).result;
}

/** start → exec → egress → diff → apply → stop, each checked by what it left: output, host files, the engine's objects. */
async function wholeTask(remote: Remote): Promise<Record<string, number>> {
  const state = makeTempDir('airlock-remote-state-');
  const workspace = makeTempDir('airlock-remote-ws-');
  writeFiles(workspace, { 'README.md': `# ${remote.name}\n`, 'src/app.js': 'console.log(1);\n', '.env': 'TOKEN=host-secret\n' });
  const airlock = airlockOn(remote, state);
  const ms: Record<string, number> = {};

  const started = await airlock(['start', '--workspace', workspace, '--image', TEST_IMAGE, '--ttl', '900', '--allow', 'api.example.test', '--allow-cidr', '127.0.0.1/32']);
  ms.start = started.ms;
  assert.equal(started.status, 0, `start on ${remote.name}: ${started.stderr}`);
  const id = started.stdout.trim();
  assert.match(id, /^[0-9a-f]{12}$/);
  try {
    const onEngine = await labelled(remote.connection, id);
    assert.equal(onEngine.containers, 1, `the task's container is on the ${remote.name} engine`);

    const ran = await airlock(['exec', id, '--', 'sh', '-c', 'cat README.md; id -u; test -e .env || echo no-env; echo to-stderr >&2; exit 3']);
    ms.exec = ran.ms;
    assert.equal(ran.status, 3, ran.stderr);
    assert.equal(ran.stdout, `# ${remote.name}\n1000\nno-env\n`, 'the copy arrived, the box is non-root, the secret file stayed out');
    assert.equal(ran.stderr, 'to-stderr\n', 'stderr is the command\'s alone: no warning of the transport in it');

    const reached = await airlock(['exec', id, '--', 'curl', '-sS', `http://api.example.test:${origin.port}/hello/${remote.name}`]);
    assert.equal(reached.status, 0, reached.stderr);
    assert.equal(reached.stdout, `hello ${remote.name} via api.example.test:${origin.port}\n`, 'the egress relay carries an allowed request over the engine API');
    const connections = origin.connections();
    const refused = await airlock(['exec', id, '--', 'curl', '-sS', '-o', '/dev/null', '-w', '%{http_code}', `http://other.example.test:${origin.port}/hello/x`]);
    assert.equal(refused.stdout, '403', refused.stderr);
    assert.equal(origin.connections(), connections, 'a name off the allowlist never reaches the origin');

    const edited = await airlock(['exec', id, '--', 'sh', '-c', `echo 'console.log(2);' > src/app.js; mkdir -p docs; printf 'from the box\\n' > docs/${remote.name}.md`]);
    assert.equal(edited.status, 0, edited.stderr);
    const diff = await airlock(['diff', id, '--json']);
    ms.diff = diff.ms;
    assert.equal(diff.status, 0, diff.stderr);
    const set = JSON.parse(diff.stdout) as { files: Array<{ path: string; status: string }>; scan: { method: string } };
    assert.deepEqual(set.files.map((file) => `${file.status} ${file.path}`), [`added docs/${remote.name}.md`, 'modified src/app.js']);
    assert.equal(set.scan.method, 'scanner', 'the in-box scanner answered over the engine API');

    const applied = await airlock(['apply', id, '--yes']);
    ms.apply = applied.ms;
    assert.equal(applied.status, 0, applied.stderr);
    assert.equal(fs.readFileSync(path.join(workspace, 'src/app.js'), 'utf8'), 'console.log(2);\n');
    assert.equal(fs.readFileSync(path.join(workspace, `docs/${remote.name}.md`), 'utf8'), 'from the box\n');
    assert.equal(fs.readFileSync(path.join(workspace, '.env'), 'utf8'), 'TOKEN=host-secret\n');
  } finally {
    const stopped = await airlock(['stop', id]);
    ms.stop = stopped.ms;
    assert.equal(stopped.status, 0, stopped.stderr);
  }
  assert.deepEqual(await labelled(remote.connection, id), { containers: 0, volumes: 0 }, `stop leaves nothing of the task on the ${remote.name} engine`);
  return ms;
}

/** A start that must be refused before anything exists: one clear message, no state, nothing on the engine. */
async function refusedStart(t: TestContext, remote: Remote, message: RegExp, hint: RegExp): Promise<void> {
  const state = makeTempDir('airlock-remote-refused-');
  const workspace = makeTempDir('airlock-remote-refused-ws-');
  writeFiles(workspace, { 'README.md': 'refused\n' });
  const before = (await remote.connection.docker.listContainers({ all: true, filters: { label: [TASK_LABEL] } })).length;
  const started = await airlockOn(remote, state)(['start', '--workspace', workspace, '--image', TEST_IMAGE]);
  assert.equal(started.status, 1, started.stdout + started.stderr);
  assert.equal(started.stdout, '');
  const [said, advice, ...rest] = started.stderr.trimEnd().split('\n');
  assert.match(said, /^airlock: /);
  assert.match(said, message);
  assert.match(advice, /^ {2}→ /);
  assert.match(advice, hint);
  assert.deepEqual(rest, [], 'one message and one hint');
  assert.equal((await remote.connection.docker.listContainers({ all: true, filters: { label: [TASK_LABEL] } })).length, before, 'nothing was created on the engine');
  const tasks = fs.existsSync(path.join(state, 'tasks')) ? fs.readdirSync(path.join(state, 'tasks')) : [];
  assert.deepEqual(tasks, [], 'no task record was written');
  t.diagnostic(said);
}

describe('a remote engine over tcp:// with TLS (integration)', () => {
  test('the whole CLI works against it: start, exec, egress, diff, apply, stop', SLOW, async (t) => {
    const engine = await secondEngine(t);
    if (!engine) return;
    const main = await connectEngine({ timeoutMs: 3000 });
    const mainBefore = (await main.docker.listContainers({ all: true, filters: { label: [TASK_LABEL] } })).length;
    const connection = await connectEngine({ env: { ...process.env, ...engine.tls.env }, timeoutMs: 5000 });
    assert.equal(connection.endpoint.kind, 'tcp');
    const ms = await wholeTask({ name: 'tls', env: engine.tls.env, connection });
    assert.equal((await main.docker.listContainers({ all: true, filters: { label: [TASK_LABEL] } })).length, mainBefore, 'the local engine was never used');
    t.diagnostic(`tcp+TLS ms: ${JSON.stringify(ms)}`);
  });

  test('an engine whose certificate another authority signed is refused with one message naming the engine; nothing is created', SLOW, async (t) => {
    const engine = await secondEngine(t);
    if (!engine) return;
    const connection = await connectEngine({ env: { ...process.env, ...engine.tls.env }, timeoutMs: 5000 });
    await refusedStart(t, { name: 'tls', env: { ...engine.tls.env, DOCKER_CERT_PATH: engine.tls.otherCaDir }, connection }, /127\.0\.0\.1.*did not agree on certificates/, /DOCKER_CERT_PATH/);
  });
});

describe('a remote engine over ssh:// (integration)', () => {
  test('the whole CLI works against it: start, exec, egress, diff, apply, stop; every call went through sshd', SLOW, async (t) => {
    const ssh = await sshEngine(t);
    if (!ssh) return;
    const connection = await connectEngine({ env: { ...process.env, ...ssh.env }, timeoutMs: 10_000 });
    assert.equal(connection.endpoint.kind, 'ssh');
    const logins = ssh.acceptedLogins();
    const ms = await wholeTask({ name: 'ssh', env: ssh.env, connection });
    assert.ok(ssh.acceptedLogins() > logins + 5, `the CLI's engine calls logged in over ssh (${ssh.acceptedLogins() - logins} logins)`);
    t.diagnostic(`ssh ms: ${JSON.stringify(ms)}; logins ${ssh.acceptedLogins() - logins}`);
  });

  test('a host known_hosts does not list is refused, naming the host and how to check its key; nothing is created', SLOW, async (t) => {
    const ssh = await sshEngine(t);
    if (!ssh) return;
    const home = makeTempDir('airlock-remote-nohosts-');
    fs.mkdirSync(path.join(home, '.ssh'));
    const connection = await connectEngine({ env: { ...process.env, ...ssh.env }, timeoutMs: 10_000 });
    await refusedStart(t, { name: 'ssh', env: { ...ssh.env, HOME: home }, connection }, new RegExp(`\\[127\\.0\\.0\\.1\\]:${ssh.port} is not in known_hosts`), new RegExp(`ssh -p ${ssh.port} root@127\\.0\\.0\\.1`));
  });

  test('a host whose key is not the one known_hosts has (someone in between) is refused; nothing is created', SLOW, async (t) => {
    const ssh = await sshEngine(t);
    if (!ssh) return;
    const home = makeTempDir('airlock-remote-otherkey-');
    fs.mkdirSync(path.join(home, '.ssh'));
    const [name, type] = ssh.knownHostsLine.split(' ');
    // A well-formed ed25519 key blob that is not the sshd's.
    const blob = Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from('ssh-ed25519'), Buffer.from([0, 0, 0, 32]), Buffer.alloc(32, 7)]);
    fs.writeFileSync(path.join(home, '.ssh', 'known_hosts'), `${name} ${type} ${blob.toString('base64')}\n`);
    const connection = await connectEngine({ env: { ...process.env, ...ssh.env }, timeoutMs: 10_000 });
    await refusedStart(t, { name: 'ssh', env: { ...ssh.env, HOME: home }, connection }, /different host key than known_hosts has/, /replace its line in known_hosts/);
  });
});
