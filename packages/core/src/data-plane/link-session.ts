import { X509Certificate } from 'node:crypto';
import { hostname as osHostname } from 'node:os';
import type { TelemetryQueue } from '../analytics/telemetry-queue.ts';
import type { Clock, TimerId } from '../clock.ts';
import { LatestSlot } from '../config/latest-slot.ts';
import type { DataPlaneConfigMachine } from '../config/state-machine.ts';
import { HeartbeatTimeoutError, PeerRefusedError, TrustError } from '../errors.ts';
import { type Logger, logSafely } from '../host/logger.ts';
import { closeForFailure } from '../protocol/failure.ts';
import type { SyncStatus } from '../protocol/messages.ts';
import type { ConfigOffer, ControlPlaneMessage, DataPlaneLink } from '../protocol/wire-protocol.ts';
import { CloseCode, type CloseInfo, type Connection } from '../transport/contract.ts';
import { handleFrame } from '../transport/handle-frame.ts';
import type { TrustResult } from '../trust/verifier.ts';
import { type ApplyContext, applyOffer, cacheReport } from './apply.ts';
import type { ConfigCache } from './config-cache.ts';
import type { ConnectionMachine } from './connection-machine.ts';
import type {
  DataPlaneEvents,
  DataPlaneSettings,
  DataPlaneState,
  DialingOptions,
} from './options.ts';

/** What one link works with: the DataPlane's parts. */
export interface LinkRuntime {
  options: DialingOptions<unknown>;
  settings: DataPlaneSettings;
  clock: Clock;
  nodeId: string;
  configs: DataPlaneConfigMachine;
  connection: ConnectionMachine;
  cache: ConfigCache;
  telemetry: TelemetryQueue;
  apply: ApplyContext;
  /** Where the link's warnings go (the DataPlane's logger). */
  logger: Logger;
  /** The link up now, for a heartbeat after a config loaded by hand. */
  live: { connection: Connection; link: DataPlaneLink } | undefined;
  setSyncStatus(status: SyncStatus): void;
  setProtocol(protocol: string): void;
  /** The DP's state as `dp.status` shows it. */
  status(): DataPlaneState;
  announce<E extends keyof DataPlaneEvents>(
    event: E,
    ...args: Parameters<DataPlaneEvents[E]>
  ): void;
  report(error: unknown): void;
  /** A failed attempt: to the error listeners, or logged once while it repeats. */
  reportAttempt(error: unknown): void;
}

/** Sends a heartbeat carrying what the DP serves and caches. */
export function heartbeat(runtime: LinkRuntime, link: DataPlaneLink): Promise<void> {
  const active = runtime.configs.active!;
  return link.heartbeat({
    version: active.version,
    hash: active.hash,
    ...cacheReport(runtime.cache),
  });
}

/**
 * One connection, from dial to close: dials with what the protocol asks, judges the CP's
 * chain before saying anything, says who this DP is, then reads the CP's messages — applying
 * configs one at a time (the newest waiting), heartbeats on a timer, the link dead after the
 * heartbeat timeout. Resolves with how it closed and whether it had connected; a failed dial
 * throws.
 */
