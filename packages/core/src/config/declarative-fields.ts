import { z } from 'zod';
import {
  isHost,
  isHostName,
  isHostWithOptionalPort,
  isIpOrCidr,
  isRouteHost,
  isWildcardHost,
} from './declarative-hosts.ts';

/**
 * The building blocks of the declarative schema: Kong's field types (`typedefs.lua`) in zod,
 * each with the message planesync gives when a value does not fit. Kong's rules that carry
 * over:
 *
 * - a string is never empty;
 * - an optional field may be `null` (Kong's export writes `null` for every unset field);
 * - a required field, and an optional one that has a default, may be absent but never `null`
 *   ("required field missing");
 * - a field the entity does not have is an "unknown field".
 *
 * @module
 */

/**
 * What the compiled validator needs beyond the zod definition: the JSON Schema of each rule
 * zod cannot derive from a function (refine calls, unknown-field checks), and each entity as
 * its own definition (ajv then compiles it as its own small function, which V8 optimises; one
 * function for the whole config is too big to).
 */
export const jsonSchemaNotes = z.registry<Record<string, unknown>>();

/** String formats the compiled validator checks with the same predicates as the zod rules. */
export const FORMATS: Record<string, (value: string) => boolean> = {};

type Issue = { readonly input?: unknown };

/** The message for a value that does not fit: "required field missing" when there is none. */
export function expected(what: string): (issue: Issue) => string {
  return (issue) =>
    issue.input === undefined || issue.input === null
      ? 'required field missing'
      : `expected ${what}`;
}

/** A string check done by a predicate, known to the compiled validator as a format. */
function formatted(format: string, predicate: (value: string) => boolean, what: string) {
  FORMATS[format] = predicate;
  const schema = z
    .string({ error: expected(what) })
    .refine(predicate, { error: `expected ${what}` });
  jsonSchemaNotes.add(schema, { format });
  return schema;
}

/** A non-empty string. */
export const text = z
  .string({ error: expected('a string') })
  .min(1, { error: 'expected a non-empty string' });

export const bool = z.boolean({ error: expected('true or false') });

export function integer(min: number, max: number) {
  const error = expected(`integer ${min}..${max}`);
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
}

/** An integer of any size Kong's integer type takes (a Lua number with no fraction). */
export const anyInteger = z
  .number({ error: expected('an integer') })
  .int({ error: expected('an integer') });

export function decimal(min: number, max: number) {
  const error = expected(`a number ${min}..${max}`);
  return z.number({ error }).min(min, { error }).max(max, { error });
}

/** Seconds since the epoch (`created_at`, `updated_at`), as Kong writes them in an export. */
export const timestamp = anyInteger;
/** Milliseconds since the epoch with a fraction (targets' timestamps). */
export const timestampMs = z.number({ error: expected('a number') });

export const uuid = z.guid({ error: expected('a UUID') });

/** Names of services, routes and plugin instances: letters, digits, `. _ - ~`, or non-ASCII. */
export const utf8Name = z
  .string({ error: expected('a name') })
  .regex(/^[A-Za-z0-9._~\-\u0080-\uffff]+$/, {
    error: 'expected a name of letters, digits and . _ - ~',
  });

/** A tag: printable, without `,` or `/`. */
const tag = z.string({ error: expected('a string tag') }).regex(/^[ !-+\-.0-~\u0080-\uffff]+$/, {
  error: 'expected a tag of printable characters other than , and /',
});
export const tags = z.array(tag, { error: expected('a list of tags') });

export const PROTOCOLS = [
  'http',
  'https',
  'grpc',
  'grpcs',
  'tcp',
  'tls',
  'tls_passthrough',
  'udp',
  // Kong Gateway Enterprise's WebSocket protocols, accepted as planesync always has.
  'ws',
  'wss',
] as const;
export const protocol = z.enum(PROTOCOLS, { error: expected(`one of ${PROTOCOLS.join(', ')}`) });

export const host = formatted('kong-host', isHost, 'a host name or IP address without a port');
export const hostWithOptionalPort = formatted(
  'kong-host-port',
  isHostWithOptionalPort,
  'a host name or IP address, with an optional port',
);
export const hostName = formatted(
  'kong-host-name',
  isHostName,
  'a host name (no IP address, no port)',
);
export const wildcardHost = formatted(
  'kong-wildcard-host',
  isWildcardHost,
  'a server name, optionally with * as its first or last character',
);
export const routeHost = formatted(
  'kong-route-host',
  isRouteHost,
  'a host with an optional port and at most one wildcard label (*.example.com, example.*)',
);
export const ipOrCidr = formatted('kong-ip-cidr', isIpOrCidr, 'an IP address or CIDR range');

export const port = integer(0, 65535);

/** A service's `url` shorthand. */
/** Kong's shorthand: `protocol://host:port/path`, its scheme one of the service protocols. */
export const serviceUrl = z.url({
  protocol: new RegExp(`^(?:${PROTOCOLS.join('|')})$`),
  error: `expected a URL such as http://upstream:8080/path, its scheme one of ${PROTOCOLS.join(', ')}`,
});

