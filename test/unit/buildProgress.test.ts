import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { progressLines } from '../../src/cli/progressLines.js';
import { buildProgressTracker } from '../../src/core/devcontainer/imageBuild.js';
import type { ProgressUpdate } from '../../src/core/ground/progress.js';

/** What the classic builder prints for a three-instruction Dockerfile, as buildImage passes it on (trimmed, blank lines gone). */
const BUILD_OUTPUT = [
  'Step 1/3 : FROM airlock-test:bookworm',
  '---> 5b1a2c3d4e5f',
  'Step 2/3 : RUN echo hello && echo hello',
  '---> Running in 0123456789ab',
  'hello',
  'hello',
  'Removing intermediate container 0123456789ab',
  '---> 6c7d8e9f0a1b',
  'Step 3/3 : USER 1000',
  '---> Running in 1123456789ab',
  '---> 7d8e9f0a1b2c',
  'Successfully built 7d8e9f0a1b2c',
  'Successfully tagged airlock-build-0123456789ab:latest',
];

describe('build progress (unit)', () => {
  test('Step N/M counts commands: N-1 done when step N starts, all once the image is built; every line is its own update', () => {
    const track = buildProgressTracker();
    const updates = BUILD_OUTPUT.map(track);
    assert.deepEqual(updates.map((update) => update.message), BUILD_OUTPUT, 'the message is the line');
    assert.ok(updates.every((update) => update.step === 'building' && update.output === true && update.unit === 'commands' && update.total === 3));
    assert.deepEqual(updates.map((update) => update.done), [0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 3, 3]);
  });

  test('lines before the first Step carry no count; counts never go down, nor past the total', () => {
    const track = buildProgressTracker();
    assert.deepEqual(track('Sending build context to Docker daemon  2.048kB'), { step: 'building', message: 'Sending build context to Docker daemon  2.048kB', output: true });
    assert.equal(track('Successfully built abc').done, undefined, 'no total yet: nothing to finish');
    assert.deepEqual([track('Step 4/9 : RUN a'), track('Step 2/9 : RUN b'), track('Step 12/9 : RUN c')].map((update) => [update.done, update.total]), [[3, 9], [3, 9], [9, 9]]);
  });
});

describe("the CLI's progress lines (unit)", () => {
  test('a build prints its header once and every output line, repeated ones too, as before', () => {
    const lineFor = progressLines();
    const track = buildProgressTracker();
    const updates: ProgressUpdate[] = [
      { step: 'building', message: 'building .devcontainer/Dockerfile (no network during the build)' },
      ...BUILD_OUTPUT.slice(0, 6).map(track),
    ];
    assert.deepEqual(updates.map(lineFor), [
      'airlock: building .devcontainer/Dockerfile (no network during the build)',
      'airlock: build: Step 1/3 : FROM airlock-test:bookworm',
      'airlock: build: ---> 5b1a2c3d4e5f',
      'airlock: build: Step 2/3 : RUN echo hello && echo hello',
      'airlock: build: ---> Running in 0123456789ab',
      'airlock: build: hello',
      'airlock: build: hello',
    ]);
  });

  test('a step prints when its message changes; counting updates, and the steps the CLI never showed, print nothing', () => {
    const lineFor = progressLines();
    const updates: ProgressUpdate[] = [
      { step: 'listing', message: 'listing the workspace' },
      { step: 'copying', message: 'copying 3 files', unit: 'bytes', done: 0, total: 30 },
      { step: 'copying', message: 'copying 3 files', unit: 'bytes', done: 10, total: 30 },
      { step: 'copying', message: 'copying 3 files', unit: 'bytes', done: 30, total: 30 },
      { step: 'setup', message: 'setup: echo \u001b[31mred' },
      { step: 'starting', message: 'task abc is ready' },
    ];
    assert.deepEqual(updates.map(lineFor), [undefined, 'airlock: copying 3 files', undefined, undefined, 'airlock: setup: echo ^[[31mred', undefined]);
  });
});
