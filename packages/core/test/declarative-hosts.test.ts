import { describe, expect, it } from 'vitest';
import {
  isHost,
  isHostName,
  isHostWithOptionalPort,
  isIpOrCidr,
  isRouteHost,
  isWildcardHost,
} from '../src/config/declarative-hosts.ts';

/** Each value with the answer Kong 3.10's validator gives for it. */
function check(predicate: (value: string) => boolean, cases: Record<string, boolean>) {
  expect(Object.fromEntries(Object.keys(cases).map((value) => [value, predicate(value)]))).toEqual(
    cases,
  );
}

describe('host names and addresses as Kong reads them', () => {
  it("a service's host: a name or an IP address, never a port", () => {
    check(isHost, {
      'billing.internal': true,
      'billing.internal.': true,
      '-edge_1.example': true,
      localhost: true,
      '10.0.0.1': true,
      '::1': true,
      '[::1]': true,
      'fe80::1:2:3:4': true,
      'billing.internal:8080': false,
      '10.0.0.1:80': false,
      '[::1]:80': false,
      '10.0.0.256': false,
      '10.0.0': false,
      '123': false,
      'a..b': false,
      'a-.b': false,
      '.a': false,
      'http://billing': false,
      'two words': false,
      '1:2:3:4:5:6:7:8:9': false,
      '': false,
    });
  });

  it('a target or host_header: the same with an optional port up to 65535', () => {
    check(isHostWithOptionalPort, {
      'billing.internal:8080': true,
      '10.0.0.1:9000': true,
      '[::1]:8080': true,
      'billing.internal': true,
      'billing.internal:65536': false,
      '10.0.0.1:99999': false,
      '[::1]:': false,
      'a:b': false,
    });
  });

  it("an upstream's name: a host name only", () => {
    check(isHostName, {
      'billing.internal': true,
      '10.0.0.1': false,
      '::1': false,
      'billing.internal:80': false,
    });
  });

  it('an SNI: a host name with an optional * as its first or last character', () => {
    check(isWildcardHost, {
      'example.com': true,
      '*.example.com': true,
      'example.*': true,
      '*example.com': true,
      'a.*.com': false,
      '*.example.*': false,
      '10.0.0.1': false,
      'example.com:443': false,
    });
  });

  it("a route's host: one wildcard label at either end, an optional port, IPs allowed", () => {
    check(isRouteHost, {
      '*.example.com': true,
      'example.*': true,
      'example.com:8080': true,
      '10.0.0.1': true,
      '*example.com': false,
      'a.*.com': false,
      '*.*.com': false,
    });
  });

  it("a route's source or destination: an IP address or a CIDR range", () => {
    check(isIpOrCidr, {
      '10.0.0.1': true,
      '10.0.0.0/8': true,
      '10.0.0.0/32': true,
      '::1': true,
      '2001:db8::/32': true,
      '::ffff:10.0.0.1': true,
      '10.0.0.0/33': false,
      '::1/129': false,
      'example.com': false,
      '10.0.0.1:80': false,
      '[::1]': false,
    });
  });
});
