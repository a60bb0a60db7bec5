import { describe, expect, it } from 'vitest';
import { Router } from '../src/router.ts';

const config = {
  _format_version: '3.0',
  services: [
    { name: 'orders', protocol: 'http', host: 'orders.internal', port: 8080, path: '/api' },
    {
      id: '5d8f3c1e-1111-4000-8000-000000000001',
      name: 'users',
      protocol: 'https',
      host: 'users.internal',
      port: 443,
    },
  ],
  routes: [
    { name: 'orders', paths: ['/orders'], service: 'orders' },
    {
      name: 'orders-v2',
      paths: ['/orders/v2'],
      methods: ['POST'],
      strip_path: false,
      service: 'orders',
    },
    {
      name: 'users',
      hosts: ['api.example.com', '*.users.example.com'],
      paths: ['/'],
      service: { id: '5d8f3c1e-1111-4000-8000-000000000001' },
    },
    { name: 'regex', paths: ['~/items/\\d+$'], service: 'orders' },
  ],
};

describe('gateway router', () => {
  const router = new Router(config);

  it('routes by path prefix and strips it before the service path', () => {
    expect(router.match('GET', 'gw', '/orders/42')).toMatchObject({
      route: 'orders',
      service: 'orders',
    });
    expect(router.match('GET', 'gw', '/orders/42')?.url.href).toBe(
      'http://orders.internal:8080/api/42',
    );
  });

  it('prefers the longest matching path, honours methods, and keeps the path when strip_path is false', () => {
    expect(router.match('POST', 'gw', '/orders/v2/new')?.url.href).toBe(
      'http://orders.internal:8080/api/orders/v2/new',
    );
    expect(router.match('GET', 'gw', '/orders/v2/new')?.route).toBe('orders');
  });

  it('matches hosts exactly or by wildcard, ignoring the port', () => {
    expect(router.match('GET', 'api.example.com:8000', '/me')?.url.href).toBe(
      'https://users.internal/me',
    );
    expect(router.match('GET', 'eu.users.example.com', '/me')?.route).toBe('users');
    expect(router.match('GET', 'other.example.com', '/me')).toBeUndefined();
  });

  it('supports regex paths starting with ~', () => {
    expect(router.match('GET', 'gw', '/items/7')?.route).toBe('regex');
    expect(router.match('GET', 'gw', '/items/x')).toBeUndefined();
  });

  it('matches nothing with an empty config (a gateway then answers 404)', () => {
    expect(new Router({ _format_version: '3.0' }).match('GET', 'gw', '/')).toBeUndefined();
    expect(new Router(undefined).size).toBe(0);
  });
});
