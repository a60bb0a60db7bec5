import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TrustVerifier } from '../../src/index.ts';

interface LimboCase {
  id: string;
  trusted_certs: string[];
  untrusted_intermediates: string[];
  peer_certificate: string;
  validation_time: string | null;
  expected_peer_name: { kind: string; value: string } | null;
  max_chain_depth: number | null;
  expected_result: 'SUCCESS' | 'FAILURE';
}

/** Cases where planesync's answer is the opposite of the vector's, grouped by why. */
interface Difference {
  reason: string;
  cases: string[];
}

const limbo = JSON.parse(
  readFileSync(new URL('../fixtures/x509-limbo/limbo.json', import.meta.url), 'utf8'),
) as { testcases: LimboCase[] };
const differences = JSON.parse(
  readFileSync(new URL('./limbo-exceptions.json', import.meta.url), 'utf8'),
) as Difference[];

/** The families a cluster verifier must pass; webpki:: and online:: are web-PKI policy. */
const REQUIRED = ['rfc5280', 'pathlen', 'pathological'];
const familyOf = (id: string) => id.split('::')[0]!;

const reasons = new Map(
  differences.flatMap(({ reason, cases }) => cases.map((id) => [id, reason] as const)),
);

function run(testcase: LimboCase): boolean {
  const verifier = new TrustVerifier({
    mode: 'pki',
    trustAnchors: testcase.trusted_certs,
    ...(testcase.max_chain_depth === null ? {} : { maxDepth: testcase.max_chain_depth }),
  });
  const result = verifier.verify([testcase.peer_certificate, ...testcase.untrusted_intermediates], {
    role: 'control-plane',
    ...(testcase.expected_peer_name ? { serverName: testcase.expected_peer_name.value } : {}),
    ...(testcase.validation_time ? { at: Date.parse(testcase.validation_time) } : {}),
  });
  return result.ok;
}

describe('x509-limbo path validation', () => {
  it('runs all 135 vectors of the fixture (none skipped)', () => {
    expect(limbo.testcases).toHaveLength(135);
    expect(new Set(limbo.testcases.map((c) => c.id)).size).toBe(135);
  });

  it('lists each difference once, for a case of the vectors, with its reason', () => {
    const listed = differences.flatMap(({ cases }) => cases);
    expect(new Set(listed).size).toBe(listed.length);
    const ids = new Set(limbo.testcases.map((c) => c.id));
    expect(listed.filter((id) => !ids.has(id))).toEqual([]);
    for (const { reason, cases } of differences) {
      expect(cases.length).toBeGreaterThan(0);
      expect(reason.length, cases.join(', ')).toBeGreaterThan(40);
    }
  });

  it('differs on at most 3% of the cluster-relevant cases (rfc5280::, pathlen::, pathological::)', () => {
    const required = limbo.testcases.filter((c) => REQUIRED.includes(familyOf(c.id)));
    const differing = required.filter((c) => reasons.has(c.id));
    expect(required.length).toBe(86);
    expect(differing.length).toBeLessThanOrEqual(Math.floor(required.length * 0.03));
  });

  // Every case is run and must give the vector's result, or the opposite when it is listed in
  // limbo-exceptions.json: a verifier change that fixes or breaks any case fails here.
  for (const testcase of limbo.testcases) {
    const expected = testcase.expected_result === 'SUCCESS';
    const listed = reasons.has(testcase.id);
    const answer = listed ? !expected : expected;
    it(`${testcase.id} → ${answer ? 'trusted' : 'refused'}${listed ? ` (vector says ${testcase.expected_result}: a listed difference)` : ''}`, () => {
      expect(run(testcase), reasons.get(testcase.id)).toBe(answer);
    });
  }
});
