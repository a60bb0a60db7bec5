import { isIP } from 'node:net';

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i;

/**
 * What is wrong with a subject alternative name, or `undefined` when it is a valid DNS name
 * (RFC 1123 labels of letters, digits and hyphens; a `*` only as the whole leftmost label)
 * or an IP address (v4 or v6, without a zone). The problem reads after the name:
 * `"not a valid name!!" is neither an IP address nor a DNS name …`.
 */
export function altNameProblem(value: string): string | undefined {
  if (value === '') return 'is empty';
  if (value.includes('%') && isIP(value) === 6)
    return 'is an IPv6 address with a zone; a certificate holds the address alone';
  if (isIP(value) !== 0) return undefined;
  if (/^[\d.]+$/.test(value)) return 'is not a valid IPv4 address';
  if (value.includes(':')) return 'is not a valid IPv6 address';
  if (value.length > 253) return 'is longer than the 253 characters a DNS name may have';
  const labels = value.split('.');
  for (const [index, label] of labels.entries()) {
    if (label === '*') {
      if (index !== 0) return 'has a wildcard that is not the leftmost label';
      if (labels.length < 3) return 'has a wildcard directly under a top-level name';
      continue;
    }
    if (label === '')
      return value.endsWith('.') ? 'ends with a dot' : 'has an empty label (two dots)';
    if (label.includes('*')) return 'has a wildcard that is not a whole label (*.example.com)';
    if (label.length > 63) return `has a label longer than 63 characters`;
    if (!LABEL.test(label) && labels.length === 1)
      return 'is neither an IP address nor a DNS name (letters, digits and inner hyphens, RFC 1123)';
    if (!LABEL.test(label))
      return `has a label "${label}" that is not letters, digits and inner hyphens (RFC 1123)`;
  }
  return undefined;
}
