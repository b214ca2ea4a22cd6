// Unmasked server-to-client WebSocket frames (RFC 6455 §5.2), built once per
// message so a fan-out writes the same bytes to every subscriber. Pure.

const OP_TEXT = 0x1
const OP_BINARY = 0x2

/** One complete, final, unmasked frame carrying `payload`. */
export function encodeFrame (payload: Buffer, binary: boolean): Buffer {
  const len = payload.length
  const headerLen = len < 126 ? 2 : len < 65536 ? 4 : 10
  const frame = Buffer.allocUnsafe(headerLen + len)
  frame[0] = 0x80 | (binary ? OP_BINARY : OP_TEXT)
  if (len < 126) {
    frame[1] = len
  } else if (len < 65536) {
    frame[1] = 126
    frame.writeUInt16BE(len, 2)
  } else {
    frame[1] = 127
    frame.writeUInt32BE(Math.floor(len / 0x100000000), 2)
    frame.writeUInt32BE(len >>> 0, 6)
  }
  payload.copy(frame, headerLen)
  return frame
}
