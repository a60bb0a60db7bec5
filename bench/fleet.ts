/**
 * A fleet of DP clients in a child process (fleet-worker.ts): the cluster benchmarks measure
 * the CP in this process and leave every DP's work — TLS, framing, applying — to the other,
 * as it is in production, where each DP runs on its own machine.
 */
import { type ChildProcess, fork } from 'node:child_process';

type Tls = { cert: string; key: string };

/** What the worker can be asked to do. */
export type FleetCommand = { id: number } & (
  | {
      cmd: 'thin';
      url: string;
      tls: Tls;
      n: number;
      /** The protocols the hello offers, newest first; default `['planesync/1']`. */
      protocols?: readonly string[];
      /** The plugins the hello declares (a config using others is not sent); default none. */
      plugins?: ReadonlyArray<{ name: string; version: string }>;
      /** Hello with the hash and version each DP acked last (after a `disconnect`). */
      resume?: boolean;
      /** Connect (TLS, upgrade) but send no hello until the `hello` command. */
      deferHello?: boolean;
    }
  | {
      cmd: 'raw';
      url: string;
      tls: Tls;
      n: number;
      expect: number;
      /** Each client answers every message with one small message, as a thin DP acks. */
      ack?: boolean;
    }
  | { cmd: 'dataPlanes'; url: string; tls: Tls; n: number }
  | {
      cmd: 'failoverDataPlanes';
      /** Every CP's address: DP i starts with `urls[i % urls.length]`, then the next ones. */
      urls: string[];
      tls: Tls;
      n: number;
      /** Node ids and CP order start from this index (several workers, one fleet). */
      from: number;
    }
  | { cmd: 'failoverWatch' | 'failoverReport' }
  | { cmd: 'storm'; url: string; tls: Tls; n: number }
  | { cmd: 'rawReset'; expect: number }
  | { cmd: 'serveControlPlane' | 'serveRaw'; tls: Tls }
  | { cmd: 'memory' | 'cpu' }
  | { cmd: 'profile'; action: 'start' | 'stop' | 'save'; name: string }
  | { cmd: 'frames' | 'mark' | 'report' | 'hello' | 'disconnect' | 'close' }
);

type Request = FleetCommand extends infer C ? (C extends unknown ? Omit<C, 'id'> : never) : never;

export class Fleet {
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  readonly #events = new Map<string, Array<(message: Record<string, unknown>) => void>>();
  #next = 0;

  /** @param execArgv more node flags for the worker (the memory benchmark's young generation) */
  constructor(execArgv: readonly string[] = []) {
    this.#child = fork(new URL('./fleet-worker.ts', import.meta.url).pathname, [], {
      execArgv: [
        ...execArgv,
        '--expose-gc',
        '--import',
        'tsx',
        // PLANESYNC_BENCH_PROFILE=DIR: a CPU profile of the fleet process, written as it exits.
        ...(process.env.PLANESYNC_BENCH_PROFILE
          ? ['--cpu-prof', `--cpu-prof-dir=${process.env.PLANESYNC_BENCH_PROFILE}`]
          : []),
      ],
      serialization: 'advanced',
    });
    this.#child.on('message', (message: Record<string, unknown>) => {
      if (typeof message.id === 'number') {
        const pending = this.#pending.get(message.id);
        this.#pending.delete(message.id);
        if (message.error) pending?.reject(new Error(String(message.error)));
        else pending?.resolve(message.result);
        return;
      }
      const waiting = this.#events.get(String(message.event)) ?? [];
      this.#events.delete(String(message.event));
      for (const resolve of waiting) resolve(message);
    });
  }

  /** Sends one command and resolves with the worker's reply. */
  request<T = Record<string, unknown>>(command: Request): Promise<T> {
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.#child.send({ ...command, id });
    });
  }

  /** Resolves with the next event of that name the worker reports. */
  next(event: 'received' | 'applied'): Promise<Record<string, unknown>> {
    return new Promise((resolve) => {
      this.#events.set(event, [...(this.#events.get(event) ?? []), resolve]);
    });
  }

  /** Closes every client, then ends the worker. */
  async close(): Promise<void> {
    await this.request({ cmd: 'close' });
    this.#child.disconnect();
    await new Promise((resolve) => this.#child.once('exit', resolve));
  }
}

/** Milliseconds on a clock this process and the worker share. */
export const sharedNow = () => performance.timeOrigin + performance.now();
