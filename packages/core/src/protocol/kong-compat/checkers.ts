/*
 * The rules by which a Kong CP adapts a config for an older DP, as Kong 3.10.0 applies them
 * (Kong/kong at 22246ef28c16842098369b494eef879222e30c7b: kong/clustering/compat/checkers.lua,
 * kong/clustering/compat/init.lua and the plugins' clustering/compat/redis_translation.lua).
 * Written for planesync from what those rules do; the field tables they name are data.
 *
 * Where Kong's Lua would raise on a config of an unexpected shape (a plugin without its
 * `config`, an `ai-proxy` without `model`), a rule here leaves that entity alone instead.
 */

import { versionNumber } from '../compatibility.ts';

type Entity = Record<string, unknown>;

/** A plain object, the JSON shape Lua calls a table with string keys. */
function isObject(value: unknown): value is Entity {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Lua's `t[key] ~= nil`: the key is set, to anything (JSON `null` is Kong's `ngx.null`). */
function isSet(table: Entity, key: string): boolean {
  return Object.hasOwn(table, key) && table[key] !== undefined;
}

/** Lua's truthiness: set, and not `false` (`ngx.null` is truthy). */
function isTruthy(table: Entity, key: string): boolean {
  return isSet(table, key) && table[key] !== false;
}

/** The object at a dotted path (`llm.model`) under `root`, or `undefined` if any step is not one. */
function objectAt(root: unknown, path: string): Entity | undefined {
  let ref = root;
  for (const segment of path.split('.')) {
    if (!isObject(ref)) return undefined;
    ref = ref[segment];
  }
  return isObject(ref) ? ref : undefined;
}

/**
 * A config table being adapted. The input is never written: the first time a rule changes an
 * entity, the table, that collection and that entity are copied (the entity deeply), and the
 * rule writes the copy. Untouched collections and entities are shared with the input.
 */
class ConfigDraft {
  readonly #source: Entity;
  #table: Entity;
  readonly #copiedCollections = new Set<string>();
  readonly #copiedEntities = new WeakSet<object>();
  readonly #notes = new Set<string>();

  constructor(
    source: Entity,
    /** The DP's version, as it reported it: named in notes. */
    readonly dataPlaneVersion: string,
    /** Kong's number for the DP's version. */
    readonly dataPlaneNumber: number,
    /** The CP's version: named in notes. */
    readonly controlPlaneVersion: string,
  ) {
    this.#source = source;
    this.#table = source;
  }

  /** Whether any rule changed the config. */
  get changed(): boolean {
    return this.#table !== this.#source;
  }

  /** The config as it stands: the input itself while nothing changed. */
  get table(): Entity {
    return this.#table;
  }

