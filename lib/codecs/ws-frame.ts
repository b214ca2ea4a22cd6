// Unmasked server-to-client WebSocket frames (RFC 6455 §5.2), built once per
// message so a fan-out writes the same bytes to every subscriber. Pure.

const OP_TEXT = 0x1
const OP_BINARY = 0x2

function headerLength (len: number): number {
  return len < 126 ? 2 : len < 65536 ? 4 : 10
}

function writeHeader (frame: Buffer, opcode: number, len: number): void {
  frame[0] = 0x80 | opcode
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
}

/** A complete text frame; the UTF-8 is encoded straight into the frame (one allocation, no copy). */
export function encodeTextFrame (text: string): Buffer {
  const len = Buffer.byteLength(text)
  const h = headerLength(len)
  const frame = Buffer.allocUnsafe(h + len)
  writeHeader(frame, OP_TEXT, len)
  frame.write(text, h, len, 'utf8')
  return frame
}

/** A complete binary frame. */
export function encodeBinaryFrame (payload: Buffer): Buffer {
  const len = payload.length
  const h = headerLength(len)
  const frame = Buffer.allocUnsafe(h + len)
  writeHeader(frame, OP_BINARY, len)
  payload.copy(frame, h)
  return frame
}
