import type Docker from 'dockerode';
import { inBoxCommand } from './inBoxProgram.js';

/**
 * Runs a short housekeeping command of Airlock's in a container as `user` and waits for it to
 * finish; its output is discarded. Nothing from the container's environment reaches it: it may run
 * as a user the sandbox must not become (the relay's), and a preloaded library could undo a kill.
 */
export async function execToEnd(container: Docker.Container, argv: string[], user: string): Promise<void> {
  const { Env, Cmd } = await inBoxCommand(container, argv);
  const exec = await container.exec({ Cmd, Env, User: user, WorkingDir: '/', AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  await new Promise<void>((resolve) => {
    stream.on('end', resolve).on('close', resolve).on('error', () => resolve());
    stream.resume();
  });
}