  /** One line per kind of change, in the order they were made. */
  get notes(): string[] {
    return [...this.#notes];
  }

  /** The entities of a collection as they stand; read them, change them through `edit`. */
  entities(collection: string): readonly unknown[] {
    const list = this.#table[collection];
    return Array.isArray(list) ? list : [];
  }

  /** A writable copy of entity `index` of `collection`, the same copy on every call. */
  edit(collection: string, index: number): Entity {
    if (this.#table === this.#source) this.#table = { ...this.#source };
    if (!this.#copiedCollections.has(collection)) {
      this.#table[collection] = [...this.entities(collection)];
      this.#copiedCollections.add(collection);
    }
    const list = this.#table[collection] as unknown[];
    const entity = list[index] as Entity;
    if (this.#copiedEntities.has(entity)) return entity;
    const copy = structuredClone(entity);
    this.#copiedEntities.add(copy);
    list[index] = copy;
    return copy;
  }

  /** Records a change, worded like Kong's `log_warn_message` (a line is kept once). */
  warn(hint: string, action: string): void {
    this.note(
      `Kong Gateway v${this.controlPlaneVersion} ${hint} which is incompatible with dataplane version ${this.dataPlaneVersion} and will ${action}.`,
    );
  }

  /** Records a line as it is (a line is kept once). */
  note(line: string): void {
    this.#notes.add(line);
  }
}

/** Calls `visit` for each plugin entity whose name is one of `names` and whose `config` is an object. */
function forEachPlugin(
  draft: ConfigDraft,
  names: readonly string[],
  visit: (plugin: Entity, config: Entity, index: number) => void,
): void {
  draft.entities('plugins').forEach((plugin, index) => {
    if (!isObject(plugin) || typeof plugin.name !== 'string' || !names.includes(plugin.name))
      return;
    if (isObject(plugin.config)) visit(plugin, plugin.config, index);
  });
}

/** The writable copy of plugin `index`'s config. */
function editConfig(draft: ConfigDraft, index: number): Entity {
  return draft.edit('plugins', index).config as Entity;
}

/**
 * A structural rule: applies to DPs older than `before` (Kong's version number), in the order
 * of {@link KONG_CHECKERS}, and changes the draft through `edit`.
 */
interface KongChecker {
  readonly before: number;
  apply(draft: ConfigDraft): void;
}

// AI providers and the release that added them (checkers.lua `_AI_PROVIDERS_ADDED`).
const AI_PROVIDER_ADDED_IN: Readonly<Record<string, number>> = {
  huggingface: 3009000000,
  gemini: 3008000000,
  bedrock: 3008000000,
};

// Where each AI plugin names its model.
const AI_MODEL_PATH: Readonly<Record<string, string>> = {
  'ai-proxy': 'model',
  'ai-request-transformer': 'llm.model',
  'ai-response-transformer': 'llm.model',
};

/**
 * Kong's AI-provider fallback, run once per release that added providers (3.9, then 3.8): a
 * provider added in `release` or later becomes `openai`, and `ai-proxy` passes requests
 * through (`route_type: preserve`). With `dropOwnOptions`, the provider's own options under
 * the model go too (Kong does so for 3.9's huggingface; 3.8's gemini and bedrock options are
 * in the removed fields).
 */
function aiProviderFallback(release: number, dropOwnOptions: boolean): KongChecker['apply'] {
  return (draft) => {
    forEachPlugin(draft, Object.keys(AI_MODEL_PATH), (plugin, config, index) => {
      const name = plugin.name as string;
      const modelPath = AI_MODEL_PATH[name] as string;
      const provider = objectAt(config, modelPath)?.provider;
      if (typeof provider !== 'string') return;
      const addedIn = AI_PROVIDER_ADDED_IN[provider];
      if (addedIn === undefined || addedIn < release) return;
      const edited = editConfig(draft, index);
      const model = objectAt(edited, modelPath) as Entity;
      model.provider = 'openai';
      if (name === 'ai-proxy') edited.route_type = 'preserve';
      const options = model.options;
      if (dropOwnOptions && isObject(options)) delete options[provider];
      draft.warn(
        `configures ${name} plugin with "openai preserve mode", because ${provider} provider is not supported in this release`,
        'fall back to it',
      );
    });
  };
}

/**
 * The legacy redis fields of `rate-limiting` and `response-ratelimiting` before 3.6: the
 * `redis` table flattened into `redis_<field>`, `server_name` as `redis_server_name`.
 */
const LEGACY_REDIS_FIELDS = [
  'host',
  'port',
  'username',
  'password',
  'database',
  'timeout',
  'ssl',
  'ssl_verify',
  'server_name',
] as const;

/** The names Kong gives `tls` services' upstream TLS fields, none of which 3.1 knows there. */
const TLS_SERVICE_FIELDS = [
  'client_certificate',
  'tls_verify',
  'tls_verify_depth',
  'ca_certificates',
] as const;

/** The collections whose entities carry `updated_at` from 3.3 (checkers.lua's list). */
const UPDATED_AT_COLLECTIONS = [
  'ca_certificates',
  'certificates',
  'consumers',
  'targets',
  'upstreams',
  'plugins',
  'workspaces',
  'snis',
] as const;

/**
 * Sets a legacy queue field when it is not a number: to `fallback` if that is one, else to
 * `otherwise`, noting it.
 */
function ensureNumber(
  draft: ConfigDraft,
  plugin: Entity,
  index: number,
  field: string,
  fallback: unknown,
  otherwise: number,
): void {
  if (typeof (plugin.config as Entity)[field] === 'number') return;
  const value = typeof fallback === 'number' ? fallback : otherwise;
  editConfig(draft, index)[field] = value;
  draft.note(
    `${plugin.name as string} plugin configuration '${field}' is sent as ${value} to dataplane version ${draft.dataPlaneVersion}, which has no plugin queue`,
  );
}

/**
 * Kong's structural rules (checkers.lua), in Kong's order — newest release first, which
 * matters: 3.9 and 3.8 turn an AI provider into `openai` with `route_type: preserve` before
 * 3.7 turns `preserve` into `llm/v1/chat`, and 3.8 warns about acme's redis `username` before
 * 3.6 rebuilds that redis table.
 */
const KONG_CHECKERS: readonly KongChecker[] = [
  // 3.9.0: the huggingface AI provider (checkers.lua, 3009000000).
  { before: 3009000000, apply: aiProviderFallback(3009000000, true) },

  // 3.8.0 (checkers.lua, 3008000000).
  {
    before: 3008000000,
    apply(draft) {
      // acme's redis `username` is new in 3.8: Kong only warns, the field stays.
      forEachPlugin(draft, ['acme'], (_, config) => {
        const redis = objectAt(config, 'storage_config.redis');
        if (redis && isSet(redis, 'username')) {
          draft.warn('configures acme plugin with redis username', 'not work in this release');
        }
      });
      // aws-lambda's `aws_sts_endpoint_url` is new in 3.8.
      forEachPlugin(draft, ['aws-lambda'], (_, config, index) => {
        if (!isSet(config, 'aws_sts_endpoint_url')) return;
        delete editConfig(draft, index).aws_sts_endpoint_url;
        draft.warn('configures aws-lambda plugin with aws_sts_endpoint_url', 'be removed');
      });
      // The gemini and bedrock AI providers are new in 3.8.
      aiProviderFallback(3008000000, false)(draft);
      // Before 3.8 ai-proxy's mistral provider needs its managed service's URL spelled out.
      forEachPlugin(draft, ['ai-proxy'], (_, config, index) => {
        const model = objectAt(config, 'model');
        if (model?.provider !== 'mistral') return;
        const options = model.options;
        // Kong's test: options unset or null, or upstream_url unset, false or null.
        if (
          isObject(options) &&
          isTruthy(options, 'upstream_url') &&
          options.upstream_url !== null
        ) {
          return;
        }
        const edited = objectAt(editConfig(draft, index), 'model') as Entity;
        const editedOptions = isObject(edited.options) ? edited.options : {};
        editedOptions.upstream_url = 'https://api.mistral.ai:443';
        edited.options = editedOptions;
        draft.warn(
          'configures ai-proxy plugin with mistral provider without upstream_url',
          'use the managed service https://api.mistral.ai:443',
        );
      });
    },
  },

  // 3.7.0: ai-proxy's `preserve` route type (checkers.lua, 3007000000).
  {
    before: 3007000000,
    apply(draft) {
      forEachPlugin(draft, ['ai-proxy'], (_, config, index) => {
        if (config.route_type !== 'preserve') return;
        editConfig(draft, index).route_type = 'llm/v1/chat';
        draft.warn(
          'configures ai-proxy plugin with route_type == "llm/v1/chat", because preserve mode is not supported in this release',
          'use llm/v1/chat',
        );
      });
    },
  },

  // 3.6.0: the shared `redis` config (checkers.lua, 3006000000, and each plugin's
  // clustering/compat/redis_translation.lua). Kong's loop keeps only the last plugin's answer
  // as its "changed" flag; here any adapted plugin counts.
  {
    before: 3006000000,
    apply(draft) {
      // acme: `storage_config.redis` back to its pre-3.6 fields.
      forEachPlugin(draft, ['acme'], (_, config, index) => {
        if (config.storage !== 'redis') return;
        if (!objectAt(config, 'storage_config.redis')) return;
        const storage = objectAt(editConfig(draft, index), 'storage_config') as Entity;
        const redis = storage.redis as Entity;
        const extra = isObject(redis.extra_options) ? redis.extra_options : {};
        const legacy: Entity = {
          host: redis.host,
          port: redis.port,
          auth: redis.password,
          database: redis.database,
          ssl: redis.ssl,
          ssl_verify: redis.ssl_verify,
          ssl_server_name: redis.server_name,
          namespace: extra.namespace,
          scan_count: extra.scan_count,
        };
        // A Lua table holds no nil: fields the new config leaves out are absent, not null.
        for (const key of Object.keys(legacy)) if (legacy[key] === undefined) delete legacy[key];
        storage.redis = legacy;
        draft.warn(
          'adapts acme plugin redis configuration to older version',
          'revert to older schema',
        );
      });
      // rate-limiting and response-ratelimiting: `redis.<field>` back to `redis_<field>`.
      forEachPlugin(draft, ['rate-limiting', 'response-ratelimiting'], (plugin, config, index) => {
        if (config.policy !== 'redis' || !isObject(config.redis)) return;
        const edited = editConfig(draft, index);
        const redis = edited.redis as Entity;
        for (const field of LEGACY_REDIS_FIELDS) {
          if (redis[field] !== undefined) edited[`redis_${field}`] = redis[field];
        }
        delete edited.redis;
        draft.warn(
          `adapts ${plugin.name as string} plugin redis configuration to older version`,
          'revert to older schema',
        );
      });
    },
  },

  // 3.5.0: the `gcp` trace header (checkers.lua, 3005000000).
  { before: 3005000000, apply: (draft) => fallBackFromHeaderType(draft, 'gcp') },

  // 3.4.0: the `aws` trace header (checkers.lua, 3004000000).
  { before: 3004000000, apply: (draft) => fallBackFromHeaderType(draft, 'aws') },

  // 3.3.0: plugin queues (checkers.lua, 3003000000). A 3.2 DP reads its legacy batching
  // fields, so they are derived from `queue`; `retry_count` is gone and always 10.
  {
    before: 3003000000,
    apply(draft) {
      forEachPlugin(draft, ['statsd', 'datadog'], (plugin, config, index) => {
        const queue = isObject(config.queue) ? config.queue : {};
        ensureNumber(draft, plugin, index, 'retry_count', undefined, 10);
        ensureNumber(draft, plugin, index, 'queue_size', queue.max_batch_size, 1);
        ensureNumber(draft, plugin, index, 'flush_timeout', queue.max_coalescing_delay, 2);
      });
      forEachPlugin(draft, ['opentelemetry'], (plugin, config, index) => {
        const queue = isObject(config.queue) ? config.queue : {};
        ensureNumber(draft, plugin, index, 'batch_span_count', queue.max_batch_size, 200);
        ensureNumber(draft, plugin, index, 'batch_flush_delay', queue.max_coalescing_delay, 3);
      });
    },
  },

  // 3.3.0: the env vault's prefix takes `_` where it had `-` (checkers.lua, 3003000000).
  {
    before: 3003000000,
    apply(draft) {
      draft.entities('vaults').forEach((vault, index) => {
        if (!isObject(vault) || vault.name !== 'env' || !isObject(vault.config)) return;
        const prefix = vault.config.prefix;
        if (typeof prefix !== 'string' || !prefix.includes('-')) return;
        (draft.edit('vaults', index).config as Entity).prefix = prefix.replaceAll('-', '_');
        draft.note(
          `env vault prefix '${prefix}' is sent with '_' for '-' to dataplane version ${draft.dataPlaneVersion}`,
        );
      });
    },
  },

  // 3.3.0: `updated_at` on core entities (checkers.lua, 3003000000).
  {
    before: 3003000000,
    apply(draft) {
      for (const collection of UPDATED_AT_COLLECTIONS) {
        draft.entities(collection).forEach((entity, index) => {
          if (!isObject(entity) || !isTruthy(entity, 'updated_at')) return;
          delete draft.edit(collection, index).updated_at;
          draft.warn(`contains configuration '${collection}.updated_at'`, 'be removed');
        });
      }
    },
  },

  // 3.2.0: upstream TLS settings on `tls` services (checkers.lua, 3002000000).
  {
    before: 3002000000,
    apply(draft) {
      draft.entities('services').forEach((service, index) => {
        if (!isObject(service) || service.protocol !== 'tls') return;
        if (!TLS_SERVICE_FIELDS.some((field) => isTruthy(service, field))) return;
        const edited = draft.edit('services', index);
        for (const field of TLS_SERVICE_FIELDS) delete edited[field];
        draft.warn(
          "tls protocol service contains configuration 'service.client_certificate' or 'service.tls_verify' or 'service.tls_verify_depth' or 'service.ca_certificates'",
          'be removed',
        );
      });
    },
  },

  // 3.2.0: the `latency` load-balancing algorithm (checkers.lua, 3002000000).
  {
    before: 3002000000,
    apply(draft) {
      draft.entities('upstreams').forEach((upstream, index) => {
        if (!isObject(upstream) || upstream.algorithm !== 'latency') return;
        draft.edit('upstreams', index).algorithm = 'round-robin';
        draft.warn(
          "configuration 'upstream.algorithm' contains 'latency' option",
          "fall back to 'round-robin'",
        );
      });
    },
  },

  // 3.2.0: plugins' `instance_name` (checkers.lua, 3002000000).
  {
    before: 3002000000,
    apply(draft) {
      draft.entities('plugins').forEach((plugin, index) => {
        if (!isObject(plugin) || !isSet(plugin, 'instance_name')) return;
        delete draft.edit('plugins', index).instance_name;
        draft.warn("contains configuration 'plugin.instance_name'", 'be removed');
      });
    },
  },

  // 3.1.0: upstreams' `use_srv_name` (checkers.lua, 3001000000).
  {
    before: 3001000000,
    apply(draft) {
      draft.entities('upstreams').forEach((upstream, index) => {
        if (!isObject(upstream) || !isSet(upstream, 'use_srv_name')) return;
        delete draft.edit('upstreams', index).use_srv_name;
        draft.warn("contains configuration 'upstream.use_srv_name'", 'be removed');
      });
    },
  },
];

/**
 * The `aws` (3.4) and `gcp` (3.5) trace headers: opentelemetry's and zipkin's `header_type`
 * falls back to `preserve`, zipkin's `default_header_type` to `b3`.
 */
function fallBackFromHeaderType(draft: ConfigDraft, header: 'aws' | 'gcp'): void {
  forEachPlugin(draft, ['opentelemetry', 'zipkin'], (plugin, config, index) => {
    const name = plugin.name as string;
    if (config.header_type === header) {
      editConfig(draft, index).header_type = 'preserve';
      draft.warn(
        `configures ${name} plugin with: header_type == ${header}`,
        'overwritten with default value `preserve`',
      );
    }
    if (name === 'zipkin' && config.default_header_type === header) {
      editConfig(draft, index).default_header_type = 'b3';
      draft.warn(
        `configures ${name} plugin with: default_header_type == ${header}`,
        'overwritten with default value `b3`',
      );
    }
  });
}

/**
 * The plugin fields a DP of Kong number `dataPlaneNumber` does not know: the union of every
 * entry of `table` newer than it, each plugin's list sorted (compat/init.lua
 * `get_removed_fields`). Empty when none applies.
 */
export function removedFieldsFor(
  table: RemovedFieldsTable,
  dataPlaneNumber: number,
): Map<string, string[]> {
  const fields = new Map<string, string[]>();
  for (const [version, plugins] of Object.entries(table)) {
    if (dataPlaneNumber >= Number(version)) continue;
    for (const [plugin, names] of Object.entries(plugins)) {
      fields.set(plugin, [...(fields.get(plugin) ?? []), ...names]);
    }
  }
  for (const names of fields.values()) names.sort();
  return fields;
}

// Renames Kong makes, before removing fields, in a plugin that has removed fields for the DP
// (compat/init.lua `invalidate_keys_from_config`): the config's name → the DP's name.
const RENAMES: readonly {
  readonly plugin: string;
  readonly before: number;
  readonly fields: readonly (readonly [string, string])[];
}[] = [
  // session 4 (Kong 3.2) renamed its cookie settings.
  {
    plugin: 'session',
    before: 3002000000,
    fields: [
      ['idling_timeout', 'cookie_idletime'],
      ['rolling_timeout', 'cookie_lifetime'],
      ['stale_ttl', 'cookie_discard'],
      ['cookie_same_site', 'cookie_samesite'],
      ['cookie_http_only', 'cookie_httponly'],
      ['remember', 'cookie_persistent'],
    ],
  },
  // opentelemetry (Kong 3.8) named its `endpoint` `traces_endpoint`, beside `logs_endpoint`.
  { plugin: 'opentelemetry', before: 3008000000, fields: [['traces_endpoint', 'endpoint']] },
];

/** The object holding the last step of a dotted path, and that step's name. */
function parentOf(config: Entity, path: string): [Entity | undefined, string] {
  const segments = path.split('.');
  const last = segments.pop() as string;
  return [segments.length === 0 ? config : objectAt(config, segments.join('.')), last];
}

/** Kong's removed-fields table's shape: version number → plugin key → field paths. */
export type RemovedFieldsTable = Readonly<
  Record<number, Readonly<Record<string, readonly string[]>>>
>;

/**
 * Kong's per-plugin field pass (compat/init.lua `invalidate_keys_from_config`): for each
 * plugin (its name with `-` read as `_`) that has removed fields for this DP, its renamed
 * fields take their old names, then each removed field that is set (to anything, `null`
 * included) is deleted — a dotted path only where every step to it is an object. A plugin
 * not in `removed` is left as it is, renames included.
 */
function removeUnknownPluginFields(
  draft: ConfigDraft,
  removed: ReadonlyMap<string, readonly string[]>,
): void {
  draft.entities('plugins').forEach((plugin, index) => {
    if (!isObject(plugin) || typeof plugin.name !== 'string' || !isObject(plugin.config)) return;
    const name = plugin.name;
    const key = name.replaceAll('-', '_');
    const fields = removed.get(key);
    if (fields === undefined) return;
    // The plugin's config as it stands, the copy once a change was made.
    const current = () => (draft.entities('plugins')[index] as Entity).config as Entity;

    for (const rename of RENAMES) {
      if (rename.plugin !== key || draft.dataPlaneNumber >= rename.before) continue;
      for (const [from, to] of rename.fields) {
        if (!isSet(current(), from)) continue;
        const edited = editConfig(draft, index);
        edited[to] = edited[from];
        delete edited[from];
        draft.note(
          `${name} plugin configuration '${from}' is sent as '${to}' to dataplane version ${draft.dataPlaneVersion}`,
        );
      }
    }
    // session before 3.2 has no `Default` SameSite: Kong sends `Lax`.
    if (
      key === 'session' &&
      draft.dataPlaneNumber < 3002000000 &&
      current().cookie_samesite === 'Default'
    ) {
      editConfig(draft, index).cookie_samesite = 'Lax';
      draft.note(
        `${name} plugin configuration 'cookie_samesite' Default is sent as Lax to dataplane version ${draft.dataPlaneVersion}`,
      );
    }

    for (const field of fields) {
      const [parent, last] = parentOf(current(), field);
      if (!parent || !isSet(parent, last)) continue;
      const [editedParent] = parentOf(editConfig(draft, index), field);
      delete (editedParent as Entity)[last];
      draft.note(
        `${key} plugin contains configuration '${field}' which is incompatible with dataplane version ${draft.dataPlaneVersion} and will be ignored`,
      );
    }
  });
}

/**
 * Kong's adaptation of a config for a DP of another version (compat/init.lua
 * `update_compatible_payload`), with `removedFields` as its removed-fields table: each
 * structural rule for a release newer than the DP, in Kong's order, then the plugin field
 * pass. The input is never written; it is returned itself when no rule changed it.
 */
export function adaptConfig(
  configTable: Record<string, unknown>,
  dataPlaneVersion: string,
  controlPlaneVersion: string,
  removedFields: RemovedFieldsTable,
): { config: Record<string, unknown>; changed: boolean; notes: string[] } {
  const dataPlaneNumber = versionNumber(dataPlaneVersion);
  const draft = new ConfigDraft(
    configTable,
    dataPlaneVersion,
    dataPlaneNumber,
    controlPlaneVersion,
  );
  for (const checker of KONG_CHECKERS) {
    if (dataPlaneNumber < checker.before) checker.apply(draft);
  }
  removeUnknownPluginFields(draft, removedFieldsFor(removedFields, dataPlaneNumber));
  return { config: draft.table, changed: draft.changed, notes: draft.notes };
}

/**
 * Every version number below which some rule applies (a structural rule, a rename, the
 * session SameSite rule, a removed-fields release), ascending: two DPs below exactly the same
 * ones get the same adaptation.
 */
export function ruleThresholds(removedFields: RemovedFieldsTable): number[] {
  const thresholds = new Set<number>([
    ...KONG_CHECKERS.map((checker) => checker.before),
    ...RENAMES.map((rename) => rename.before),
    3002000000,
    ...Object.keys(removedFields).map(Number),
  ]);
  return [...thresholds].sort((a, b) => a - b);
}
