const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i;

/**
 * What is wrong with a subject alternative name, or `undefined` when it is a valid DNS name
 * (RFC 1123 labels of letters, digits and hyphens; a `*` only as the whole leftmost label)
 * or an IP address (v4 or v6, without a zone). The problem reads after the name:
 * `"not a valid name!!" is neither an IP address nor a DNS name …`.
 */
export function altNameProblem(value: string): string | undefined {
  if (value === '') return 'is empty';
  if (value.includes('%') && value.includes(':'))
    return 'is an IPv6 address with a zone; a certificate holds the address alone';
  if (ipVersion(value) !== 0) return undefined;
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

/** 4 or 6 for an IP address, 0 otherwise — without node:net, which core does not import. */
export function ipVersion(value: string): 0 | 4 | 6 {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(value);
  if (v4) return v4.slice(1).every((octet) => Number(octet) <= 255 && !/^0\d/.test(octet)) ? 4 : 0;
  if (!value.includes(':') || !/^[0-9a-f:.]+$/i.test(value)) return 0;
  try {
    new URL(`http://[${value}]/`);
    return 6;
  } catch {
    return 0;
  }
}
