import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { commandSettingsSchema } from '../../src/core/commands/commandSettings.js';
import { type LiveRules, readLiveState, refreshLiveRules, rulesOfPolicy, tightenRules } from '../../src/core/policy/livePolicy.js';
import { POLICY_FILE, policyForWorkspace } from '../../src/core/policy/policyLoader.js';
import { type PolicyFileInput, policyFileSchema } from '../../src/core/policy/policySchema.js';
import type { TaskRecord } from '../../src/core/state/taskRecord.js';
import { TaskStore } from '../../src/core/state/taskStore.js';
import { makeTempDir, removeTempDirs, writeFiles } from '../helpers/tempWorkspace.js';

after(removeTempDirs);

const phase = (allow: string[] = [], allowCidr: string[] = [], deny: string[] = []) => ({ allow, allowCidr, deny });

function rules(overrides: { commands?: Partial<LiveRules['commands']>; setup?: LiveRules['egress']['setup']; agent?: LiveRules['egress']['agent']; ask?: boolean } = {}): LiveRules {
  return {
    commands: commandSettingsSchema.parse(overrides.commands ?? {}),
    egress: { setup: overrides.setup ?? phase(), agent: overrides.agent ?? phase(), ask: overrides.ask ?? false },
  };
}

describe('tightenRules', () => {
  test('allow lists intersect (in the current order)', () => {
    const tightened = tightenRules(
      rules({ commands: { allow: ['npm test', 'npm run lint*', 'make'] }, agent: phase(['a.example.com', 'b.example.com'], ['10.0.0.0/8', '127.0.0.1']) }),
      rules({ commands: { allow: ['make', 'npm test'] }, agent: phase(['b.example.com', 'c.example.com'], ['127.0.0.1']) }),
    );
    assert.deepEqual(tightened.commands.allow, ['npm test', 'make']);
    assert.deepEqual(tightened.egress.agent.allow, ['b.example.com']);
    assert.deepEqual(tightened.egress.agent.allowCidr, ['127.0.0.1']);
  });

  test('deny and ask lists are unions without duplicates', () => {
    const tightened = tightenRules(
      rules({ commands: { ask: ['npm publish'], deny: ['curl'] }, setup: phase([], [], ['evil.example.com']) }),
      rules({ commands: { ask: ['git push', 'npm publish'], deny: ['wget', 'curl'] }, setup: phase([], [], ['10.0.0.0/8', 'evil.example.com']) }),
    );
    assert.deepEqual(tightened.commands.ask, ['npm publish', 'git push']);
    assert.deepEqual(tightened.commands.deny, ['curl', 'wget']);
    assert.deepEqual(tightened.egress.setup.deny, ['evil.example.com', '10.0.0.0/8']);
  });

  test('default "ask" sticks once either side has it', () => {
    const pick = (a: 'allow' | 'ask', b: 'allow' | 'ask') => tightenRules(rules({ commands: { default: a } }), rules({ commands: { default: b } })).commands.default;
    assert.equal(pick('ask', 'allow'), 'ask');
    assert.equal(pick('allow', 'ask'), 'ask');
    assert.equal(pick('ask', 'ask'), 'ask');
    assert.equal(pick('allow', 'allow'), 'allow');
  });

  test('egress ask stays true only if both say true', () => {
    const pick = (a: boolean, b: boolean) => tightenRules(rules({ ask: a }), rules({ ask: b })).egress.ask;
    assert.deepEqual([pick(true, true), pick(true, false), pick(false, true), pick(false, false)], [true, false, false, false]);
  });

  test('the phases are tightened separately; the approval timeout is the task\'s own', () => {
    const tightened = tightenRules(
      rules({ commands: { approvalTimeoutSeconds: 600 }, setup: phase(['registry.npmjs.org']), agent: phase(['api.example.com']) }),
      rules({ commands: { approvalTimeoutSeconds: 5 }, setup: phase(['registry.npmjs.org', 'api.example.com']), agent: phase([]) }),
    );
    assert.deepEqual(tightened.egress.setup.allow, ['registry.npmjs.org']);
    assert.deepEqual(tightened.egress.agent.allow, []);
    assert.equal(tightened.commands.approvalTimeoutSeconds, 600);
  });

  test('tightening with itself changes nothing, and the result is never looser than the current rules', () => {
    const current = rules({ commands: { allow: ['npm test'], ask: ['npm publish'], deny: ['curl'], default: 'allow' }, agent: phase(['a.example.com'], ['10.0.0.0/8'], ['evil.example.com']), ask: true });
    assert.deepEqual(tightenRules(current, current), current);
    const looser = rules({ commands: { allow: ['npm test', '*'] }, agent: phase(['a.example.com', 'b.example.com'], ['0.0.0.0/0', '10.0.0.0/8']), ask: true });
    assert.deepEqual(tightenRules(current, looser), current);
  });

  test('lists are compared as text: narrowing a wildcard or a range drops the entry for a running task', () => {
    // Fail-safe rather than exact: "*.example.com" → "api.example.com" leaves the task with neither.
    const tightened = tightenRules(rules({ agent: phase(['*.example.com'], ['10.0.0.0/8']) }), rules({ agent: phase(['api.example.com'], ['10.1.0.0/16']) }));
    assert.deepEqual(tightened.egress.agent.allow, []);
    assert.deepEqual(tightened.egress.agent.allowCidr, []);
  });
});

