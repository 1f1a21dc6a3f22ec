import type { Duplex } from 'node:stream';
import type Docker from 'dockerode';
import { z } from 'zod';
import { AirlockError, CancelledError } from '../ground/errors.js';
import { execToEnd } from '../exec/execToEnd.js';
import { inBoxProgram } from '../exec/inBoxProgram.js';
import { sandboxProgram } from '../exec/sandboxPrograms.js';
import { EgressBroker, type Asker, type BrokerRecord, type Resolver } from './egressBroker.js';
import type { NetworkPhase } from './egressRules.js';
import { EGRESS_PROXY_PORT, type EgressSettings } from './egressSettings.js';
import { readRelayStream, relayLinkSender } from './relayLink.js';
import { FRAME, frameHeader, type FrameType } from './relayProtocol.js';

export interface GatewayOptions {
  container: Docker.Container;
  /** The sandbox's own uid:gid; the relay runs as a different one so the sandbox cannot signal or trace it. */
  sandboxUser: string;
  settings: EgressSettings;
  phase: NetworkPhase;
  resolve: Resolver;
  ask?: Asker;
  log: (record: BrokerRecord) => void;
  dial?: ConstructorParameters<typeof EgressBroker>[1]['dial'];
  port?: number;
  signal?: AbortSignal;
  /** Bytes this task already moved (a restarted gateway continues the budget). */
  bytesUsed?: number;
}

const READY_TIMEOUT_MS = 20_000;
/** The relay's READY payload, from inside the task: only its pid is read, and only to report it. */
const readyPayloadSchema = z.object({ pid: z.number().int().positive() });
const PING_INTERVAL_MS = 5_000;
const STDERR_TAIL = 4096;

export function relayUser(sandboxUser: string): string {
  return sandboxUser.split(':')[0] === '65534' ? '65533:65533' : '65534:65534';
}

/**
 * One task's egress: the relay process inside the task (an engine exec) joined to an EgressBroker
 * on this host. Lives until `close()` or until the task's container goes away.
 */
export class EgressGateway {
  readonly closed: Promise<string>;
  private readonly heartbeat: NodeJS.Timeout;
  private ended = false;

  /** `closeReason.text` is why close() was called, reported instead of the generic "relay ended". */
  private constructor(private readonly stream: Duplex, readonly broker: EgressBroker, closed: Promise<string>, readonly relayPid: number, private readonly closeReason: { text?: string }) {
    this.closed = closed;
    this.heartbeat = setInterval(() => this.write(FRAME.PING, 0), PING_INTERVAL_MS).unref();
    void closed.then(() => clearInterval(this.heartbeat));
  }

