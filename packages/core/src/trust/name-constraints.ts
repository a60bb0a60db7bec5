import { AsnConvert } from '@peculiar/asn1-schema';
import type { GeneralName, GeneralSubtree, Name } from '@peculiar/asn1-x509';
import type { ParsedCertificate } from './parsed-certificate.ts';

/**
 * RFC 5280 §4.2.1.10 name constraints for the three name forms a cluster certificate uses:
 * DNS names, IP addresses and directory names. Returns why `subject` violates the
 * constraints of `ca`, or `undefined` when it does not.
 */
export function violatesNameConstraints(
  ca: ParsedCertificate,
  subject: ParsedCertificate,
): string | undefined {
  const constraints = ca.nameConstraints?.value;
  if (!constraints) return undefined;
  const names = namesOf(subject);
  for (const kind of ['dns', 'ip', 'dn'] as const) {
    const permitted = (constraints.permittedSubtrees ?? []).filter(
      (tree) => kindOf(tree.base) === kind,
    );
    const excluded = (constraints.excludedSubtrees ?? []).filter(
      (tree) => kindOf(tree.base) === kind,
    );
    for (const name of names[kind]) {
      if (excluded.some((tree) => matches(kind, name, tree))) {
        return `${describe(kind, name)} is excluded by the name constraints of an issuer`;
      }
      if (permitted.length > 0 && !permitted.some((tree) => matches(kind, name, tree))) {
        return `${describe(kind, name)} is outside the names an issuer permits`;
      }
    }
  }
  return undefined;
}

/** Constraints that cannot be evaluated make the CA unusable, as a malformed extension would. */
export function invalidNameConstraint(ca: ParsedCertificate): string | undefined {
  const constraints = ca.nameConstraints?.value;
  if (!constraints) return undefined;
  for (const tree of [
    ...(constraints.permittedSubtrees ?? []),
    ...(constraints.excludedSubtrees ?? []),
  ]) {
    const kind = kindOf(tree.base);
    if (kind === 'dns' && !isDnsConstraint(tree.base.dNSName ?? '')) {
      return `name constraint ${JSON.stringify(tree.base.dNSName)} is not a DNS name`;
    }
    if (kind === 'ip' && parseSubnet(tree.base.iPAddress ?? '') === undefined) {
      return `name constraint ${JSON.stringify(tree.base.iPAddress)} is not an address with a mask`;
    }
  }
  return undefined;
}

type Kind = 'dns' | 'ip' | 'dn';

function kindOf(name: GeneralName): Kind | undefined {
  if (name.dNSName !== undefined) return 'dns';
  if (name.iPAddress !== undefined) return 'ip';
  if (name.directoryName !== undefined) return 'dn';
  return undefined;
}

function namesOf(certificate: ParsedCertificate): Record<Kind, Array<string | Name>> {
  const sans = certificate.subjectAltNames?.names ?? [];
  const dn: Name[] = sans.flatMap((n) => (n.directoryName ? [n.directoryName] : []));
  if (!certificate.subjectEmpty) dn.push(certificate.subject);
  return {
    dns: sans.flatMap((n) => (n.dNSName !== undefined ? [n.dNSName] : [])),
    ip: sans.flatMap((n) => (n.iPAddress !== undefined ? [n.iPAddress] : [])),
    dn,
  };
}

function matches(kind: Kind, name: string | Name, tree: GeneralSubtree): boolean {
  if (kind === 'dns') return dnsWithin(name as string, tree.base.dNSName ?? '');
  if (kind === 'ip') return ipWithin(name as string, tree.base.iPAddress ?? '');
  return dnWithin(name as Name, tree.base.directoryName as Name);
}

/** A DNS name is within a constraint when it equals it or adds labels on the left. */
function dnsWithin(name: string, constraint: string): boolean {
  // A name that is not a valid DNS name can never be shown to satisfy a constraint.
  if (!isDnsName(name)) return false;
  const n = name.toLowerCase();
  const c = constraint.toLowerCase();
  if (c === '') return true;
  if (c.startsWith('.')) return n.endsWith(c);
  return n === c || n.endsWith(`.${c}`);
}

function ipWithin(address: string, constraint: string): boolean {
  const subnet = parseSubnet(constraint);
  const bytes = ipBytes(address);
  if (!subnet || !bytes || bytes.length !== subnet.base.length) return false;
  return bytes.every((byte, i) => (byte & subnet.mask[i]!) === (subnet.base[i]! & subnet.mask[i]!));
}

function dnWithin(name: Name, constraint: Name): boolean {
  if (constraint.length > name.length) return false;
  return constraint.every((rdn, i) => rdnKey(rdn) === rdnKey(name[i]));
}

/**
 * RFC 5280 §7.1 name comparison, simplified as RFC 4518 does for common use: attribute types
 * equal, string values equal after case folding and whitespace folding, whatever the string
 * type (UTF8String, PrintableString…) each side chose.
 */
function rdnKey(rdn: Name[number] | undefined): string {
  if (!rdn) return '';
  return rdn
    .map((attribute) => {
      const text = attribute.value.toString();
      const value =
        text === '' ? Buffer.from(AsnConvert.serialize(attribute.value)).toString('hex') : text;
      return `${attribute.type}=${value.trim().replace(/\s+/g, ' ').toLowerCase()}`;
    })
    .sort()
    .join('+');
}

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;

function isDnsName(name: string): boolean {
  return (
    name.length > 0 && name.length <= 253 && name.split('.').every((label) => LABEL.test(label))
  );
}

function isDnsConstraint(constraint: string): boolean {
  return (
    constraint === '' || isDnsName(constraint.startsWith('.') ? constraint.slice(1) : constraint)
  );
}

/** `192.0.2.0/24` or `::1/128` as decoded by the ASN.1 layer; anything else is invalid. */
function parseSubnet(text: string): { base: number[]; mask: number[] } | undefined {
  const slash = text.lastIndexOf('/');
  if (slash < 0) return undefined;
  const base = ipBytes(text.slice(0, slash));
  const prefix = Number(text.slice(slash + 1));
  if (!base || !Number.isInteger(prefix) || prefix < 0 || prefix > base.length * 8)
    return undefined;
  const mask = base.map((_, i) => {
    const bits = Math.max(0, Math.min(8, prefix - i * 8));
    return (0xff << (8 - bits)) & 0xff;
  });
  return { base, mask };
}

/** The bytes of an IPv4 or IPv6 address in text form, or `undefined` (core avoids node:net). */
function ipBytes(text: string): number[] | undefined {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) {
    const bytes = v4.slice(1).map(Number);
    return bytes.every((b) => b <= 255) ? bytes : undefined;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groupsOf = (part: string | undefined) => (part ? part.split(':') : []);
  const head = groupsOf(halves[0]);
  const tail = groupsOf(halves[1]);
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail];
  if (!groups.every((g) => /^[0-9a-f]{1,4}$/i.test(g))) return undefined;
  return groups.flatMap((g) => {
    const value = Number.parseInt(g, 16);
    return [value >> 8, value & 0xff];
  });
}

function describe(kind: Kind, name: string | Name): string {
  if (kind === 'dn') return 'a directory name';
  return `${kind === 'dns' ? 'DNS name' : 'IP address'} ${JSON.stringify(name)}`;
}

export { ipBytes, isDnsName };
