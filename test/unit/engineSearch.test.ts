import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as os from 'node:os';
import * as path from 'node:path';
import { contextEndpoint, currentContextName, dockerConfigDir } from '../../src/core/engine/dockerContext.js';
import { describeEndpoint, type EngineEndpoint, parseEngineHost } from '../../src/core/engine/engineEndpoint.js';
import { connectEngine, engineSearch } from '../../src/core/engine/locateEngine.js';
import { AirlockError, CancelledError, describeError } from '../../src/core/ground/errors.js';
import { makeTempDir, removeTempDirs, writeFiles } from '../helpers/tempWorkspace.js';
import { airlockErrorFrom } from '../helpers/airlockErrorFrom.js';

after(removeTempDirs);

/** A DOCKER_CONFIG folder with config.json and one context meta file per `contexts` entry. */
function dockerConfig(config: object | undefined, contexts: Record<string, string> = {}): string {
  const dir = makeTempDir('airlock-dockercfg-');
  if (config) writeFiles(dir, { 'config.json': JSON.stringify(config) });
  for (const [name, host] of Object.entries(contexts)) {
    const digest = createHash('sha256').update(name).digest('hex');
    writeFiles(dir, { [`contexts/meta/${digest}/meta.json`]: JSON.stringify({ Name: name, Endpoints: { docker: { Host: host, SkipTLSVerify: false } } }) });
  }
  return dir;
}

function tlsDir(): string {
  const dir = makeTempDir('airlock-certs-');
  writeFiles(dir, { 'ca.pem': 'CA', 'cert.pem': 'CERT', 'key.pem': 'KEY' });
  return dir;
}

describe('parseEngineHost', () => {
  test('unix:///x.sock is a unix socket at /x.sock', () => {
    assert.deepEqual(parseEngineHost('unix:///x.sock', 'DOCKER_HOST', {}), { kind: 'unix', socketPath: '/x.sock', source: 'DOCKER_HOST' });
  });

  test('tcp://h:2375 is plain tcp without TLS', () => {
    assert.deepEqual(parseEngineHost('tcp://h:2375', 'DOCKER_HOST', {}), { kind: 'tcp', host: 'h', port: 2375, tls: undefined, source: 'DOCKER_HOST' });
  });

  test('tcp without a port defaults to 2375', () => {
    const endpoint = parseEngineHost('tcp://h', 'DOCKER_HOST', {});
    assert.equal(endpoint.kind === 'tcp' && endpoint.port, 2375);
  });

  test('tcp with DOCKER_TLS_VERIFY=1 loads ca/cert/key from DOCKER_CERT_PATH and defaults to port 2376', () => {
    const certs = tlsDir();
    const endpoint = parseEngineHost('tcp://h', 'DOCKER_HOST', { DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certs });
    assert.equal(endpoint.kind, 'tcp');
    if (endpoint.kind !== 'tcp') return;
    assert.equal(endpoint.port, 2376);
    assert.equal(endpoint.tls?.verify, true);
    assert.equal(endpoint.tls?.ca?.toString(), 'CA');
    assert.equal(endpoint.tls?.cert?.toString(), 'CERT');
    assert.equal(endpoint.tls?.key?.toString(), 'KEY');
    assert.equal(describeEndpoint(endpoint), 'https://h:2376 (DOCKER_HOST)');
  });

  test('an explicit port wins over the TLS default', () => {
    const endpoint = parseEngineHost('tcp://h:3000', 'DOCKER_HOST', { DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: tlsDir() });
    assert.equal(endpoint.kind === 'tcp' && endpoint.port, 3000);
  });

  test('ssh://user@host:2222 keeps user, host and port', () => {
    assert.deepEqual(parseEngineHost('ssh://user@host:2222', 'DOCKER_HOST', {}), { kind: 'ssh', host: 'host', port: 2222, username: 'user', source: 'DOCKER_HOST' });
  });

  test('ssh without a port defaults to 22', () => {
    const endpoint = parseEngineHost('ssh://host', 'DOCKER_HOST', {});
    assert.deepEqual(endpoint, { kind: 'ssh', host: 'host', port: 22, username: undefined, source: 'DOCKER_HOST' });
    assert.equal(describeEndpoint(endpoint), 'ssh://host:22 (DOCKER_HOST)');
  });

  test('a bad scheme is refused with an error naming the source', () => {
    const error = airlockErrorFrom(() => parseEngineHost('ftp://h', 'DOCKER_HOST', {}));
    assert.equal(error.field, 'DOCKER_HOST');
    assert.match(error.message, /^DOCKER_HOST: unsupported engine address scheme "ftp:"/);
  });

  test('text that is not an address is refused with an error naming the source', () => {
    const error = airlockErrorFrom(() => parseEngineHost('not an address', 'docker context "x"', {}));
    assert.equal(error.field, 'docker context "x"');
    assert.match(error.message, /^docker context "x": "not an address" is not an engine address/);
  });
});

