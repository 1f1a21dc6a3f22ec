import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  applyEdits,
  checkTarget,
  parseRecord,
  planRoute,
  planStop,
  PROFILE_NAME,
  routingTargets,
  settingsOs,
  settleRoute,
  settleStop,
  type Json,
  type RoutingRecord,
  type SettingsStore,
} from '../../src/extension/routing/routingSettings.js';

const SHELL = '/home/dev/.config/Code/User/globalStorage/airlock.airlock/bin/airlock-shell';
const RUN = '/home/dev/.config/Code/User/globalStorage/airlock.airlock/bin/airlock-run';
const clone = <T>(value: T): T => (value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T));

/** VS Code's settings as routing sees them: declared defaults, the user's file, and a workspace's. */
class FakeSettings implements SettingsStore {
  readonly defaults: Record<string, Json> = {
    'chat.tools.terminal.terminalProfile.linux': null,
    'terminal.integrated.agentHostProfile.linux': null,
    'terminal.integrated.profiles.linux': { bash: { path: 'bash', icon: 'terminal-bash' }, sh: { path: 'sh' } },
    'terminal.integrated.defaultProfile.linux': null,
    'claudeCode.environmentVariables': [],
  };
  workspace: Record<string, Json> = {};
  readonly refused = new Set<string>();
  readonly writes: string[] = [];

  constructor(public user: Record<string, Json> = {}) {}

  isKnown(key: string): boolean {
    return key in this.defaults;
  }

  globalValue(key: string): unknown {
    return clone(this.user[key]);
  }

  effectiveValue(key: string): unknown {
    const layers = [this.defaults[key], this.user[key], this.workspace[key]].filter((value) => value !== undefined);
    // VS Code merges object settings layer by layer; anything else, the last layer wins.
    if (layers.every((value) => typeof value === 'object' && value !== null && !Array.isArray(value))) return Object.assign({}, ...layers.map(clone)) as Json;
    return clone(layers.at(-1));
  }

  async setGlobal(key: string, value: Json | undefined): Promise<void> {
    if (this.refused.has(key)) throw new Error(`Unable to write to User Settings because ${key} is a restricted setting here.`);
    this.writes.push(key);
    if (value === undefined) delete this.user[key];
    else this.user[key] = clone(value);
  }
}

const targets = (claudeCode = true, shell = SHELL) => routingTargets({ os: 'linux', shell, run: RUN, claudeCode });

/** Route, as the command does: plan, keep the record, write, settle. */
async function route(store: FakeSettings, record: RoutingRecord | undefined, claudeCode = true, shell = SHELL) {
  const plan = planRoute(store, targets(claudeCode, shell), record);
  const results = await applyEdits(store, plan.edits);
  return { plan, results, record: settleRoute(plan, results) };
}

async function stop(store: FakeSettings, record: RoutingRecord | undefined) {
  const plan = planStop(store, record);
  const results = await applyEdits(store, plan.edits);
  return { plan, results, record: settleStop(plan, results) };
}

/** A user who already configured terminals and Claude Code before routing. */
const configuredUser = (): Record<string, Json> => ({
  'terminal.integrated.profiles.linux': { 'zsh (login)': { path: '/usr/bin/zsh', args: ['-l'] } },
  'terminal.integrated.defaultProfile.linux': 'zsh (login)',
  'claudeCode.environmentVariables': [{ name: 'ANTHROPIC_BASE_URL', value: 'http://127.0.0.1:8045' }],
  'editor.fontSize': 14,
});

