import type Docker from 'dockerode';

/** Runs a short housekeeping command in a container as `user` and waits for it to finish; its output is discarded. */
export async function execToEnd(container: Docker.Container, argv: string[], user: string): Promise<void> {
  const exec = await container.exec({ Cmd: argv, User: user, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  await new Promise<void>((resolve) => {
    stream.on('end', resolve).on('close', resolve).on('error', () => resolve());
    stream.resume();
  });
}