describe('docker contexts', () => {
  test('dockerConfigDir follows DOCKER_CONFIG', () => {
    assert.equal(dockerConfigDir({ DOCKER_CONFIG: '/somewhere' }), '/somewhere');
  });

  test('the current context comes from config.json', () => {
    assert.equal(currentContextName({ DOCKER_CONFIG: dockerConfig({ currentContext: 'remote' }) }), 'remote');
  });

  test('no config.json means no context', () => {
    assert.equal(currentContextName({ DOCKER_CONFIG: makeTempDir() }), undefined);
  });

  test('a config.json that is not JSON is refused with an error naming the file', () => {
    const dir = makeTempDir();
    writeFiles(dir, { 'config.json': '{ not json' });
    const error = airlockErrorFrom(() => currentContextName({ DOCKER_CONFIG: dir }));
    assert.match(error.message, new RegExp(`${path.join(dir, 'config.json').replace(/[/.]/g, '\\$&')}: not valid JSON`));
  });

  test('a context with a tls folder gets its TLS material, verified unless SkipTLSVerify', () => {
    const dir = dockerConfig(undefined, { secure: 'tcp://10.0.0.2:2376' });
    const digest = createHash('sha256').update('secure').digest('hex');
    writeFiles(dir, { [`contexts/tls/${digest}/docker/ca.pem`]: 'CTX-CA' });
    const endpoint = contextEndpoint('secure', { DOCKER_CONFIG: dir });
    assert.equal(endpoint?.kind, 'tcp');
    if (endpoint?.kind !== 'tcp') return;
    assert.equal(endpoint.tls?.verify, true);
    assert.equal(endpoint.tls?.ca?.toString(), 'CTX-CA');
    assert.equal(endpoint.port, 2376);
  });
});

describe('engineSearch', () => {
  test('DOCKER_HOST is returned as the configured engine with no probes', () => {
    const search = engineSearch({ DOCKER_HOST: 'unix:///custom/docker.sock' });
    assert.deepEqual(search, { configured: { kind: 'unix', socketPath: '/custom/docker.sock', source: 'DOCKER_HOST' }, probes: [] });
  });

  test('DOCKER_HOST wins over a docker context', () => {
    const env = { DOCKER_HOST: 'unix:///custom/docker.sock', DOCKER_CONFIG: dockerConfig({ currentContext: 'remote' }, { remote: 'tcp://10.0.0.1:2375' }) };
    assert.equal(engineSearch(env).configured?.source, 'DOCKER_HOST');
  });

  test('the current context in DOCKER_CONFIG/config.json is returned as the configured engine', () => {
    const env = { DOCKER_CONFIG: dockerConfig({ currentContext: 'remote' }, { remote: 'tcp://10.0.0.1:2375' }) };
    const expected: EngineEndpoint = { kind: 'tcp', host: '10.0.0.1', port: 2375, tls: undefined, source: 'docker context "remote"' };
    assert.deepEqual(engineSearch(env), { configured: expected, probes: [] });
  });

  test('DOCKER_CONTEXT overrides the context named in config.json', () => {
    const env = {
      DOCKER_CONTEXT: 'other',
      DOCKER_CONFIG: dockerConfig({ currentContext: 'remote' }, { remote: 'tcp://10.0.0.1:2375', other: 'unix:///other/docker.sock' }),
    };
    assert.deepEqual(engineSearch(env).configured, { kind: 'unix', socketPath: '/other/docker.sock', source: 'docker context "other"' });
  });

  test('a context whose meta file is missing gives an error naming the context', () => {
    const env = { DOCKER_CONFIG: dockerConfig({ currentContext: 'ghost' }) };
    const error = airlockErrorFrom(() => engineSearch(env));
    assert.match(error.message, /^docker context "ghost" is selected but .*meta\.json is missing or unreadable/);
    assert.equal(error.field, 'DOCKER_CONTEXT');
  });

  test('the "default" context falls through to the well-known sockets', () => {
    const search = engineSearch({ DOCKER_CONFIG: dockerConfig({ currentContext: 'default' }), XDG_RUNTIME_DIR: '/tmp/xdg-test' });
    assert.equal(search.configured, undefined);
    assert.ok(search.probes.length > 0);
  });

  test('probes include the default, Docker Desktop, rootless Docker and Podman sockets, in that order', () => {
    const search = engineSearch({ DOCKER_CONFIG: makeTempDir(), XDG_RUNTIME_DIR: '/tmp/xdg-test' });
    const paths = search.probes.map((probe) => (probe.kind === 'unix' ? probe.socketPath : `not unix: ${probe.kind}`));
    const expected = [
      '/var/run/docker.sock',
      path.join(os.homedir(), '.docker', 'run', 'docker.sock'),
      '/tmp/xdg-test/docker.sock',
      '/tmp/xdg-test/podman/podman.sock',
      '/run/podman/podman.sock',
    ];
    for (const socket of expected) assert.ok(paths.includes(socket), `${socket} is probed (probes: ${paths.join(', ')})`);
    const order = expected.map((socket) => paths.indexOf(socket));
    assert.deepEqual(order, [...order].sort((a, b) => a - b));
    assert.equal(new Set(paths).size, paths.length, 'no socket is probed twice');
    assert.equal(search.probes.find((probe) => probe.kind === 'unix' && probe.socketPath === '/tmp/xdg-test/docker.sock')?.source, 'rootless Docker');
  });

  test('without XDG_RUNTIME_DIR the rootless sockets are looked for under /run/user/<uid>', { skip: typeof process.getuid !== 'function' }, () => {
    const uid = process.getuid!();
    const paths = engineSearch({ DOCKER_CONFIG: makeTempDir() }).probes.map((probe) => (probe.kind === 'unix' ? probe.socketPath : ''));
    assert.ok(paths.includes(`/run/user/${uid}/docker.sock`));
    assert.ok(paths.includes(`/run/user/${uid}/podman/podman.sock`));
  });

  test('the Docker Desktop probe follows HOME from the env passed in', () => {
    const home = makeTempDir('airlock-home-');
    const paths = engineSearch({ HOME: home, DOCKER_CONFIG: makeTempDir(), XDG_RUNTIME_DIR: '/tmp/xdg-test' }).probes.map((probe) => (probe.kind === 'unix' ? probe.socketPath : ''));
    assert.ok(paths.includes(path.join(home, '.docker', 'run', 'docker.sock')), `probes: ${paths.join(', ')}`);
  });
});