describe('routing settings: which settings route which agent', () => {
  test('the targets: the chat tool and Agent Host profiles, the default profile by name, Claude Code only when installed', () => {
    const byKey = Object.fromEntries(targets().map((target) => [target.key, target]));
    assert.deepEqual(Object.keys(byKey), ['chat.tools.terminal.terminalProfile.linux', 'terminal.integrated.agentHostProfile.linux', 'terminal.integrated.profiles.linux', 'terminal.integrated.defaultProfile.linux', 'claudeCode.environmentVariables']);
    assert.deepEqual(byKey['chat.tools.terminal.terminalProfile.linux'], { kind: 'value', key: 'chat.tools.terminal.terminalProfile.linux', value: { path: SHELL, args: [] }, routes: byKey['chat.tools.terminal.terminalProfile.linux'].routes });
    assert.deepEqual(byKey['terminal.integrated.profiles.linux'], { kind: 'member', key: 'terminal.integrated.profiles.linux', member: PROFILE_NAME, value: { path: SHELL }, routes: byKey['terminal.integrated.profiles.linux'].routes });
    // Claude Code quotes the prefix's path itself: the value is the bare path.
    assert.deepEqual(byKey['claudeCode.environmentVariables'], { kind: 'envVar', key: 'claudeCode.environmentVariables', name: 'CLAUDE_CODE_SHELL_PREFIX', value: RUN, routes: byKey['claudeCode.environmentVariables'].routes });
    assert.ok(!targets(false).some((target) => target.key === 'claudeCode.environmentVariables'));
    assert.deepEqual(routingTargets({ os: 'osx', shell: SHELL, run: RUN, claudeCode: false }).map((target) => target.key), ['chat.tools.terminal.terminalProfile.osx', 'terminal.integrated.agentHostProfile.osx', 'terminal.integrated.profiles.osx', 'terminal.integrated.defaultProfile.osx']);
    assert.deepEqual([settingsOs('linux'), settingsOs('darwin'), settingsOs('win32')], ['linux', 'osx', 'windows']);
  });

  test('Route writes exactly the routing values and merges into the user\'s objects and lists', async () => {
    const store = new FakeSettings(configuredUser());
    const { results, record } = await route(store, undefined);
    assert.ok(results.every((result) => result.ok), JSON.stringify(results.filter((result) => !result.ok)));
    assert.deepEqual(store.user, {
      ...configuredUser(),
      'chat.tools.terminal.terminalProfile.linux': { path: SHELL, args: [] },
      'terminal.integrated.agentHostProfile.linux': { path: SHELL },
      'terminal.integrated.profiles.linux': { 'zsh (login)': { path: '/usr/bin/zsh', args: ['-l'] }, [PROFILE_NAME]: { path: SHELL } },
      'terminal.integrated.defaultProfile.linux': PROFILE_NAME,
      'claudeCode.environmentVariables': [{ name: 'ANTHROPIC_BASE_URL', value: 'http://127.0.0.1:8045' }, { name: 'CLAUDE_CODE_SHELL_PREFIX', value: RUN }],
    });
    assert.equal(record?.entries.length, 5);
    for (const target of targets()) assert.deepEqual(checkTarget(store, target), { ok: true }, target.key);
  });
});

describe('routing settings: Stop Routing puts back exactly what was there', () => {
  test('an exact restore, settings that were unset removed again', async () => {
    for (const before of [configuredUser(), {} as Record<string, Json>]) {
      const store = new FakeSettings(clone(before));
      const routed = await route(store, undefined);
      // The record survives global state (JSON) unchanged.
      const kept = parseRecord(JSON.parse(JSON.stringify(routed.record)));
      assert.deepEqual(kept, routed.record);
      const stopped = await stop(store, kept);
      assert.deepEqual(store.user, before, 'the user settings are as before, key for key');
      assert.ok(!('chat.tools.terminal.terminalProfile.linux' in store.user) && !('terminal.integrated.agentHostProfile.linux' in store.user));
      assert.equal(stopped.record, undefined, 'nothing is left to restore');
      assert.ok(stopped.plan.outcomes.every((item) => item.outcome === 'restore'));
    }
  });

  test('merged objects and lists: only Airlock\'s own member and entry go; what the user added meanwhile stays', async () => {
    const store = new FakeSettings(configuredUser());
    const { record } = await route(store, undefined);
    (store.user['terminal.integrated.profiles.linux'] as Record<string, Json>).fish = { path: '/usr/bin/fish' };
    (store.user['claudeCode.environmentVariables'] as Json[]).push({ name: 'DISABLE_TELEMETRY', value: '1' });
    await stop(store, record);
    assert.deepEqual(store.user['terminal.integrated.profiles.linux'], { 'zsh (login)': { path: '/usr/bin/zsh', args: ['-l'] }, fish: { path: '/usr/bin/fish' } });
    assert.deepEqual(store.user['claudeCode.environmentVariables'], [{ name: 'ANTHROPIC_BASE_URL', value: 'http://127.0.0.1:8045' }, { name: 'DISABLE_TELEMETRY', value: '1' }]);
    assert.equal(store.user['terminal.integrated.defaultProfile.linux'], 'zsh (login)');
  });

  test('an object or list that was unset but gained the user\'s own members stays, without Airlock\'s', async () => {
    const store = new FakeSettings();
    const { record } = await route(store, undefined);
    (store.user['terminal.integrated.profiles.linux'] as Record<string, Json>).fish = { path: '/usr/bin/fish' };
    await stop(store, record);
    assert.deepEqual(store.user, { 'terminal.integrated.profiles.linux': { fish: { path: '/usr/bin/fish' } } });
  });

  test('a setting the user changed since routing is left as they set it', async () => {
    const store = new FakeSettings(configuredUser());
    const { record } = await route(store, undefined);
    store.user['terminal.integrated.defaultProfile.linux'] = 'bash';
    store.user['terminal.integrated.profiles.linux'] = { 'zsh (login)': { path: '/usr/bin/zsh' }, [PROFILE_NAME]: { path: '/opt/other-shell' } };
    const { plan } = await stop(store, record);
    assert.deepEqual(Object.fromEntries(plan.outcomes.map((item) => [item.entry.key, item.outcome])), {
      'chat.tools.terminal.terminalProfile.linux': 'restore',
      'terminal.integrated.agentHostProfile.linux': 'restore',
      'terminal.integrated.profiles.linux': 'kept',
      'terminal.integrated.defaultProfile.linux': 'kept',
      'claudeCode.environmentVariables': 'restore',
    });
    assert.equal(store.user['terminal.integrated.defaultProfile.linux'], 'bash');
    assert.deepEqual(store.user['terminal.integrated.profiles.linux'], { 'zsh (login)': { path: '/usr/bin/zsh' }, [PROFILE_NAME]: { path: '/opt/other-shell' } });
  });

  test('a CLAUDE_CODE_SHELL_PREFIX the user had is replaced in place and comes back in its place', async () => {
    const before: Json[] = [{ name: 'A', value: '1' }, { name: 'CLAUDE_CODE_SHELL_PREFIX', value: '/usr/local/bin/log-commands' }, { name: 'B', value: '2' }];
    const store = new FakeSettings({ 'claudeCode.environmentVariables': clone(before) });
    const { record } = await route(store, undefined);
    assert.deepEqual(store.user['claudeCode.environmentVariables'], [{ name: 'A', value: '1' }, { name: 'CLAUDE_CODE_SHELL_PREFIX', value: RUN }, { name: 'B', value: '2' }]);
    await stop(store, record);
    assert.deepEqual(store.user['claudeCode.environmentVariables'], before);
  });

  test('Stop when not routed writes nothing', async () => {
    const store = new FakeSettings(configuredUser());
    const stopped = await stop(store, undefined);
    assert.deepEqual(stopped.plan.edits, []);
    assert.deepEqual(stopped.plan.outcomes, []);
    assert.deepEqual(store.writes, []);
    assert.deepEqual(store.user, configuredUser());
  });

  test('a second Stop after a complete one writes nothing either', async () => {
    const store = new FakeSettings(configuredUser());
    const first = await stop(store, (await route(store, undefined)).record);
    const writes = store.writes.length;
    const second = await stop(store, first.record);
    assert.equal(store.writes.length, writes);
    assert.deepEqual(second.plan.edits, []);
  });
});