describe('refreshLiveRules', { timeout: 30_000 }, () => {
  const USER: PolicyFileInput = { commands: { allow: ['npm test'] }, network: { agent: { allow: ['registry.npmjs.org'] } } };
  const START_POLICY = '{\n  "commands": { "ask": ["npm publish"] },\n  "network": { "deny": ["evil.example.com"] }\n}\n';

  /** A workspace with a policy file and a task record made from it, as taskInputFromPolicy would. */
  function fabricate(id: string, { withPolicy = true }: { withPolicy?: boolean } = {}) {
    const workspace = makeTempDir('airlock-ws-');
    const stateDir = makeTempDir('airlock-state-');
    writeFiles(workspace, { [POLICY_FILE]: START_POLICY });
    const user = policyFileSchema.parse(USER);
    const state = policyForWorkspace({ workspace, stateDir, user, trusted: true, env: {} });
    const { policy } = state.effective;
    const store = new TaskStore(stateDir);
    store.create(id);
    const now = new Date();
    const record: TaskRecord = {
      id,
      createdAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + 3600_000).toISOString(),
      workspace,
      image: policy.image,
      runtime: policy.resources.runtime,
      containerId: 'f'.repeat(64),
      containerName: `airlock-${id}`,
      user: '1000:1000',
      env: {},
      options: {
        workspace,
        commands: policy.commands,
        egress: { setup: policy.network.setup, agent: policy.network.agent, ask: policy.network.ask, approvalTimeoutSeconds: policy.network.approvalTimeoutSeconds },
        ...(withPolicy ? { policy: { file: state.repo?.file, digest: state.repo?.digest, accepted: state.accepted, trusted: true, user: user as Record<string, unknown>, ignored: state.effective.ignored, notes: [] } } : {}),
      },
      snapshot: { kind: 'folder', files: 0, bytes: 0, excluded: [], manifestFile: path.join(stateDir, 'manifest.json'), archiveFile: path.join(stateDir, 'base.tar') },
    };
    store.save(record);
    const saved = store.load(id);
    assert.ok(saved);
    return { workspace, stateDir, store, record: saved, startRules: rulesOfPolicy(policy) };
  }

  const liveFile = (store: TaskStore, id: string) => path.join(store.taskDir(id), 'live-policy.json');
  const types = (store: TaskStore, id: string) => store.audit(id).records().map((record) => record.type);

  test('the starting rules are the task\'s own; a refresh with nothing changed writes nothing', () => {
    const { store, record, startRules } = fabricate('live0001');
    assert.deepEqual(startRules.commands.allow, ['npm test']);
    assert.deepEqual(startRules.commands.ask, ['npm publish']);
    assert.deepEqual(startRules.egress.agent.allow, ['registry.npmjs.org']);
    assert.deepEqual(readLiveState(store, record).rules, startRules);
    const state = refreshLiveRules(store, record, {});
    assert.deepEqual(state.rules, startRules);
    assert.equal(state.error, undefined);
    assert.equal(fs.existsSync(liveFile(store, record.id)), false);
    assert.deepEqual(types(store, record.id), []);
  });

  test('a new deny is followed; invalid JSON changes nothing but is reported; a removed deny stays until a new task', () => {
    const { workspace, store, record, startRules } = fabricate('live0002');
    const file = path.join(workspace, POLICY_FILE);

    // 1. A tightening: commands.deny gains curl, network.deny gains a host in both phases.
    writeFiles(workspace, { [POLICY_FILE]: '{\n  "commands": { "ask": ["npm publish"], "deny": ["curl"] },\n  "network": { "deny": ["evil.example.com", "worse.example.com"] }\n}\n' });
    const tightened = refreshLiveRules(store, record, {});
    assert.deepEqual(tightened.rules.commands.deny, ['curl']);
    assert.deepEqual(tightened.rules.commands.allow, startRules.commands.allow);
    assert.deepEqual(tightened.rules.egress.setup.deny, ['evil.example.com', 'worse.example.com']);
    assert.deepEqual(tightened.rules.egress.agent.deny, ['evil.example.com', 'worse.example.com']);
    assert.deepEqual(tightened.rules.egress.agent.allow, ['registry.npmjs.org']);
    assert.equal(tightened.error, undefined);
    assert.notEqual(tightened.digest, record.options.policy && (record.options.policy as { digest?: string }).digest);
    assert.deepEqual(readLiveState(store, record).rules, tightened.rules);
    const audit1 = store.audit(record.id).records();
    assert.deepEqual(audit1.map((entry) => entry.type), ['policy.tightened']);
    assert.equal(audit1[0].task, record.id);
    assert.equal(audit1[0].digest, tightened.digest);
    assert.deepEqual(audit1[0].rules, tightened.rules);

    // 2. A half-written file: rules unchanged, error with file:line:col, one policy.invalid record.
    const broken = '{\n  "commands": { "ask": ["npm publish"], "deny": ["curl"] },\n  "network": { "deny": ["evil.example.com" }\n}\n';
    writeFiles(workspace, { [POLICY_FILE]: broken });
    const invalid = refreshLiveRules(store, record, {});
    assert.deepEqual(invalid.rules, tightened.rules);
    assert.equal(invalid.digest, tightened.digest);
    assert.ok(invalid.error, 'an error is recorded');
    assert.match(invalid.error, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3:\\d+: not valid JSON: `));
    assert.deepEqual(readLiveState(store, record).error, invalid.error);
    assert.deepEqual(types(store, record.id), ['policy.tightened', 'policy.invalid']);
    const invalidRecord = store.audit(record.id).records()[1];
    assert.equal(invalidRecord.error, invalid.error);
    // The same broken file again: nothing new in the audit log.
    refreshLiveRules(store, record, {});
    assert.deepEqual(types(store, record.id), ['policy.tightened', 'policy.invalid']);

    // 3. A valid file without the deny (a loosening): the deny stays, the error clears.
    writeFiles(workspace, { [POLICY_FILE]: START_POLICY });
    const loosened = refreshLiveRules(store, record, {});
    assert.deepEqual(loosened.rules, tightened.rules);
    assert.deepEqual(loosened.rules.commands.deny, ['curl']);
    assert.deepEqual(loosened.rules.egress.agent.deny, ['evil.example.com', 'worse.example.com']);
    assert.equal(loosened.error, undefined);
    assert.equal(readLiveState(store, record).error, undefined);
    assert.deepEqual(types(store, record.id), ['policy.tightened', 'policy.invalid']);

    // 4. A schema problem (not a syntax error) is also reported with its field and position.
    writeFiles(workspace, { [POLICY_FILE]: '{\n  "commands": { "default": "deny" }\n}\n' });
    const wrong = refreshLiveRules(store, record, {});
    assert.deepEqual(wrong.rules, tightened.rules);
    assert.match(wrong.error ?? '', /:2:\d+: commands\.default: must be one of "allow", "ask"/);
    assert.deepEqual(types(store, record.id), ['policy.tightened', 'policy.invalid', 'policy.invalid']);
  });

  test('a repository loosening does not reach a running task; commands.default "ask" does', () => {
    const { workspace, store, record, startRules } = fabricate('live0003');
    writeFiles(workspace, { [POLICY_FILE]: '{ "commands": { "allow": ["npm run *"], "default": "ask" }, "network": { "agent": { "allow": ["new.example.com"] }, "ask": true } }' });
    const state = refreshLiveRules(store, record, {});
    assert.deepEqual(state.rules.commands.allow, startRules.commands.allow);
    assert.equal(state.rules.commands.default, 'ask');
    assert.deepEqual(state.rules.egress.agent.allow, ['registry.npmjs.org']);
    assert.equal(state.rules.egress.ask, false);
  });

  test('deleting the policy file keeps the rules it added', () => {
    const { workspace, store, record, startRules } = fabricate('live0004');
    fs.rmSync(path.join(workspace, POLICY_FILE));
    const state = refreshLiveRules(store, record, {});
    assert.deepEqual(state.rules, startRules);
    assert.equal(state.error, undefined);
  });

  test('a machine floor added later tightens the task; a missing floor file is an error that changes nothing', () => {
    const { store, record, startRules } = fabricate('live0005');
    const floorDir = makeTempDir();
    writeFiles(floorDir, { 'floor.json': '{ "commands": { "deny": ["ssh"], "default": "ask" }, "network": { "agent": { "allow": [] } } }' });
    const floored = refreshLiveRules(store, record, { AIRLOCK_MACHINE_POLICY: path.join(floorDir, 'floor.json') });
    assert.deepEqual(floored.rules.commands.deny, ['ssh']);
    assert.equal(floored.rules.commands.default, 'ask');
    assert.deepEqual(floored.rules.egress.agent.allow, []);
    assert.notDeepEqual(floored.rules, startRules);
    const missing = refreshLiveRules(store, record, { AIRLOCK_MACHINE_POLICY: path.join(floorDir, 'gone.json') });
    assert.deepEqual(missing.rules, floored.rules);
    assert.match(missing.error ?? '', /AIRLOCK_MACHINE_POLICY: .*gone\.json does not exist/);
    assert.deepEqual(types(store, record.id), ['policy.tightened', 'policy.invalid']);
  });

  test('a record without options.policy is never changed', () => {
    const { workspace, store, record, startRules } = fabricate('live0006', { withPolicy: false });
    writeFiles(workspace, { [POLICY_FILE]: '{ "commands": { "deny": ["curl"], "default": "ask" } }' });
    const state = refreshLiveRules(store, record, {});
    assert.deepEqual(state.rules, startRules);
    assert.equal(state.digest, undefined);
    writeFiles(workspace, { [POLICY_FILE]: '{ not json' });
    assert.equal(refreshLiveRules(store, record, {}).error, undefined);
    assert.equal(fs.existsSync(liveFile(store, record.id)), false);
    assert.deepEqual(types(store, record.id), []);
  });
});