describe('connectEngine', () => {
  test('a DOCKER_HOST socket that does not exist is reported by address, with a hint about DOCKER_HOST and no stack', async () => {
    const address = 'unix:///nonexistent/airlock-test.sock';
    await assert.rejects(connectEngine({ env: { DOCKER_HOST: address }, timeoutMs: 1000 }), (error: unknown) => {
      assert.ok(error instanceof AirlockError, `expected AirlockError, got ${String(error)}`);
      assert.match(error.message, /^No container engine answered at unix:\/\/\/nonexistent\/airlock-test\.sock \(DOCKER_HOST\)/);
      assert.match(error.hint ?? '', /DOCKER_HOST/);
      const shown = describeError(error);
      assert.doesNotMatch(shown, /^\s+at /m, 'no stack frames');
      assert.doesNotMatch(shown, /\.[jt]s:\d+:\d+/, 'no source positions');
      return true;
    });
  });

  test('plain tcp:// to another machine is refused before any connection, naming TLS and ssh; loopback is allowed', async () => {
    // A .test name never resolves, and the refusal comes before any lookup or connection anyway.
    await assert.rejects(connectEngine({ env: { DOCKER_HOST: 'tcp://engine.example.test:2375' }, timeoutMs: 1000 }), (error: unknown) => {
      assert.ok(error instanceof AirlockError, `expected AirlockError, got ${String(error)}`);
      assert.equal(error.code, 'engine.plainTcp');
      assert.match(error.message, /^DOCKER_HOST is tcp:\/\/engine\.example\.test:2375 \(DOCKER_HOST\): plain tcp:\/\/ to another machine/);
      assert.match(error.hint ?? '', /DOCKER_TLS_VERIFY=1.*ssh:\/\//);
      assert.equal(error.field, 'DOCKER_HOST');
      return true;
    });
    // Loopback over plain tcp is only this machine: tried (and here, nothing answers).
    for (const host of ['127.0.0.1', 'localhost', '[::1]']) {
      await assert.rejects(connectEngine({ env: { DOCKER_HOST: `tcp://${host}:1` }, timeoutMs: 1000 }), (error: unknown) => {
        assert.ok(error instanceof AirlockError);
        assert.equal(error.code, 'engine.unreachable', `${host}: ${error.message}`);
        return true;
      });
    }
  });

  test('an already-cancelled search stops before probing any socket', async () => {
    const controller = new AbortController();
    controller.abort();
    const env = { DOCKER_CONFIG: makeTempDir(), XDG_RUNTIME_DIR: makeTempDir() };
    await assert.rejects(connectEngine({ env, signal: controller.signal }), (error: unknown) => {
      assert.ok(error instanceof CancelledError, `expected CancelledError, got ${String(error)}`);
      return true;
    });
  });
});
