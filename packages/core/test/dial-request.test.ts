import { describe, expect, it } from 'vitest';
import { type ControlFrame, silentLogger } from '../src/index.ts';
import {
  ControlFrameInbox,
  checkConnectOptions,
  checkControlFrame,
  checkRequestPath,
  checkRoutes,
  dialRequestQuery,
  FRAMES_ONLY,
  queryRecord,
} from '../src/transport/index.ts';

const invalid = expect.objectContaining({ code: 'INVALID_ARGUMENT' });
const ALL = { request: true, controlFrames: true };

describe('the dial request’s query', () => {
  it('follows the transport’s own query, then request.query in order, then the deprecated metadata', () => {
    expect(
      dialRequestQuery(
        {
          request: {
            query: [
              ['b', '2'],
              ['a', '1'],
              ['b', '3'],
            ],
          },
          metadata: { m: 'x' },
        },
        'own=0',
      ),
    ).toBe('own=0&b=2&a=1&b=3&m=x');
  });

  it('percent-encodes keys and values by default, as encodeURIComponent does', () => {
    expect(dialRequestQuery({ request: { query: [['node id', 'a&b=c#d ü+']] } })).toBe(
      'node%20id=a%26b%3Dc%23d%20%C3%BC%2B',
    );
  });

  it('sends them as given with encodeQuery: false, as Kong’s DP concatenates them', () => {
    const query: Array<[string, string]> = [
      ['node_id', '9f8e1b2c-0000-4000-8000-000000000001'],
      ['node_hostname', 'dp-1.example'],
      ['node_version', '3.10.0.0+enterprise'],
      ['sig', 'a%2Fb=c'],
    ];
    expect(dialRequestQuery({ request: { query, encodeQuery: false } })).toBe(
      'node_id=9f8e1b2c-0000-4000-8000-000000000001&node_hostname=dp-1.example&node_version=3.10.0.0+enterprise&sig=a%2Fb=c',
    );
  });

  it('refuses a raw key or value a URL would not carry as it is', () => {
    for (const [key, value] of [
      ['k', 'a&b'],
      ['k', 'a#b'],
      ['k', 'a b'],
      ['k', 'a\nb'],
      ['k', 'a\x7fb'],
      ['k', '"quoted"'],
      ['k', "it's"],
      ['k', '<tag>'],
      ['k', 'ü'],
      ['k=v', 'x'],
    ] as const) {
      expect(
        () => dialRequestQuery({ request: { query: [[key, value]], encodeQuery: false } }),
        JSON.stringify([key, value]),
      ).toThrow(invalid);
    }
  });

  it('refuses an empty key in either mode', () => {
    expect(() => dialRequestQuery({ request: { query: [['', 'x']] } })).toThrow(invalid);
  });

  it('reads a query back as a record: decoded, the last value of a repeated key', () => {
    expect(queryRecord('a=1&b=x%20y&a=2&c=p+q')).toEqual({ a: '2', b: 'x y', c: 'p q' });
  });
});

