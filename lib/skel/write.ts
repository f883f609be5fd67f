// Output as synchronous writes: process.stdout/stderr cost milliseconds to set up in a compiled binary, and
// nothing written this way can be lost when the process exits.
import { writeSync } from "node:fs";

export function writeAll(fd: number, text: string): void {
  const buf = Buffer.from(text);
  for (let off = 0; off < buf.length; ) {
    try {
      off += writeSync(fd, buf, off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EAGAIN") throw e;
    }
  }
}
