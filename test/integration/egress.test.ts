import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { HostedGateway } from '../../src/core/gateway/gatewayHost.js';
import type { TaskService } from '../../src/core/task/taskService.js';
import type { TaskStore } from '../../src/core/state/taskStore.js';
import { makeCertificate, makeDumbGitRepo, serviceWithGateway, spyResolver, startEgressTask, startOrigin, type Origin } from '../helpers/egressFixtures.js';
import { realEngine, run, TEST_IMAGE, tempDir, waitFor } from '../helpers/realEngine.js';

type Records = Array<Record<string, unknown> & { type: string }>;

const NAMES = {
  'api.example.test': '127.0.0.1',
  'git.example.test': '127.0.0.1',
  'a.example.test': '127.0.0.1',
  'deep.a.example.test': '127.0.0.1',
  'example.test': '127.0.0.1',
  'evil-example.test': '127.0.0.1',
  // Allowed by name, but its address is loopback outside the CIDR rule: must be refused.
  'rebind.example.test': '127.0.0.2',
  'mixed.example.test': ['127.0.0.1', '10.0.0.1'],
  'registry.example.test': '127.0.0.1',
};

describe('egress: allowlist through the in-task relay (integration, runc)', () => {
  let service: TaskService | undefined;
  let store: TaskStore;
  let gateways: Map<string, HostedGateway>;
  let id = '';
  let origin: Origin;
  let tlsOrigin: Origin;
  let resolver: ReturnType<typeof spyResolver>;
  const workspace = tempDir('egress-ws');
  const git = makeDumbGitRepo();

  before(async (t) => {
    const engine = await realEngine(t as never);
    if (!engine) return;
    const certificate = makeCertificate(['api.example.test', 'git.example.test']);
    fs.copyFileSync(certificate.certFile, path.join(workspace, 'ca.crt'));
    origin = await startOrigin();
    tlsOrigin = await startOrigin({ tls: certificate, staticDir: git.dir });
    resolver = spyResolver(NAMES);
    ({ service, store, gateways } = serviceWithGateway(engine, resolver));
    const record = await service.start({
      workspace,
      image: TEST_IMAGE,
      ttlSeconds: 900,
      setupCommands: [
        `curl -sSf http://registry.example.test:${origin.port}/hello/setup > /workspace/setup.out`,
        // A connection still open when setup ends: the phase switch must cut it.
        `nohup curl -sS -N http://registry.example.test:${origin.port}/slow > /tmp/slow.out 2> /tmp/slow.err &`,
        'sleep 1',
      ],
      egress: {
        setup: { allow: ['registry.example.test'], allowCidr: ['127.0.0.1/32'] },
        agent: { allow: ['api.example.test', 'git.example.test', '*.a.example.test', 'a.example.test', '*.example.test:1', 'rebind.example.test', 'mixed.example.test', '127.0.0.1'], allowCidr: ['127.0.0.1/32'], deny: ['blocked.a.example.test'] },
      },
    });
    id = record.id;
  });

  after(async () => {
    if (service && id) await service.stop(id).catch(() => undefined);
    service?.dispose();
    for (const hosted of gateways?.values() ?? []) await hosted.stop().catch(() => undefined);
    await origin?.close();
    await tlsOrigin?.close();
  });

  const sh = (script: string) => run(service!, id, ['bash', '-c', script]);
  const audit = (): Records => store.audit(id).records();
  const attempts = () => audit().filter((record) => record.type === 'network');
  /** Records are written when a connection ends, a moment after the client has its answer. */
  const attemptFor = async (match: (record: Records[number]) => boolean) => {
    await waitFor(async () => attempts().some(match), 5000, 50);
    return attempts().find(match);
  };

  test('the sandbox gets the proxy variables pointing at its loopback relay', async () => {
    const result = await sh('echo "$HTTP_PROXY $HTTPS_PROXY $ALL_PROXY $NO_PROXY $https_proxy"');
    assert.equal(result.stdout.trim(), 'http://127.0.0.1:3128 http://127.0.0.1:3128 http://127.0.0.1:3128 localhost,127.0.0.1,::1 http://127.0.0.1:3128');
  });

  test('an allowed name works over plain HTTP and through HTTPS CONNECT', async () => {
    const plain = await sh(`curl -sSf http://api.example.test:${origin.port}/hello/plain`);
    assert.equal(plain.exitCode, 0, plain.stderr);
    assert.equal(plain.stdout, `hello plain via api.example.test:${origin.port}\n`);
    const secure = await sh(`curl -sSf --cacert /workspace/ca.crt https://api.example.test:${tlsOrigin.port}/hello/tls`);
    assert.equal(secure.exitCode, 0, secure.stderr);
    assert.equal(secure.stdout, `hello tls via api.example.test:${tlsOrigin.port}\n`);
    const connect = await attemptFor((record) => record.method === 'CONNECT' && record.port === tlsOrigin.port);
    assert.equal(connect?.decision, 'allow');
    assert.equal(connect?.address, '127.0.0.1');
    assert.ok((connect?.bytesUp as number) > 0 && (connect?.bytesDown as number) > 0);
  });

  test('git clone over https goes through the proxy', async () => {
    const result = await sh(`cd /tmp && git -c http.sslCAInfo=/workspace/ca.crt clone -q https://git.example.test:${tlsOrigin.port}/repo.git cloned && git -C cloned rev-parse HEAD && cat cloned/README.md`);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.equal(result.stdout, `${git.head}\ncloned through the airlock gateway\n`);
  });

  test('a name on no list is refused with 403 and never resolved', async () => {
    const before = origin.connections();
    const result = await sh(`curl -sS -w '\\n%{http_code}' http://unlisted.example.org:${origin.port}/hello/x`);
    assert.match(result.stdout, /not on the agent allowlist/);
    assert.match(result.stdout, /\n403$/);
    const secure = await sh(`curl -sS https://unlisted.example.org:${tlsOrigin.port}/ 2>&1; echo " exit=$?"`);
    assert.match(secure.stdout, /403|CONNECT tunnel failed/);
    assert.equal(origin.connections(), before);
    assert.ok(!resolver.asked.includes('unlisted.example.org'), `resolved: ${resolver.asked.join(', ')}`);
  });

  test('a wildcard needs a label boundary: *.a.example.test is not a.example.test-alike names', async () => {
    const code = async (host: string) => (await sh(`curl -sS -o /dev/null -w '%{http_code}' http://${host}:${origin.port}/hello/w`)).stdout;
    assert.equal(await code('deep.a.example.test'), '200');
    resolver.asked.length = 0;
    assert.equal(await code('example.test'), '403');
    assert.equal(await code('evil-example.test'), '403');
    assert.deepEqual(resolver.asked, []);
    // deny beats allow: blocked.a.example.test matches the wildcard allow and the deny rule
    assert.equal(await code('blocked.a.example.test'), '403');
    const denied = await attemptFor((record) => record.host === 'blocked.a.example.test');
    assert.equal(denied?.rule, 'deny blocked.a.example.test');
  });

  test('an allowed name resolving to loopback outside the CIDR rule, or to a mix with a private address, is refused', async () => {
    const before = origin.connections();
    const rebind = await sh(`curl -sS -w '\\n%{http_code}' http://rebind.example.test:${origin.port}/hello/x`);
    assert.match(rebind.stdout, /127\.0\.0\.2, a loopback address/);
    assert.match(rebind.stdout, /\n403$/);
    const mixed = await sh(`curl -sS -w '\\n%{http_code}' http://mixed.example.test:${origin.port}/hello/x`);
    assert.match(mixed.stdout, /10\.0\.0\.1, a private \(RFC 1918\) address/);
    assert.equal(origin.connections(), before);
  });

  test('every spelling of a loopback IP is normalised before rules and address checks', async () => {
    // Raw requests, so no client normalises the spelling first. "127.0.0.1" is on the allow list
    // and 127.0.0.1/32 is an allowed CIDR, so each spelling reaches the origin only if normalised…
    const spellings = ['127.1', '0x7f.1', '2130706433', '017700000001', '0x7f000001', '127.0.0.1.'];
    for (const spelling of spellings) {
      const result = await sh(`exec 3<>/dev/tcp/127.0.0.1/3128; printf 'GET http://${spelling}:${origin.port}/hello/ip HTTP/1.1\\r\\nHost: ${spelling}:${origin.port}\\r\\n\\r\\n' >&3; cat <&3`);
      assert.match(result.stdout, /^HTTP\/1\.1 200/, `${spelling}: ${result.stdout}`);
    }
    const loggedNow = () => attempts().filter((record) => record.method === 'GET' && String(record.rule).startsWith('allow 127.0.0.1'));
    // The last record is written when its connection ends, a moment after curl has the answer.
    await waitFor(async () => loggedNow().length >= spellings.length, 5000, 50);
    const logged = loggedNow();
    assert.ok(logged.length >= spellings.length, `${logged.length} records for ${spellings.length} requests`);
    assert.ok(logged.every((record) => record.host === '127.0.0.1'));
    // The IPv4-mapped form is the same socket destination, so the CIDR rule admits it; ::1, and the
    // NAT64 form of 127.0.0.1 (dialled elsewhere, but loopback inside), are refused and never dialled.
    const connect = async (spelling: string) => (await sh(`exec 3<>/dev/tcp/127.0.0.1/3128; printf 'CONNECT ${spelling}:${origin.port} HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n' >&3; head -c 12 <&3`)).stdout;
    assert.equal(await connect('[::ffff:7f00:1]'), 'HTTP/1.1 200');
    assert.equal(await connect('[::ffff:127.0.0.1]'), 'HTTP/1.1 200');
    const before = origin.connections();
    for (const spelling of ['[::1]', '[64:ff9b::7f00:1]', '[::127.0.0.1]', '[2002:7f00:1::]']) assert.equal(await connect(spelling), 'HTTP/1.1 403', spelling);
    assert.equal(origin.connections(), before);
  });

  test('malformed or smuggling-shaped requests are refused: Host disagreeing, user@host, NUL, out-of-range port', async () => {
    const raw = async (request: string) => (await sh(`exec 3<>/dev/tcp/127.0.0.1/3128; printf '${request}' >&3; head -c 12 <&3`)).stdout;
    assert.equal(await raw(`GET http://api.example.test:${origin.port}/ HTTP/1.1\\r\\nHost: evil.example.org\\r\\n\\r\\n`), 'HTTP/1.1 400');
    assert.equal(await raw(`GET http://user@api.example.test:${origin.port}/ HTTP/1.1\\r\\nHost: api.example.test\\r\\n\\r\\n`), 'HTTP/1.1 400');
    assert.equal(await raw(`CONNECT api.example.test\\000.evil.org:443 HTTP/1.1\\r\\n\\r\\n`), 'HTTP/1.1 400');
    assert.equal(await raw(`CONNECT api.example.test:65536 HTTP/1.1\\r\\n\\r\\n`), 'HTTP/1.1 400');
  });

  test('without the proxy there is no route: only loopback, no routes, no DNS server', async () => {
    const before = origin.connections();
    const direct = await sh(`curl -sS --noproxy '*' --max-time 5 http://192.0.2.1/ ; echo "exit=$?"; curl -sS --noproxy '*' --max-time 5 http://127.0.0.1:${origin.port}/hello/x; echo "exit=$?"`);
    assert.match(direct.stdout, /exit=7\n.*exit=7/s);
    const tcp = await sh('exec 3<>/dev/tcp/192.0.2.1/80 2>&1; echo "exit=$?"');
    assert.match(tcp.stdout + tcp.stderr, /Network is unreachable/);
    assert.equal(origin.connections(), before, 'the host loopback server must not be reachable from the sandbox');
    const interfaces = await sh(`tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; tail -n +2 /proc/net/route | wc -l; grep -vc ' lo$' /proc/net/ipv6_route || true`);
    assert.equal(interfaces.stdout, 'lo\n0\n0\n');
    const dns = await sh('getent hosts api.example.test; echo "exit=$?"; node -e "require(\'dns\').lookup(\'api.example.test\', (e) => console.log(e ? e.code : \'resolved\'))"');
    assert.match(dns.stdout, /exit=2\n(EAI_AGAIN|ENOTFOUND)\n/);
  });

  test('the setup rule is gone in the agent phase, and the switch cut the connection setup left open', async () => {
    assert.equal((await sh('cat /workspace/setup.out')).stdout, 'hello setup via registry.example.test:' + origin.port + '\n');
    const code = await sh(`curl -sS -o /dev/null -w '%{http_code}' http://registry.example.test:${origin.port}/hello/again`);
    assert.equal(code.stdout, '403');
    const records = audit();
    const phase = records.findIndex((record) => record.type === 'network.phase');
    assert.ok(phase > 0);
    assert.deepEqual({ from: records[phase].from, to: records[phase].to }, { from: 'setup', to: 'agent' });
    assert.ok((records[phase].closedConnections as number) >= 1, 'the slow setup connection was open at the switch');
    const setupAttempts = records.filter((record, index) => record.type === 'network' && record.phase === 'setup' && index < phase + 2);
    assert.ok(setupAttempts.some((record) => record.closedBy === 'phase change'));
    const slowCurl = await sh('sleep 0.5; cat /tmp/slow.err; pgrep -c curl || true');
    assert.ok(!/^[1-9]/m.test(slowCurl.stdout.split('\n').pop() ?? ''), 'the setup curl ended');
  });

  test('the relay runs as another user: the sandbox cannot kill it, and the network survives the attempt', async () => {
    const result = await sh('for p in /proc/[0-9]*; do u=$(awk \'/^Uid:/{print $2}\' $p/status 2>/dev/null); [ "$u" = 65534 ] && echo "$u ${p#/proc/}"; done | head -1');
    const [uid, pid] = result.stdout.trim().split(' ');
    assert.equal(uid, '65534');
    const kill = await sh(`kill -9 ${pid}; echo "exit=$?"`);
    assert.match(kill.stdout + kill.stderr, /Operation not permitted/);
    const after = await sh(`curl -sSf http://api.example.test:${origin.port}/hello/still`);
    assert.equal(after.stdout, `hello still via api.example.test:${origin.port}\n`);
  });

  test('one log record per attempt, with the fields the log promises', async () => {
    const before = attempts().length;
    for (const host of ['api.example.test', 'nope.example.org', 'api.example.test']) await sh(`curl -sS -o /dev/null http://${host}:${origin.port}/hello/n`);
    assert.ok(await waitFor(async () => attempts().length === before + 3, 5000));
    const [first, denied] = attempts().slice(before);
    for (const field of ['time', 'task', 'phase', 'method', 'host', 'port', 'decision', 'bytesUp', 'bytesDown', 'start', 'durationMs']) assert.ok(field in first, field);
    assert.equal(first.address, '127.0.0.1');
    assert.equal(denied.decision, 'deny');
    assert.equal(denied.address, undefined);
  });
});

