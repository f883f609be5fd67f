// A plugin executable for testing runtimes (`cni tool`): it records what it was given, and its config can make it
// fail a command or hold its ADD until the test lets it go (a handshake through files, so tests can act while an
// ADD is in flight without guessing how long it takes). A Node script, so it needs nothing but Node.
//   "record": dir   append {"env": CNI_*, "conf": stdin} as one JSON line to <dir>/<CNI_COMMAND>
//   "fail": [cmd]   fail those commands with code 11 and the message "<name> fails <cmd>"
//   "gate": dir     on ADD, create <dir>/entered, then wait until <dir>/release exists
// ADD prints prevResult (or an empty result) in the config's version; other commands print nothing.
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const SCRIPT = `
const fs = require("node:fs");
const path = require("node:path");
const env = process.env;
const cmd = env.CNI_COMMAND;
const name = path.basename(process.argv[1]);
if (cmd === "VERSION") {
  process.stdout.write(JSON.stringify({ cniVersion: "1.1.0", supportedVersions: ["0.3.1", "0.4.0", "1.0.0", "1.1.0"] }));
  process.exit(0);
}
const conf = JSON.parse(fs.readFileSync(0, "utf8"));
if (conf.record) {
  const seen = Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith("CNI_")));
  fs.appendFileSync(path.join(conf.record, cmd), JSON.stringify({ env: seen, conf }) + "\\n");
}
if ((conf.fail || []).includes(cmd)) {
  process.stdout.write(JSON.stringify({ cniVersion: conf.cniVersion, code: 11, msg: name + " fails " + cmd }));
  process.exit(1);
}
if (cmd === "ADD" && conf.gate) {
  fs.writeFileSync(path.join(conf.gate, "entered"), "");
  const pause = new Int32Array(new SharedArrayBuffer(4));
  while (!fs.existsSync(path.join(conf.gate, "release"))) Atomics.wait(pause, 0, 0, 20);
}
if (cmd === "ADD") process.stdout.write(JSON.stringify({ ...(conf.prevResult || {}), cniVersion: conf.cniVersion }));
`;

/** Write the fake plugin as `<dir>/<name>` (executable); returns its path. */
export function writeFakePlugin(dir: string, name = "fake"): string {
  const p = join(dir, name);
  writeFileSync(p, `#!${process.execPath}\n${SCRIPT}`);
  chmodSync(p, 0o755);
  return p;
}

export interface Seen {
  env: Record<string, string>;
  conf: Record<string, any>;
}

/** What the fake plugin recorded for `command` in `dir`, in call order. */
export function recorded(dir: string, command: string): Seen[] {
  const f = join(dir, command);
  if (!existsSync(f)) return [];
  return readFileSync(f, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
}
