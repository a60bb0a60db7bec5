import { InvalidArgumentError } from '../errors.ts';

/** Throws `INVALID_ARGUMENT` unless `nodeId` is 1–256 printable characters. */
export function assertNodeId(nodeId: string): void {
  if (typeof nodeId !== 'string' || !/^[\x21-\x7e]{1,256}$/.test(nodeId)) {
    throw new InvalidArgumentError('a node id is 1 to 256 printable ASCII characters, no spaces');
  }
}
