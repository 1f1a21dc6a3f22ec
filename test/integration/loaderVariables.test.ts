import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { before, describe, test, type TestContext } from 'node:test';
import { ChangeService } from '../../src/core/changes/changeService.js';
import type { EngineConnection } from '../../src/core/engine/locateEngine.js';
import type { TaskOptionsInput } from '../../src/core/config/taskOptions.js';
import { serviceWithGateway, spyResolver } from '../helpers/egressFixtures.js';
import { realEngine, run, TEST_IMAGE, tempDir } from '../helpers/realEngine.js';

/**
 * A library that, once the loader maps it (LD_PRELOAD constructor or LD_AUDIT's la_version), writes
 * /tmp/airlock-loaded-* with its uid and command line: proof of where code chosen in the task ran.
 */
const LIBRARY_SOURCE = String.raw`
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
static void mark(const char *how) {
  char name[128], cmdline[4096], head[64];
  snprintf(name, sizeof name, "/tmp/airlock-loaded-%s-%d", how, (int)getpid());
  int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0666);
  if (fd < 0) return;
  int n = snprintf(head, sizeof head, "uid=%d\n", (int)getuid());
  write(fd, head, n);
  int in = open("/proc/self/cmdline", O_RDONLY);
  if (in >= 0) {
    ssize_t got = read(in, cmdline, sizeof cmdline);
    if (got > 0) write(fd, cmdline, got);
    close(in);
  }
  close(fd);
}
__attribute__((constructor)) static void loaded(void) { mark("ctor"); }
unsigned int la_version(unsigned int version) { mark("audit"); return version; }
`;

/** What NODE_OPTIONS=--require runs: the same kind of marker, from node. */
const REQUIRE_SOURCE = `require('fs').writeFileSync('/tmp/airlock-required-' + process.pid, 'uid=' + process.getuid() + '\\n' + process.execArgv.join(' ').slice(0, 300) + '\\n' + process.argv.slice(1).join(' '));\n`;

const AGENT_NODE = '/*agent*/ 0';
const LOADER_IMAGE = 'airlock-test-loader-env:latest';
const PRELOAD_FILE_IMAGE = 'airlock-test-ld-so-preload:latest';

/** Marker file name → its content, NULs as spaces. */
const MARKERS = `for f in /tmp/airlock-loaded-* /tmp/airlock-required-*; do [ -e "$f" ] || continue; printf '==%s\\n' "$f"; tr '\\0' ' ' < "$f"; echo; done`;

function parseMarkers(text: string): Array<{ file: string; uid: number; rest: string }> {
  return text.split(/^==/m).filter(Boolean).map((block) => {
    const [file, uidLine, ...rest] = block.split('\n');
    return { file, uid: Number(/uid=(\d+)/.exec(uidLine ?? '')?.[1]), rest: rest.join('\n') };
  });
}

/** Markers left by Airlock's own programs, rather than by the agent's commands. */
function airlocksOwn(markers: ReturnType<typeof parseMarkers>): string[] {
  return markers
    .filter((marker) => !marker.rest.includes('/*agent*/'))
    .filter((marker) => marker.uid === 65534 || marker.uid === 65533 || /^(env -i|node -e)|airlock-kill|kill -9 -1|AIRLOCK_CMD|relay/.test(marker.rest.trim()) || marker.file.includes('required'))
    .map((marker) => `${marker.file} uid=${marker.uid}: ${marker.rest.slice(0, 120)}`);
}

function evilWorkspace(): string {
  const workspace = tempDir('loader-ws');
  const source = path.join(tempDir('loader-src'), 'evil.c');
  fs.writeFileSync(source, LIBRARY_SOURCE);
  execFileSync('gcc', ['-shared', '-fPIC', '-O2', '-fno-stack-protector', '-o', path.join(workspace, 'evil.so'), source]);
  fs.writeFileSync(path.join(workspace, 'evil.js'), REQUIRE_SOURCE);
  fs.writeFileSync(path.join(workspace, 'a.txt'), 'a\n');
  return workspace;
}

/**
 * An allowlist task (so the relay runs) with the variables set by `where`, exercised through every
 * Airlock program in the box: relay (start), runner (exec), kill exec (a timeout on docker-exec).
 */
async function exercise(t: TestContext, engine: EngineConnection, options: Partial<TaskOptionsInput>, expectSeen: string) {
  const { service } = serviceWithGateway(engine, spyResolver({ 'api.example.test': '127.0.0.1' }));
  const record = await service.start({ workspace: evilWorkspace(), image: TEST_IMAGE, ttlSeconds: 600, egress: { agent: { allow: ['api.example.test'], allowCidr: ['127.0.0.1/32'] } }, ...options });
  t.after(async () => {
    await service.stop(record.id).catch(() => undefined);
    service.dispose();
  });
  // The agent's own commands, through the runner and through plain execs, still see what they were given.
  const seen = await run(service, record.id, ['sh', '-c', 'echo "$LD_PRELOAD|$LD_AUDIT|$NODE_OPTIONS"'], { backend: 'supervisor' });
  assert.equal(seen.backend, 'supervisor');
  assert.equal(seen.stdout.trim(), expectSeen);
  assert.equal((await run(service, record.id, ['sh', '-c', 'echo "$NODE_OPTIONS"'], { backend: 'docker-exec' })).stdout.trim(), '--require=/workspace/evil.js');
  assert.equal((await run(service, record.id, ['node', '-e', AGENT_NODE], { backend: 'supervisor' })).exitCode, 0);
  const timedOut = await run(service, record.id, ['sleep', '30'], { backend: 'docker-exec', timeoutMs: 500 });
  assert.equal(timedOut.exitCode, 124);
  return { service, record };
}

