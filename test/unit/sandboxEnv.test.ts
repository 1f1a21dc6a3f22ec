import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cliHint } from '../../src/cli/errorHints.js';
import { buildSandboxEnv, type EnvRequest } from '../../src/core/config/sandboxEnv.js';
import { ENV_NAME, looksSecret } from '../../src/core/config/secretNames.js';
import { airlockErrorFrom } from '../helpers/airlockErrorFrom.js';

/** A host environment full of things that must never reach the sandbox unless listed. */
const HOST_ENV: NodeJS.ProcessEnv = {
  PATH: '/usr/bin',
  HOME: '/home/me',
  NODE_ENV: 'development',
  CI: 'true',
  LANG: 'en_US.UTF-8',
  GITHUB_TOKEN: 'ghp_secret',
  AWS_SECRET_ACCESS_KEY: 'aws-secret',
  SSH_AUTH_SOCK: '/tmp/ssh-agent.sock',
  EDITOR: 'vim',
};

const SECRET_NAMES = ['GITHUB_TOKEN', 'AWS_ACCESS_KEY_ID', 'NPM_TOKEN', 'MY_PASSWORD', 'DB_SECRET', 'API_KEY', 'GH_HOST', 'SSH_AUTH_SOCK', 'REDIS_URL', 'MONGODB_URI', 'SENTRY_DSN', 'MYSQL_PWD'];
const ORDINARY_NAMES = ['NODE_ENV', 'CI', 'LANG', 'TERM', 'KEYBOARD_LAYOUT', 'EDITOR', 'TZ', 'MONKEY_BUSINESS'];

const request = (partial: Partial<EnvRequest>): EnvRequest => ({ envPassthrough: [], env: {}, allowSecretEnv: [], ...partial });

describe('looksSecret', () => {
  for (const name of SECRET_NAMES) {
    test(`${name} looks like a secret`, () => assert.equal(looksSecret(name), true));
  }

  test('secret detection ignores case', () => {
    assert.equal(looksSecret('github_token'), true);
    assert.equal(looksSecret('my_Password'), true);
  });

  test('KEY counts only as a whole word: SIGNING_KEY and KEY are secret, KEYBOARD_LAYOUT is not', () => {
    assert.equal(looksSecret('SIGNING_KEY'), true);
    assert.equal(looksSecret('KEY'), true);
    assert.equal(looksSecret('KEY_ID'), true);
    assert.equal(looksSecret('KEYBOARD_LAYOUT'), false);
    assert.equal(looksSecret('MONKEY_BUSINESS'), false);
  });

  for (const name of ORDINARY_NAMES) {
    test(`${name} is an ordinary name`, () => assert.equal(looksSecret(name), false));
  }

  test('ENV_NAME accepts variable names and refuses anything else', () => {
    assert.ok(ENV_NAME.test('NODE_ENV'));
    assert.ok(ENV_NAME.test('_private1'));
    for (const bad of ['', '1ABC', 'A-B', 'A B', 'A=B']) assert.ok(!ENV_NAME.test(bad), bad);
  });
});

describe('buildSandboxEnv allowlist', () => {
  test('host variables that are not listed never appear in the sandbox env', () => {
    assert.deepEqual(buildSandboxEnv(request({}), HOST_ENV), {});
  });

  test('listed passthrough variables are copied from the host and nothing else is', () => {
    const env = buildSandboxEnv(request({ envPassthrough: ['NODE_ENV', 'CI'] }), HOST_ENV);
    assert.deepEqual(env, { NODE_ENV: 'development', CI: 'true' });
  });

  test('a listed passthrough variable the host does not have is simply absent', () => {
    assert.deepEqual(buildSandboxEnv(request({ envPassthrough: ['TERM'] }), HOST_ENV), {});
  });

  test('explicit values are set as given, and win over a passthrough of the same name', () => {
    const env = buildSandboxEnv(request({ envPassthrough: ['NODE_ENV'], env: { NODE_ENV: 'test', FOO: 'bar' } }), HOST_ENV);
    assert.deepEqual(env, { NODE_ENV: 'test', FOO: 'bar' });
  });

  test('ordinary names (NODE_ENV, CI, LANG, TERM, KEYBOARD_LAYOUT) are allowed', () => {
    const hostEnv = { ...HOST_ENV, TERM: 'xterm', KEYBOARD_LAYOUT: 'de' };
    const env = buildSandboxEnv(request({ envPassthrough: ['NODE_ENV', 'CI', 'LANG', 'TERM', 'KEYBOARD_LAYOUT'] }), hostEnv);
    assert.deepEqual(env, { NODE_ENV: 'development', CI: 'true', LANG: 'en_US.UTF-8', TERM: 'xterm', KEYBOARD_LAYOUT: 'de' });
  });
});

