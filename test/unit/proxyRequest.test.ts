import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CONNECT_ESTABLISHED, headEnd, MAX_HEAD_BYTES, parseProxyRequest, ProxyRequestError, proxyResponse, type ProxyRequest } from '../../src/core/egress/proxyRequest.js';
import { FRAME, FRAME_HEADER_BYTES, FrameDecoder, FrameError, frameHeader, MAX_FRAME_PAYLOAD, type FrameType } from '../../src/core/egress/relayProtocol.js';

const parse = (text: string): ProxyRequest => parseProxyRequest(Buffer.from(text, 'latin1'));
const head = (request: ProxyRequest): string => {
  assert.equal(request.kind, 'http');
  return request.head.toString('latin1');
};
const refusedWith = (text: string, status: number, message?: RegExp) => {
  assert.throws(
    () => parse(text),
    (error: Error) => error instanceof ProxyRequestError && error.status === status && (!message || message.test(error.message)),
    JSON.stringify(text),
  );
};

describe('parseProxyRequest: CONNECT', () => {
  test('CONNECT host:443 is a connect request to the normalised target', () => {
    assert.deepEqual(parse('CONNECT API.Example.TEST:443 HTTP/1.1\r\nHost: api.example.test:443\r\n\r\n'), {
      kind: 'connect',
      method: 'CONNECT',
      target: { host: 'api.example.test', kind: 'name', port: 443 },
    });
  });

  test('CONNECT to a bracketed IPv6 address and to an odd IPv4 spelling', () => {
    assert.deepEqual(parse('CONNECT [::1]:8443 HTTP/1.1\r\n\r\n'), { kind: 'connect', method: 'CONNECT', target: { host: '::1', kind: 'ipv6', port: 8443 } });
    assert.deepEqual(parse('CONNECT 0x7f.1:443 HTTP/1.0\r\n\r\n'), { kind: 'connect', method: 'CONNECT', target: { host: '127.0.0.1', kind: 'ipv4', port: 443 } });
  });

  test('CONNECT needs a port and a bracketed IPv6 address', () => {
    refusedWith('CONNECT api.example.test HTTP/1.1\r\n\r\n', 400, /needs a port/);
    refusedWith('CONNECT ::1:443 HTTP/1.1\r\n\r\n', 400, /brackets/);
    refusedWith('CONNECT api.example.test:0 HTTP/1.1\r\n\r\n', 400, /out of range/);
    refusedWith('CONNECT user@api.example.test:443 HTTP/1.1\r\n\r\n', 400, /not allowed/);
  });
});

