import { InvalidArgumentError, PlanesyncError } from '../errors.ts';
import type {
  Connection,
  ConnectOptions,
  TransportClient,
  TransportFeatures,
  TransportIdentity,
} from './contract.ts';
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

/** Options of {@link failoverClient}. */
export interface FailoverClientOptions {
  /**
   * Where the order of the other CPs comes from (0 ≤ n < 1); default `Math.random`. The DPs
   * of a CP that dies then spread over the others rather than all landing on the next one.
   */
  random?: () => number;
}

/**
 * A client that dials several control planes, one after another: each `connect` starts with
 * the CP that answered last, and moves on to the others when it cannot be reached or refuses
 * (a CP killed, a CP full) — or, told by `skip`, when the one it reached did not accept the
 * DP; it fails only when every one failed, with the last one's error. The others are tried
 * in list order from a random one among them, so the DPs of a CP that dies spread evenly
 * over the rest.
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
export function failoverClient(
  clients: readonly TransportClient[],
  options: FailoverClientOptions = {},
): FailoverClient {
  const random = options.random ?? Math.random;
  if (!Array.isArray(clients) || clients.length === 0)
    throw new InvalidArgumentError('failoverClient needs at least one transport client');
  // What every client can carry: a protocol is chosen for all of them.
  const features: TransportFeatures = {
    request: clients.every((client) => (client.features ?? FRAMES_ONLY).request),
    controlFrames: clients.every((client) => (client.features ?? FRAMES_ONLY).controlFrames),
  };
  let current = 0;
  // One identity for every CP: a client that cannot take a new one makes the whole list unable.
  const canSetIdentity = clients.every((client) => typeof client.setIdentity === 'function');
  return {
    features,
    skip() {
      current = (current + 1) % clients.length;
    },
    ...(canSetIdentity
      ? {
          setIdentity(identity: TransportIdentity) {
            // Checked by the first; the rest take the same pair.
            for (const client of clients) client.setIdentity!(identity);
          },
        }
      : {}),
    async connect(options: ConnectOptions = {}): Promise<Connection> {
      let failure: unknown;
      // The CP that answered last, then the others from a random one of them, in list order.
      const others = clients.length - 1;
      const offset = others > 0 ? Math.min(others - 1, Math.floor(random() * others)) : 0;
      for (let tried = 0; tried < clients.length; tried++) {
        const index =
          tried === 0 ? current : (current + 1 + ((offset + tried - 1) % others)) % clients.length;
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