export async function runLink(
  runtime: LinkRuntime,
  signal: AbortSignal,
): Promise<{ close: CloseInfo; wasConnected: boolean }> {
  const { options, settings, nodeId } = runtime;
  const { protocol } = settings;
  const hostname = options.hostname ?? osHostname();
  runtime.connection.connecting();
  let connection: Connection;
  try {
    const dial = protocol.dataPlane.dial({ nodeId, hostname, version: options.version });
    connection = await options.transport.connect({ ...dial, signal });
  } catch (error) {
    runtime.connection.disconnected();
    if (error instanceof PeerRefusedError)
      runtime.announce('rejected', { code: error.reason, message: error.message });
    throw error;
  }
  if (signal.aborted) {
    // stop() came as the dial completed: this link is not wanted, and stop() waits for it.
    runtime.connection.disconnected();
    await connection.close(CloseCode.NORMAL, 'data plane stopping');
    return { close: await connection.closed, wasConnected: false };
  }
  const trust = verifyControlPlane(runtime, connection);
  if (!trust.ok) {
    runtime.connection.disconnected();
    runtime.announce('rejected', { code: trust.code, message: trust.message });
    runtime.reportAttempt(
      new TrustError(trust.code, `control plane not trusted: ${trust.message}`),
    );
    await connection.close(CloseCode.POLICY_VIOLATION, trust.code);
    return { close: await connection.closed, wasConnected: false };
  }
  const link = protocol.dataPlane.open(connection);
  runtime.live = { connection, link };
  const certificate = new ChainExpiry(runtime, connection, trust.expiresAt.getTime());
  certificate.check();
  // A chain that runs out before the next heartbeat is looked at when it does (1 ms past
  // notAfter, which the verifier still takes), not up to heartbeatIntervalMs later.
  const runsOutIn = trust.expiresAt.getTime() - runtime.clock.now() + 1;
  const expiryTimer =
    runsOutIn < settings.heartbeatIntervalMs
      ? runtime.clock.setTimeout(() => certificate.check(), Math.max(0, runsOutIn))
      : undefined;
  runtime.configs.startSession();
  const fail = (error: unknown) => {
    const failure = closeForFailure(connection, error);
    if (failure) runtime.report(failure);
  };
  const timers = new LinkTimers(runtime.clock, settings, {
    heartbeat: () => {
      if (!certificate.check()) return;
      runtime.cache.retry(runtime.configs.active);
      void heartbeat(runtime, link).catch(() => undefined);
    },
    dead: () => {
      runtime.report(
        new HeartbeatTimeoutError(
          `no frame from the control plane for ${settings.heartbeatTimeoutMs} ms`,
        ),
      );
      void connection.close(CloseCode.GOING_AWAY, 'heartbeat timeout');
    },
  });
  let refused = false;
  const configs = new LatestSlot<ConfigOffer>(
    (offer, signal) => applyOffer(runtime.apply, offer, link, signal),
    fail,
  );
  const handle = (message: ControlPlaneMessage) => {
    switch (message.type) {
      case 'accepted':
        runtime.setSyncStatus(message.syncStatus);
        runtime.setProtocol(message.protocol);
        runtime.connection.connected();
        if (link.sendTelemetry) runtime.telemetry.attach((batch) => link.sendTelemetry!(batch));
        runtime.announce('connected', runtime.status());
        return;
      case 'refused':
        refused = true;
        if (message.syncStatus) runtime.setSyncStatus(message.syncStatus);
        runtime.announce('rejected', {
          code: message.code,
          message: message.message,
          ...(message.syncStatus ? { syncStatus: message.syncStatus } : {}),
        });
        return;
      case 'config':
        configs.offer(message.offer);
        return;
      case 'telemetryAcknowledged':
        runtime.telemetry.acknowledged(message.batch);
        return;
      case 'heartbeatAnswered':
        return;
    }
  };
  try {
    // Listening first: a protocol without a welcome may accept the DP as soon as it speaks.
    link.listen?.((message) => {
      timers.frameReceived();
      try {
        handle(message);
      } catch (error) {
        fail(error);
      }
    });
    const active = runtime.configs.active!;
    await link.identify({
      nodeId,
      hostname,
      version: options.version,
      labels: { ...(options.labels ?? {}) },
      plugins: [...(options.plugins ?? [])],
      configHash: active.hash,
      configVersion: active.version,
      ...cacheReport(runtime.cache),
    });
    timers.start();
    // Not `for await`: see handleFrame.
    const frames = connection[Symbol.asyncIterator]();
    const receive = (link: DataPlaneLink, frame: Uint8Array) => {
      timers.frameReceived();
      handle(link.read(frame));
    };
    for (let next = await frames.next(); !next.done; next = await frames.next())
      await handleFrame(frames, next, link, receive);
  } catch (error) {
    fail(error);
  } finally {
    timers.stop();
    if (expiryTimer !== undefined) runtime.clock.clearTimeout(expiryTimer);
    // A config being read is abandoned; one being applied and saved finishes first, so a
    // stop() that resolves leaves no store write behind.
    configs.close();
    await configs.idle();
    runtime.telemetry.detach();
    runtime.live = undefined;
  }
  const { wasConnected } = runtime.connection.disconnected();
  const close = await connection.closed;
  // A CP that refuses this DP (untrusted certificate) closes with 1008 and the reason.
  if (!refused && close.initiator === 'remote' && close.code === CloseCode.POLICY_VIOLATION) {
    runtime.announce('rejected', {
      code: close.reason || 'POLICY_VIOLATION',
      message: 'the control plane refused this data plane',
    });
  }
  return { close, wasConnected };
}

/**
 * The CP chain of one link, looked at on connecting and at each heartbeat: announced once
 * when it runs out within `certificateWarningMs`, the link closed once it has run out.
 */
