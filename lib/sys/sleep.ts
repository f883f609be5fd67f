// A synchronous pause: namespace work must stay on the main thread, so nothing may wait through the event loop.
export function sleepSync(ms: number): void {
  if (ms > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
