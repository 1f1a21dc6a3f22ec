import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type Docker from 'dockerode';
import * as tarStream from 'tar-stream';
import { buildImage, buildTag, packContext, remoteAddSources } from '../../src/core/devcontainer/imageBuild.js';
import { imageLabel, resolveImageUser } from '../../src/core/devcontainer/imageInspect.js';
import type { DevcontainerBuild } from '../../src/core/devcontainer/devcontainerPlan.js';
import { AirlockError, CancelledError } from '../../src/core/ground/errors.js';
import { realEngine, TEST_IMAGE, waitFor } from '../helpers/realEngine.js';
import { makeTempDir, removeTempDirs, writeFiles } from '../helpers/tempWorkspace.js';

/**
 * Building a devcontainer's Dockerfile on the real engine: the context docker would send (its
 * .dockerignore rules, not gitignore's), a Dockerfile outside the context, args and target, no
 * network while steps run, failures a person can read, cancellation, and the image's users.
 */

const RUN = randomBytes(4).toString('hex');
const SLOW = { timeout: 180_000 };

const contextBuild = (context: string, dockerfile = path.join(context, 'Dockerfile'), extra: Partial<DevcontainerBuild> = {}): DevcontainerBuild => ({ context, dockerfile, args: {}, ...extra });

/** A container from `image` running `argv` with no network; stdout and stderr once it exits; always removed. */
async function runIn(docker: Docker, image: string, argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const container = await docker.createContainer({ Image: image, Entrypoint: [], Cmd: argv, NetworkDisabled: true, HostConfig: { NetworkMode: 'none' }, Labels: { 'airlock.test': RUN } });
  try {
    await container.start();
    let timer: NodeJS.Timeout | undefined;
    const waited = await Promise.race([
      container.wait() as Promise<{ StatusCode: number }>,
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`${argv.join(' ')} did not end within 30 s`)), 30_000);
      }),
    ]).finally(() => clearTimeout(timer));
    const logs = await container.logs({ stdout: true, stderr: true, follow: false });
    return { code: waited.StatusCode, ...demux(logs) };
  } finally {
    await container.remove({ force: true, v: true }).catch(() => undefined);
  }
}

/** The engine's multiplexed log format: 8-byte frame headers (stream type, size). */
function demux(buffer: Buffer): { stdout: string; stderr: string } {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  for (let offset = 0; offset + 8 <= buffer.length;) {
    const size = buffer.readUInt32BE(offset + 4);
    (buffer[offset] === 2 ? err : out).push(buffer.subarray(offset + 8, offset + 8 + size));
    offset += 8 + size;
  }
  return { stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
}

/** Names of the entries in a tar stream. */
async function tarNames(stream: NodeJS.ReadableStream): Promise<Map<string, string>> {
  const names = new Map<string, string>();
  const extract = tarStream.extract();
  await new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, body, next) => {
      const chunks: Buffer[] = [];
      body.on('data', (chunk: unknown) => {
        chunks.push(chunk as Buffer);
      });
      body.on('end', () => {
        names.set(header.name.replace(/\/$/, ''), header.type === 'symlink' ? `-> ${header.linkname}` : Buffer.concat(chunks).toString('utf8'));
        next();
      });
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
    (stream as Readable).pipe(extract);
  });
  return names;
}

const lines = (text: string) => text.split('\n').filter(Boolean);

