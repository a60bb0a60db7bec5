import { createPrivateKey, X509Certificate } from 'node:crypto';
import { InvalidArgumentError } from '../errors.ts';
import type { TransportIdentity } from '../transport/contract.ts';
import { readCertificates } from './certificate-input.ts';

/**
 * Checks that an identity's key is the private key of its leaf certificate, before a
 * transport presents them: a pair replaced half-way on disk (the new certificate, the old
 * key) is refused here, with `INVALID_ARGUMENT`, rather than failing every handshake after.
 * Returns the chain (DER, leaf first) and the key as PEM text.
 *
 * @param readKey turns the key as given (PEM text, bytes, a file path) into PEM text; the
 *   default takes PEM text or bytes only.
 */
export function checkIdentity(
  identity: TransportIdentity,
  readKey: (key: string | Uint8Array) => string = pemText,
): { chain: Uint8Array[]; key: string } {
  const given = identity?.cert;
  if (given === undefined || identity.key === undefined)
    throw new InvalidArgumentError('an identity is a certificate (chain) and its private key');
  const chain = readCertificates(
    (Array.isArray(given) ? given : [given]) as readonly (string | Uint8Array)[],
  );
  if (chain.length === 0) throw new InvalidArgumentError('the identity holds no certificate');
  const key = readKey(identity.key);
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(chain[0]!);
  } catch (error) {
    throw new InvalidArgumentError('the identity certificate cannot be read', { cause: error });
  }
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(key);
  } catch (error) {
    throw new InvalidArgumentError('the identity private key cannot be read', { cause: error });
  }
  if (!leaf.checkPrivateKey(privateKey))
    throw new InvalidArgumentError(
      `the private key does not belong to the certificate ${leaf.subject.replace(/\n/g, ', ')}`,
    );
  return { chain, key };
}

function pemText(key: string | Uint8Array): string {
  const text = typeof key === 'string' ? key : Buffer.from(key).toString('utf8');
  if (!text.includes('-----BEGIN'))
    throw new InvalidArgumentError('the private key must be PEM text');
  return text;
}
