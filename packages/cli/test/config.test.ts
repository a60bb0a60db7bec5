import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliInTempDir } from './capture.ts';

const temp = cliInTempDir('planesync-config-cli-');
const cli = temp.cli;

const write = (name: string, text: string) => writeFile(join(temp.dir, name), text);

const validYaml = `_format_version: "3.0"
services:
  - name: billing
    url: http://billing.internal:9000
    routes:
      - name: billing-route
        paths: [/billing]
        plugins:
          - name: rate-limiting
            config: { minute: 5 }
  - name: echo
    host: echo.internal
routes:
  - name: echo-route
    hosts: [echo.example.com]
    service: echo
consumers:
  - username: alice
    keyauth_credentials:
      - key: secret
workspaces:
  - name: default
`;

describe('planesync config validate', () => {
  it('says a valid file is valid, with what it holds, and exits 0', async () => {
    await write('kong.yml', validYaml);
    const result = await cli('config', 'validate', 'kong.yml');
    expect(result).toEqual({
      code: 0,
      stdout:
        'kong.yml: valid: 2 services, 2 routes, 1 plugin, 1 consumer; not validated: workspaces\n',
      stderr: '',
    });
  });

  it('lists every problem of a YAML file at its line and column, and exits 1', async () => {
    await write(
      'kong.yml',
      [
        '_format_version: "3.0"', //                                       1
        'services:', //                                                    2
        '  - name: billing', //                                            3
        '    host: billing.internal', //                                   4
        '    port: 70000', //                                              5
        '    prot: http', //                                               6
        '  - name: echo', //                                               7
        '    hots: echo.internal', //                                      8
        'routes:', //                                                      9
        '  - paths: [/echo]', //                                           10
        '    service: missing', //                                         11
        '',
      ].join('\n'),
    );
    const result = await cli('config', 'validate', 'kong.yml');
    expect(result.code).toBe(1);
    expect(result.stdout.split('\n')).toEqual([
      'kong.yml:5:11: services[0].port: expected integer 0..65535',
      'kong.yml:6:5: services[0].prot: unknown field',
      'kong.yml:7:5: services[1].host: a service needs a host (or a url)',
      'kong.yml:8:5: services[1].hots: unknown field',
      'kong.yml:11:14: routes[0].service: references service "missing", which does not exist',
      'kong.yml: invalid: 5 problems',
      '',
    ]);
  });

  it('locates the problems of a JSON file too', async () => {
    await write(
      'kong.json',
      JSON.stringify(
        {
          _format_version: '3.0',
          upstreams: [{ name: 'u', targets: [{ target: 'h:99999' }], slots: 5 }],
        },
        null,
        2,
      ),
    );
    const result = await cli('config', 'validate', 'kong.json');
    expect(result.code).toBe(1);
    expect(result.stdout).toBe(
      [
        'kong.json:8:21: upstreams[0].targets[0].target: expected a host name or IP address, with an optional port',
        'kong.json:11:16: upstreams[0].slots: expected integer 10..65536',
        'kong.json: invalid: 2 problems',
        '',
      ].join('\n'),
    );
  });

  it('reports a syntax error at the line and column the parser gives', async () => {
    await write('kong.yml', '_format_version: "3.0"\nservices:\n  - name: a\n   host: b\n');
    const result = await cli('config', 'validate', 'kong.yml');
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^kong\.yml:4:\d+: invalid YAML: /);
  });

  it('names a missing file in plain words, without a raw ENOENT, and exits 1', async () => {
    const result = await cli('config', 'validate', 'missing.yml');
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: 'planesync: cannot read missing.yml: no such file\n',
    });
    await mkdir(join(temp.dir, 'conf.d'));
    expect((await cli('config', 'validate', 'conf.d')).stderr).toBe(
      'planesync: cannot read conf.d: it is a directory\n',
    );
  });

  it('exits 2 when called without one FILE or with an unknown subcommand', async () => {
    for (const argv of [
      ['config', 'validate'],
      ['config', 'validate', 'a.yml', 'b.yml'],
      ['config', 'check', 'a.yml'],
    ]) {
      const result = await cli(...argv);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('Usage: planesync config validate FILE');
    }
  });

  it('is listed in the usage of planesync', async () => {
    expect((await cli('--help')).stdout).toContain('config validate FILE');
    expect((await cli('config', '--help')).stdout).toContain('Usage: planesync config validate');
  });
});
