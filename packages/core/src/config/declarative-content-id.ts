import { createHash } from 'node:crypto';
import { hashConfig } from './hash.ts';

/**
 * Ids derived from an entity's content, for nested entities that have neither an id nor a
 * name to be referred to by once flattened.
 *
 * @module
 */

/**
 * A deterministic id for `entity` of `collectionName`: the same fields give the same id in
 * any key order, so the same file always flattens the same way. Shaped as a version-5 UUID
 * (name-based, SHA-1) over Kong's config hash of the entity.
 */
export function contentId(collectionName: string, entity: Record<string, unknown>): string {
  const hex = createHash('sha1')
    .update(`${collectionName}\0${hashConfig(entity).config_hash}`)
    .digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${((Number.parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16)}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
