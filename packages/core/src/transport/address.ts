/**
 * The host part of a transport's `remoteAddress` — `10.0.0.7` of `10.0.0.7:52344`, `::1` of
 * `[::1]:52344`, `127.0.0.1` of the IPv4-mapped `[::ffff:127.0.0.1]:52344` — as Kong records a
 * DP's `ip`. An address without a port (`memory:client-1`) is returned as it is.
 *
 * @example
 * ```ts
 * import { hostOfAddress } from '@planesync/core/transport';
 * hostOfAddress('[::1]:8005'); // '::1'
 * ```
 */
export function hostOfAddress(address: string): string {
  const host = /^\[(.+)\]:\d+$/.exec(address)?.[1] ?? /^([^:]+):\d+$/.exec(address)?.[1] ?? address;
  return host.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, '$1');
}
