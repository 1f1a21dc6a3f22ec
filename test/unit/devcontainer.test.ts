import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readDevcontainer, shellQuote } from '../../src/core/devcontainer/devcontainerFile.js';
import type { DevcontainerPlan, DevcontainerRefusal } from '../../src/core/devcontainer/devcontainerPlan.js';
import { readImageMetadata } from '../../src/core/devcontainer/imageMetadata.js';
import { SourceFileError } from '../../src/core/ground/jsoncFile.js';
import { airlockErrorFrom } from '../helpers/airlockErrorFrom.js';

const FIXTURES = path.resolve(__dirname, '../fixtures/devcontainer');
const fixture = (name: string) => ({ workspace: path.join(FIXTURES, name), file: path.join(FIXTURES, name, '.devcontainer', 'devcontainer.json') });

const temporary: string[] = [];
after(() => {
  for (const dir of temporary) fs.rmSync(dir, { recursive: true, force: true });
});

/** A fresh workspace holding `.devcontainer/devcontainer.json` with this text (or this object as JSON). */
function workspaceWith(content: string | object): { workspace: string; file: string; text: string } {
  const workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-devcontainer-'));
  temporary.push(workspace);
  fs.mkdirSync(path.join(workspace, '.devcontainer'));
  const file = path.join(workspace, '.devcontainer', 'devcontainer.json');
  const text = typeof content === 'string' ? content : JSON.stringify(content, null, 2);
  fs.writeFileSync(file, text);
  return { workspace, file, text };
}

const readObject = (content: object): DevcontainerPlan => {
  const { workspace, file } = workspaceWith(content);
  return readDevcontainer(file, workspace);
};

/** The 1-based line and column of `marker` in `text`, which must occur exactly once. */
function positionOf(text: string, marker: string): { line: number; column: number } {
  const offset = text.indexOf(marker);
  assert.ok(offset >= 0, `marker ${marker} not in the sample`);
  assert.equal(text.indexOf(marker, offset + 1), -1, `marker ${marker} occurs more than once in the sample`);
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return { line, column: offset - before.lastIndexOf('\n') };
}

const fields = (refusals: readonly DevcontainerRefusal[]) => refusals.map((refusal) => refusal.field);
const reasonOf = (plan: { refusals: readonly DevcontainerRefusal[] }, field: string) => plan.refusals.filter((refusal) => refusal.field === field).map((refusal) => refusal.reason);

describe('readDevcontainer: a clean Dockerfile-based sample', () => {
  test('gives exactly the expected plan: absolute paths, substituted env, quoted argv, named commands in key order', () => {
    const { workspace, file } = fixture('clean');
    assert.deepEqual(readDevcontainer(file, workspace), {
      file,
      build: {
        context: workspace,
        dockerfile: path.join(workspace, '.devcontainer', 'Dockerfile'),
        args: { NODE_VERSION: '22', APT_PACKAGES: 'git jq' },
        target: 'dev',
      },
      containerEnv: { NODE_ENV: 'test', APP_HOME: '/workspace', PROJECT: 'clean', NPM_CONFIG_CACHE: '/workspace/.npm' },
      remoteUser: 'node',
      lifecycle: [
        { field: 'onCreateCommand', line: 'npm ci' },
        { field: 'updateContentCommand', line: "npx tsc -p tsconfig.build.json --outDir 'dist/my app'" },
        { field: 'postCreateCommand.migrate', line: 'npm run db:migrate' },
        { field: 'postCreateCommand.seed', line: 'node scripts/seed.js --count 10' },
        { field: 'postStartCommand', line: 'npm run dev > /tmp/dev.log 2>&1 &' },
      ],
      refusals: [],
      notes: ['customizations: editor settings and extensions do not apply to a sandboxed task; ignored', 'name: a display name; ignored'],
    });
  });

  test('a relative file path is read as an absolute one', () => {
    const { workspace, file } = fixture('clean');
    const plan = readDevcontainer(path.relative(process.cwd(), file), path.relative(process.cwd(), workspace));
    assert.equal(plan.file, file);
    assert.equal(plan.build?.context, workspace);
  });
});