  static async open(options: GatewayOptions): Promise<EgressGateway> {
    const port = options.port ?? EGRESS_PROXY_PORT;
    await EgressGateway.endEarlierRelays(options.container, relayUser(options.sandboxUser));
    // Nothing from the task's environment (LD_AUDIT, NODE_OPTIONS…, from the image, a policy or a
    // devcontainer) may reach the loader or node in the relay: it runs as a uid the sandbox must not become.
    const program = await inBoxProgram(options.container, sandboxProgram('relay'), [String(port)]);
    const exec = await options.container.exec({
      Cmd: program.Cmd,
      Env: program.Env,
      User: relayUser(options.sandboxUser),
      WorkingDir: '/',
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
    });
    const stream = await exec.start({ hijack: true, stdin: true });
    let stderrTail = '';
    let gateway: EgressGateway | undefined;
    let broker: EgressBroker | undefined;
    const link = relayLinkSender(stream);
    const closeReason: { text?: string } = {};
    let resolveClosed!: (reason: string) => void;
    const closed = new Promise<string>((resolve) => (resolveClosed = resolve));
    return await new Promise<EgressGateway>((resolve, reject) => {
      const fail = (error: Error) => {
        clearTimeout(timer);
        stream.destroy();
        reject(error);
      };
      const timer = setTimeout(() => fail(new AirlockError(`the egress relay did not start within ${READY_TIMEOUT_MS / 1000} s: ${stderrTail.trim()}`, { code: 'relay.notStarted', hint: 'Check that the task image has node; the doctor shows the engine state.', field: 'network', actions: [{ kind: 'runDoctor' }] })), READY_TIMEOUT_MS);
      options.signal?.addEventListener('abort', () => fail(new CancelledError()), { once: true });
      readRelayStream(stream, {
        frame: (type, id, payload) => {
          if (type === FRAME.READY && !gateway) {
            clearTimeout(timer);
            broker = new EgressBroker(link, { settings: options.settings, phase: options.phase, resolve: options.resolve, ask: options.ask, log: options.log, dial: options.dial, bytesUsed: options.bytesUsed });
            let pid = 0;
            try {
              pid = readyPayloadSchema.parse(JSON.parse(payload.toString('utf8'))).pid;
            } catch {
              // the pid is only informative
            }
            gateway = new EgressGateway(stream, broker, closed, pid, closeReason);
            resolve(gateway);
            return;
          }
          broker?.handleFrame(type, id, payload);
        },
        stderr: (text) => {
          stderrTail = (stderrTail + text).slice(-STDERR_TAIL);
        },
        // A relay that sends frames no honest relay sends is cut off (the stream is destroyed): fail closed.
        protocolError: (message) => {
          stderrTail += `\nprotocol error: ${message}`;
        },
      });
      stream.on('drain', () => broker?.onLinkDrain());
      const onEnd = () => {
        broker?.close('task ended');
        if (!gateway) {
          clearTimeout(timer);
          const missingNode = /not found|No such file/i.test(stderrTail);
          reject(missingNode
            ? new AirlockError('network: allowlist mode needs node in the task image (the egress relay runs on it)', {
              code: 'relay.needsNode',
              hint: 'Use an image with node (e.g. the default node:22-bookworm), or set the network to "deny".',
              field: 'network',
              actions: [{ kind: 'changeSetting', setting: 'image' }, { kind: 'changeSetting', setting: 'network', value: 'deny' }],
            })
            : new AirlockError(`the egress relay stopped before it was ready: ${stderrTail.trim() || 'no output'}`, {
              code: 'relay.stopped',
              hint: 'Check the engine with the doctor; if port 3128 is taken inside the task, the relay cannot listen.',
              field: 'network',
              actions: [{ kind: 'runDoctor' }],
            }));
        }
        resolveClosed(closeReason.text ?? (stderrTail.trim() ? `relay ended: ${stderrTail.trim().split('\n').pop()}` : 'relay ended (the task stopped)'));
      };
      stream.on('end', onEnd);
      stream.on('close', onEnd);
      stream.on('error', onEnd);
    });
  }

  /**
   * A relay left by a gateway that died may still hold the port (it exits once it misses pings).
   * `kill -1` as the relay's own uid reaches only processes of that uid: never the sandbox user's.
   */
  private static endEarlierRelays(container: Docker.Container, user: string): Promise<void> {
    return execToEnd(container, ['sh', '-c', 'kill -9 -1 2>/dev/null; exit 0'], user);
  }

  private write(type: FrameType, id: number): void {
    if (!this.ended && !this.stream.destroyed) this.stream.write(frameHeader(type, id, 0));
  }

  setPhase(phase: NetworkPhase): number {
    return this.broker.setPhase(phase);
  }

  /** Closes every connection, stops the relay and waits for its stream to end. */
  async close(reason = 'gateway stopped'): Promise<void> {
    this.closeReason.text ??= reason;
    this.broker.close(reason);
    this.write(FRAME.SHUTDOWN, 0);
    this.ended = true;
    clearInterval(this.heartbeat);
    this.stream.end();
    const timer = setTimeout(() => this.stream.destroy(), 2000);
    await this.closed;
    clearTimeout(timer);
  }
}
