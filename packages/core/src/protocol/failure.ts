import { InternalError, PlanesyncError } from '../errors.ts';
import { CloseCode, type Connection } from '../transport/contract.ts';

/**
 * Any failure as a planesync error: planesync errors as they are, anything else — a bug, or
 * host code that threw — an `INTERNAL_ERROR`, never blamed on the peer.
 */
export function asPlanesyncError(error: unknown): PlanesyncError {
  if (error instanceof PlanesyncError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new InternalError(`unexpected failure: ${message}`, { cause: error });
}

const CLOSE_CODES: Partial<Record<PlanesyncError['code'], number>> = {
  PAYLOAD_TOO_LARGE: CloseCode.PAYLOAD_TOO_LARGE,
  PROTOCOL_VIOLATION: CloseCode.PROTOCOL_VIOLATION,
};

/**
 * Closes a connection because of `error`: 1009 for an oversized payload, 1002 when the peer
 * broke the protocol, 1011 for a failure of this side's own; the code as the reason. Returns
 * the error, or `undefined` when the connection was already closed (or a send found it gone:
 * that is how a link ends, not an error to report).
 */
export function closeForFailure(
  connection: Connection,
  error: unknown,
): PlanesyncError | undefined {
  if (connection.isClosed) return undefined;
  const failure = asPlanesyncError(error);
  // A send that lost the race with the socket going away is how a link ends, not an error.
  if (failure.code === 'CONNECTION_CLOSED') {
    void connection.close(CloseCode.ABNORMAL, 'the connection was lost');
    return undefined;
  }
  const code = CLOSE_CODES[failure.code] ?? CloseCode.INTERNAL_ERROR;
  void connection.close(code, failure.code);
  return failure;
}