async function markersOf(service: Awaited<ReturnType<typeof exercise>>['service'], id: string) {
  const markers = parseMarkers((await run(service, id, ['sh', '-c', MARKERS], { backend: 'docker-exec' })).stdout);
  // Positive control: the library and the require file do run where the variables are meant to reach.
  assert.ok(markers.some((marker) => marker.file.includes('loaded') && /^sh -c/.test(marker.rest.trim())), `the library never ran, even in the agent's commands: ${JSON.stringify(markers)}`);
  assert.ok(markers.some((marker) => marker.file.includes('required') && marker.rest.includes('/*agent*/')), `NODE_OPTIONS never reached the agent's node: ${JSON.stringify(markers)}`);
  return markers;
}

describe('loader and node variables never reach Airlock\'s own programs in the box (integration)', () => {
  let engine: EngineConnection | undefined;

  before(async (t) => {
    engine = await realEngine(t as never);
    if (!engine) return;
    const build = (tag: string, dockerfile: string) => execFileSync('docker', ['build', '-q', '-t', tag, '-'], { input: dockerfile, stdio: ['pipe', 'ignore', 'ignore'] });
    build(LOADER_IMAGE, `FROM ${TEST_IMAGE}\nENV LD_PRELOAD=/workspace/evil.so NODE_OPTIONS=--require=/workspace/evil.js\n`);
    // A missing library only makes the loader warn: harmless to the image's own commands.
    build(PRELOAD_FILE_IMAGE, `FROM ${TEST_IMAGE}\nUSER root\nRUN echo /workspace/evil.so > /etc/ld.so.preload\n`);
  });

  test('an image ENV LD_PRELOAD / NODE_OPTIONS=--require runs nothing in the relay, the runner or the kill exec', { timeout: 180_000 }, async (t) => {
    if (!engine) return t.skip('no engine');
    const { service, record } = await exercise(t, engine, { image: LOADER_IMAGE }, '/workspace/evil.so||--require=/workspace/evil.js');
    const own = airlocksOwn(await markersOf(service, record.id));
    assert.deepEqual(own, [], 'code named by the image ran inside Airlock\'s own programs');
  });

  test('a policy env LD_AUDIT / NODE_OPTIONS=--require runs nothing in the relay, the runner or the kill exec', { timeout: 180_000 }, async (t) => {
    if (!engine) return t.skip('no engine');
    const { service, record } = await exercise(t, engine, { env: { LD_AUDIT: '/workspace/evil.so', NODE_OPTIONS: '--require=/workspace/evil.js' } }, '|/workspace/evil.so|--require=/workspace/evil.js');
    const own = airlocksOwn(await markersOf(service, record.id));
    assert.deepEqual(own, [], 'code named by the policy ran inside Airlock\'s own programs');
  });

  test('a policy env LD_AUDIT / NODE_OPTIONS=--require runs nothing in the change scanner', { timeout: 180_000 }, async (t) => {
    if (!engine) return t.skip('no engine');
    const { service, record } = await exercise(t, engine, { env: { LD_AUDIT: '/workspace/evil.so', NODE_OPTIONS: '--require=/workspace/evil.js' } }, '|/workspace/evil.so|--require=/workspace/evil.js');
    await run(service, record.id, ['sh', '-c', 'echo changed > /workspace/a.txt']);
    const changes = await new ChangeService(service).changes(record.id);
    assert.equal(changes.changeSet.scan.method, 'scanner');
    assert.ok(changes.changeSet.files.some((file) => file.path === 'a.txt'), 'the scanner ran and saw the change');
    const own = airlocksOwn(await markersOf(service, record.id));
    assert.deepEqual(own, [], 'code named by the policy ran inside the change scanner');
  });

  test('an image with /etc/ld.so.preload is refused: the libraries it names would run inside the relay, runner and scanner', { timeout: 180_000 }, async (t) => {
    if (!engine) return t.skip('no engine');
    const { service } = serviceWithGateway(engine, spyResolver({ 'api.example.test': '127.0.0.1' }));
    t.after(() => service.dispose());
    const refused = (error: Error & { field?: string }) => error.field === 'image' && /ld\.so\.preload/.test(error.message);
    await assert.rejects(service.start({ workspace: evilWorkspace(), image: PRELOAD_FILE_IMAGE, ttlSeconds: 600, egress: { agent: { allow: ['api.example.test'], allowCidr: ['127.0.0.1/32'] } } }), refused);
    await assert.rejects(service.start({ workspace: evilWorkspace(), image: PRELOAD_FILE_IMAGE, ttlSeconds: 600 }), refused);
    const left = await engine.docker.listContainers({ all: true, filters: { ancestor: [PRELOAD_FILE_IMAGE] } });
    assert.equal(left.length, 0, 'a refused start leaves no container behind');
  });
});
