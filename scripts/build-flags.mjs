// The flags every compile of ours uses: the product (scripts/build.mjs) and the bench's empty program (the Bun
// floor), so the floor is measured with exactly what the product is built with.
export const COMPILE_FLAGS = [
  "--compile",
  "--minify",
  "--bytecode",
  // Each require()'d module group becomes its own chunk, loaded when required: a VERSION call then never
  // loads skel's or any plugin's bytecode (measured, alternately against one bundle: VERSION 0.93x CPU and
  // 0.7 MiB less; ADD/DEL CPU unchanged, their peak RSS 0.1-0.4 MiB more, all of it pages of the executable,
  // shared between invocations). Splitting needs the ESM format.
  "--format=esm",
  "--splitting",
  // A plugin must not pick up a .env or bunfig.toml from the runtime's working directory (and looking costs time).
  "--no-compile-autoload-dotenv",
  "--no-compile-autoload-bunfig",
  // Invocations live for milliseconds: tiering code up to the JIT costs more than it saves (re-measured with
  // splitting: the default policy took 1.07x CPU and 3.4 MiB more for bridge ADD+DEL, 1.05x for host-local).
  // Not used: --bytecode-order laid out by real ADD/DEL/VERSION runs measured 1.03-1.04x (noise), and would
  // need a root run in namespaces at every build.
  "--compile-jit-policy=1000",
];