/** A URL path: `/`, RFC 3986 characters, valid %-escapes, no empty segment. */
export const path = z
  .string({ error: expected('a path') })
  .regex(/^(?![\s\S]*\/\/)\/(?:[\w.~/:@!$&'()*+,;=-]|%[0-9A-Fa-f]{2})*$/, {
    error: "expected a path starting with '/' (RFC 3986 characters, no empty segment)",
  });

/** A route's path: `/prefix` (valid %-escapes) or `~/regex`; no empty segment. */
export const routerPath = z
  .string({ error: expected('a path') })
  .regex(/^(?![\s\S]*\/\/)(?:~\/[\s\S]*|\/(?:[^%]|%[0-9A-Fa-f]{2})*)$/, {
    error: "expected a path starting with '/' (or '~/' for a regex), without empty segments",
  });

export const headerName = z
  .string({ error: expected('a header name') })
  .regex(/^[A-Za-z0-9_-]+$/, { error: 'expected a header name of A-Z, a-z, 0-9, _ and -' });

/** Header name → values, the names matching `pattern`. */
export function headersOf(pattern: RegExp, nameMessage: string) {
  return z.record(
    z.string().regex(pattern),
    z.array(text, { error: expected('a list of values') }),
    {
      error: (issue) =>
        issue.code === 'invalid_key'
          ? nameMessage
          : expected('an object of header name → list of values')(issue),
    },
  );
}

export const headers = headersOf(
  /^[A-Za-z0-9_-]+$/,
  'expected a header name of A-Z, a-z, 0-9, _ and -',
);

/** An HTTP token (RFC 2616): printable, without spaces or ()<>@,;:\\"/?={}[]. */
export const cookieName = z
  .string({ error: expected('a cookie name') })
  .regex(/^[!#-'*+\-.0-9A-Z^-z|~\u0080-\uffff]+$/, {
    error: 'expected a cookie name (no spaces, controls or ()<>@,;:\\"/?={}[])',
  });

export const httpMethod = z
  .string({ error: expected('an HTTP method') })
  .regex(/^[A-Z]+$/, { error: 'expected an upper-case HTTP method' });

const PEM = /-----BEGIN [A-Z ]+-----/;
const VAULT_REFERENCE = /^\{vault:\/\/[\s\S]*\}$/;

/** A PEM text (Kong parses it; planesync checks the armour). */
export function pem(what: string) {
  return z
    .string({ error: expected(`a PEM ${what}`) })
    .regex(PEM, { error: `expected a PEM ${what}` });
}

/** A PEM text or a vault reference (`{vault://env/cert}`), for Kong's referenceable fields. */
export function pemOrReference(what: string) {
  return z
    .string({ error: expected(`a PEM ${what} or a {vault://…} reference`) })
    .regex(new RegExp(`${PEM.source}|${VAULT_REFERENCE.source}`), {
      error: `expected a PEM ${what} or a {vault://…} reference`,
    });
}

/** A reference to another entity: its id or name as a string, or `{ id }` / `{ name }`. */
export const reference = z.union(
  [text, z.looseObject({ id: uuid }), z.looseObject({ name: text })],
  { error: expected('a reference: an id or name, or { id } or { name }') },
);
jsonSchemaNotes.add(reference, { id: 'reference' });

/** In a nested entity, a foreign field: its parent is implied, the others are not allowed. */
export const mustBeNull = z.null({ error: 'value must be null' });

/** Reports a problem at a path below the object a check is given. */
export type AddProblem = (path: Array<string | number>, message: string) => void;

/** Options of {@link record}. */
export interface RecordOptions {
  /** What the value should be, for the message when it is not an object. */
  what?: string;
  /** A rule on the whole object (Kong's entity checks); it must not trust the field types. */
  check?: (value: Record<string, unknown>, problem: AddProblem) => void;
  /** The JSON Schema of `check`, and an `id` to compile the record as its own function. */
  notes?: Record<string, unknown>;
}

/**
 * An object with exactly `shape`'s fields: any other field is an "unknown field" with its path.
 * The fields' own problems, the unknown fields and `check`'s problems are all reported in the
 * same pass.
 */
export function record<Shape extends z.core.$ZodLooseShape>(
  shape: Shape,
  options: RecordOptions = {},
) {
  const known = new Set(Object.keys(shape));
  const { what = 'an object', check, notes } = options;
  const schema = z.looseObject(shape, { error: expected(what) }).superRefine(
    (value, context) => {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return;
      const problem: AddProblem = (path, message) =>
        context.addIssue({ code: 'custom', message, path, input: value });
      for (const key of Object.keys(value)) if (!known.has(key)) problem([key], 'unknown field');
      check?.(value, problem);
    },
    // Run even when a field is wrong: every problem is reported at once.
    { when: () => true },
  );
  jsonSchemaNotes.add(schema, { additionalProperties: false, ...notes });
  return schema;
}

/** An optional field that has a default in Kong: absent or a value, never `null`. */
export function defaulted<T extends z.ZodType>(schema: T) {
  return schema.optional();
}

/** An optional field: absent, `null`, or a value. */
export function nullable<T extends z.ZodType>(schema: T) {
  return schema.nullable().optional();
}

/** The fields every entity record takes in a declarative file besides its own. */
export const META_FIELDS = {
  _comment: nullable(text),
  _ignore: nullable(z.array(z.unknown(), { error: expected('a list') })),
};
