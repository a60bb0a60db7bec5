import { describe, expect, it } from 'vitest';
import { pluginCompatibility, versionNumber, versionsCompatible } from '../src/protocol/index.ts';

// The vectors below are Kong's own, from its unit specs (Kong/kong, Apache-2.0):
// spec/01-unit/19-hybrid/02-clustering_spec.lua ("correctly parses 3 or 4 digit version
// numbers") and spec/01-unit/19-hybrid/03-compat_spec.lua (check_kong_version_compatibility).

describe("Kong's version rules", () => {
  it.each([
    ['3.0.0', 3000000000],
    ['3.0.1', 3000001000],
    ['3.0.0.0', 3000000000],
    ['3.0.0.1', 3000000001],
    ['3.9.0.0', 3009000000],
    ['3.10.0.0', 3010000000],
    ['333.333.333.1', 333333333001],
    ['333.333.333.333', 333333333333],
  ])('reads %s as Kong does: %d', (version, number) => {
    expect(versionNumber(version)).toBe(number);
  });

  it.each([
    // [control plane, data plane, compatible]
    ['1.1.2', '1.1.2', true], // matching major and minor
    ['1.1.999', '1.1.2222', true],
    ['1.2.0', '1.1.0', true], // the DP's minor below the CP's
    ['1.9999.0', '1.1.33', true],
    ['1.0.0', '2.0.0', false], // mismatching majors
    ['2.0.0', '1.0.0', false],
    ['1.0.0', '1.1.0', false], // a DP minor above the CP's
    ['3.14.0', '3.14.0.0-enterprise-edition', true], // Kong's four-part versions parse
    ['3.10.0', '3.10', false], // no patch: Kong cannot read it, and refuses it
  ] as const)('a CP %s serves a DP %s: %s', (controlPlane, dataPlane, compatible) => {
    expect(versionsCompatible(controlPlane, dataPlane)).toBe(compatible);
  });
});

describe("Kong's plugin rule (compat/init.lua check_configuration_compatibility)", () => {
  const cp = new Map([
    ['key-auth', '3.10.0'],
    ['opentelemetry', '3.10.0'],
  ]);
  it.each([
    ['the same version', [{ name: 'key-auth', version: '3.10.0' }], 'normal'],
    ['an older minor on the DP', [{ name: 'key-auth', version: '3.9.1' }], 'normal'],
    [
      'a newer minor on the DP',
      [{ name: 'key-auth', version: '3.11.0' }],
      'plugin_version_incompatible',
    ],
    [
      'another major on the DP',
      [{ name: 'key-auth', version: '2.10.0' }],
      'plugin_version_incompatible',
    ],
    ['the plugin missing on the DP', [], 'plugin_set_incompatible'],
    ['a version the DP does not give', [{ name: 'key-auth', version: '' }], 'normal'],
  ] as const)('key-auth configured, %s: %s', (_, plugins, status) => {
    expect(pluginCompatibility(['key-auth'], cp, plugins)).toBe(status);
  });

  it("always accepts a DP's opentelemetry 0.1.x, which shipped as 0.1.0 for several releases", () => {
    expect(
      pluginCompatibility(['opentelemetry'], cp, [{ name: 'opentelemetry', version: '0.1.0' }]),
    ).toBe('normal');
    expect(
      pluginCompatibility(['opentelemetry'], cp, [{ name: 'opentelemetry', version: '0.2.0' }]),
    ).toBe('plugin_version_incompatible');
  });

  it('checks only the plugins the config uses', () => {
    expect(pluginCompatibility([], cp, [{ name: 'key-auth', version: '9.0.0' }])).toBe('normal');
  });
});
