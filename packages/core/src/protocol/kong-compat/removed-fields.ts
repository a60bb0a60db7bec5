/*
 * Kong's compat data, transcribed as data (not code) from Kong/kong at commit
 * 22246ef28c16842098369b494eef879222e30c7b (Kong 3.10.0):
 *
 *   - KONG_REMOVED_FIELDS: kong/clustering/compat/removed_fields.lua
 *   - KONG_MAX_PAYLOAD_DEFAULTS: the `cluster_max_payload` default of each release, read from
 *     the history of kong.conf.default, kong/templates/kong_defaults.lua, kong/constants.lua
 *     and kong/clustering.lua (the commits are named on each row)
 *
 * Kong is Apache License 2.0, Copyright Kong Inc. The code that applies these tables
 * (checkers.ts, index.ts) is planesync's own.
 */

/**
 * For each Kong version number (`3001000000` is 3.1.0), the plugin config fields a DP older
 * than that version does not know, by plugin name with `-` written `_` (as Kong keys them:
 * `rate_limiting` is the `rate-limiting` plugin). A dotted path names a nested field:
 * `storage_config.redis.ssl` is `config.storage_config.redis.ssl`.
 */
export const KONG_REMOVED_FIELDS: Readonly<
  Record<number, Readonly<Record<string, readonly string[]>>>
> = {
  // Any dataplane older than 3.1.0
  3001000000: {
    acme: [
      'enable_ipv4_common_name',
      'storage_config.redis.ssl',
      'storage_config.redis.ssl_verify',
      'storage_config.redis.ssl_server_name',
    ],
    rate_limiting: ['error_code', 'error_message'],
    response_ratelimiting: ['redis_ssl', 'redis_ssl_verify', 'redis_server_name'],
    datadog: ['retry_count', 'queue_size', 'flush_timeout'],
    statsd: ['retry_count', 'queue_size', 'flush_timeout'],
    session: ['cookie_persistent'],
    zipkin: ['http_response_header_for_traceid'],
  },
  // Any dataplane older than 3.2.0
  3002000000: {
    statsd: ['tag_style'],
    session: [
      'audience',
      'absolute_timeout',
      'remember_cookie_name',
      'remember_rolling_timeout',
      'remember_absolute_timeout',
      'response_headers',
      'request_headers',
    ],
    aws_lambda: ['aws_imds_protocol_version'],
    zipkin: ['phase_duration_flavor'],
  },
  // Any dataplane older than 3.3.0
  3003000000: {
    acme: ['account_key', 'storage_config.redis.namespace'],
    aws_lambda: ['disable_https'],
    proxy_cache: ['ignore_uri_case'],
    opentelemetry: ['http_response_header_for_traceid', 'queue', 'header_type'],
    http_log: ['queue'],
    statsd: ['queue'],
    datadog: ['queue'],
    zipkin: ['queue'],
  },
  // Any dataplane older than 3.4.0
  3004000000: {
    rate_limiting: ['sync_rate'],
    proxy_cache: ['response_headers'],
  },
  // Any dataplane older than 3.5.0
  3005000000: {
    acme: ['storage_config.redis.scan_count'],
    cors: ['private_network'],
    session: ['read_body_for_logout'],
  },
  // Any dataplane older than 3.6.0
  3006000000: {
    opentelemetry: ['sampling_rate'],
    basic_auth: ['realm'],
  },
  // Any dataplane older than 3.7.0
  3007000000: {
    opentelemetry: ['propagation'],
    zipkin: ['propagation'],
    ai_proxy: ['response_streaming', 'model.options.upstream_path'],
    ai_request_transformer: ['llm.model.options.upstream_path'],
    ai_response_transformer: ['llm.model.options.upstream_path'],
    key_auth: ['realm'],
  },
  // Any dataplane older than 3.8.0
  3008000000: {
    response_transformer: ['rename.json'],
    aws_lambda: ['empty_arrays_mode'],
    ldap_auth: ['realm'],
    hmac_auth: ['realm'],
    jwt: ['realm'],
    oauth2: ['realm'],
    opentelemetry: ['traces_endpoint', 'logs_endpoint', 'queue.concurrency_limit'],
    ai_proxy: [
      'max_request_body_size',
      'model.options.gemini',
      'auth.gcp_use_service_account',
      'auth.gcp_service_account_json',
      'model.options.bedrock',
      'auth.aws_access_key_id',
      'auth.aws_secret_access_key',
      'auth.allow_override',
      'model_name_header',
    ],
    ai_prompt_decorator: ['max_request_body_size'],
    ai_prompt_guard: ['match_all_roles', 'max_request_body_size'],
    ai_prompt_template: ['max_request_body_size'],
    ai_request_transformer: [
      'max_request_body_size',
      'llm.model.options.gemini',
      'llm.auth.gcp_use_service_account',
      'llm.auth.gcp_service_account_json',
      'llm.model.options.bedrock',
      'llm.auth.aws_access_key_id',
      'llm.auth.aws_secret_access_key',
      'llm.auth.allow_override',
    ],
    ai_response_transformer: [
      'max_request_body_size',
      'llm.model.options.gemini',
      'llm.auth.gcp_use_service_account',
      'llm.auth.gcp_service_account_json',
      'llm.model.options.bedrock',
      'llm.auth.aws_access_key_id',
      'llm.auth.aws_secret_access_key',
      'llm.auth.allow_override',
    ],
    prometheus: ['ai_metrics'],
    acl: ['always_use_authenticated_groups'],
    http_log: ['queue.concurrency_limit'],
    statsd: ['queue.concurrency_limit'],
    datadog: ['queue.concurrency_limit'],
    zipkin: ['queue.concurrency_limit'],
  },
  // Any dataplane older than 3.10.0
  3010000000: {
    cors: ['allow_origin_absent'],
    session: ['hash_subject', 'store_metadata'],
    prometheus: ['wasm_metrics'],
    ai_proxy: ['llm_format'],
    ai_prompt_guard: ['llm_format'],
    ai_prompt_decorator: ['llm_format'],
  },
};

/**
 * The default `cluster_max_payload` of Kong releases — the largest frame a DP accepts from its
 * CP (the gzip of the `reconfigure` message) unless its operator raised it — from the first
 * release with each value, oldest first. A version older than the first row is given the
 * first row's value, the smallest.
 */
export const KONG_MAX_PAYLOAD_DEFAULTS: readonly {
  /** Kong's version number of the first release with this default. */
  readonly since: number;
  readonly bytes: number;
}[] = [
  // 2.0.0, hybrid mode's first release: `local MAX_PAYLOAD = 65536 -- 64KB` in
  // kong/clustering.lua, unchanged through 2.0.5.
  { since: 2000000000, bytes: 65536 },
  // 2.1.0: 4 MiB, commit 9d830a6e9c38a01c67be5d058d8a1b99170b42e9 ("perf(clustering) set
  // larger allowance for WebSocket frame"); a constant (CLUSTERING_MAX_PAYLOAD) from 2.5, and
  // the configurable `cluster_max_payload = 4194304` from 2.8.0 (commit
  // 5a428fae65eaf4f71b74fd402c9345e250c41297, #8337).
  { since: 2001000000, bytes: 4194304 },
  // 3.4.0: 16 MiB, commit 7dabdb53e9bcce7b1db6a951150c35d52a6e546f (#11090, "bump
  // `cluster_max_payload` default to 16MB"); still the default at 3.10.0.
  { since: 3004000000, bytes: 16777216 },
];
