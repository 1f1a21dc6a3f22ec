import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatByteSize, parseByteSize } from '../../src/core/ground/byteSize.js';
import { DEFAULT_IMAGE, DEFAULT_SECRET_FILE_PATTERNS, parseTaskOptions, type TaskOptionsInput } from '../../src/core/config/taskOptions.js';
import { airlockErrorFrom } from '../helpers/airlockErrorFrom.js';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

/** Parses `{ workspace: '/tmp/x', ...extra }`; unknown keys are allowed through so refusals can be tested. */
const parse = (extra: Record<string, unknown> = {}) => parseTaskOptions({ workspace: '/tmp/x', ...extra });

describe('parseByteSize', () => {
  test('docker-style sizes are read as binary units', () => {
    assert.equal(parseByteSize('1g'), GiB);
    assert.equal(parseByteSize('1G'), GiB);
    assert.equal(parseByteSize('512m'), 512 * MiB);
    assert.equal(parseByteSize('64k'), 64 * 1024);
    assert.equal(parseByteSize('1.5g'), 1.5 * GiB);
    assert.equal(parseByteSize('2gb'), 2 * GiB);
    assert.equal(parseByteSize('2GiB'), 2 * GiB);
    assert.equal(parseByteSize('1048576'), 1048576);
    assert.equal(parseByteSize(' 10b '), 10);
  });

  test('text that is not a size gives undefined', () => {
    for (const text of ['', 'lots', '-1g', '1x', '1 g g', 'g1']) assert.equal(parseByteSize(text), undefined, text);
  });

  test('formatByteSize picks the largest whole unit', () => {
    assert.equal(formatByteSize(2 * GiB), '2g');
    assert.equal(formatByteSize(512 * MiB), '512m');
    assert.equal(formatByteSize(3 * 1024), '3k');
    assert.equal(formatByteSize(1000), '1000');
  });
});

describe('parseTaskOptions defaults', () => {
  test('an options object with only a workspace gets the documented defaults', () => {
    const options = parse();
    assert.equal(options.workspace, '/tmp/x');
    assert.equal(options.image, 'node:22-bookworm');
    assert.equal(options.image, DEFAULT_IMAGE);
    assert.equal(options.runtime, 'runc');
    assert.equal(options.user, '1000:1000');
    assert.equal(options.pids, 512);
    assert.equal(options.memory, 2 * GiB);
    assert.equal(options.ttlSeconds, 4 * 3600);
    assert.equal(options.network, 'deny');
    assert.deepEqual(options.egress.agent, { allow: [], allowCidr: [], deny: [] });
    assert.equal(options.egress.ask, false);
    assert.deepEqual(options.setupCommands, []);
    assert.equal(options.allowRoot, false);
    assert.equal(options.readOnlyRoot, false);
    assert.deepEqual(options.mounts, []);
    assert.deepEqual(options.envPassthrough, []);
    assert.deepEqual(options.env, {});
    assert.deepEqual(options.allowSecretEnv, []);
    assert.deepEqual(options.secretFilePatterns, DEFAULT_SECRET_FILE_PATTERNS);
  });

  test('a missing workspace is refused with an error naming the field', () => {
    const error = airlockErrorFrom(() => parseTaskOptions({} as TaskOptionsInput));
    assert.equal(error.field, 'workspace');
    assert.match(error.message, /^workspace: /);
  });
});

