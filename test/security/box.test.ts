import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, type TestContext } from 'node:test';
import type { EngineConnection } from '../../src/core/engine/locateEngine.js';
import { STATE_LABEL } from '../../src/core/task/workspaceLayers.js';
import type { TaskService } from '../../src/core/task/taskService.js';
import { outputCollector, realEngine, serviceFor, TEST_IMAGE } from '../helpers/realEngine.js';
import { makeTempDir, removeTempDirs, runGit, writeFiles } from '../helpers/tempWorkspace.js';
import {
  BOX_CASES,
  type BoxContext,
  type BoxLimits,
  type BoxRunOptions,
  type BoxTask,
  GIT_CONFIG_SECRETS,
  HISTORY_SECRET,
  HOME_FILES,
  HOST_ENV_HANDLES,
  HOST_ENV_SECRETS,
  OTHER_TASK,
  OTHER_TASK_ABSTRACT_SERVER,
  OTHER_TASK_SERVER,
  OUTSIDE_FILES,
  PASSED_THROUGH,
  SECRET_FILES,
  TOKEN_NPMRC,
  TRACKED_SECRETS,
  WORKSPACE_FILES,
} from './cases/box.js';
import { registerCases } from './securityCase.js';

/**
 * The box cases share two long-lived tasks under runc: A, on a git repository that holds every
 * secret the cases look for, started from a front end whose environment and HOME carry more; and
 * B, beside it, with a listener, shared memory and files of its own for A to look for. A task
 * start is most of a case's time here, so only the cases that must (a task on A's workspace, a
 * task to stop) start more, through `startTask`, and `after` stops every one.
 */

const LIMITS: BoxLimits = { memoryBytes: 256 * 1024 * 1024, pids: 128, tmpBytes: 64 * 1024 * 1024, cpus: 1 };
const TASK_OPTIONS = { image: TEST_IMAGE, runtime: 'runc' as const, ttlSeconds: 1800, memory: '256m', pids: LIMITS.pids, tmpSize: '64m', cpus: LIMITS.cpus };

let context: BoxContext | undefined;
let engine: EngineConnection | undefined;
let service: TaskService | undefined;
let stateRoot = '';
const started: string[] = [];
const savedEnv = new Map<string, string | undefined>();

function boxTask(owner: TaskService, record: BoxTask['record'], workspace: string): BoxTask {
  const exec = async (argv: string[], options: BoxRunOptions = {}) => {
    const output = outputCollector();
    // gate: false: what a case runs stands for code the agent wrote and ran (a script, `node -e`),
    // which the command rules never see; the sandbox is what has to hold.
    const result = await owner.exec(record.id, { argv, gate: false, timeoutMs: options.timeoutMs ?? 60_000, backend: options.backend, onStdout: options.onStdout ?? output.onStdout, onStderr: output.onStderr });
    return { ...result, stdout: output.stdout(), stderr: output.stderr() };
  };
  return { record, workspace, exec, sh: (script, options) => exec(['sh', '-c', script], options) };
}

/** The attacked workspace: a repository with tracked and untracked secrets, one in history only, and a .git/config full of credentials. */
function attackedWorkspace(outside: string): { workspace: string; links: Record<string, string>; historyBlob: string; commits: number } {
  const workspace = makeTempDir('airlock-sec-box-');
  runGit(workspace, 'init', '-q', '-b', 'main');
  writeFiles(workspace, { ...WORKSPACE_FILES, [HISTORY_SECRET.path]: HISTORY_SECRET.content });
  runGit(workspace, 'add', '-A');
  runGit(workspace, 'commit', '-q', '-m', 'first, with a secret');
  const historyBlob = runGit(workspace, 'rev-parse', `HEAD:${HISTORY_SECRET.path}`).trim();
  runGit(workspace, 'rm', '-q', HISTORY_SECRET.path);
  writeFiles(workspace, SECRET_FILES);
  runGit(workspace, 'add', '-f', ...TRACKED_SECRETS);
  runGit(workspace, 'commit', '-q', '-m', 'remove the secret, track some others');
  // Untracked from here on: the copy takes untracked files git does not ignore.
  writeFiles(workspace, { [TOKEN_NPMRC.path]: TOKEN_NPMRC.content });
  runGit(workspace, 'remote', 'add', 'origin', `https://x-access-token:${GIT_CONFIG_SECRETS.remoteToken}@example.invalid/org/repo.git`);
  runGit(workspace, 'config', 'http.extraheader', `AUTHORIZATION: bearer ${GIT_CONFIG_SECRETS.header}`);
  runGit(workspace, 'config', 'credential.helper', 'store');
  runGit(workspace, 'config', 'include.path', path.join(outside, 'gitconfig-secret'));
  // Out of the workspace by absolute path, and to left-out secrets inside it under innocent names.
  // (A relative link that climbs out of the workspace is its own case: the engine refuses to unpack one.)
  const links = { 'linked-key': path.join(outside, 'id_rsa'), vault: outside, 'notes.txt': '.env', 'keys/deploy': '../id_rsa' };
  for (const [rel, target] of Object.entries(links)) {
    fs.mkdirSync(path.dirname(path.join(workspace, rel)), { recursive: true });
    fs.symlinkSync(target, path.join(workspace, rel));
  }
  return { workspace, links, historyBlob, commits: 2 };
}

