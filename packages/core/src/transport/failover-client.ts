import { InvalidArgumentError, PlanesyncError } from '../errors.ts';
import type { Connection, ConnectOptions, TransportClient, TransportFeatures } from './contract.ts';
import { FRAMES_ONLY } from './contract.ts';

/** A {@link TransportClient} over several CPs, told when the CP it reached did not work out. */
export interface FailoverClient extends TransportClient {
  /**
   * The CP of the last connection did not work out though it answered (its certificate was
   * not trusted, it refused the DP, it closed before accepting): the next connect starts
   * with the next CP. A DataPlane calls it.
   */
  skip(): void;
}

/**
 * A client that dials several control planes, one after another: each `connect` starts with
 * the CP that answered last, and moves on to the next when it cannot be reached or refuses
 * (a CP killed, a CP full) — or, told by `skip`, when the one it reached did not accept the
 * DP; it fails only when every one failed, with the last one's error.
 * An abort, or options none can carry, end it at once. A DataPlane given a list of
 * transports uses one (`DataPlaneOptions.transport`); its reconnect delay applies between
 * rounds.
 *
 * @example
 * ```ts
 * import { failoverClient } from '@planesync/core';
 * declare const cpA: import('@planesync/core').TransportClient;
 * declare const cpB: import('@planesync/core').TransportClient;
 * const transport = failoverClient([cpA, cpB]);
 * ```
 */
export function failoverClient(clients: readonly TransportClient[]): FailoverClient {
  if (!Array.isArray(clients) || clients.length === 0)
    throw new InvalidArgumentError('failoverClient needs at least one transport client');
  // What every client can carry: a protocol is chosen for all of them.
  const features: TransportFeatures = {
    request: clients.every((client) => (client.features ?? FRAMES_ONLY).request),
    controlFrames: clients.every((client) => (client.features ?? FRAMES_ONLY).controlFrames),
  };
  let current = 0;
  return {
    features,
    skip() {
      current = (current + 1) % clients.length;
    },
    async connect(options: ConnectOptions = {}): Promise<Connection> {
      let failure: unknown;
      for (let tried = 0; tried < clients.length; tried++) {
        const index = (current + tried) % clients.length;
        try {
          const connection = await clients[index]!.connect(options);
          current = index;
          return connection;
        } catch (error) {
          const code = error instanceof PlanesyncError ? error.code : undefined;
          if (code === 'ABORTED' || code === 'INVALID_ARGUMENT' || options.signal?.aborted)
            throw error;
          failure = error;
        }
      }
      // The next round starts with the one after the CP tried first.
      current = (current + 1) % clients.length;
      throw failure;
    },
  };
}
