import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script without declarations
import { apiReports } from '../scripts/api-report.mjs';

const root = join(import.meta.dirname, '..');

const reports: Map<string, string> = apiReports();

describe('the public surface changes only on purpose', () => {
  it('every package entry point has a committed report in api/, and no report is left for one that is gone', () => {
    expect(readdirSync(join(root, 'api')).sort()).toEqual([...reports.keys()].sort());
  });

  it.each([...apiReports().keys()])(
    '%s matches what the sources export (after a deliberate change: node scripts/api-report.mjs --update)',
    (file) => {
      expect(reports.get(file)).toBe(readFileSync(join(root, 'api', file), 'utf8'));
    },
  );
});