describe('routing settings: a second Route, refusals and overrides', () => {
  test('a second Route is idempotent: no write, the first record kept, Stop still restores the values from before the first', async () => {
    const store = new FakeSettings(configuredUser());
    const first = await route(store, undefined);
    const writes = store.writes.length;
    const second = await route(store, first.record);
    assert.deepEqual(second.plan.edits, []);
    assert.equal(second.plan.changes.length, 0);
    assert.equal(second.plan.unchanged.length, 5);
    assert.equal(store.writes.length, writes, 'nothing written');
    assert.deepEqual(second.record, first.record);
    await stop(store, second.record);
    assert.deepEqual(store.user, configuredUser());
  });

  test('a launcher that moved is rewritten, with the values from before the first Route still recorded', async () => {
    const store = new FakeSettings(configuredUser());
    const first = await route(store, undefined);
    const moved = await route(store, first.record, true, '/elsewhere/bin/airlock-shell');
    assert.deepEqual(moved.plan.changes.map((target) => target.key), ['chat.tools.terminal.terminalProfile.linux', 'terminal.integrated.agentHostProfile.linux', 'terminal.integrated.profiles.linux']);
    assert.deepEqual(store.user['chat.tools.terminal.terminalProfile.linux'], { path: '/elsewhere/bin/airlock-shell', args: [] });
    await stop(store, moved.record);
    assert.deepEqual(store.user, configuredUser());
  });

  test('a Route after the user changed a routed setting records their value as the one to come back', async () => {
    const store = new FakeSettings(configuredUser());
    const first = await route(store, undefined);
    store.user['terminal.integrated.defaultProfile.linux'] = 'bash';
    const again = await route(store, first.record);
    assert.deepEqual(again.plan.changes.map((target) => target.key), ['terminal.integrated.defaultProfile.linux']);
    await stop(store, again.record);
    assert.equal(store.user['terminal.integrated.defaultProfile.linux'], 'bash');
  });

  test('a setting VS Code refuses to write is reported by name and left out of the record; the rest route and restore', async () => {
    const store = new FakeSettings(configuredUser());
    store.refused.add('chat.tools.terminal.terminalProfile.linux');
    const { results, record } = await route(store, undefined);
    const failed = results.filter((result) => !result.ok);
    assert.deepEqual(failed.map((result) => [result.edit.key, result.written]), [['chat.tools.terminal.terminalProfile.linux', false]]);
    assert.match(failed[0].ok ? '' : failed[0].why, /^VS Code refused the write: .*restricted/);
    assert.ok(!record?.entries.some((entry) => entry.key === 'chat.tools.terminal.terminalProfile.linux'));
    assert.equal(record?.entries.length, 4);
    await stop(store, record);
    assert.deepEqual(store.user, configuredUser());
  });

  test('a refused rewrite of a routed setting keeps its first record, so Stop still restores it', async () => {
    const store = new FakeSettings(configuredUser());
    const first = await route(store, undefined);
    store.refused.add('terminal.integrated.agentHostProfile.linux');
    const moved = await route(store, first.record, true, '/elsewhere/bin/airlock-shell');
    assert.deepEqual(moved.record?.entries.find((entry) => entry.key === 'terminal.integrated.agentHostProfile.linux'), first.record?.entries.find((entry) => entry.key === 'terminal.integrated.agentHostProfile.linux'));
    store.refused.clear();
    await stop(store, moved.record);
    assert.deepEqual(store.user, configuredUser());
  });

  test('a refused restore stays in the record for the next Stop', async () => {
    const store = new FakeSettings(configuredUser());
    const { record } = await route(store, undefined);
    store.refused.add('terminal.integrated.defaultProfile.linux');
    const first = await stop(store, record);
    assert.deepEqual(first.record?.entries.map((entry) => entry.key), ['terminal.integrated.defaultProfile.linux']);
    store.refused.clear();
    const second = await stop(store, first.record);
    assert.equal(second.record, undefined);
    assert.deepEqual(store.user, configuredUser());
  });

  test('a workspace value that overrides a routed user setting fails the check, by name', async () => {
    const store = new FakeSettings(configuredUser());
    store.workspace['terminal.integrated.defaultProfile.linux'] = 'bash';
    const { results } = await route(store, undefined);
    const failed = results.filter((result) => !result.ok);
    assert.deepEqual(failed.map((result) => [result.edit.key, result.ok ? '' : result.why, result.written]), [['terminal.integrated.defaultProfile.linux', "this workspace's settings override it", true]]);
  });

  test('settings this VS Code does not declare, and user values of the wrong shape, are skipped with a reason', () => {
    const store = new FakeSettings({ 'terminal.integrated.profiles.linux': 'not an object' as Json, 'claudeCode.environmentVariables': { name: 'X' } });
    delete (store.defaults as Record<string, Json | undefined>)['terminal.integrated.agentHostProfile.linux'];
    const plan = planRoute(store, targets(), undefined);
    assert.deepEqual(plan.skipped.map(({ target, why }) => [target.key, why]), [
      ['terminal.integrated.agentHostProfile.linux', 'this VS Code (or the extension that owns it) does not declare this setting'],
      ['terminal.integrated.profiles.linux', 'your user value is not an object; Airlock leaves it alone'],
      ['claudeCode.environmentVariables', 'your user value is not a list; Airlock leaves it alone'],
    ]);
    assert.deepEqual(plan.edits.map((edit) => edit.key), ['chat.tools.terminal.terminalProfile.linux', 'terminal.integrated.defaultProfile.linux']);
  });

  test('a record from an uninstalled extension\'s setting stays until Stop restores it', async () => {
    const store = new FakeSettings(configuredUser());
    const first = await route(store, undefined);
    delete (store.defaults as Record<string, Json | undefined>)['claudeCode.environmentVariables'];
    const again = await route(store, first.record, false);
    assert.ok(again.record?.entries.some((entry) => entry.key === 'claudeCode.environmentVariables'));
    (store.defaults)['claudeCode.environmentVariables'] = [];
    await stop(store, again.record);
    assert.deepEqual(store.user, configuredUser());
  });

  test('a damaged or foreign record in global state is no record', () => {
    assert.equal(parseRecord(undefined), undefined);
    assert.equal(parseRecord({ version: 2, entries: [] }), undefined);
    assert.equal(parseRecord({ version: 1, entries: [{ kind: 'value', key: 'x' }] }), undefined);
    assert.equal(parseRecord({ version: 1, entries: [{ kind: 'envVar', key: 'x', name: 'N', settingWasSet: true, previous: [{ index: 'a', entry: {} }], wrote: 'w' }] }), undefined);
    assert.deepEqual(parseRecord({ version: 1, entries: [{ kind: 'value', key: 'x', previous: { set: false }, wrote: 'y' }] }), { version: 1, entries: [{ kind: 'value', key: 'x', previous: { set: false }, wrote: 'y' }] });
  });
});
