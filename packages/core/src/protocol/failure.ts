import { PlanesyncError, ProtocolViolationError } from '../errors.ts';
import { CloseCode, type Connection } from '../transport/contract.ts';

/** Any failure as a planesync error: planesync errors as they are, anything else a protocol violation. */
export function asPlanesyncError(error: unknown): PlanesyncError {
  if (error instanceof PlanesyncError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new ProtocolViolationError(`unexpected failure: ${message}`, { cause: error });
}

/**
 * Closes a connection because of `error`: 1009 for an oversized payload, 1002 for anything
 * else (the peer broke the protocol), the code as the reason. Returns the error, or `undefined`
 * when the connection was already closed.
 */
export function closeForFailure(
  connection: Connection,
  error: unknown,
): PlanesyncError | undefined {
  if (connection.isClosed) return undefined;
  const failure = asPlanesyncError(error);
  const code =
    failure.code === 'PAYLOAD_TOO_LARGE'
      ? CloseCode.PAYLOAD_TOO_LARGE
      : CloseCode.PROTOCOL_VIOLATION;
  void connection.close(code, failure.code);
  return failure;
}