describe('what a transport can carry', () => {
  it('a frames-only transport refuses a path, a subprotocol and manual pings, naming each', () => {
    expect(() =>
      checkConnectOptions(FRAMES_ONLY, { request: { path: '/v1/outlet' } }, 'tcpClient'),
    ).toThrow(
      expect.objectContaining({
        code: 'INVALID_ARGUMENT',
        message: expect.stringMatching(/tcpClient cannot carry a request path/),
      }),
    );
    expect(() =>
      checkConnectOptions(undefined, { request: { subprotocol: 'kong' } }, 'a transport'),
    ).toThrow(expect.objectContaining({ message: expect.stringContaining('a subprotocol') }));
    expect(() => checkConnectOptions(FRAMES_ONLY, { pings: 'manual' }, 'tcpClient')).toThrow(
      expect.objectContaining({ message: expect.stringContaining('manual pings') }),
    );
  });

  it('a frames-only transport takes query pairs (it may carry them as metadata)', () => {
    expect(() =>
      checkConnectOptions(FRAMES_ONLY, { request: { query: [['a', '1']] }, pings: 'auto' }, 'x'),
    ).not.toThrow();
  });

  it('refuses a path or a subprotocol that is not one, whatever the transport', () => {
    for (const path of ['v1/outlet', '/a b', '/a?b', '/a#b', '/a/../b', '/a/%2E%2e', '/a\\b', '/ü'])
      expect(() => checkRequestPath(path), path).toThrow(invalid);
    expect(() => checkRequestPath('/v1/outlet;x=%20~')).not.toThrow();
    expect(() => checkConnectOptions(ALL, { request: { subprotocol: 'a b' } }, 'x')).toThrow(
      invalid,
    );
    expect(() => checkConnectOptions(ALL, { pings: 'sometimes' as 'auto' }, 'x')).toThrow(invalid);
  });

  it('routes: a frames-only server takes one plain route at most', () => {
    expect(checkRoutes(FRAMES_ONLY, [{ path: '/x' }], [], 'tcpServer')).toEqual([{ path: '/x' }]);
    for (const routes of [
      [{ path: '/a' }, { path: '/b' }],
      [{ path: '/a', subprotocol: 'kong' }],
      [{ path: '/a', pings: 'manual' as const }],
    ])
      expect(() => checkRoutes(FRAMES_ONLY, routes, [], 'tcpServer')).toThrow(
        expect.objectContaining({
          code: 'INVALID_ARGUMENT',
          message: expect.stringContaining('tcpServer cannot'),
        }),
      );
  });

  it('routes: none given is the fallback; an empty list or a path named twice is refused', () => {
    const fallback = [{ path: '/planesync/v1' }];
    expect(checkRoutes(ALL, undefined, fallback, 'x')).toBe(fallback);
    expect(() => checkRoutes(ALL, [], fallback, 'x')).toThrow(invalid);
    expect(() => checkRoutes(ALL, [{ path: '/a' }, { path: '/a' }], fallback, 'x')).toThrow(
      invalid,
    );
  });
});

describe('control frames', () => {
  it('a ping or pong carries at most 125 bytes', () => {
    expect(() => checkControlFrame({ kind: 'ping', payload: new Uint8Array(125) })).not.toThrow();
    expect(() => checkControlFrame({ kind: 'pong', payload: new Uint8Array(126) })).toThrow(
      invalid,
    );
    expect(() =>
      checkControlFrame({ kind: 'close' as 'ping', payload: new Uint8Array(0) }),
    ).toThrow(invalid);
  });

  it('keeps at most 64 frames for a listener yet to come, the oldest dropped first', () => {
    const inbox = new ControlFrameInbox(silentLogger);
    for (let i = 0; i < 70; i++) inbox.push({ kind: 'ping', payload: Uint8Array.of(i) });
    const seen: number[] = [];
    inbox.listen((frame) => seen.push(frame.payload[0]!));
    expect(seen).toEqual(Array.from({ length: 64 }, (_, i) => i + 6));
    inbox.push({ kind: 'pong', payload: Uint8Array.of(99) });
    expect(seen.at(-1)).toBe(99);
  });

  it('a listener that throws is logged and the next frame still arrives', () => {
    const logged: string[] = [];
    const logger = {
      ...silentLogger,
      error: (_: unknown, message?: string) => logged.push(message ?? ''),
    };
    const inbox = new ControlFrameInbox(logger);
    const seen: ControlFrame[] = [];
    inbox.listen((frame) => {
      seen.push(frame);
      throw new Error('host bug');
    });
    inbox.push({ kind: 'ping', payload: new Uint8Array(0) });
    inbox.push({ kind: 'ping', payload: new Uint8Array(0) });
    expect(seen).toHaveLength(2);
    expect(logged).toEqual(['an onControl listener threw', 'an onControl listener threw']);
  });
});