/** What task B sets up at run time for A to look for: files, a System V segment, two listeners. */
async function prepareOther(task: BoxTask): Promise<void> {
  const marker = OTHER_TASK.runtimeMarker;
  const script = [
    `printf %s ${marker} > /workspace/b-runtime.txt`,
    `printf %s ${marker} > /tmp/b-tmp.txt`,
    `printf %s ${marker} > /dev/shm/${OTHER_TASK.shmFile}`,
    `perl -e 'defined shmget(${OTHER_TASK.shmKey}, 4096, 01600) or die "shmget: $!"'`,
    // Left running after this command ends, as dev servers an agent started would be.
    `{ nohup node -e "$1" ${OTHER_TASK.processMarker} >/dev/null 2>&1 </dev/null & }`,
    `{ nohup perl -MSocket -e "$2" ${OTHER_TASK.processMarker} >/dev/null 2>&1 </dev/null & }`,
    `for i in $(seq 1 200); do grep -q ' 0A ' /proc/net/tcp && break; sleep 0.05; done`,
    `for i in $(seq 1 200); do grep -q ${OTHER_TASK.abstractName} /proc/net/unix && exit 0; sleep 0.05; done; exit 1`,
  ].join(' && ');
  const setup = await task.exec(['sh', '-c', script, 'sh', OTHER_TASK_SERVER, OTHER_TASK_ABSTRACT_SERVER]);
  if (setup.exitCode !== 0) throw new Error(`task B could not be set up: ${setup.stderr}`);
}

before(async () => {
  engine = await realEngine({ skip: (message?: string) => console.log(`# skipped: ${message ?? ''}`) } as unknown as TestContext);
  if (!engine) return;
  ({ service, stateRoot } = serviceFor(engine));
  const owner = service;
  const outside = makeTempDir('airlock-sec-box-outside-');
  writeFiles(outside, OUTSIDE_FILES);
  const hostHome = makeTempDir('airlock-sec-box-home-');
  writeFiles(hostHome, HOME_FILES);
  const attacked = attackedWorkspace(outside);
  // The secrets go into this process's own environment, as a developer's shell would have them.
  for (const [name, value] of Object.entries({ ...HOST_ENV_SECRETS, [PASSED_THROUGH.name]: PASSED_THROUGH.value })) {
    savedEnv.set(name, process.env[name]);
    process.env[name] = value;
  }
  // HOME and the engine and agent handles only in what the task is started from: changing this
  // process's own HOME or DOCKER_HOST would change which engine the tests themselves reach.
  const hostEnv = { ...process.env, ...HOST_ENV_HANDLES, HOME: hostHome };
  const startTask = async (workspace?: string, extra: { hostEnv?: NodeJS.ProcessEnv; envPassthrough?: string[] } = {}): Promise<BoxTask> => {
    const folder = workspace ?? makeTempDir('airlock-sec-box-extra-');
    if (!workspace) writeFiles(folder, { 'a.txt': 'a\n' });
    const record = await owner.start({ ...TASK_OPTIONS, workspace: folder, envPassthrough: extra.envPassthrough ?? [] }, { hostEnv: extra.hostEnv });
    started.push(record.id);
    return boxTask(owner, record, folder);
  };
  const otherWorkspace = makeTempDir('airlock-sec-box-other-');
  writeFiles(otherWorkspace, { [OTHER_TASK.file]: `${OTHER_TASK.fileMarker}\n`, 'a.txt': 'b\n' });
  const [task, other] = await Promise.all([startTask(attacked.workspace, { hostEnv, envPassthrough: [PASSED_THROUGH.name] }), startTask(otherWorkspace)]);
  await prepareOther(other);
  context = { engine, service, stateRoot, task, other, limits: LIMITS, outside, hostHome, links: attacked.links, historyBlob: attacked.historyBlob, commits: attacked.commits, startTask: (workspace) => startTask(workspace) };
});

after(async () => {
  for (const [name, value] of savedEnv) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  if (service) {
    for (const id of started) await service.stop(id).catch(() => undefined);
    service.dispose();
  }
  // The workspace bases belong to this file's state folder; no later task of it can use them.
  const left: string[] = [];
  if (engine && stateRoot) {
    const docker = engine.docker;
    const bases = (await docker.listVolumes({ filters: { label: [`${STATE_LABEL}=${stateRoot}`] } })).Volumes ?? [];
    for (const volume of bases) await docker.getVolume(volume.Name).remove().catch((error: Error) => left.push(`${volume.Name}: ${error.message}`));
    for (const id of started) {
      const filters = { label: [`airlock.task=${id}`] };
      left.push(...(await docker.listContainers({ all: true, filters })).map((container) => `container ${container.Id.slice(0, 12)} of task ${id}`));
      left.push(...((await docker.listVolumes({ filters })).Volumes ?? []).map((volume) => `volume ${volume.Name} of task ${id}`));
    }
    fs.rmSync(stateRoot, { recursive: true, force: true });
  }
  removeTempDirs();
  if (left.length > 0) throw new Error(`left on the engine: ${left.join('; ')}`);
});

registerCases(BOX_CASES, () => context);
