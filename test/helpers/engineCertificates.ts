import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

export interface EngineCertificates {
  /** ca.pem, cert.pem and key.pem for the client, named as DOCKER_CERT_PATH wants them. */
  clientDir: string;
  caFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  /** A second authority's ca.pem (with the same client pair): a client trusting it must refuse the engine. */
  otherCaDir: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'ignore' });
}

function authority(dir: string, name: string): void {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}-key.pem`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=airlock test ${name}`], dir);
}

/** A key and a certificate signed by ca.pem, for `usage` (serverAuth or clientAuth). */
function signed(dir: string, name: string, usage: string, altName?: string): void {
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}-key.pem`, '-out', `${name}.csr`, '-subj', `/CN=airlock test ${name}`], dir);
  fs.writeFileSync(path.join(dir, `${name}.ext`), `extendedKeyUsage=${usage}\n${altName ? `subjectAltName=${altName}\n` : ''}`);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-out', `${name}-cert.pem`, '-days', '2', '-extfile', `${name}.ext`], dir);
}

/**
 * What `dockerd --tlsverify` and a docker client need, made fresh (EC P-256, two days): a CA, a
 * server certificate for 127.0.0.1 and a client certificate, both signed by it, as the Docker docs
 * lay them out.
 */
export function makeEngineCertificates(dir: string): EngineCertificates {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  authority(dir, 'ca');
  signed(dir, 'server', 'serverAuth', 'IP:127.0.0.1');
  signed(dir, 'client', 'clientAuth');
  const clientDir = path.join(dir, 'client');
  fs.mkdirSync(clientDir, { mode: 0o700 });
  fs.copyFileSync(path.join(dir, 'ca.pem'), path.join(clientDir, 'ca.pem'));
  fs.copyFileSync(path.join(dir, 'client-cert.pem'), path.join(clientDir, 'cert.pem'));
  fs.copyFileSync(path.join(dir, 'client-key.pem'), path.join(clientDir, 'key.pem'));
  const other = path.join(dir, 'other');
  fs.mkdirSync(other, { mode: 0o700 });
  authority(other, 'ca');
  const otherCaDir = path.join(dir, 'other-client');
  fs.mkdirSync(otherCaDir, { mode: 0o700 });
  fs.copyFileSync(path.join(other, 'ca.pem'), path.join(otherCaDir, 'ca.pem'));
  fs.copyFileSync(path.join(dir, 'client-cert.pem'), path.join(otherCaDir, 'cert.pem'));
  fs.copyFileSync(path.join(dir, 'client-key.pem'), path.join(otherCaDir, 'key.pem'));
  return { clientDir, caFile: path.join(dir, 'ca.pem'), serverCertFile: path.join(dir, 'server-cert.pem'), serverKeyFile: path.join(dir, 'server-key.pem'), otherCaDir };
}

/** A loopback port nothing listens on right now (the kernel's pick, released at once). */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
