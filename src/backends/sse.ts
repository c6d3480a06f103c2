// Reading Server-Sent Events from a peer that may misbehave: a splitter that scans every byte once (however the
// stream is chunked) and refuses an event or a line over a size cap, and a body reader with a byte cap.

/** The peer broke the format or a limit; the message is for logs, not for clients. */
export class StreamLimitError extends Error {
  override name = "StreamLimitError";
}

/**
 * The `data` of each event of an SSE byte stream (several data lines joined by "\n"; comments and other fields
 * ignored; lines end with LF, CRLF or CR). Linear in the stream's length; a line or an event's data longer than
 * maxEventChars throws StreamLimitError. Cancels the stream when the consumer stops early.
 */
export async function* sseData(body: ReadableStream<Uint8Array>, maxEventChars = 1 << 20): AsyncGenerator<string> {
  const reader = body.getReader();
  const utf8 = new TextDecoder();
  const line: string[] = [];
  let lineChars = 0, afterCR = false;
  let data: string[] = [], dataChars = 0;
  const tooLong = () => new StreamLimitError(`an event over ${maxEventChars} characters`);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      const s = utf8.decode(value, { stream: true });
      let i = afterCR && s.charCodeAt(0) === 10 ? 1 : 0; // the LF of a CRLF split between chunks
      afterCR = false;
      const eol = /\r\n|\r|\n/g;
      eol.lastIndex = i;
      for (let m = eol.exec(s); m; m = eol.exec(s)) {
        if (lineChars + (m.index - i) > maxEventChars) throw tooLong();
        line.push(s.slice(i, m.index));
        const text = line.join("");
        line.length = 0;
        lineChars = 0;
        i = m.index + m[0].length;
        if (m[0] === "\r" && i === s.length) afterCR = true;
        if (text === "") {
          // a blank line ends the event
          if (data.length) yield data.join("\n");
          data = [];
          dataChars = 0;
        } else if (text.startsWith("data:")) {
          const v = text.charCodeAt(5) === 32 ? text.slice(6) : text.slice(5);
          dataChars += v.length + 1;
          if (dataChars > maxEventChars) throw tooLong();
          data.push(v);
        }
      }
      if (i < s.length) {
        lineChars += s.length - i;
        if (lineChars > maxEventChars) throw tooLong();
        line.push(s.slice(i));
      }
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}

/** A response body as text, refusing one over maxBytes (StreamLimitError) without reading further. */
export async function readTextCapped(body: ReadableStream<Uint8Array> | null, maxBytes: number): Promise<string> {
  if (!body) return "";
  const reader = body.getReader();
  const utf8 = new TextDecoder();
  let text = "", n = 0;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return text + utf8.decode();
      n += value.byteLength;
      if (n > maxBytes) throw new StreamLimitError(`a body over ${maxBytes} bytes`);
      text += utf8.decode(value, { stream: true });
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}