describe('buildSandboxEnv secrets', () => {
  for (const name of SECRET_NAMES) {
    test(`passing through ${name} is refused with an error naming it and --allow-secret-env`, () => {
      const error = airlockErrorFrom(() => buildSandboxEnv(request({ envPassthrough: [name] }), { ...HOST_ENV, [name]: 'value' }));
      assert.equal(error.field, 'envPassthrough');
      assert.match(error.message, new RegExp(`^envPassthrough: ${name} looks like a secret`));
      assert.deepEqual(error.actions, [{ kind: 'changeSetting', setting: 'env.allowSecret', value: name }]);
      assert.match(cliHint(error) ?? '', new RegExp(`--allow-secret-env ${name}`));
    });
  }

  test('setting a secret-looking name to an explicit value is refused with an error naming the env field', () => {
    const error = airlockErrorFrom(() => buildSandboxEnv(request({ env: { API_KEY: 'abc' } }), HOST_ENV));
    assert.equal(error.field, 'env');
    assert.match(error.message, /^env: API_KEY looks like a secret/);
    assert.deepEqual(error.actions, [{ kind: 'changeSetting', setting: 'env.allowSecret', value: 'API_KEY' }]);
    assert.match(cliHint(error) ?? '', /--allow-secret-env API_KEY/);
  });

  test('the field name used for explicit values can be chosen by the caller', () => {
    const error = airlockErrorFrom(() => buildSandboxEnv(request({ env: { DB_SECRET: 'x' } }), HOST_ENV, 'commandEnv'));
    assert.equal(error.field, 'commandEnv');
    assert.match(error.message, /^commandEnv: DB_SECRET/);
  });

  test('a secret-looking name is allowed when allowSecretEnv names it', () => {
    const env = buildSandboxEnv(request({ envPassthrough: ['GITHUB_TOKEN'], allowSecretEnv: ['GITHUB_TOKEN'] }), HOST_ENV);
    assert.deepEqual(env, { GITHUB_TOKEN: 'ghp_secret' });
  });

  test('allowSecretEnv matches names case-insensitively', () => {
    const env = buildSandboxEnv(request({ envPassthrough: ['GITHUB_TOKEN'], env: { Api_Key: 'k' }, allowSecretEnv: ['github_token', 'API_KEY'] }), HOST_ENV);
    assert.deepEqual(env, { GITHUB_TOKEN: 'ghp_secret', Api_Key: 'k' });
  });

  test('allowing one secret does not allow another', () => {
    const error = airlockErrorFrom(() => buildSandboxEnv(request({ envPassthrough: ['GITHUB_TOKEN', 'SSH_AUTH_SOCK'], allowSecretEnv: ['GITHUB_TOKEN'] }), HOST_ENV));
    assert.match(error.message, /SSH_AUTH_SOCK looks like a secret/);
  });
});

describe('buildSandboxEnv reserved names', () => {
  for (const name of ['PATH', 'HOME', 'LD_PRELOAD']) {
    test(`passing through ${name} is refused because Airlock sets it`, () => {
      const error = airlockErrorFrom(() => buildSandboxEnv(request({ envPassthrough: [name] }), { ...HOST_ENV, [name]: '/x' }));
      assert.equal(error.field, 'envPassthrough');
      assert.match(error.message, new RegExp(`^envPassthrough: ${name} is set by Airlock`));
    });

    test(`setting ${name} explicitly is refused because Airlock sets it`, () => {
      const error = airlockErrorFrom(() => buildSandboxEnv(request({ env: { [name]: '/x' } }), HOST_ENV));
      assert.equal(error.field, 'env');
      assert.match(error.message, new RegExp(`^env: ${name} is set by Airlock`));
    });
  }

  test('reserved names are refused whatever their case', () => {
    const error = airlockErrorFrom(() => buildSandboxEnv(request({ env: { ld_preload: '/evil.so' } }), HOST_ENV));
    assert.match(error.message, /ld_preload is set by Airlock/);
  });

  test('a reserved name stays refused even when allowSecretEnv names it', () => {
    const error = airlockErrorFrom(() => buildSandboxEnv(request({ env: { PATH: '/x' }, allowSecretEnv: ['PATH'] }), HOST_ENV));
    assert.match(error.message, /PATH is set by Airlock/);
  });
});

describe('buildSandboxEnv values', () => {
  test('a NUL byte in a value is refused with an error naming the variable', () => {
    const error = airlockErrorFrom(() => buildSandboxEnv(request({ env: { FOO: 'a\0b' } }), HOST_ENV));
    assert.equal(error.field, 'env');
    assert.match(error.message, /^env: FOO contains a NUL byte/);
  });
});