describe('building an image from a Dockerfile (integration)', () => {
  let docker: Docker | undefined;
  const tags = new Set<string>();
  const tagFor = (name: string) => {
    const tag = `airlock-test-build-${name}-${RUN}:latest`;
    tags.add(tag);
    return tag;
  };
  const imageExists = (tag: string) => docker!.getImage(tag).inspect().then(() => true, () => false);

  before(async (t) => {
    docker = (await realEngine(t as never))?.docker;
  });

  after(async () => {
    for (const tag of tags) await docker?.getImage(tag).remove({ force: true }).catch(() => undefined);
    removeTempDirs();
  });

  test('the context is what docker sends: .dockerignore rules with docker semantics, links kept as links', SLOW, async (t) => {
    if (!docker) return t.skip('no engine');
    const outside = makeTempDir('airlock-outside-');
    writeFiles(outside, { 'host-secret.txt': 'never in the image\n' });
    const context = makeTempDir('airlock-build-ctx-');
    writeFiles(context, {
      Dockerfile: [
        `FROM ${TEST_IMAGE}`,
        'COPY . /ctx',
        'RUN find /ctx -type f | sort > /listing',
        "RUN find /ctx -type l -printf '%P -> %l\\n' | sort > /links",
      ].join('\n'),
      '.dockerignore': ['# build outputs and secrets', 'secrets/', '*.log', '**/*.tmp', 'node_modules', '!keep.log', ''].join('\n'),
      'app.log': 'root log, excluded\n',
      'keep.log': 'root log, re-included\n',
      'sub/x.log': '*.log only matches at the root\n',
      'secrets/token': 'x\n',
      'secrets/deeper/key': 'x\n',
      'a/b/c.tmp': 'x\n',
      'c.tmp': '**/ matches zero folders too\n',
      'a/b/kept.txt': 'x\n',
      'node_modules/pkg/index.js': 'x\n',
      'sub/node_modules/y.js': 'node_modules only matches at the root\n',
      'src/main.ts': 'x\n',
    });
    fs.symlinkSync(path.join(outside, 'host-secret.txt'), path.join(context, 'escape'));

    const tag = tagFor('ignore');
    const started = Date.now();
    const built = await buildImage(docker, contextBuild(context), { tag });
    const firstMs = Date.now() - started;
    assert.match(built.imageId, /^sha256:[0-9a-f]{64}$/);

    const listing = await runIn(docker, tag, ['cat', '/listing', '/links']);
    assert.equal(listing.code, 0, listing.stderr);
    assert.deepEqual(lines(listing.stdout), [
      '/ctx/.dockerignore',
      '/ctx/Dockerfile',
      '/ctx/a/b/kept.txt',
      '/ctx/keep.log',
      '/ctx/src/main.ts',
      '/ctx/sub/node_modules/y.js',
      '/ctx/sub/x.log',
      `escape -> ${path.join(outside, 'host-secret.txt')}`,
    ]);

    const again = Date.now();
    const rebuilt = await buildImage(docker, contextBuild(context), { tag });
    const rebuildMs = Date.now() - again;
    assert.equal(rebuilt.imageId, built.imageId, 'an unchanged context rebuilds from the cache');
    t.diagnostic(`first build ${firstMs} ms, rebuild with cache ${rebuildMs} ms`);
  });

  test('the Dockerfile and .dockerignore are always sent, and an exception re-opens an excluded folder without sending the folder', async () => {
    const context = makeTempDir('airlock-pack-');
    writeFiles(context, {
      '.devcontainer/Dockerfile': 'FROM scratch\n',
      '.devcontainer/other.json': '{}\n',
      '.dockerignore': ['.devcontainer', '.dockerignore', 'vendor', '!vendor/keep/me.txt', 'CAPS.md'].join('\n'),
      'vendor/keep/me.txt': 'x\n',
      'vendor/keep/not-me.txt': 'x\n',
      'vendor/other.txt': 'x\n',
      'caps.md': 'docker matches case-sensitively on Linux\n',
      'CAPS.md': 'x\n',
    });
    const { stream, dockerfileName } = packContext(contextBuild(context, path.join(context, '.devcontainer', 'Dockerfile')));
    assert.equal(dockerfileName, '.devcontainer/Dockerfile');
    assert.deepEqual([...(await tarNames(stream)).keys()].sort(), ['.devcontainer/Dockerfile', '.dockerignore', 'caps.md', 'vendor/keep/me.txt']);
  });

  test('a Dockerfile outside the context is sent under a generated name and does not land in the image', SLOW, async (t) => {
    if (!docker) return t.skip('no engine');
    const workspace = makeTempDir('airlock-build-ws-');
    writeFiles(workspace, {
      Dockerfile: `FROM ${TEST_IMAGE}\nCOPY . /ctx\nRUN find /ctx -type f | sort > /listing\n`,
      'app/index.js': 'console.log(1)\n',
      'app/.dockerignore': '*.bak\n',
      'app/old.bak': 'x\n',
    });
    const build = contextBuild(path.join(workspace, 'app'), path.join(workspace, 'Dockerfile'));
    const packed = packContext(build);
    assert.match(packed.dockerfileName, /^\.airlock-Dockerfile-[0-9a-f]{20}$/);
    const sent = await tarNames(packed.stream);
    assert.deepEqual([...sent.keys()].sort(), ['.dockerignore', packed.dockerfileName, 'index.js'].sort());
    assert.equal(sent.get('.dockerignore'), `*.bak\n\n${packed.dockerfileName}\n`);

    const tag = tagFor('outside');
    const first = await buildImage(docker, build, { tag });
    const listing = await runIn(docker, tag, ['cat', '/listing']);
    // The engine drops the generated Dockerfile after reading it; the .dockerignore stays, as with the docker CLI.
    assert.deepEqual(lines(listing.stdout), ['/ctx/.dockerignore', '/ctx/index.js']);

    // Without a .dockerignore of its own, the generated one names itself too, so the engine drops both.
    fs.rmSync(path.join(workspace, 'app', '.dockerignore'));
    fs.rmSync(path.join(workspace, 'app', 'old.bak'));
    const second = await buildImage(docker, build, { tag });
    assert.deepEqual(lines((await runIn(docker, tag, ['cat', '/listing'])).stdout), ['/ctx/index.js']);
    assert.notEqual(second.imageId, first.imageId);
    assert.equal(await imageExists(first.imageId), false, 'the image the tag named before is not left behind untagged');
  });

  test('build args reach the Dockerfile and the target stage is the one built', SLOW, async (t) => {
    if (!docker) return t.skip('no engine');
    const context = makeTempDir('airlock-build-stages-');
    writeFiles(context, {
      Dockerfile: [
        `FROM ${TEST_IMAGE} AS base`,
        'ARG GREETING=unset',
        'RUN echo "$GREETING" > /greeting',
        'FROM base AS final',
        'RUN echo final > /final-marker',
      ].join('\n'),
    });
    const tag = tagFor('stages');
    await buildImage(docker, contextBuild(context, undefined, { args: { GREETING: `hello-${RUN}` }, target: 'base' }), { tag });
    const result = await runIn(docker, tag, ['sh', '-c', 'cat /greeting; test -e /final-marker && echo has-final || echo no-final']);
    assert.deepEqual(lines(result.stdout), [`hello-${RUN}`, 'no-final']);
  });

  test('build steps have no network: loopback only, no route', SLOW, async (t) => {
    if (!docker) return t.skip('no engine');
    const context = makeTempDir('airlock-build-net-');
    writeFiles(context, {
      Dockerfile: `FROM ${TEST_IMAGE}\nRUN cat /proc/net/route > /route && ls /sys/class/net > /interfaces && grep -v '^ *lo:' /proc/net/dev | tail -n +3 > /devices\n`,
    });
    const tag = tagFor('network');
    await buildImage(docker, contextBuild(context), { tag });
    // Read back what the build step itself saw (the files were written during the build).
    const route = await runIn(docker, tag, ['cat', '/route']);
    assert.equal(lines(route.stdout).length, 1, `only the header line of /proc/net/route, got:\n${route.stdout}`);
    assert.match(route.stdout, /^Iface\s+Destination\s+Gateway/);
    assert.deepEqual(lines((await runIn(docker, tag, ['cat', '/interfaces'])).stdout), ['lo']);
    assert.equal((await runIn(docker, tag, ['cat', '/devices'])).stdout.trim(), '', 'no interface other than lo');
  });

  test('a failing step is an AirlockError on "build" carrying the builder\'s message and the step\'s output', SLOW, async (t) => {
    if (!docker) return t.skip('no engine');
    const context = makeTempDir('airlock-build-fail-');
    writeFiles(context, { Dockerfile: `FROM ${TEST_IMAGE}\nRUN echo "step-output-${RUN}" && echo "to-stderr-${RUN}" >&2 && exit 3\n` });
    const progress: string[] = [];
    const tag = tagFor('fail');
    await assert.rejects(buildImage(docker, contextBuild(context), { tag, onProgress: (update) => progress.push(update.message) }), (error: unknown) => {
      assert.ok(AirlockError.is(error), String(error));
      assert.equal(error.field, 'build');
      assert.match(error.message, /^build: the Dockerfile step failed: /);
      assert.match(error.message, /returned a non-zero code: 3/);
      assert.ok(error.message.includes(`step-output-${RUN}`), error.message);
      assert.ok(error.message.includes(`to-stderr-${RUN}`), error.message);
      assert.ok(error.hint);
      return true;
    });
    assert.ok(progress.some((line) => line.startsWith(`Step 1/2 : FROM ${TEST_IMAGE}`)), progress.join('\n'));
    assert.ok(progress.includes(`step-output-${RUN}`), progress.join('\n'));
    assert.ok(progress.every((line) => line === line.trim() && line !== ''));
    assert.equal(await imageExists(tag), false);
  });

  test('ADD from a URL or a variable is refused before the engine sees anything', async (t) => {
    if (!docker) return t.skip('no engine');
    const context = makeTempDir('airlock-build-add-');
    // Loopback only, and refused before any request: nothing is ever fetched.
    writeFiles(context, { Dockerfile: `FROM ${TEST_IMAGE}\nADD http://127.0.0.1:9/nothing /x\n` });
    const progress: string[] = [];
    await assert.rejects(buildImage(docker, contextBuild(context), { tag: tagFor('add'), onProgress: (update) => progress.push(update.message) }), (error: unknown) => {
      assert.ok(AirlockError.is(error) && error.field === 'build', String(error));
      assert.match(error.message, /http:\/\/127\.0\.0\.1:9\/nothing/);
      return true;
    });
    assert.deepEqual(progress, []);
    assert.deepEqual(remoteAddSources('FROM x\nADD --chown=1:1 ["https://a.example/x", "/x"]\nadd \\\n  git@github.com:o/r.git /r\nONBUILD ADD $SRC /s\n'), ['https://a.example/x', 'git@github.com:o/r.git', '$SRC']);
    assert.deepEqual(remoteAddSources('# escape=`\nFROM x\nADD `\n  http://a.example/x /x\nADD local.tar /\nCOPY http://not-a-url /y\n# ADD http://comment /z\n'), ['http://a.example/x']);
  });

  test('aborting during a RUN step cancels the build quickly and leaves no tag and no step container', SLOW, async (t) => {
    if (!docker) return t.skip('no engine');
    const context = makeTempDir('airlock-build-abort-');
    const marker = `abort-${RUN}`;
    writeFiles(context, { Dockerfile: `FROM ${TEST_IMAGE}\nRUN echo ${marker} && sleep 30\n` });
    const tag = tagFor('abort');
    const controller = new AbortController();
    let stepStarted!: () => void;
    const started = new Promise<void>((resolve) => {
      stepStarted = resolve;
    });
    const building = buildImage(docker, contextBuild(context), { tag, signal: controller.signal, onProgress: (update) => update.message === marker && stepStarted() });
    building.catch(() => undefined);
    const stepContainers = async () => (await docker!.listContainers({ all: true })).filter((summary) => summary.Command.includes(marker)).length;
    await Promise.race([started, building]);
    assert.equal(await stepContainers(), 1, 'the RUN step is running in its container');
    const abortedAt = Date.now();
    controller.abort();
    await assert.rejects(building, (error: unknown) => CancelledError.is(error));
    const tookMs = Date.now() - abortedAt;
    assert.ok(tookMs < 10_000, `cancelled in ${tookMs} ms`);
    assert.ok(await waitFor(async () => (await stepContainers()) === 0, 20_000), 'the engine removed the step container');
    const goneMs = Date.now() - abortedAt;
    assert.equal(await imageExists(tag), false);
    t.diagnostic(`cancelled ${tookMs} ms after abort; the engine removed the step container within ${goneMs} ms`);
  });

  test('imageLabel reads a label set through the build options', SLOW, async (t) => {
    if (!docker) return t.skip('no engine');
    const context = makeTempDir('airlock-build-label-');
    writeFiles(context, { Dockerfile: `FROM ${TEST_IMAGE}\nLABEL from.dockerfile=yes\n` });
    const tag = tagFor('label');
    await buildImage(docker, contextBuild(context), { tag, labels: { 'airlock.test.label': `value-${RUN}` } });
    assert.equal(await imageLabel(docker, tag, 'airlock.test.label'), `value-${RUN}`);
    assert.equal(await imageLabel(docker, tag, 'from.dockerfile'), 'yes');
    assert.equal(await imageLabel(docker, tag, 'absent.label'), undefined);
    await assert.rejects(imageLabel(docker, `airlock-test-missing-${RUN}:none`, 'x'), (error: unknown) => {
      assert.ok(AirlockError.is(error) && error.field === 'image', String(error));
      assert.match(error.message, /not present locally/);
      return true;
    });
  });

  test('resolveImageUser: numbers as given, names from the image\'s own passwd and group, no probe left behind', SLOW, async (t) => {
    if (!docker) return t.skip('no engine');
    assert.deepEqual(await resolveImageUser(docker, TEST_IMAGE, '1000'), { uid: 1000, gid: 1000 });
    assert.deepEqual(await resolveImageUser(docker, TEST_IMAGE, '1000:100'), { uid: 1000, gid: 100 });
    assert.deepEqual(await resolveImageUser(docker, TEST_IMAGE, 'root'), { uid: 0, gid: 0 });
    assert.deepEqual(await resolveImageUser(docker, TEST_IMAGE, 'nobody'), { uid: 65534, gid: 65534 });
    assert.deepEqual(await resolveImageUser(docker, TEST_IMAGE, 'root:staff'), { uid: 0, gid: 50 });
    assert.deepEqual(await resolveImageUser(docker, TEST_IMAGE, '1000:users'), { uid: 1000, gid: 100 });
    assert.deepEqual(await resolveImageUser(docker, TEST_IMAGE, 'www-data:0'), { uid: 33, gid: 0 });
    await assert.rejects(resolveImageUser(docker, TEST_IMAGE, 'vscode'), (error: unknown) => {
      assert.ok(AirlockError.is(error) && error.field === 'remoteUser', String(error));
      assert.match(error.message, /no user "vscode"/);
      assert.match(error.message, /root \(0\)/);
      return true;
    });
    await assert.rejects(resolveImageUser(docker, TEST_IMAGE, 'root:wheel-nope'), (error: unknown) => AirlockError.is(error) && error.field === 'remoteUser');
    await assert.rejects(resolveImageUser(docker, TEST_IMAGE, 'a:b:c'), (error: unknown) => AirlockError.is(error) && error.field === 'remoteUser');
    await assert.rejects(resolveImageUser(docker, `airlock-test-missing-${RUN}:none`, 'node'), (error: unknown) => AirlockError.is(error) && error.field === 'image');
    const probes = await docker.listContainers({ all: true, filters: { label: ['airlock.probe'] } });
    assert.equal(probes.length, 0);
  });

  test('buildTag is stable per workspace, Dockerfile and target, and a valid lowercase reference', () => {
    const build = contextBuild('/ws/app', '/ws/.devcontainer/Dockerfile');
    const tag = buildTag(build, '/ws');
    assert.match(tag, /^airlock-build-[0-9a-f]{12}:latest$/);
    assert.equal(buildTag({ ...build, args: { X: '1' } }, '/ws'), tag, 'args do not change the tag');
    assert.notEqual(buildTag({ ...build, target: 'dev' }, '/ws'), tag);
    assert.notEqual(buildTag(build, '/other'), tag);
    assert.notEqual(buildTag({ ...build, dockerfile: '/ws/Dockerfile' }, '/ws'), tag);
  });
});