describe('parseProxyRequest: plain HTTP', () => {
  test('an absolute URL becomes origin-form with proxy and hop-by-hop headers dropped and Connection: close added', () => {
    const request = parse(
      'GET http://api.example.test/a/b?x=1&y=2 HTTP/1.1\r\nHost: api.example.test\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\nProxy-Connection: keep-alive\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nUpgrade: websocket\r\nAccept: */*\r\nX-Custom:  spaced value \r\n\r\n',
    );
    assert.equal(request.kind, 'http');
    assert.equal(request.method, 'GET');
    assert.deepEqual(request.target, { host: 'api.example.test', kind: 'name', port: 80 });
    assert.equal(head(request), 'GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: api.example.test\r\nAccept: */*\r\nX-Custom: spaced value\r\nConnection: close\r\n\r\n');
  });

  test('header names are dropped case-insensitively', () => {
    const text = head(parse('POST http://api.example.test/ HTTP/1.1\r\nhost: api.example.test\r\nPROXY-AUTHORIZATION: x\r\nconnection: Upgrade\r\nContent-Length: 0\r\n\r\n'));
    assert.equal(text, 'POST / HTTP/1.1\r\nhost: api.example.test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
  });

  test('a URL without a path gets "/", a query without a path gets "/?…"', () => {
    assert.match(head(parse('GET http://api.example.test HTTP/1.0\r\nHost: api.example.test\r\n\r\n')), /^GET \/ HTTP\/1\.0\r\n/);
    assert.match(head(parse('GET http://api.example.test?q=1 HTTP/1.1\r\nHost: api.example.test\r\n\r\n')), /^GET \/\?q=1 HTTP\/1\.1\r\n/);
  });

  test('a port in the URL sets the target port; the Host header must carry the same one', () => {
    const request = parse('GET http://api.example.test:8080/x HTTP/1.1\r\nHost: api.example.test:8080\r\n\r\n');
    assert.deepEqual(request.target, { host: 'api.example.test', kind: 'name', port: 8080 });
    refusedWith('GET http://api.example.test:8080/ HTTP/1.1\r\nHost: api.example.test\r\n\r\n', 400, /disagree/);
    // :80 is the default, so spelling it out agrees.
    assert.equal(parse('GET http://api.example.test/ HTTP/1.1\r\nHost: api.example.test:80\r\n\r\n').kind, 'http');
  });

  test('URL and Host are compared after normalisation', () => {
    assert.equal(parse('GET http://API.example.test./ HTTP/1.1\r\nHost: api.example.test\r\n\r\n').kind, 'http');
    const ip = parse('GET http://0x7f.1/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    assert.deepEqual(ip.target, { host: '127.0.0.1', kind: 'ipv4', port: 80 });
    const v6 = parse('GET http://[0::1]:8080/x HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n');
    assert.deepEqual(v6.target, { host: '::1', kind: 'ipv6', port: 8080 });
  });

  test('a Host header disagreeing with the URL is refused', () => {
    refusedWith('GET http://api.example.test/ HTTP/1.1\r\nHost: other.example.test\r\n\r\n', 400, /api\.example\.test:80 and the Host header other\.example\.test:80 disagree/);
    refusedWith('GET http://127.0.0.1/ HTTP/1.1\r\nHost: 127.0.0.2\r\n\r\n', 400, /disagree/);
  });

  test('a missing Host header is refused', () => {
    refusedWith('GET http://api.example.test/ HTTP/1.1\r\n\r\n', 400, /no Host header/);
    refusedWith('GET http://api.example.test/ HTTP/1.1\r\nAccept: */*\r\n\r\n', 400, /no Host header/);
  });

  test('two Host headers are refused, even when they agree', () => {
    refusedWith('GET http://api.example.test/ HTTP/1.1\r\nHost: api.example.test\r\nHost: api.example.test\r\n\r\n', 400, /more than one Host/);
    refusedWith('GET http://api.example.test/ HTTP/1.1\r\nHost: api.example.test\r\nhost: evil.test\r\n\r\n', 400, /more than one Host/);
  });

  test('https:// absolute URLs are refused (they go through CONNECT)', () => {
    refusedWith('GET https://api.example.test/ HTTP/1.1\r\nHost: api.example.test\r\n\r\n', 400, /CONNECT/);
  });

  test('origin-form and other non-http targets are refused', () => {
    refusedWith('GET /path HTTP/1.1\r\nHost: api.example.test\r\n\r\n', 400, /absolute http:\/\/ URL/);
    refusedWith('GET ftp://api.example.test/ HTTP/1.1\r\nHost: api.example.test\r\n\r\n', 400);
    refusedWith('GET * HTTP/1.1\r\nHost: api.example.test\r\n\r\n', 400);
    refusedWith('GET http://api.example.test/#frag HTTP/1.1\r\nHost: api.example.test\r\n\r\n', 400);
  });

  test('userinfo in the URL is refused', () => {
    refusedWith('GET http://user@api.example.test/ HTTP/1.1\r\nHost: api.example.test\r\n\r\n', 400, /not allowed/);
    refusedWith('GET http://user:pw@api.example.test/ HTTP/1.1\r\nHost: api.example.test\r\n\r\n', 400);
    refusedWith('GET http://evil.test\\@api.example.test/ HTTP/1.1\r\nHost: api.example.test\r\n\r\n', 400);
  });

  test('control bytes and bare line feeds are refused', () => {
    refusedWith('GET http://api.example.test/ HTTP/1.1\nHost: api.example.test\r\n\r\n', 400, /bare line feeds/);
    refusedWith('GET http://api.example.test/ HTTP/1.1\r\nHost: api.example.test\nX: y\r\n\r\n', 400, /bare line feeds/);
    refusedWith('GET http://api.example.test/ HTTP/1.1\r\nHost: api.example.test\r\nX: a\u0000b\r\n\r\n', 400, /control bytes/);
    refusedWith('GET http://api.example.test/ HTTP/1.1\r\nHost: api.example.test\r\nX: a\u007fb\r\n\r\n', 400, /control bytes/);
    refusedWith('GET http://api.example.test/ HTTP/1.1\r\nHost: api.example.test\r\nX: a\u0001b\r\n\r\n', 400, /header X has control bytes/);
    refusedWith('GET http://api.example.test/ HTTP/1.1\r\nHost: api.example.test\r\nX: a\rb\r\n\r\n', 400, /malformed header/);
  });

  test('a tab inside a header value is allowed', () => {
    assert.match(head(parse('GET http://api.example.test/ HTTP/1.1\r\nHost: api.example.test\r\nX: a\tb\r\n\r\n')), /\r\nX: a\tb\r\n/);
  });

  test('malformed request lines and header lines are refused', () => {
    refusedWith('GET http://api.example.test/ HTTP/2.0\r\nHost: api.example.test\r\n\r\n', 400, /not an HTTP\/1\.x request line/);
    refusedWith('get http://api.example.test/ HTTP/1.1\r\nHost: api.example.test\r\n\r\n', 400, /request line/);
    refusedWith('GET  http://api.example.test/ HTTP/1.1\r\nHost: api.example.test\r\n\r\n', 400, /request line/);
    refusedWith('GET http://api.example.test/ HTTP/1.1\r\nHost : api.example.test\r\n\r\n', 400, /malformed header line/);
    refusedWith('GET http://api.example.test/ HTTP/1.1\r\nHost: api.example.test\r\n folded\r\n\r\n', 400, /malformed header line/);
  });

  test('a Host header with a bad port or userinfo is refused with 400', () => {
    refusedWith('GET http://api.example.test/ HTTP/1.1\r\nHost: api.example.test:99999\r\n\r\n', 400);
    refusedWith('GET http://api.example.test/ HTTP/1.1\r\nHost: u@api.example.test\r\n\r\n', 400);
  });

  test('a body length two parsers could read differently is refused: CL with TE, two or malformed CLs, TE not ending in chunked, TE on 1.0', () => {
    const post = (headers: string, version = '1.1') => `POST http://api.example.test/ HTTP/${version}\r\nHost: api.example.test\r\n${headers}\r\n`;
    refusedWith(post('Content-Length: 5\r\nTransfer-Encoding: chunked\r\n'), 400, /both Content-Length and Transfer-Encoding/);
    refusedWith(post('Transfer-Encoding: chunked\r\nContent-Length: 0\r\n'), 400, /both Content-Length and Transfer-Encoding/);
    refusedWith(post('Content-Length: 5\r\nContent-Length: 6\r\n'), 400, /more than one Content-Length/);
    refusedWith(post('Content-Length: 5\r\ncontent-length: 5\r\n'), 400, /more than one Content-Length/);
    refusedWith(post('Content-Length: 5, 5\r\n'), 400, /is not a number/);
    refusedWith(post('Content-Length: +5\r\n'), 400, /is not a number/);
    refusedWith(post('Content-Length: 0x10\r\n'), 400, /is not a number/);
    refusedWith(post('Transfer-Encoding: gzip\r\n'), 400, /does not end in a single chunked/);
    refusedWith(post('Transfer-Encoding: chunked, gzip\r\n'), 400, /does not end in a single chunked/);
    refusedWith(post('Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n'), 400, /does not end in a single chunked/);
    refusedWith(post('Transfer-Encoding: xchunked\r\n'), 400, /does not end in a single chunked/);
    refusedWith(post('Transfer-Encoding: chunked\r\n', '1.0'), 400, /HTTP\/1\.0 request cannot use Transfer-Encoding/);
  });

  test('one plain Content-Length, or a transfer coding list ending in one chunked, is forwarded as it came', () => {
    assert.match(head(parse('POST http://api.example.test/ HTTP/1.1\r\nHost: api.example.test\r\nContent-Length: 11\r\n\r\n')), /\r\nContent-Length: 11\r\n/);
    assert.match(head(parse('POST http://api.example.test/ HTTP/1.1\r\nHost: api.example.test\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n')), /\r\nTransfer-Encoding: gzip, Chunked\r\n/);
    assert.equal(parse('CONNECT api.example.test:443 HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n').kind, 'connect');
  });
});

describe('headEnd', () => {
  test('the index just after CRLFCRLF, or -1', () => {
    assert.equal(headEnd(Buffer.from('GET / HTTP/1.1\r\n\r\nbody')), 18);
    assert.equal(headEnd(Buffer.from('GET / HTTP/1.1\r\n')), -1);
    assert.equal(headEnd(Buffer.from('GET / HTTP/1.1\n\n')), -1);
    assert.equal(MAX_HEAD_BYTES, 16 * 1024);
  });
});

describe('proxyResponse', () => {
  const split = (response: Buffer) => {
    const text = response.toString('utf8');
    const end = text.indexOf('\r\n\r\n');
    return { head: text.slice(0, end), body: response.subarray(Buffer.byteLength(text.slice(0, end + 4))) };
  };

  test('a 403 is a complete response whose Content-Length matches the body', () => {
    const { head: responseHead, body } = split(proxyResponse(403, 'api.example.test:443 is not allowed'));
    const lines = responseHead.split('\r\n');
    assert.equal(lines[0], 'HTTP/1.1 403 Forbidden');
    assert.ok(lines.includes('X-Airlock-Decision: deny'));
    assert.ok(lines.includes('Connection: close'));
    assert.ok(lines.includes('Content-Type: text/plain; charset=utf-8'));
    const length = Number(/^Content-Length: (\d+)$/m.exec(responseHead)?.[1]);
    assert.equal(body.toString('utf8'), 'airlock: api.example.test:443 is not allowed\n');
    assert.equal(length, body.length);
  });

  test('Content-Length counts bytes, not characters', () => {
    const { head: responseHead, body } = split(proxyResponse(502, 'bücher — ☃'));
    assert.equal(Number(/Content-Length: (\d+)/.exec(responseHead)?.[1]), body.length);
    assert.equal(body.toString('utf8'), 'airlock: bücher — ☃\n');
  });

  test('status lines and the decision header for other statuses', () => {
    const status = (code: number) => proxyResponse(code, 'x').toString('latin1').split('\r\n')[0];
    assert.equal(status(400), 'HTTP/1.1 400 Bad Request');
    assert.equal(status(431), 'HTTP/1.1 431 Request Header Fields Too Large');
    assert.equal(status(502), 'HTTP/1.1 502 Bad Gateway');
    assert.equal(status(503), 'HTTP/1.1 503 Service Unavailable');
    assert.equal(status(504), 'HTTP/1.1 504 Gateway Timeout');
    assert.equal(status(418), 'HTTP/1.1 418 Error');
    assert.match(proxyResponse(503, 'x').toString('latin1'), /\r\nX-Airlock-Decision: error\r\n/);
  });

  test('CONNECT_ESTABLISHED is the 200 line and an empty head', () => {
    assert.equal(CONNECT_ESTABLISHED.toString('latin1'), 'HTTP/1.1 200 Connection Established\r\n\r\n');
  });
});

describe('relay frames', () => {
  const frame = (type: FrameType, id: number, payload = Buffer.alloc(0)) => Buffer.concat([frameHeader(type, id, payload.length), payload]);
  const collect = () => {
    const frames: Array<{ type: number; id: number; payload: string }> = [];
    const decoder = new FrameDecoder((type, id, payload) => frames.push({ type, id, payload: payload.toString('utf8') }));
    return { frames, decoder };
  };

  test('frameHeader lays out type, id and length big-endian', () => {
    assert.deepEqual([...frameHeader(FRAME.DATA, 0x01020304, 0x0a0b0c0d)], [2, 1, 2, 3, 4, 0x0a, 0x0b, 0x0c, 0x0d]);
    assert.equal(FRAME_HEADER_BYTES, 9);
  });

  const stream = Buffer.concat([
    frame(FRAME.OPEN, 7),
    frame(FRAME.DATA, 7, Buffer.from('CONNECT a.test:443 HTTP/1.1\r\n\r\n')),
    frame(FRAME.DATA, 0xfffffff0, Buffer.from('héllo')),
    frame(FRAME.END, 7),
    frame(FRAME.CLOSE, 7),
  ]);
  const expected = [
    { type: FRAME.OPEN, id: 7, payload: '' },
    { type: FRAME.DATA, id: 7, payload: 'CONNECT a.test:443 HTTP/1.1\r\n\r\n' },
    { type: FRAME.DATA, id: 0xfffffff0, payload: 'héllo' },
    { type: FRAME.END, id: 7, payload: '' },
    { type: FRAME.CLOSE, id: 7, payload: '' },
  ];

  test('frames in one chunk', () => {
    const { frames, decoder } = collect();
    decoder.push(stream);
    assert.deepEqual(frames, expected);
  });

  test('frames fed byte by byte reassemble', () => {
    const { frames, decoder } = collect();
    for (let at = 0; at < stream.length; at++) decoder.push(stream.subarray(at, at + 1));
    assert.deepEqual(frames, expected);
  });

  test('frames split at every possible boundary pair reassemble', () => {
    for (let first = 1; first < stream.length; first += 3) {
      for (let second = first; second < stream.length; second += 5) {
        const { frames, decoder } = collect();
        decoder.push(stream.subarray(0, first));
        decoder.push(stream.subarray(first, second));
        decoder.push(stream.subarray(second));
        assert.deepEqual(frames, expected, `split at ${first}, ${second}`);
      }
    }
  });

  test('a frame of exactly the maximum payload is accepted', () => {
    const { frames, decoder } = collect();
    const payload = Buffer.alloc(MAX_FRAME_PAYLOAD, 0x61);
    const big = frame(FRAME.DATA, 1, payload);
    decoder.push(big.subarray(0, 100_000));
    decoder.push(big.subarray(100_000));
    assert.equal(frames.length, 1);
    assert.equal(frames[0].payload.length, MAX_FRAME_PAYLOAD);
  });

  test('an oversized length throws FrameError as soon as the header is complete', () => {
    const { frames, decoder } = collect();
    const header = frameHeader(FRAME.DATA, 1, MAX_FRAME_PAYLOAD + 1);
    decoder.push(header.subarray(0, 5));
    assert.throws(() => decoder.push(header.subarray(5)), FrameError);
    assert.deepEqual(frames, []);
  });

  test('an unknown frame type throws FrameError', () => {
    const { decoder } = collect();
    const header = frameHeader(FRAME.PING, 1, 0);
    header[0] = FRAME.SHUTDOWN + 1;
    assert.throws(() => decoder.push(header), /unknown frame type 9/);
    const other = collect();
    const bad = frameHeader(FRAME.PING, 1, 0);
    bad[0] = 0xff;
    assert.throws(() => other.decoder.push(Buffer.concat([frame(FRAME.OPEN, 1), bad])), FrameError);
    assert.deepEqual(other.frames, [{ type: FRAME.OPEN, id: 1, payload: '' }]);
  });
});