describe('readDevcontainer: the kitchen-sink sample', () => {
  const { workspace, file } = fixture('kitchen-sink');
  const text = fs.readFileSync(file, 'utf8');
  const plan = readDevcontainer(file, workspace);

  /** Every refusal, with a marker that starts where the refused key or list entry starts in the sample. */
  const expected: Array<[field: string, marker: string]> = [
    ['build.args.NPM_TOKEN', '"NPM_TOKEN"'],
    ['initializeCommand', '"initializeCommand"'],
    ['privileged', '"privileged": true'],
    ['capAdd.0', '"SYS_ADMIN"'],
    ['capAdd.1', '"NET_ADMIN"'],
    ['securityOpt.0', '"seccomp=unconfined"'],
    ['mounts.0', '"source=/var/run/docker.sock'],
    ['mounts.1', '"source=${localEnv:HOME}'], // a host path, and a host variable
    ['mounts.1', '"source=${localEnv:HOME}'],
    ['mounts.2', '{ "type": "volume"'],
    ['workspaceMount', '"workspaceMount"'],
    ['runArgs.0', '"--privileged"'],
    ['runArgs.1', '"--network=host"'],
    ['runArgs.2', '"--pid", "host"'],
    ['runArgs.4', '"--ipc=host"'],
    ['runArgs.5', '"--uts=host"'],
    ['runArgs.6', '"-v", "/:/host"'],
    ['runArgs.8', '"-v/etc:/host-etc"'],
    ['runArgs.9', '"--volume=/home:/home"'],
    ['runArgs.10', '"--mount", "type=bind'],
    ['runArgs.12', '"--cap-add=SYS_PTRACE"'],
    ['runArgs.13', '"--device", "/dev/kvm"'],
    ['runArgs.15', '"--device-cgroup-rule'],
    ['runArgs.16', '"--security-opt", "apparmor'],
    ['runArgs.18', '"--group-add=docker"'],
    ['runArgs.19', '"--volumes-from"'],
    ['runArgs.21', '"--cgroupns=host"'],
    ['runArgs.22', '"--sysctl"'],
    ['runArgs.24', '"--gpus=all"'],
    ['forwardPorts', '"forwardPorts"'],
    ['appPort', '"appPort"'],
    ['dockerComposeFile', '"dockerComposeFile"'],
    ['service', '"service"'],
    ['runServices', '"runServices"'],
    ['features.ghcr.io/devcontainers/features/docker-in-docker:2', '"ghcr.io/devcontainers/features/docker-in-docker:2"'],
    ['features.ghcr.io/devcontainers/features/docker-outside-of-docker:1', '"ghcr.io/devcontainers/features/docker-outside-of-docker:1"'],
    ['features.ghcr.io/devcontainers/features/node:1', '"ghcr.io/devcontainers/features/node:1"'],
    ['containerEnv.GITHUB_TOKEN', '"GITHUB_TOKEN"'],
    ['containerEnv.HOST_PROJECT', '"HOST_PROJECT"'],
    ['remoteEnv.AWS_PROFILE', '"AWS_PROFILE"'],
    ['postCreateCommand', '"postCreateCommand"'],
    ['postStartCommand.1', '"${localWorkspaceFolder}/.env"'],
    ['customizations.vscode.settings.terminal.integrated.env.linux.GH_TOKEN', '"GH_TOKEN"'],
  ];

  test('every refused field is listed once per reason, at the line and column of its key or entry', () => {
    const actual = plan.refusals.map(({ field, line, column }) => ({ field, line, column }));
    const wanted = expected.map(([field, marker]) => ({ field, ...positionOf(text, marker) }));
    assert.deepEqual(actual, wanted);
  });

  test('refusals are listed in file order', () => {
    const lines = plan.refusals.map((refusal) => refusal.line!);
    assert.deepEqual(lines, [...lines].sort((a, b) => a - b));
  });

  test('reasons name what is wrong', () => {
    assert.match(reasonOf(plan, 'initializeCommand')[0], /runs on the host, outside any sandbox/);
    assert.match(reasonOf(plan, 'mounts.0')[0], /Docker socket \(\/var\/run\/docker\.sock\)/);
    assert.deepEqual(reasonOf(plan, 'mounts.1').length, 2);
    assert.ok(reasonOf(plan, 'mounts.1').some((reason) => /host path/.test(reason)));
    assert.ok(reasonOf(plan, 'mounts.1').some((reason) => /\$\{localEnv:HOME\}/.test(reason)));
    assert.match(reasonOf(plan, 'mounts.2')[0], /volume "shared-cache"; persistent volumes are shared across tasks/);
    assert.match(reasonOf(plan, 'runArgs.1')[0], /host networking bypasses Airlock's egress gateway/);
    assert.match(reasonOf(plan, 'runArgs.2')[0], /--pid=host shares the host's process namespace/);
    assert.match(reasonOf(plan, 'runArgs.6')[0], /^-v bind-mounts the host path \//);
    assert.match(reasonOf(plan, 'runArgs.8')[0], /host path \/etc/);
    assert.match(reasonOf(plan, 'forwardPorts')[0], /3000, db:5432.*opens the sandbox to the network/);
    assert.match(reasonOf(plan, 'dockerComposeFile')[0], /compose-based dev containers are not supported/);
    assert.match(reasonOf(plan, 'features.ghcr.io/devcontainers/features/docker-in-docker:2')[0], /needs privileged mode/);
    assert.match(reasonOf(plan, 'features.ghcr.io/devcontainers/features/docker-outside-of-docker:1')[0], /host's Docker socket/);
    assert.match(reasonOf(plan, 'features.ghcr.io/devcontainers/features/node:1')[0], /does not run feature install scripts.*Dockerfile instead/);
    assert.match(reasonOf(plan, 'containerEnv.GITHUB_TOKEN')[0], /\$\{localEnv:GITHUB_TOKEN\}.*possibly a secret/);
    assert.match(reasonOf(plan, 'containerEnv.HOST_PROJECT')[0], /\$\{localWorkspaceFolder\}.*host path/);
    assert.match(reasonOf(plan, 'customizations.vscode.settings.terminal.integrated.env.linux.GH_TOKEN')[0], /\$\{env:GH_TOKEN\}/);
  });

  test('nothing refused reaches the plan; the rest is kept', () => {
    assert.equal(plan.image, undefined, 'build wins over image');
    assert.deepEqual(plan.build, {
      context: workspace,
      dockerfile: path.join(workspace, '.devcontainer', 'Dockerfile'),
      args: { NODE_VERSION: '22' },
    });
    assert.deepEqual(plan.containerEnv, { EDITOR: 'vim' });
    assert.deepEqual(plan.lifecycle, []);
    assert.equal(plan.remoteUser, 'root', 'a root user is for the policy to judge, not refused here');
  });

  test('fields that do not apply are notes, never silently dropped', () => {
    assert.deepEqual([...plan.notes].sort(), [
      '"someFutureField" is not a devcontainer.json field Airlock knows; ignored',
      'customizations: editor settings and extensions do not apply to a sandboxed task; ignored',
      'hostRequirements: not checked; set the task\'s CPU and memory limits instead',
      'image: ignored; the Dockerfile in "build" is built instead',
      "mounts.3: tmpfs scratch mounts are not applied; use Airlock's own scratch mounts",
      'name: a display name; ignored',
      'postAttachCommand: not run; there is no IDE attach in an Airlock task',
      'runArgs.25: "--memory=4g" is not applied; Airlock sets the container\'s options itself',
      'runArgs.26: "--init" is not applied; Airlock sets the container\'s options itself',
      'workspaceFolder: ignored; the workspace is always at /workspace',
    ]);
    assert.ok(!fields(plan.refusals).includes('mounts.3'), 'a tmpfs mount is not refused');
  });
});

describe('readDevcontainer: files that are not valid', () => {
  test('a syntax error gives a SourceFileError at file:line:col', () => {
    const { workspace, file } = fixture('syntax-error');
    const error = airlockErrorFrom(() => readDevcontainer(file, workspace));
    assert.ok(error instanceof SourceFileError);
    const { line, column } = positionOf(fs.readFileSync(file, 'utf8'), '"remoteUser"');
    assert.ok(error.message.includes(`${file}:${line}:${column}:`), error.message);
    assert.match(error.message, /"," is missing/);
  });

  test('a wrong type names the field and its line', () => {
    const { workspace, file, text } = workspaceWith('{\n  // the image must be a name\n  "remoteUser": "node",\n  "image": 5,\n}\n');
    const error = airlockErrorFrom(() => readDevcontainer(file, workspace));
    assert.ok(error instanceof SourceFileError);
    assert.equal(error.problems.length, 1);
    assert.equal(error.problems[0].field, 'image');
    assert.equal(error.problems[0].line, positionOf(text, '5').line);
    assert.ok(error.message.includes(`${file}:4:`), error.message);
  });

  test('nested wrong types are reported with their dotted path', () => {
    const { workspace, file, text } = workspaceWith({ build: { dockerfile: 'Dockerfile', args: { N: 22 } }, containerEnv: { A: true }, postCreateCommand: 7 });
    const error = airlockErrorFrom(() => readDevcontainer(file, workspace)) as SourceFileError;
    assert.deepEqual(
      error.problems.map((problem) => [problem.field, problem.line]),
      [
        ['build.args.N', positionOf(text, '"N"').line],
        ['containerEnv.A', positionOf(text, '"A"').line],
        ['postCreateCommand', positionOf(text, '"postCreateCommand"').line],
      ],
    );
  });

  test('build that is not an object is a type error', () => {
    const { workspace, file } = workspaceWith({ build: 'Dockerfile' });
    const error = airlockErrorFrom(() => readDevcontainer(file, workspace)) as SourceFileError;
    assert.equal(error.problems[0].field, 'build');
  });

  test('a build without a dockerfile and without an image is an error', () => {
    const { workspace, file } = workspaceWith({ build: { context: '..' } });
    const error = airlockErrorFrom(() => readDevcontainer(file, workspace)) as SourceFileError;
    assert.equal(error.problems[0].field, 'build');
    assert.match(error.message, /"dockerfile" is needed/);
  });
});

describe('readDevcontainer: image and build', () => {
  test('an image alone is kept; neither image nor build gives neither', () => {
    assert.equal(readObject({ image: 'node:22-bookworm' }).image, 'node:22-bookworm');
    const empty = readObject({});
    assert.equal(empty.image, undefined);
    assert.equal(empty.build, undefined);
    assert.deepEqual(empty.refusals, []);
  });

  test('the legacy top-level dockerFile and context are read relative to the devcontainer.json folder', () => {
    const { workspace, file } = workspaceWith({ dockerFile: 'Dockerfile', context: '..' });
    assert.deepEqual(readDevcontainer(file, workspace).build, { context: workspace, dockerfile: path.join(workspace, '.devcontainer', 'Dockerfile'), args: {} });
  });

  test('the context defaults to the devcontainer.json folder', () => {
    const { workspace, file } = workspaceWith({ build: { dockerfile: '../Dockerfile' } });
    assert.deepEqual(readDevcontainer(file, workspace).build, { context: path.join(workspace, '.devcontainer'), dockerfile: path.join(workspace, 'Dockerfile'), args: {} });
  });

  test('a build path escaping the workspace through .. is refused, and there is no build', () => {
    const { workspace, file, text } = workspaceWith('{\n  "build": {\n    "dockerfile": "Dockerfile",\n    "context": "../..",\n  },\n}\n');
    const plan = readDevcontainer(file, workspace);
    assert.equal(plan.build, undefined);
    assert.deepEqual(fields(plan.refusals), ['build.context']);
    assert.equal(plan.refusals[0].line, positionOf(text, '"context"').line);
    assert.match(plan.refusals[0].reason, new RegExp(`resolves to ${path.dirname(workspace)}, outside the workspace`));
  });

  test('a Dockerfile path escaping the workspace is refused', () => {
    const plan = readObject({ build: { dockerfile: '../../Dockerfile', context: '..' } });
    assert.deepEqual(fields(plan.refusals), ['build.dockerfile']);
    assert.equal(plan.build, undefined);
  });

  test('a build path escaping through a symlink is refused', () => {
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-outside-'));
    temporary.push(outside);
    fs.writeFileSync(path.join(outside, 'Dockerfile'), 'FROM scratch\n');
    const { workspace, file } = workspaceWith({ build: { dockerfile: 'escape/Dockerfile', context: 'escape' } });
    fs.symlinkSync(outside, path.join(workspace, '.devcontainer', 'escape'));
    const plan = readDevcontainer(file, workspace);
    assert.deepEqual(fields(plan.refusals), ['build.dockerfile', 'build.context']);
    assert.match(plan.refusals[1].reason, new RegExp(`really ${fs.realpathSync(outside)}`));
    assert.equal(plan.build, undefined);
  });

  test('a dangling symlink counts as outside', () => {
    const { workspace, file } = workspaceWith({ build: { dockerfile: 'Dockerfile', context: 'gone' } });
    fs.symlinkSync('/nonexistent/airlock-test', path.join(workspace, '.devcontainer', 'gone'));
    assert.deepEqual(fields(readDevcontainer(file, workspace).refusals), ['build.context']);
  });

  test('a symlink that stays inside the workspace is fine', () => {
    const { workspace, file } = workspaceWith({ build: { dockerfile: 'Dockerfile', context: 'root' } });
    fs.symlinkSync(workspace, path.join(workspace, '.devcontainer', 'root'));
    const plan = readDevcontainer(file, workspace);
    assert.deepEqual(plan.refusals, []);
    assert.equal(plan.build?.context, path.join(workspace, '.devcontainer', 'root'));
  });

  test('a workspace given through a symlink still contains its own files', () => {
    const { workspace } = workspaceWith({ build: { dockerfile: 'Dockerfile', context: '..' } });
    const link = `${workspace}-link`;
    fs.symlinkSync(workspace, link);
    temporary.push(link);
    const plan = readDevcontainer(path.join(link, '.devcontainer', 'devcontainer.json'), link);
    assert.deepEqual(plan.refusals, []);
    assert.equal(plan.build?.context, link);
  });
});

describe('readDevcontainer: host variables', () => {
  test('${localEnv} in an env value, a lifecycle command and build.args is refused at its exact dotted path and kept out of the plan', () => {
    const plan = readObject({
      build: { dockerfile: 'Dockerfile', args: { SECRET: '${localEnv:NPM_TOKEN}', PLAIN: '1' } },
      containerEnv: { TOKEN: '${localEnv:TOKEN}', HOME_COPY: 'x-${localEnv:HOME:/root}', KEEP: 'yes' },
      postCreateCommand: { install: ['npm', 'ci', '--token=${localEnv:NPM_TOKEN}'], build: 'npm run build' },
      postStartCommand: 'echo ${env:USER}',
    });
    assert.deepEqual(fields(plan.refusals), ['build.args.SECRET', 'containerEnv.TOKEN', 'containerEnv.HOME_COPY', 'postCreateCommand.install.2', 'postStartCommand']);
    assert.deepEqual(plan.build?.args, { PLAIN: '1' });
    assert.deepEqual(plan.containerEnv, { KEEP: 'yes' });
    assert.deepEqual(plan.lifecycle, [{ field: 'postCreateCommand.build', line: 'npm run build' }]);
  });

  test('${localWorkspaceFolder} is refused in kept values but is fine in host-side build paths', () => {
    const plan = readObject({
      build: { dockerfile: '${localWorkspaceFolder}/Dockerfile', context: '${localWorkspaceFolder}', args: { WHERE: '${localWorkspaceFolder}' } },
      remoteEnv: { SRC: '${localWorkspaceFolder}/src' },
      onCreateCommand: 'ls ${localWorkspaceFolder}',
    });
    assert.deepEqual(fields(plan.refusals), ['build.args.WHERE', 'remoteEnv.SRC', 'onCreateCommand']);
    assert.ok(plan.build);
    assert.deepEqual(plan.build.args, {});
    assert.deepEqual(plan.containerEnv, {});
    assert.deepEqual(plan.lifecycle, []);
  });

  test('${containerEnv:X} drops an env value with a note, and becomes a shell expansion in a shell line', () => {
    const plan = readObject({
      containerEnv: { A: '1' },
      remoteEnv: { PATH: '${containerEnv:PATH}:/home/node/.local/bin' },
      postCreateCommand: 'echo ${containerEnv:HOME} ${containerEnv:LANG:C.UTF-8}',
      postStartCommand: ['echo', '${containerEnv:HOME}'],
    });
    assert.deepEqual(plan.containerEnv, { A: '1' });
    assert.deepEqual(plan.lifecycle, [{ field: 'postCreateCommand', line: 'echo ${HOME} ${LANG:-C.UTF-8}' }]);
    assert.ok(plan.notes.some((note) => note.startsWith('remoteEnv.PATH: uses ${containerEnv:')));
    assert.ok(plan.notes.some((note) => note.startsWith('postStartCommand: uses ${containerEnv:')));
    assert.deepEqual(plan.refusals, []);
  });

  test('${devcontainerId} is left as is with a note', () => {
    const plan = readObject({ containerEnv: { CACHE: '/cache/${devcontainerId}' } });
    assert.deepEqual(plan.containerEnv, { CACHE: '/cache/${devcontainerId}' });
    assert.deepEqual(plan.notes, ['containerEnv.CACHE: ${devcontainerId} is left as is; an Airlock task has no dev container id']);
  });

  test('remoteEnv null unsets a containerEnv variable', () => {
    assert.deepEqual(readObject({ containerEnv: { A: '1', B: '2' }, remoteEnv: { A: null } }).containerEnv, { B: '2' });
  });
});

describe('readDevcontainer: runArgs', () => {
  const refusedIndexes = (runArgs: string[]) => fields(readObject({ runArgs }).refusals);

  test('both --flag=value and --flag value forms, short clusters and attached short values', () => {
    assert.deepEqual(refusedIndexes(['--network', 'host']), ['runArgs.0']);
    assert.deepEqual(refusedIndexes(['--net=bridge']), ['runArgs.0']);
    assert.deepEqual(refusedIndexes(['--network=none', '--pid=private', '--ipc', 'private']), []);
    assert.deepEqual(refusedIndexes(['--ipc', 'container:db']), ['runArgs.0']);
    assert.deepEqual(refusedIndexes(['-itv/a:/b']), ['runArgs.0']);
    assert.deepEqual(refusedIndexes(['-it', '-p', '8080:80']), ['runArgs.1']);
    assert.deepEqual(refusedIndexes(['-v=/:/host']), ['runArgs.0']);
    assert.deepEqual(refusedIndexes(['--userns=host', '--use-api-socket']), ['runArgs.0', 'runArgs.1']);
  });

  test('an option cannot hide as the value of the option before it', () => {
    assert.deepEqual(refusedIndexes(['--label', '-v', '/:/host']), ['runArgs.1']);
    assert.deepEqual(refusedIndexes(['--memory', '--privileged']), ['runArgs.1']);
  });

  test('a tmpfs --mount is not refused; a docker socket -v is, and says so', () => {
    assert.deepEqual(refusedIndexes(['--mount', 'type=tmpfs,target=/scratch']), []);
    const plan = readObject({ runArgs: ['-v', '/var/run/docker.sock:/var/run/docker.sock'] });
    assert.match(plan.refusals[0].reason, /Docker socket/);
  });

  test('other options are notes, with their values', () => {
    assert.deepEqual(readObject({ runArgs: ['--memory', '4g', '--add-host=db:10.0.0.2'] }).notes, [
      'runArgs.0: "--memory 4g" is not applied; Airlock sets the container\'s options itself',
      'runArgs.2: "--add-host=db:10.0.0.2" is not applied; Airlock sets the container\'s options itself',
    ]);
  });
});

describe('readDevcontainer: features and mounts', () => {
  test('docker features are matched with any registry prefix and version', () => {
    const plan = readObject({
      features: {
        'docker-in-docker': {},
        'localhost:5000/features/docker-outside-of-docker@sha256:abc': {},
        'ghcr.io/devcontainers/features/docker-from-docker:1': {},
        './local-feature': {},
      },
    });
    assert.deepEqual(
      plan.refusals.map((refusal) => [refusal.field, /privileged mode/.test(refusal.reason) ? 'privileged' : /Docker socket/.test(refusal.reason) ? 'socket' : 'scripts']),
      [
        ['features.docker-in-docker', 'privileged'],
        ['features.localhost:5000/features/docker-outside-of-docker@sha256:abc', 'socket'],
        ['features.ghcr.io/devcontainers/features/docker-from-docker:1', 'socket'],
        ['features../local-feature', 'scripts'],
      ],
    );
  });

  test('privileged false and empty lists are not refusals', () => {
    assert.deepEqual(readObject({ privileged: false, capAdd: [], securityOpt: [], mounts: [], forwardPorts: [] }).refusals, []);
  });
});

describe('readImageMetadata', () => {
  const label = JSON.stringify([
    { id: 'ghcr.io/devcontainers/features/common-utils:2' },
    {
      id: 'ghcr.io/devcontainers/features/docker-in-docker:2',
      privileged: true,
      init: true,
      entrypoint: '/usr/local/share/docker-init.sh',
      mounts: [{ source: 'dind-var-lib-docker-${devcontainerId}', target: '/var/lib/docker', type: 'volume' }],
      containerEnv: { DOCKER_BUILDKIT: '1' },
      onCreateCommand: 'echo dind',
    },
    {
      remoteUser: 'node',
      containerEnv: { A: '1', DOCKER_BUILDKIT: '0' },
      remoteEnv: { B: '2' },
      onCreateCommand: ['echo', 'hi there'],
      postCreateCommand: { x: 'echo x', y: ['echo', 'y'] },
      capAdd: ['SYS_PTRACE'],
      securityOpt: ['seccomp=unconfined'],
      customizations: { vscode: { extensions: ['ms-python.python'] } },
    },
    { remoteUser: 'app', containerUser: 'app', remoteEnv: { A: null } },
  ]);

  test('entries merge as the spec says: env in order, last user wins, every lifecycle command in hook order', () => {
    const settings = readImageMetadata(label);
    assert.deepEqual(settings.containerEnv, { DOCKER_BUILDKIT: '0', B: '2' });
    assert.equal(settings.remoteUser, 'app');
    assert.equal(settings.containerUser, 'app');
    assert.deepEqual(settings.lifecycle, [
      { field: 'metadata.1.onCreateCommand', line: 'echo dind' },
      { field: 'metadata.2.onCreateCommand', line: "echo 'hi there'" },
      { field: 'metadata.2.postCreateCommand.x', line: 'echo x' },
      { field: 'metadata.2.postCreateCommand.y', line: 'echo y' },
    ]);
  });

  test('refusals name metadata.<index>.<field> and carry no position', () => {
    const { refusals, notes } = readImageMetadata(label);
    assert.deepEqual(fields(refusals), ['metadata.1.entrypoint', 'metadata.1.privileged', 'metadata.1.mounts.0', 'metadata.2.capAdd.0', 'metadata.2.securityOpt.0']);
    for (const refusal of refusals) assert.ok(!('line' in refusal) && !('column' in refusal), refusal.field);
    assert.match(reasonOf({ refusals }, 'metadata.1.entrypoint')[0], /Airlock runs its own init and does not run image entrypoints/);
    assert.match(reasonOf({ refusals }, 'metadata.1.mounts.0')[0], /persistent volumes are shared across tasks/);
    assert.deepEqual(notes, ['metadata.1.init: not used; Airlock always runs its own init', 'metadata.2.customizations: editor settings and extensions do not apply to a sandboxed task; ignored']);
  });

  test('one object is read as a one-entry list; undefined and empty give empty settings', () => {
    assert.deepEqual(readImageMetadata('{"remoteUser":"vscode","postStartCommand":"date"}'), {
      containerEnv: {},
      remoteUser: 'vscode',
      lifecycle: [{ field: 'metadata.0.postStartCommand', line: 'date' }],
      refusals: [],
      notes: [],
    });
    const empty = { containerEnv: {}, lifecycle: [], refusals: [], notes: [] };
    assert.deepEqual(readImageMetadata(undefined), empty);
    assert.deepEqual(readImageMetadata(''), empty);
    assert.deepEqual(readImageMetadata('[]'), empty);
  });

  test('${localEnv} in a label is refused too', () => {
    assert.deepEqual(fields(readImageMetadata('[{"containerEnv":{"T":"${localEnv:T}"}}]').refusals), ['metadata.0.containerEnv.T']);
  });

  test('invalid JSON and wrong shapes are AirlockErrors naming the label and what to do', () => {
    const error = airlockErrorFrom(() => readImageMetadata('[{"remoteUser": "node",'));
    assert.match(error.message, /devcontainer\.metadata is not valid JSON/);
    assert.equal(error.field, 'devcontainer.metadata');
    assert.match(error.hint ?? '', /Rebuild the image/);
    const shape = airlockErrorFrom(() => readImageMetadata('[{}, {"containerEnv": {"A": 1}}]'));
    assert.match(shape.message, /devcontainer\.metadata .*metadata\.1\.containerEnv\.A/);
    airlockErrorFrom(() => readImageMetadata('[null]'));
  });
});

describe('shellQuote', () => {
  test('plain words stay bare; anything else is single-quoted', () => {
    assert.equal(shellQuote('scripts/seed.js'), 'scripts/seed.js');
    assert.equal(shellQuote('--out=dist,a:b@c%d+e'), '--out=dist,a:b@c%d+e');
    assert.equal(shellQuote(''), "''");
    assert.equal(shellQuote('a b'), "'a b'");
    assert.equal(shellQuote("it's"), `'it'\\''s'`);
  });

  test('every word round-trips through sh -c printf', () => {
    const nasty = ["it's", '"double"', '$HOME and ${PATH}', '`id`', 'two  spaces', 'new\nline', 'tab\there', '*?[a]', '~', 'a;b|c&d', "'", "''", '\\', '-n', '', 'ünï€ode', '!event'];
    for (const word of nasty) {
      const output = execFileSync('sh', ['-c', `printf '%s\\n' ${shellQuote(word)}`], { encoding: 'utf8', timeout: 5000 });
      assert.equal(output, `${word}\n`, JSON.stringify(word));
    }
  });
});
