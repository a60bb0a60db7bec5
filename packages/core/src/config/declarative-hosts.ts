/**
 * Host names, IP addresses and server names as Kong's schemas accept them
 * (`kong/tools/ip.lua` and the host typedefs), written as plain predicates so that the zod
 * definition and the compiled validator run the same code.
 *
 * @module
 */

/** What a host string is once read: a name, an IPv4 or an IPv6 address, maybe with a port. */
interface ParsedHost {
  type: 'name' | 'ipv4' | 'ipv6';
  hasPort: boolean;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?::(\d+))?$/;
const HEX_GROUP = /^[0-9A-Fa-f]{1,4}$/;
/**
 * A host name as Kong checks it: letters, digits, `-` and `_` in labels separated by dots; no
 * label ends in `-` and none is empty, but the name may end with a dot.
 */
const NAME = /^(?:[A-Za-z0-9_-]*[A-Za-z0-9_]\.)*[A-Za-z0-9_-]*[A-Za-z0-9_]\.?$/;
// Regular expressions as constants: a literal in a function is a new object at each call.
const DIGITS = /^\d+$/;
const DIGITS_AND_DOTS = /^[\d.]+$/;
const NAME_AND_PORT = /^(.+):(\d+)$/;
const BRACKETED = /^\[([^\]]*)\](.*)$/;
const PORT_SUFFIX = /^:(\d+)$/;
const IPV4_PREFIX = /^\d{1,2}$/;
const IPV6_PREFIX = /^\d{1,3}$/;

function validPort(digits: string): boolean {
  return DIGITS.test(digits) && Number(digits) <= 65535;
}

/**
 * Reads a host the way Kong does: more than one colon makes it IPv6 (bare, or in brackets
 * with an optional port); only digits and dots (colons aside) make it IPv4 with an optional
 * port; anything else is a name of letters, digits, `-`, `.` and `_`, with an optional port,
 * whose labels do not end in `-` and are not empty (a trailing dot is allowed).
 * `undefined` when it is none of these.
 */
export function parseHost(value: string): ParsedHost | undefined {
  // The common case first, without allocating: a name without a port.
  if (NAME.test(value)) return DIGITS_AND_DOTS.test(value) ? parseIpv4(value) : NAME_WITHOUT_PORT;
  const colons = value.split(':').length - 1;
  if (colons > 1) return parseIpv6(value);
  if (DIGITS_AND_DOTS.test(value.replace(':', ''))) return parseIpv4(value);
  const port = NAME_AND_PORT.exec(value);
  if (!port || !validPort(port[2]!) || !NAME.test(port[1]!)) return undefined;
  return { type: 'name', hasPort: true };
}

const NAME_WITHOUT_PORT: ParsedHost = { type: 'name', hasPort: false };

function parseIpv4(value: string): ParsedHost | undefined {
  const match = IPV4.exec(value);
  if (!match) return undefined;
  for (let octet = 1; octet <= 4; octet++) if (Number(match[octet]) > 255) return undefined;
  if (match[5] !== undefined && !validPort(match[5])) return undefined;
  return { type: 'ipv4', hasPort: match[5] !== undefined };
}

function parseIpv6(value: string): ParsedHost | undefined {
  let address = value;
  let hasPort = false;
  const bracketed = BRACKETED.exec(value);
  if (bracketed) {
    address = bracketed[1]!;
    const rest = bracketed[2]!;
    if (rest !== '') {
      const port = PORT_SUFFIX.exec(rest);
      if (!port || !validPort(port[1]!)) return undefined;
      hasPort = true;
    }
  }
  if (address.startsWith(':')) address = `0${address}`;
  if (address.endsWith(':')) address = `${address}0`;
  if (address.includes('::')) {
    const colons = address.split(':').length - 1;
    if (colons > 8) return undefined;
    address = address.replace('::', `:${'0:'.repeat(8 - colons)}`);
  }
  const groups = address.split(':');
  if (groups.length !== 8 || !groups.every((group) => HEX_GROUP.test(group))) return undefined;
  return { type: 'ipv6', hasPort };
}

/** A service's `host`: a name or an IP address, without a port. */
export function isHost(value: string): boolean {
  const host = parseHost(value);
  return host !== undefined && !host.hasPort;
}

/** `host_header`, a target's `target`: a name or an IP address, with or without a port. */
export function isHostWithOptionalPort(value: string): boolean {
  return parseHost(value) !== undefined;
}

/** An upstream's `name`: a host name; no IP address, no port. */
export function isHostName(value: string): boolean {
  const host = parseHost(value);
  return host !== undefined && host.type === 'name' && !host.hasPort;
}

/**
 * An SNI, or one with a wildcard (`*.example.com`, `example.*`): at most one `*`, as the first
 * or the last character; what remains is a host name without a port.
 */
export function isWildcardHost(value: string): boolean {
  const star = value.indexOf('*');
  if (star !== -1) {
    if (star !== 0 && star !== value.length - 1) return false;
    if (value.indexOf('*', star + 1) !== -1) return false;
  }
  return isHostName(value.replace('*', 'wildcard'));
}

/** A route's `hosts` entry: a host with an optional port, and at most one wildcard label. */
export function isRouteHost(value: string): boolean {
  if (!value.includes('*')) return parseHost(value) !== undefined;
  const stars = value.split('*').length - 1;
  if (stars > 1) return false;
  if (stars === 1 && !value.startsWith('*.') && !value.endsWith('.*')) return false;
  return isHostWithOptionalPort(value.replace('*', 'abc'));
}

const IPV4_ONLY = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** An IPv4 or IPv6 address, optionally with a CIDR prefix length (`10.0.0.0/8`, `::1/128`). */
export function isIpOrCidr(value: string): boolean {
  const slash = value.indexOf('/');
  const address = slash === -1 ? value : value.slice(0, slash);
  const prefix = slash === -1 ? undefined : value.slice(slash + 1);
  const ipv4 = IPV4_ONLY.exec(address);
  if (ipv4) {
    for (let octet = 1; octet <= 4; octet++) if (Number(ipv4[octet]) > 255) return false;
    return prefix === undefined || (IPV4_PREFIX.test(prefix) && Number(prefix) <= 32);
  }
  if (!address.includes(':') || address.includes('[')) return false;
  if (parseIpv6(address) === undefined && !isIpv6WithIpv4Tail(address)) return false;
  return prefix === undefined || (IPV6_PREFIX.test(prefix) && Number(prefix) <= 128);
}

/** `::ffff:10.0.0.1`: IPv6 whose last 32 bits are written as IPv4, as inet_pton accepts. */
function isIpv6WithIpv4Tail(value: string): boolean {
  const lastColon = value.lastIndexOf(':');
  const tail = IPV4_ONLY.exec(value.slice(lastColon + 1));
  if (!tail) return false;
  for (let octet = 1; octet <= 4; octet++) if (Number(tail[octet]) > 255) return false;
  const head = value.slice(0, lastColon + 1);
  // The IPv4 tail takes the place of the last two groups.
  const asGroups = `${head}0:0`;
  return parseIpv6(asGroups) !== undefined;
}