class ChainExpiry {
  #warned = false;
  /** When this DP's own certificate on the link runs out, once read; told once per link. */
  #own: { expiresAt: number; warned: boolean } | undefined;
  /** Told and closed once: the expiry timer and a heartbeat may both find it run out. */
  #ended = false;

  constructor(
    private readonly runtime: LinkRuntime,
    private readonly connection: Connection,
    private readonly expiresAt: number,
  ) {}

  /** Whether the link may go on. */
  check(): boolean {
    const { runtime, expiresAt } = this;
    const now = runtime.clock.now();
    if (expiresAt <= now) {
      if (this.#ended) return false;
      this.#ended = true;
      const message = `the control plane's certificate chain ran out at ${new Date(expiresAt).toISOString()}`;
      runtime.announce('rejected', { code: 'TRUST_EXPIRED', message });
      runtime.report(new TrustError('TRUST_EXPIRED', message));
      void this.connection
        .close(CloseCode.POLICY_VIOLATION, 'TRUST_EXPIRED')
        .catch(() => undefined);
      return false;
    }
    this.#checkOwn(now);
    if (!this.#warned && expiresAt - now <= runtime.settings.certificateWarningMs) {
      this.#warned = true;
      logSafely(
        runtime.logger,
        'warn',
        { expiresAt: new Date(expiresAt).toISOString() },
        `the control plane's certificate runs out in ${Math.ceil((expiresAt - now) / 86_400_000)} days`,
      );
      runtime.announce('certificateExpiring', { expiresAt });
    }
    return true;
  }

  #checkOwn(now: number): void {
    const leaf = this.connection.localCertificates?.[0];
    if (!leaf) return;
    if (!this.#own) {
      try {
        this.#own = { expiresAt: Date.parse(new X509Certificate(leaf).validTo), warned: false };
      } catch {
        return;
      }
    }
    const own = this.#own;
    if (own.warned || own.expiresAt - now > this.runtime.settings.certificateWarningMs) return;
    own.warned = true;
    logSafely(
      this.runtime.logger,
      'warn',
      { expiresAt: new Date(own.expiresAt).toISOString() },
      `this data plane's certificate runs out in ${Math.max(0, Math.ceil((own.expiresAt - now) / 86_400_000))} days: renew it and setIdentity`,
    );
    this.runtime.announce('identityExpiring', { expiresAt: own.expiresAt });
  }
}

/** Judges the CP's chain, and in PKI mode the name dialed (unless turned off). */
export function verifyControlPlane(runtime: LinkRuntime, connection: Connection): TrustResult {
  const { trust, verifyServerName = true } = runtime.options;
  const serverName = verifyServerName
    ? (runtime.options.expectedServerName ?? runtime.options.serverName ?? connection.serverName)
    : undefined;
  if (trust.mode === 'pki' && verifyServerName && !serverName) {
    return {
      ok: false,
      code: 'TRUST_NAME_MISMATCH',
      message:
        'there is no name to check the control plane certificate against: give the DataPlane an expectedServerName, use a transport that reports the name it dialed, or set verifyServerName: false',
    };
  }
  return trust.verify([...connection.peerCertificates], {
    role: 'control-plane',
    at: runtime.clock.now(),
    ...(serverName ? { serverName } : {}),
  });
}

/** The DP's two timers on a link: send a heartbeat every interval; call it dead after the timeout. */
class LinkTimers {
  #heartbeat: TimerId | undefined;
  #dead: TimerId | undefined;
  #running = false;

  constructor(
    private readonly clock: Clock,
    private readonly settings: { heartbeatIntervalMs: number; heartbeatTimeoutMs: number },
    private readonly on: { heartbeat(): void; dead(): void },
  ) {}

  start(): void {
    this.#running = true;
    this.#scheduleHeartbeat();
    this.frameReceived();
  }

  frameReceived(): void {
    if (!this.#running) return;
    if (this.#dead) this.clock.clearTimeout(this.#dead);
    this.#dead = this.clock.setTimeout(() => this.on.dead(), this.settings.heartbeatTimeoutMs);
  }

  stop(): void {
    this.#running = false;
    if (this.#heartbeat) this.clock.clearTimeout(this.#heartbeat);
    if (this.#dead) this.clock.clearTimeout(this.#dead);
  }

  #scheduleHeartbeat(): void {
    this.#heartbeat = this.clock.setTimeout(() => {
      if (!this.#running) return;
      this.on.heartbeat();
      this.#scheduleHeartbeat();
    }, this.settings.heartbeatIntervalMs);
  }
}