describe('parseTaskOptions sizes', () => {
  test('memory given as "1g" is one GiB in bytes', () => {
    assert.equal(parse({ memory: '1g' }).memory, GiB);
  });

  test('memory given as "512m" is 512 MiB in bytes', () => {
    assert.equal(parse({ memory: '512m' }).memory, 512 * MiB);
  });

  test('memory given as a number is taken as bytes', () => {
    assert.equal(parse({ memory: 268435456 }).memory, 268435456);
  });

  test('tmpSize is parsed like memory', () => {
    assert.equal(parse({ tmpSize: '64m' }).tmpSize, 64 * MiB);
  });

  test('a bad memory size is refused with an error naming memory', () => {
    const error = airlockErrorFrom(() => parse({ memory: 'lots' }));
    assert.equal(error.field, 'memory');
    assert.match(error.message, /^memory: .*size like 512m or 2g/);
    assert.ok(error.hint, 'a refusal carries a hint');
  });

  test('a zero memory size is refused with an error naming memory', () => {
    const error = airlockErrorFrom(() => parse({ memory: '0' }));
    assert.equal(error.field, 'memory');
    assert.match(error.message, /^memory: /);
  });

  test('pids below the minimum is refused with an error naming pids', () => {
    const error = airlockErrorFrom(() => parse({ pids: 1 }));
    assert.equal(error.field, 'pids');
    assert.match(error.message, /^pids: /);
  });
});

describe('parseTaskOptions strictness', () => {
  test('an unknown field is refused with an error naming it', () => {
    const error = airlockErrorFrom(() => parse({ privileged: true }));
    assert.match(error.message, /unknown field\(s\) privileged/);
    assert.equal(error.field, 'privileged');
  });

  test('an invalid variable name in envPassthrough is refused with an error naming the field', () => {
    const error = airlockErrorFrom(() => parse({ envPassthrough: ['NOT-A-NAME'] }));
    assert.equal(error.field, 'envPassthrough.0');
    assert.match(error.message, /^envPassthrough\.0: must be a variable name/);
  });

  test('runtime "kata" is refused with an error naming runtime', () => {
    const error = airlockErrorFrom(() => parse({ runtime: 'kata' }));
    assert.equal(error.field, 'runtime');
    assert.match(error.message, /^runtime: /);
  });

  test('an in-memory workspace is refused under runsc, naming workspaceTmpfs', () => {
    const error = airlockErrorFrom(() => parse({ runtime: 'runsc', workspaceTmpfs: '1g' }));
    assert.equal(error.field, 'workspaceTmpfs');
    assert.equal(parse({ workspaceTmpfs: '1g' }).workspaceTmpfs, 1024 ** 3);
  });

  test('runtime "runsc" is accepted', () => {
    assert.equal(parse({ runtime: 'runsc' }).runtime, 'runsc');
  });

  test('a network mode other than deny or allowlist is refused with an error naming network', () => {
    for (const network of ['host', 'bridge', 'none', 'container:x']) {
      const error = airlockErrorFrom(() => parse({ network }));
      assert.equal(error.field, 'network', network);
    }
  });

  test('allow rules switch the default to allowlist; with an explicit deny they are refused, naming network', () => {
    assert.equal(parse({ egress: { agent: { allow: ['api.example.test'] } } }).network, 'allowlist');
    assert.equal(parse({ egress: { ask: true } }).network, 'allowlist');
    assert.equal(parse({ network: 'allowlist' }).network, 'allowlist');
    const error = airlockErrorFrom(() => parse({ network: 'deny', egress: { setup: { allow: ['registry.example.test'] } } }));
    assert.equal(error.field, 'network');
  });

  test('a bad egress rule names its field', () => {
    const error = airlockErrorFrom(() => parse({ egress: { agent: { allowCidr: ['10.0.0.0/33'] } } }));
    assert.equal(error.field, 'egress.agent.allowCidr.0');
    assert.match(error.message, /egress\.agent\.allowCidr\.0: "10\.0\.0\.0\/33" is not an IP address or CIDR range/);
  });
});