describe('egress: limits trip and are logged (integration)', () => {
  test('maxBytes cuts a download and refuses what follows; idleTimeout closes a silent connection', { timeout: 120_000 }, async (t) => {
    const engine = await realEngine(t);
    if (!engine) return;
    const { store, record, origin, sh } = await startEgressTask(t, engine, spyResolver({ 'api.example.test': '127.0.0.1' }), { egress: { agent: { allow: ['api.example.test'], allowCidr: ['127.0.0.1/32'] }, limits: { maxBytes: '256k', idleTimeoutSeconds: 2 } } });
    const started = Date.now();
    const idle = await sh(`exec 3<>/dev/tcp/127.0.0.1/3128; printf 'CONNECT api.example.test:${origin.port} HTTP/1.1\\r\\n\\r\\n' >&3; timeout 20 cat <&3 | head -c 40; echo; echo done`);
    assert.match(idle.stdout, /200 Connection Established/);
    assert.ok(Date.now() - started < 15_000, 'the idle connection was closed by the gateway, not by the 20 s timeout');
    const download = await sh(`curl -sS -o /tmp/big http://api.example.test:${origin.port}/bytes/${4 * 1024 * 1024}; echo "exit=$?"; stat -c %s /tmp/big`);
    const size = Number(download.stdout.trim().split('\n').pop());
    assert.ok(size < 1024 * 1024, `download should be cut near 256 KiB, got ${size}`);
    const next = await sh(`curl -sS -o /dev/null -w '%{http_code}' http://api.example.test:${origin.port}/hello/after`);
    assert.equal(next.stdout, '403');
    const limits = store.audit(record.id).records().filter((entry) => entry.type === 'network.limit').map((entry) => entry.limit);
    assert.ok(limits.includes('idleTimeout'), limits.join());
    assert.ok(limits.includes('maxBytes'), limits.join());
  });
});

describe('egress under gVisor (runsc) (integration)', () => {
  test('allowed HTTP works, unlisted is refused, no route without the proxy', { timeout: 120_000 }, async (t) => {
    const engine = await realEngine(t);
    if (!engine) return;
    const resolver = spyResolver({ 'api.example.test': '127.0.0.1' });
    const { origin, sh } = await startEgressTask(t, engine, resolver, { runtime: 'runsc', egress: { agent: { allow: ['api.example.test'], allowCidr: ['127.0.0.1/32'] } } });
    assert.equal((await sh(`curl -sSf http://api.example.test:${origin.port}/hello/gvisor`)).stdout, `hello gvisor via api.example.test:${origin.port}\n`);
    assert.equal((await sh(`curl -sS -o /dev/null -w '%{http_code}' http://other.example.test:${origin.port}/`)).stdout, '403');
    assert.deepEqual(resolver.asked, ['api.example.test']);
    const direct = await sh(`curl -sS --noproxy '*' --max-time 5 http://192.0.2.1/ ; echo "exit=$?"; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '`);
    assert.match(direct.stdout, /exit=7\nlo\n$/);
  });
});
