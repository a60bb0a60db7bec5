import type { X509Certificate } from 'node:crypto';
import type { Clock } from '../clock.ts';
import type { TrustCode } from '../errors.ts';
import { checkOcsp, type OcspAnswer } from '../trust/ocsp.ts';

/** The most OCSP requests in flight at once; the others wait their turn. */
const MAX_IN_FLIGHT = 32;
/** The most answers remembered, by certificate. */
const MAX_CACHED = 10_000;
/** An answer is remembered at most this long, whatever its `nextUpdate` says. */
const MAX_CACHE_MS = 300_000;

/**
 * Kong's `cluster_ocsp` for a CP: asks the responder a DP's certificate names, at most
 * `MAX_IN_FLIGHT` at once (a reconnecting fleet does not open thousands of requests), and
 * remembers `good` and `revoked` answers for a few minutes (a reconnect storm asks once per
 * certificate). `judge` says whether to refuse, and why.
 */
export class OcspGate {
  #inFlight = 0;
  readonly #waiting: Array<() => void> = [];
  readonly #answers = new Map<string, { answer: OcspAnswer; until: number }>();

  constructor(
    readonly mode: 'on' | 'optional',
    private readonly timeoutMs: number,
    private readonly clock: Clock,
  ) {}

  /**
   * The refusal for the verified path `chain` (leaf, issuer, …), or none; `fresh` asks the
   * responder even when an answer is remembered (a recheck); `signal` ends the question (the
   * DP went away).
   */
  async judge(
    chain: readonly X509Certificate[],
    options: { fresh?: boolean; signal?: AbortSignal } = {},
  ): Promise<{ refused: TrustCode | undefined; answer: OcspAnswer }> {
    const [leaf, issuer] = chain;
    // A leaf trusted as an anchor itself has no issuer to ask about it: 'on' must not read
    // that as a check passed.
    const answer: OcspAnswer =
      leaf && issuer
        ? await this.#answer(leaf, issuer, options)
        : {
            status: 'unknown',
            reason: 'the certificate is a trust anchor itself: no issuer to ask about it',
          };
    const refused =
      answer.status === 'revoked'
        ? 'TRUST_REVOKED'
        : answer.status === 'unknown' && this.mode === 'on'
          ? 'TRUST_REVOCATION_UNKNOWN'
          : undefined;
    return { refused, answer };
  }

  async #answer(
    leaf: X509Certificate,
    issuer: X509Certificate,
    options: { fresh?: boolean; signal?: AbortSignal },
  ): Promise<OcspAnswer> {
    const key = `${leaf.fingerprint256}:${issuer.fingerprint256}`;
    const known = options.fresh ? undefined : this.#answers.get(key);
    if (known && known.until > this.clock.now()) return known.answer;
    if (this.#inFlight >= MAX_IN_FLIGHT)
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.#inFlight++;
    try {
      const answer = await checkOcsp(leaf, issuer, {
        timeoutMs: this.timeoutMs,
        at: this.clock.now(),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      if (answer.status !== 'unknown' && answer.validUntil !== undefined) {
        const until = Math.min(answer.validUntil, this.clock.now() + MAX_CACHE_MS);
        this.#answers.delete(key); // re-inserted last: the oldest go first
        this.#answers.set(key, { answer, until });
        if (this.#answers.size > MAX_CACHED)
          this.#answers.delete(this.#answers.keys().next().value!);
      }
      return answer;
    } finally {
      this.#inFlight--;
      this.#waiting.shift()?.();
    }
  }
}