describe('parseTaskOptions mounts', () => {
  test('a bind mount request is refused with an error naming the field', () => {
    const error = airlockErrorFrom(() => parse({ mounts: [{ type: 'bind', source: '/home/me/project', target: '/src' }] }));
    assert.equal(error.field, 'mounts.0');
    assert.match(error.message, /^mounts\.0: bind mounts are refused/);
    assert.match(error.message, /tmpfs/);
  });

  test('a volume mount request is refused with an error naming the field', () => {
    const error = airlockErrorFrom(() => parse({ mounts: [{ type: 'volume', source: 'shared-cache', target: '/cache' }] }));
    assert.equal(error.field, 'mounts.0');
    assert.match(error.message, /^mounts\.0: volume mounts are refused/);
  });

  test('a docker.sock mount request is refused because it would give the sandbox the host', () => {
    const error = airlockErrorFrom(() => parse({ mounts: [{ type: 'bind', source: '/var/run/docker.sock', target: '/var/run/docker.sock' }] }));
    assert.equal(error.field, 'mounts.0');
    assert.match(error.message, /^mounts\.0: mounting the container engine socket is never allowed/);
  });

  test('a docker.sock mount request is refused even when disguised as tmpfs', () => {
    const error = airlockErrorFrom(() => parse({ mounts: [{ type: 'tmpfs', target: '/run/docker.sock' }] }));
    assert.equal(error.field, 'mounts.0');
    assert.match(error.message, /engine socket/);
  });

  test('a later bad mount is named by its own index', () => {
    const error = airlockErrorFrom(() => parse({ mounts: [{ type: 'tmpfs', target: '/cache' }, { type: 'bind', source: '/etc', target: '/etc2' }] }));
    assert.equal(error.field, 'mounts.1');
    assert.match(error.message, /^mounts\.1: /);
  });

  test('a tmpfs mount is accepted with its size parsed', () => {
    const options = parse({ mounts: [{ type: 'tmpfs', target: '/cache', size: '128m' }] });
    assert.deepEqual(options.mounts, [{ type: 'tmpfs', target: '/cache', size: 128 * MiB }]);
  });

  test('a tmpfs mount with a source is refused with an error naming mounts.0.source', () => {
    const error = airlockErrorFrom(() => parse({ mounts: [{ type: 'tmpfs', source: '/home/me', target: '/cache' }] }));
    assert.equal(error.field, 'mounts.0.source');
  });

  test('a tmpfs target inside /workspace is refused with an error naming the target', () => {
    for (const target of ['/workspace', '/workspace/node_modules']) {
      const error = airlockErrorFrom(() => parse({ mounts: [{ type: 'tmpfs', target }] }));
      assert.equal(error.field, 'mounts.0.target', target);
      assert.match(error.message, /outside \/workspace/, target);
    }
  });

  test('a relative, root or ".." tmpfs target is refused with an error naming the target', () => {
    for (const target of ['cache', '/', '/cache/../workspace']) {
      const error = airlockErrorFrom(() => parse({ mounts: [{ type: 'tmpfs', target }] }));
      assert.equal(error.field, 'mounts.0.target', target);
    }
  });
});

describe('parseTaskOptions user', () => {
  test('user "0" is refused without allowRoot, naming user', () => {
    const error = airlockErrorFrom(() => parse({ user: '0' }));
    assert.equal(error.field, 'user');
    assert.match(error.message, /^user: .*root.*allowRoot/);
  });

  test('user "0:0" is refused without allowRoot, naming user', () => {
    assert.equal(airlockErrorFrom(() => parse({ user: '0:0' })).field, 'user');
  });

  test('user "0" is accepted with allowRoot:true', () => {
    const options = parse({ user: '0', allowRoot: true });
    assert.equal(options.user, '0');
    assert.equal(options.allowRoot, true);
  });

  test('a user name instead of numbers is refused, naming user', () => {
    const error = airlockErrorFrom(() => parse({ user: 'root' }));
    assert.equal(error.field, 'user');
    assert.match(error.message, /UID or UID:GID/);
  });

  test('a non-root UID:GID is accepted as given', () => {
    assert.equal(parse({ user: '1234:5678' }).user, '1234:5678');
  });
});
