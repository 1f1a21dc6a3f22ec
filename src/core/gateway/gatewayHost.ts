import * as dns from 'node:dns';
import type * as net from 'node:net';
import { ApprovalQueue } from '../approvals/approvalQueue.js';
import type { EngineConnection } from '../engine/locateEngine.js';
import { AirlockError } from '../ground/errors.js';
import type { TaskStore } from '../state/taskStore.js';
import type { Asker, Resolver } from '../egress/egressBroker.js';
import { EgressGateway, type GatewayOptions } from '../egress/egressGateway.js';
import type { NetworkPhase } from '../egress/egressRules.js';
import { egressSettingsSchema } from '../egress/egressSettings.js';
import { MAX_SOCKET_PATH, serveControl } from '../egress/gatewayControl.js';
import { refreshLiveRules } from '../policy/livePolicy.js';
import { policyFilesFor, watchPolicyFiles } from '../policy/policyWatcher.js';

/** A byte count read back from the audit log; anything but a plain count adds nothing. */
const byteCount = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : 0);

export const systemResolver: Resolver = async (host) => (await dns.promises.lookup(host, { all: true, verbatim: true })).map((entry) => entry.address);

/**
 * A resolver that answers from a fixed map for the names it holds, for tests that serve fake
 * destinations on loopback (AIRLOCK_TEST_RESOLVE='{"api.example.test":"127.0.0.1"}'). Names in the
 * map still pass every address check; anything else goes to the system resolver.
 */
export function resolverFromEnv(env: NodeJS.ProcessEnv = process.env): Resolver {
  const text = env.AIRLOCK_TEST_RESOLVE;
  if (!text) return systemResolver;
  const map = JSON.parse(text) as Record<string, string | string[]>;
  return async (host, signal) => {
    const entry = map[host];
    if (entry === undefined) return systemResolver(host, signal);
    return Array.isArray(entry) ? entry : [entry];
  };
}

export interface HostedGateway {
  gateway: EgressGateway;
  /** Settles with the reason once the gateway has stopped and its socket is gone; rejects when stopping failed. */
  done: Promise<string>;
  /** A failure is also the rejection of `done`, so whoever waits there hears of it. */
  stop(reason?: string): Promise<void>;
}

export interface HostGatewayOptions {
  engine: EngineConnection;
  store: TaskStore;
  taskId: string;
  phase: NetworkPhase;
  resolve?: Resolver;
  dial?: GatewayOptions['dial'];
  signal?: AbortSignal;
}

/**
 * Runs a task's egress gateway in this process and answers control requests for it. The CLI runs
 * this in a detached `airlock gateway` process; tests and the extension may host it in-process.
 */
export async function hostGateway(options: HostGatewayOptions): Promise<HostedGateway> {
  const { store, taskId } = options;
  const record = store.resolve(taskId);
  const settings = egressSettingsSchema.parse(record.options.egress ?? {});
  const audit = store.audit(record.id);
  const { socket, approvalsDir } = store.gatewayFiles(record.id);
  if (socket.length > MAX_SOCKET_PATH) throw new AirlockError(`the gateway's control socket path is too long for a Unix socket (${socket.length} bytes): ${socket}`, { code: 'gateway.socketPathTooLong', hint: 'Set AIRLOCK_STATE_DIR to a shorter folder.', field: 'AIRLOCK_STATE_DIR' });
  const queue = new ApprovalQueue(approvalsDir, record.id, audit);
  const ask: Asker = async (request, signal) => {
    const pending = queue.request({ kind: 'network', subject: request.target, reason: request.reason, phase: request.phase, requestedBy: 'a program in the box (through its egress gateway)' }, settings.approvalTimeoutSeconds * 1000);
    const decided = await queue.wait(pending, signal);
    return { answer: decided.decision === 'deny' ? 'deny' : decided.scope, request: pending.id };
  };
  const gateway = await EgressGateway.open({
    container: options.engine.docker.getContainer(record.containerId),
    sandboxUser: record.user,
    settings,
    phase: options.phase,
    resolve: options.resolve ?? systemResolver,
    dial: options.dial,
    ask,
    log: (entry) => audit.append({ task: record.id, ...entry }),
    signal: options.signal,
    bytesUsed: audit.records().reduce((sum, entry) => (entry.type === 'network' ? sum + byteCount(entry.bytesUp) + byteCount(entry.bytesDown) : sum), 0),
  });
  audit.append({ type: 'network.gateway', task: record.id, event: 'started', pid: process.pid, relayPid: gateway.relayPid });
  // New connections follow tightenings of the repository policy (or a machine floor) at once.
  const follow = () => gateway.broker.useRules(refreshLiveRules(store, record).rules.egress);
  follow();
  const watch = watchPolicyFiles(policyFilesFor(record.workspace), follow);
  let server: net.Server | undefined;
  let stopFailed: (error: unknown) => void = () => undefined;
  const failure = new Promise<never>((_resolve, reject) => (stopFailed = reject));
  const stop = async (reason = 'gateway stopped') => {
    try {
      await gateway.close(reason);
    } catch (error) {
      stopFailed(error);
      throw error;
    }
  };
  try {
    server = await serveControl(socket, async (request) => {
      if (request.op === 'phase') {
        const from = gateway.broker.phase;
        const closed = gateway.setPhase(request.phase);
        if (from !== request.phase) audit.append({ type: 'network.phase', task: record.id, from, to: request.phase, closedConnections: closed });
        return { ok: true, phase: gateway.broker.phase, closedConnections: closed };
      }
      // Answered first, then stopped; a failure to stop reaches whoever waits on `done`.
      if (request.op === 'shutdown') setImmediate(() => void stop('stopped by request').catch(() => undefined));
      return { ok: true, phase: gateway.broker.phase, connections: gateway.broker.openConnections, pid: process.pid, relayPid: gateway.relayPid };
    });
  } catch (error) {
    await watch.close();
    await gateway.close('control socket failed');
    throw error;
  }
  const done = Promise.race([gateway.closed, failure]).then(
    async (reason) => {
      server?.close();
      await watch.close();
      audit.append({ type: 'network.gateway', task: record.id, event: 'stopped', pid: process.pid, reason });
      return reason;
    },
    async (error: unknown) => {
      server?.close();
      await watch.close().catch(() => undefined);
      throw error;
    },
  );
  // Handled here as well: an in-process host that never waits on `done` must not die of it.
  done.catch(() => undefined);
  return { gateway, done, stop };
}
