/**
 * The engine client libraries, in one module so the bundles keep them in one file of their own
 * (dist/dockerode.js), loaded on the first connection: dockerode, and the ssh2 client it brings,
 * which Airlock drives itself for ssh:// engines (sshTransport.ts).
 */
export { default as Docker } from 'dockerode';
export { Client as SshClient } from 'ssh2';
