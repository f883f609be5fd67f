// The mutation operators. Each returns a short description of what it did (printed with a failing case) and,
// when the outcome of the mutated input is known whatever the implementation, an oracle for it.
//
// Safety: nothing may make a plugin write outside the case's folder. Keys that name where a plugin writes take
// only values inside @T@ (or /dev/null, /dev/zero), are never dropped or nulled (that would mean the machine's
// default /var/lib/cni/...), and the objects holding them are replaced only by scalars. CNI_NETNS never names a
// namespace other than the case's own pod and node, CNI_PATH never a folder of real executables but ours.
import { posix } from "node:path";
import type { Rng } from "./prng.ts";
import { DUPS, Raw, pathString, put, slots } from "./json-text.ts";
import type { CommandName, Fixture, PluginName, Protection, Seed } from "./seeds.ts";

export interface Oracle {
  expect: "succeed" | "fail";
  why: string;
}

export interface Applied {
  what: string;
  oracle?: Oracle;
}

/** What a mutation may change: the parsed config, the environment, the files, and the fixtures to create. */
export interface Subject {
  seed: Seed;
  conf: Record<string, unknown>;
  env: Record<string, string>;
  fixtures: Fixture[];
  /** Set by stdin-level mutations: the bytes replace the serialized config. */
  stdin?: { text: string; latin1?: boolean };
  /** The plugin's stdout cannot be written. */
  stdout?: "full" | "closed";
}

// ---------------------------------------------------------------------------------------------------- values

const UNICODE = ["ñandú", "日本語", "🦄🦄🦄", "\u202eoof", "e\u0301", "\ufeffbom", "a\u2028b\u2029c", "\ud800", "x\udfffy", "Ω".repeat(300)];
const CONTROL = ["\u0000", "a\u0000b", "\u0001", "a\u007fb", "\u001b[31mred\u001b[0m", "\t", "\r", "\b\f"];
const INJECTION = [
  "x\n-A INPUT -j DROP",
  "x\nCOMMIT\n*filter\n-A INPUT -j DROP\nCOMMIT",
  "x\r\n-A OUTPUT -j DROP",
  "\n",
  "eth0\n",
  'x" -j ACCEPT "',
  "x -j ACCEPT",
  "-j DROP",
  "! -d",
  "--comment",
];
const METAS = ["$(touch @T@/pwned)", "`touch @T@/pwned`", "; touch @T@/pwned", "|| touch @T@/pwned", "%s%s%n%x", "${HOME}", "'\"'", "\\", '\\"', "--help", "*", "?", "~"];
const NUMERIC_TEXT = ["0", "-1", "1e999", "NaN", "Infinity", "true", "null", "0x10", " 1", "1 "];

export function hostileString(r: Rng): string {
  switch (r.int(9)) {
    case 0: return r.pick(["", " ", "  \t "]);
    case 1: return "a".repeat(r.pick([16, 64, 256, 1024, 4096, 65536, 1 << 20]));
    case 2: return r.pick(UNICODE);
    case 3: return r.pick(CONTROL);
    case 4: return r.pick(INJECTION);
    case 5: return r.pick(METAS);
    case 6: return r.pick(["../..", "/", ".", "..", "a/b", "./x", "//"]);
    case 7: return r.pick(NUMERIC_TEXT);
    default: return `${r.pick(UNICODE)}${r.pick(CONTROL)}${r.pick(INJECTION)}`;
  }
}

const BAD_NUMBERS = [-1, 0, 1, 65535, 65536, 70000, 2 ** 31, 2 ** 32, 2 ** 53 + 2, -(2 ** 31) - 1, 1.5, 1e308, 5e-324];
const RAW_NUMBERS = ["1e400", "-1e400", "-0", "1.0", "1E2", "0.0000001", "123456789012345678901234567890"];

function badNumber(r: Rng): unknown {
  return r.chance(0.7) ? r.pick(BAD_NUMBERS) : new Raw(r.pick(RAW_NUMBERS));
}

const BAD_CIDRS = [
  "10.0.0.0/33", "10.0.0.0/-1", "10.99.0.7/24", "10.0.0.0/31", "10.0.0.0/32", "/24", "10.0.0.0", "10.0.0.0/", "fe80::/64",
  "255.255.255.255/32", " 10.99.0.0/24", "10.99.0.0/24 ", "10.99.0.0/024", "010.99.0.0/24", "1.2.3.4.5/24", "::ffff:10.99.0.0/120",
  "10.99.0.0/24\n-A INPUT -j DROP", "fd99::/129", "fd99::/127", "fd99:::/64", "10.99.0.0/8", "127.0.0.0/8", "224.0.0.0/24", "0.0.0.0/32",
  "10.99.0.0/24,10.98.0.0/24", "１０.99.0.0/24",
];
/** Ranges too big to hold a gateway and a pod sensibly; refusing them is defect 11 of the issue. */
const DEGENERATE = ["0.0.0.0/0", "::/0"];
const BAD_IPS = ["10.99.0.256", "10.99.0", "::g", "10.99.0.1/24", "10.99.0.1 ", "0.0.0.0", "255.255.255.255", "::", "10.98.0.1", "1", "-1", "fe80::1%eth0"];

const TYPE_NAMES = ["", "nope", "bridge\n", "host-local ", "HOST-LOCAL", "../bin/bridge", "/bin/true", "..", ".", "loopback", "portmap", "host-local", "bridge", "a".repeat(300), "\u0000"];

/** A value of another JSON type (no null, object or array where `scalarOnly`). */
function otherType(r: Rng, v: unknown, scalarOnly: boolean): unknown {
  const scalars: unknown[] = [0, -1, 1.5, true, false, "str", ""];
  const all: unknown[] = [...scalars, null, [], {}, [1, "a", null], { a: 1 }, [[[]]]];
  const pool = (scalarOnly ? [0, -1, 1.5, true, false] : all).filter((x) => typeof x !== typeof v || (Array.isArray(x) !== Array.isArray(v)));
  return r.pick(pool);
}

function deepNest(r: Rng): Raw {
  // 100,000 levels overflow the stack of any recursive encoder; they cost a second or more, so they come rarely.
  const depth = r.pick([100, 100, 5000, 5000, 5000, 100_000]);
  const open = r.chance(0.5) ? "[" : '{"a":';
  const close = open === "[" ? "]" : "}";
  return new Raw(open.repeat(depth) + "1" + close.repeat(depth));
}

// ------------------------------------------------------------------------------------------------------ paths

const FIXTURE_PATHS: Record<string, Fixture> = {
  fifo: { path: "fifo", kind: "fifo" },
  adir: { path: "adir", kind: "dir" },
  afile: { path: "afile", kind: "file", content: "not a config\n" },
  huge: { path: "huge", kind: "sparse", size: 1 << 30 },
  big: { path: "big", kind: "sparse", size: 64 << 20 },
  zerolink: { path: "zerolink", kind: "symlink", target: "/dev/zero" },
  dangling: { path: "dangling", kind: "symlink", target: "@T@/nowhere" },
  looplink: { path: "looplink", kind: "symlink", target: "@T@/looplink" },
};

function useFixture(s: Subject, name: keyof typeof FIXTURE_PATHS): string {
  const f = FIXTURE_PATHS[name];
  if (!s.fixtures.some((x) => x.path === f.path)) s.fixtures.push(f);
  return `@T@/${f.path}`;
}

/** Is `p` inside the case folder (the cwd is @T@/cwd), or a harmless device? */
export function insideSandbox(p: string): boolean {
  if (p === "/dev/null" || p === "/dev/zero") return true;
  const abs = posix.resolve("/T/cwd", p.replaceAll("@T@", "/T"));
  return abs === "/T" || abs.startsWith("/T/");
}

function pathVariant(r: Rng, s: Subject, reading: boolean): string {
  const choices: (() => string)[] = [
    () => "rel/dir",
    () => "state",
    () => "./x/../y",
    () => "@T@/a/../b",
    () => "@T@/deep/" + "d/".repeat(r.between(1, 40)),
    () => "@T@/" + "n".repeat(r.pick([255, 256, 4096])),
    () => "@T@/with space/and\nnewline",
    () => "@T@/trailing/",
    () => "@T@//double//slash",
    () => "/dev/null",
    () => "/dev/zero",
    () => useFixture(s, "fifo"),
    () => useFixture(s, "adir"),
    () => useFixture(s, "afile"),
    () => useFixture(s, "dangling"),
    () => useFixture(s, "looplink"),
    () => "@T@/nonexistent/file",
  ];
  if (reading) {
    choices.push(
      () => useFixture(s, "huge"),
      () => useFixture(s, "big"),
      () => useFixture(s, "zerolink"),
      () => "/dev/urandom",
      () => "/proc/self/status",
      () => "/etc/hostname",
      () => "",
    );
  }
  return r.pick(choices)();
}

// ------------------------------------------------------------------------------------------------ protection

function protectionOf(seed: Seed, path: string): Protection | undefined {
  const own = seed.protect[path];
  if (own) return own;
  const below = Object.entries(seed.protect).some(([k, p]) => p === "write-path" && k.startsWith(`${path}.`));
  return below ? "holds-write-path" : undefined;
}

/** A value for a key naming where a plugin writes: "" would mean the machine's default folder. */
const sandboxed = (v: string) => (v !== "" && insideSandbox(v) ? v : `@T@/escaped-${v.length}`);

// -------------------------------------------------------------------------------------------- tree mutations

const KNOWN_KEYS: [string, () => unknown][] = [
  ["ipMasq", () => true], ["isGateway", () => false], ["isDefaultGateway", () => true], ["forceAddress", () => true],
  ["hairpinMode", () => true], ["promiscMode", () => true], ["mtu", () => 68], ["vlan", () => 100], ["vlanTrunk", () => [{ minID: 10, maxID: 12 }]],
  ["preserveDefaultVlan", () => false], ["enabledad", () => true], ["macspoofchk", () => true], ["disableContainerInterface", () => true],
  ["portIsolation", () => true], ["ipMasqBackend", () => "nftables"], ["backend", () => "iptables"], ["snat", () => false], ["masqAll", () => true],
  ["markMasqBit", () => 31], ["externalSetMarkChain", () => "KUBE-MARK-MASQ"], ["conditionsV4", () => ["-m", "comment", "--comment", "x\n-A INPUT -j DROP"]],
  ["conditionsV6", () => ["-s", "::1"]], ["runtimeConfig", () => ({ portMappings: [{ hostPort: 1, containerPort: 65535, protocol: "sctp" }] })],
  ["runtimeConfig", () => ({ mac: "0a:58:0a:f4:01:05", ips: ["10.99.0.9/24"] })], ["args", () => ({ cni: { ips: ["10.99.0.33"], mac: "zz" } })],
  ["dns", () => ({ nameservers: ["10.96.0.10"], search: ["a\nb"] })], ["prevResult", () => ({ cniVersion: "1.0.0", ips: [{ address: "nope" }] })],
  ["prevResult", () => null], ["cni.dev/valid-attachments", () => [{ containerID: 1, ifname: "eth0" }]], ["capabilities", () => ({ portMappings: true })],
  ["__proto__", () => ({ isGateway: true, dataDir: "/" })], ["constructor", () => ({ prototype: 1 })], ["delegate", () => ({ type: "host-local" })],
  ["cniVersions", () => ["1.0.0"]], ["disableCheck", () => true], ["bridge", () => "lo"], ["bridge", () => "eth0"], ["subnet", () => "10.99.0.0/24"],
  ["resolvConf", () => "@T@/resolv.conf"], ["routes", () => [{ dst: "0.0.0.0/0", gw: "10.99.0.1", mtu: -1, table: 2 ** 32, scope: 999 }]],
  ["ranges", () => [[{ subnet: "10.99.0.0/24" }], [{ subnet: "10.99.0.0/25" }]]], ["ipam", () => ({ type: "host-local", dataDir: "@T@/ipam2", subnet: "10.98.0.0/24" })],
];

function treeMutation(r: Rng, s: Subject): Applied | undefined {
  const all = slots(s.conf);
  const op = r.int(12);
  if (op === 0 || all.length === 0) {
    // A key that is not there: unknown, or one another plugin understands, anywhere in the tree.
    const objects = [{ path: [] as (string | number)[], obj: s.conf as Record<string, unknown> }, ...all.filter((x) => x.value && typeof x.value === "object" && !Array.isArray(x.value) && !(x.value instanceof Raw)).map((x) => ({ path: x.path, obj: x.value as Record<string, unknown> }))];
    const target = r.pick(objects);
    const [key, make] = r.chance(0.7) ? r.pick(KNOWN_KEYS) : [hostileString(r).slice(0, 64), () => hostileString(r)];
    if (key in target.obj && protectionOf(s.seed, pathString([...target.path, key]))) return undefined;
    let value = make();
    if (key === "ipam" || (typeof value === "object" && value !== null && "dataDir" in value)) value = JSON.parse(JSON.stringify(value).replaceAll('"dataDir":"/"', `"dataDir":"@T@/proto"`));
    put(target.obj, key, value);
    return { what: `add ${pathString([...target.path, key]) || key} = ${short(value)}` };
  }
  const slot = r.pick(all);
  const where = pathString(slot.path);
  const prot = protectionOf(s.seed, where);
  const set = (v: unknown) => put(slot.parent, slot.key, v);
  switch (op) {
    case 1: {
      if (prot === "write-path" || prot === "holds-write-path") return undefined;
      if (Array.isArray(slot.parent)) slot.parent.splice(slot.key as number, 1);
      else delete (slot.parent as Record<string, unknown>)[slot.key as string];
      return { what: `drop ${where}` };
    }
    case 2: {
      if (Array.isArray(slot.parent)) {
        slot.parent.push(slot.value);
        return { what: `duplicate element ${where}` };
      }
      // Written before the original, so parsers that keep the last value keep the original.
      const parent = slot.parent as Record<string, unknown> & { [DUPS]?: [string, unknown][] };
      const other = prot === "write-path" ? sandboxed(pathVariant(r, s, false)) : r.chance(0.5) ? hostileString(r) : otherType(r, slot.value, false);
      (parent[DUPS] ??= []).push([slot.key as string, other]);
      return { what: `duplicate key ${where} (first copy ${short(other)})` };
    }
    case 3: {
      // flannel's DEL and GC ignore an "ipam" that is not an object and fall back to host-local's default
      // store under /var/lib/cni (reported): outside the sandbox, so never for those commands.
      if (prot === "holds-write-path" && (s.seed.command === "DEL" || s.seed.command === "GC")) return undefined;
      const v = otherType(r, slot.value, prot === "write-path" || prot === "holds-write-path");
      set(v);
      return { what: `${where}: wrong type ${short(v)}` };
    }
    case 4: {
      if (prot === "holds-write-path") return undefined;
      const v = prot === "write-path" ? sandboxed(hostileString(r)) : hostileString(r);
      set(v);
      return { what: `${where} = hostile string ${short(v)}` };
    }
    case 5: {
      if (prot === "holds-write-path") return undefined;
      const key = String(slot.key);
      const reading = prot === "read-path" || /subnetFile|resolvConf/.test(key);
      const v = prot === "write-path" || /dataDir/i.test(key) ? sandboxed(pathVariant(r, s, false)) : pathVariant(r, s, reading);
      if (v === "" && prot === "write-path") return undefined;
      set(v);
      return { what: `${where} = path ${short(v)}` };
    }
    case 6: {
      if (typeof slot.value !== "string" || !/^[0-9a-f.:]+(\/\d+)?$/i.test(slot.value) || prot) return undefined;
      if (slot.value.includes("/") && r.chance(0.15)) {
        const v = r.pick(DEGENERATE);
        set(v);
        // Only a bare range: with rangeStart/rangeEnd/gateway the outcome is not the to decide.
        const bare = !["rangeStart", "rangeEnd", "gateway"].some((k) => k in (slot.parent as object));
        const isRange = /(^|\.)subnet$/.test(where) && bare;
        return { what: `${where} = ${v}`, oracle: isRange && s.seed.command === "ADD" ? { expect: "fail", why: `a ${v} range cannot be allocated from (issue 11, defect 11)` } : undefined };
      }
      const v = slot.value.includes("/") ? r.pick(BAD_CIDRS) : r.pick(BAD_IPS);
      set(v);
      return { what: `${where} = bad address ${short(v)}` };
    }
    case 7: {
      if (prot) return undefined;
      const v = badNumber(r);
      set(v);
      return { what: `${where} = number ${short(v)}` };
    }
    case 8: {
      if (prot) return undefined;
      const key = String(slot.key);
      const flipped = key === key.toLowerCase() ? key.toUpperCase() : key.toLowerCase();
      if (Array.isArray(slot.parent) || flipped === key) return undefined;
      const parent = slot.parent as Record<string, unknown>;
      delete parent[key];
      put(parent, flipped, slot.value);
      return { what: `rename ${where} → ${flipped}` };
    }
    case 9: {
      if (prot) return undefined;
      if (Array.isArray(slot.value)) {
        const n = r.pick([0, 2, 50, 2000]);
        const v = n === 0 ? [] : Array.from({ length: n }, (_, i) => (slot.value as unknown[])[i % Math.max(1, (slot.value as unknown[]).length)] ?? i);
        set(v);
        return { what: `${where}: array of ${n}` };
      }
      set(deepNest(r));
      return { what: `${where}: deeply nested value` };
    }
    case 10: {
      if (String(slot.key) !== "type" || prot) return undefined;
      const v = r.pick(TYPE_NAMES);
      set(v);
      return { what: `${where} = type ${short(v)}` };
    }
    default: {
      if (prot) return undefined;
      set(null);
      return { what: `${where} = null` };
    }
  }
}

// --------------------------------------------------------------------------------------------- environment

function fakePluginDir(s: Subject, mode: string): string {
  const scripts: Record<string, string> = {
    silent: "exit 0",
    garbage: "echo 'this is not json'; exit 0",
    "bad-error": `echo '{"code":"seven","msg":42}'; exit 1`,
    "no-error": "exit 3",
    twice: `r='{"cniVersion":"1.0.0","ips":[{"address":"10.99.0.5/24","gateway":"10.99.0.1"}]}'; echo "$r$r"`,
    "bad-ip": `echo '{"cniVersion":"1.0.0","ips":[{"address":"999.1.1.1/24"}]}'`,
    result: `cat >/dev/null; [ "$CNI_COMMAND" = ADD ] && echo '{"cniVersion":"1.0.0","ips":[{"address":"10.99.0.5/24","gateway":"10.99.0.1"}]}'; exit 0`,
    noisy: `head -c 1000000 /dev/zero | tr '\\0' x >&2; echo '{"cniVersion":"1.0.0","code":7,"msg":"noisy"}'; exit 1`,
  };
  for (const name of ["bridge", "host-local", "loopback", "portmap"]) {
    const path = `fake-${mode}/${name}`;
    if (!s.fixtures.some((f) => f.path === path)) s.fixtures.push({ path, kind: "script", content: `#!/bin/sh\n${scripts[mode]}\n` });
  }
  return `@T@/fake-${mode}`;
}

type EnvChoice = string | undefined | (() => string);

const ENV_VALUES: Record<string, (s: Subject) => EnvChoice[]> = {
  // No NUL: an environment cannot carry one, so no runtime can send it.
  CNI_COMMAND: () => [undefined, "", "add", " ADD", "ADD\n", "FOO", "DEL;ADD", "VERSION "],
  CNI_CONTAINERID: () => [undefined, "", "a/b", "../x", "a b", "a\nb", "ñ", "-lead", ".", "..", "_x", "x".repeat(65536), "id;rm", "$(id)"],
  CNI_NETNS: (s) => [
    undefined, "", "@T@/nope", "@NODE@", "/proc/self/ns/net", "/proc/thread-self/ns/net", "/proc/self/ns/mnt", "/dev/null", "netns", "@POD@/", "@POD@\n",
    "x".repeat(8192), () => useFixture(s, "adir"), () => useFixture(s, "afile"), () => useFixture(s, "fifo"), () => useFixture(s, "dangling"),
  ],
  CNI_IFNAME: () => [undefined, "", "a".repeat(16), "a".repeat(15), ".", "..", "a/b", "a:b", "a b", "lo", "eth0\n", "ëëëëëëëë", "-", "eth%d", "*", "\u0001", "eth0\t"],
  CNI_ARGS: () => [
    "IP=10.99.0.77", "IgnoreUnknown=1;IP=10.99.0.77", "IgnoreUnknown=1;IP=999.1.1.1", "K=V=W", ";;", "=", "IgnoreUnknown=1;MAC=zz",
    "IgnoreUnknown=1;MAC=0a:58:0a:f4:01:05", "IP=10.99.0.5/24", "K8S_POD_NAME=x", "a".repeat(100_000), "IgnoreUnknown=1;IP=10.99.0.1",
  ],
  CNI_PATH: (s) => [
    undefined, "", "@T@/empty", "/nonexistent", "@BIN@:@BIN@", ":::", "bin", "@BIN@/bridge", "x".repeat(65536),
    ...["silent", "garbage", "bad-error", "no-error", "twice", "bad-ip", "result", "noisy"].map((mode) => () => `${fakePluginDir(s, mode)}:@BIN@`),
  ],
  CNI_LOG_LEVEL: () => ["debug"],
  CNI_NETNS_OVERRIDE: () => ["1"],
};

function envMutation(r: Rng, s: Subject): Applied | undefined {
  const key = r.pick(Object.keys(ENV_VALUES));
  const choice = r.pick(ENV_VALUES[key](s));
  const v = typeof choice === "function" ? choice() : choice;
  if (v === undefined) {
    if (!(key in s.env)) return undefined;
    delete s.env[key];
    const goneNetns = key === "CNI_NETNS" && s.seed.command === "DEL";
    return { what: `env: unset ${key}`, oracle: goneNetns ? { expect: "succeed", why: "DEL without a namespace must still succeed (spec: DEL when things are gone)" } : undefined };
  }
  s.env[key] = v;
  const goneNetns = key === "CNI_NETNS" && s.seed.command === "DEL" && (v === "@T@/nope" || v === "");
  return { what: `env: ${key}=${short(v)}`, oracle: goneNetns ? { expect: "succeed", why: "DEL of a namespace that is gone must succeed" } : undefined };
}

/** A valid but long container id: the reference accepts 5,000 characters (issue 11, defect 5). */
function longIdMutation(r: Rng, s: Subject): Applied | undefined {
  if (!("CNI_CONTAINERID" in s.env)) return undefined;
  const n = r.pick([255, 1019, 1020, 2048, 5000]);
  s.env.CNI_CONTAINERID = `fz${r.hex(8)}${"a".repeat(n - 10)}`;
  const oracle: Oracle | undefined =
    s.seed.command === "ADD" && s.seed.plugin !== "flannel" ? { expect: "succeed", why: `a valid ${n}-character container id must be accepted (issue 11, defect 5; the reference takes 5,000)` } : undefined;
  return { what: `env: CNI_CONTAINERID of ${n} valid characters`, oracle };
}

// ------------------------------------------------------------------------------------------------ the files

const LEASE_EDITS: [string, (t: string, r: Rng) => string][] = [
  ["drop a line", (t, r) => { const ls = t.trim().split("\n"); ls.splice(r.int(ls.length), 1); return ls.join("\n") + "\n"; }],
  ["CRLF", (t) => t.replaceAll("\n", "\r\n")],
  ["empty", () => ""],
  ["garbage", (_t, r) => hostileString(r)],
  ["NUL bytes", (t) => t.replace("=", "=\u0000")],
  ["FLANNEL_MTU out of range", (t, r) => t.replace(/FLANNEL_MTU=\d+/, `FLANNEL_MTU=${r.pick(["0", "-1", "99999999999", "abc", "1e3", "", "67"])}`)],
  ["bad FLANNEL_SUBNET", (t, r) => t.replace(/FLANNEL_SUBNET=\S+/, `FLANNEL_SUBNET=${r.pick(BAD_CIDRS)}`)],
  ["bad FLANNEL_NETWORK", (t, r) => t.replace(/FLANNEL_NETWORK=\S+/, `FLANNEL_NETWORK=${r.pick([...BAD_CIDRS, "10.244.0.0/16,,", "10.244.0.0/16,10.244.0.0/16", ""])}`)],
  ["duplicate keys", (t) => t + t.replace(/10\.244\.1\./g, "10.244.2.")],
  ["spaces around =", (t) => t.replaceAll("=", " = ")],
  ["very long line", (t) => `${t}X=${"x".repeat(1 << 20)}\n`],
  ["FLANNEL_SUBNET outside FLANNEL_NETWORK", (t) => t.replace(/FLANNEL_SUBNET=\S+/, "FLANNEL_SUBNET=10.99.1.1/24")],
  ["FLANNEL_IPMASQ odd", (t, r) => t.replace(/FLANNEL_IPMASQ=\S+/, `FLANNEL_IPMASQ=${r.pick(["TRUE", "1", "", "yes\n-A INPUT -j DROP"])}`)],
];

const RESOLV_EDITS: [string, (t: string, r: Rng) => string][] = [
  ["empty", () => ""],
  ["garbage", (_t, r) => hostileString(r)],
  ["binary", () => "\u0000\u0001\u00ff".repeat(100)],
  ["long", () => `nameserver 10.0.0.1\nsearch ${"a.".repeat(100_000)}\n`],
  ["many nameservers", () => Array.from({ length: 5000 }, (_, i) => `nameserver 10.0.${i >> 8}.${i & 255}`).join("\n")],
  ["odd options", () => "options ndots:99999999999 timeout:-1\nsearch\nnameserver\nnameserver ::1%lo\ndomain a\nb\n"],
];

function fileMutation(r: Rng, s: Subject): Applied | undefined {
  const f = s.fixtures.find((x) => x.kind === "file" && (x.path === "subnet.env" || x.path === "resolv.conf")) as Extract<Fixture, { kind: "file" }> | undefined;
  if (!f) return undefined;
  const [what, edit] = r.pick(f.path === "subnet.env" ? LEASE_EDITS : RESOLV_EDITS);
  if (f.path === "subnet.env" && r.chance(0.1)) {
    f.content = f.content.replace(/FLANNEL_SUBNET=\S+/, "FLANNEL_SUBNET=0.0.0.0/0").replace(/FLANNEL_NETWORK=\S+/, "FLANNEL_NETWORK=0.0.0.0/0");
    const adds = s.seed.command === "ADD" && /FLANNEL_SUBNET=0\.0\.0\.0\/0/.test(f.content);
    return { what: "subnet.env: FLANNEL_NETWORK=FLANNEL_SUBNET=0.0.0.0/0", oracle: adds ? { expect: "fail", why: "a 0.0.0.0/0 lease cannot be allocated from (issue 11, defect 11)" } : undefined };
  }
  f.content = edit(f.content, r);
  return { what: `${f.path}: ${what}` };
}

// ------------------------------------------------------------------------------------ aimed at known weak spots

/** Complete iptables-restore lines: if a value ends a line, the rest of the rule still parses. */
const RULE_INJECTION = [
  "x\nCOMMIT\n*filter\n-A INPUT -s 192.0.2.1/32 -j DROP\nCOMMIT\n*nat\n-A CNI-HOSTPORT-DNAT -m comment --comment y",
  "x\n-A POSTROUTING -s 192.0.2.2/32 -j ACCEPT\n-A CNI-HOSTPORT-DNAT -m comment --comment y",
  ...INJECTION,
];

/** Values that reach iptables-restore input: each must stay one argument of one rule (issue 11, defect 1). */
function injectionMutation(r: Rng, s: Subject): Applied | undefined {
  const payload = r.pick(RULE_INJECTION);
  const c = s.conf;
  const rc = (c.runtimeConfig ?? {}) as Record<string, unknown>;
  const maps = Array.isArray(rc.portMappings) ? (rc.portMappings as Record<string, unknown>[]) : [];
  const targets: [string, () => void][] = [["name", () => (c.name = payload)]];
  if (s.seed.plugin === "portmap") {
    targets.push(
      ["conditionsV4", () => (c.conditionsV4 = r.chance(0.5) ? [payload] : ["-s", "10.0.0.0/8", "-m", "comment", "--comment", payload])],
      ["conditionsV6", () => (c.conditionsV6 = [payload])],
      ["externalSetMarkChain", () => { delete c.markMasqBit; c.externalSetMarkChain = payload; }],
    );
    if (maps.length && typeof maps[0] === "object" && maps[0] !== null) {
      targets.push(["runtimeConfig.portMappings.0.hostIP", () => (maps[0].hostIP = payload)], ["runtimeConfig.portMappings.0.protocol", () => (maps[0].protocol = payload)]);
    }
  }
  if (s.seed.plugin === "bridge") targets.push(["bridge", () => (c.bridge = payload)]);
  const [where, apply] = r.pick(targets);
  apply();
  return { what: `${where} = injection ${short(payload)}` };
}

/** Input files that are no regular files, or too big to read whole (issue 11, defect 2). */
function inputFileMutation(r: Rng, s: Subject): Applied | undefined {
  const ipam = s.conf.ipam && typeof s.conf.ipam === "object" && !Array.isArray(s.conf.ipam) ? (s.conf.ipam as Record<string, unknown>) : undefined;
  const key = s.seed.plugin === "flannel" ? "subnetFile" : ipam && (s.seed.plugin === "host-local" || s.seed.plugin === "bridge") ? "ipam.resolvConf" : undefined;
  if (!key) return undefined;
  const value = r.pick([() => "/dev/zero", () => "/dev/urandom", () => useFixture(s, "fifo"), () => useFixture(s, "adir"), () => useFixture(s, "huge"), () => useFixture(s, "zerolink")])();
  if (key === "subnetFile") s.conf.subnetFile = value;
  else ipam!.resolvConf = value;
  const reads = s.seed.command === "ADD" || (s.seed.plugin === "flannel" && (s.seed.command === "STATUS" || s.seed.command === "CHECK"));
  return { what: `${key} = ${value}`, oracle: reads ? { expect: "fail", why: `${key} is not a regular file of sane size (issue 11, defect 2)` } : undefined };
}

/** A range that cannot hold a gateway and a pod as intended: 0.0.0.0/0 or ::/0 (issue 11, defect 11). */
function degenerateRangeMutation(r: Rng, s: Subject): Applied | undefined {
  const range = r.pick(DEGENERATE);
  if (s.seed.plugin === "flannel") {
    const f = s.fixtures.find((x) => x.path === "subnet.env") as Extract<Fixture, { kind: "file" }> | undefined;
    if (!f || !/FLANNEL_SUBNET=/.test(f.content)) return undefined;
    f.content = f.content.replace(/FLANNEL_NETWORK=\S+/, "FLANNEL_NETWORK=0.0.0.0/0").replace(/FLANNEL_SUBNET=\S+/, "FLANNEL_SUBNET=0.0.0.0/0");
    return { what: "subnet.env: FLANNEL_NETWORK=FLANNEL_SUBNET=0.0.0.0/0", oracle: s.seed.command === "ADD" ? { expect: "fail", why: "a 0.0.0.0/0 lease cannot be allocated from (issue 11, defect 11)" } : undefined };
  }
  const ipam = s.conf.ipam as Record<string, unknown> | undefined;
  if (!ipam || typeof ipam !== "object" || Array.isArray(ipam) || (s.seed.plugin !== "host-local" && s.seed.plugin !== "bridge")) return undefined;
  for (const k of ["subnet", "rangeStart", "rangeEnd", "gateway"]) delete ipam[k];
  // Only the degenerate range: with another range set beside it the outcome would depend on overlaps.
  ipam.ranges = [[{ subnet: range }]];
  return { what: `ipam.ranges = [[{subnet: ${range}}]]`, oracle: s.seed.command === "ADD" ? { expect: "fail", why: `a ${range} range cannot be allocated from (issue 11, defect 11)` } : undefined };
}

/** stdout is /dev/full or a closed pipe: a result that cannot be delivered is a failure (issue 11, defect 4). */
function stdoutMutation(r: Rng, s: Subject): Applied | undefined {
  s.stdout = r.pick(["full", "closed"] as const);
  const prints = s.seed.command === "ADD" || s.seed.command === "VERSION";
  return { what: `stdout: ${s.stdout === "full" ? "/dev/full" : "a closed pipe"}`, oracle: prints ? { expect: "fail", why: "the result cannot be written to stdout, so the command must fail (and an ADD roll back)" } : undefined };
}

// ------------------------------------------------------------------------------------------------ raw stdin

/** More than "a few MiB" of config: must be refused (issue 11, defect 2). */
export const OVERSIZED_STDIN = 40 << 20;

export function stdinMutation(r: Rng, s: Subject, text: string): Applied {
  const set = (t: string, latin1 = false) => (s.stdin = { text: t, latin1 });
  switch (r.int(12)) {
    case 0: set(""); return { what: "stdin: empty" };
    case 1: { const t = r.pick(["null", "[]", "1", '"s"', "{", "}", "true", "{}", "[{}]", "\u0000"]); set(t); return { what: `stdin: ${short(t)}` }; }
    case 2: { const n = r.int(text.length); set(text.slice(0, n)); return { what: `stdin: truncated at ${n} of ${text.length}` }; }
    case 3: set(Array.from({ length: r.between(1, 512) }, () => String.fromCharCode(r.int(256))).join(""), true); return { what: "stdin: random bytes" };
    case 4: set(`\ufeff${text}`); return { what: "stdin: byte order mark" };
    case 5: set(`${text}\n${text}`); return { what: "stdin: two documents" };
    case 6: set(`${text}garbage`); return { what: "stdin: trailing garbage" };
    case 7: set(text.replace(/"(\w+)"/, '"$1\u00ff"'), true); return { what: "stdin: invalid UTF-8 in a string" };
    case 8: set(`${" ".repeat(1 << 20)}${text}`); return { what: "stdin: 1 MiB of leading blanks" };
    case 9: set(`${text.slice(0, -1)},"pad":"${"x".repeat(OVERSIZED_STDIN)}"}`); return { what: `stdin: ${OVERSIZED_STDIN >> 20} MiB config`, oracle: s.seed.command !== "VERSION" ? { expect: "fail", why: "a config of tens of MiB must be refused (issue 11, defect 2: bounded stdin)" } : undefined };
    case 10: set(text.replaceAll(":", ": ").replaceAll(",", " ,\n\t")); return { what: "stdin: odd whitespace" };
    default: set(`[${text}]`); return { what: "stdin: config inside an array" };
  }
}

// --------------------------------------------------------------------------------------------------- helpers

export function short(v: unknown): string {
  const t = v instanceof Raw ? v.text : typeof v === "string" ? JSON.stringify(v) : JSON.stringify(v) ?? String(v);
  return t.length > 80 ? `${t.slice(0, 60)}…(${t.length} chars)` : t;
}

export type Mutator = (r: Rng, s: Subject) => Applied | undefined;

/** Operators and their weights (stdin mutations run last, on the serialized text, so they are apart). */
export const MUTATORS: [Mutator, number][] = [
  [treeMutation, 60],
  [envMutation, 22],
  [fileMutation, 10],
  [longIdMutation, 5],
  [injectionMutation, 4],
  [inputFileMutation, 3],
  [degenerateRangeMutation, 2],
  [stdoutMutation, 2],
];

export type { CommandName, PluginName };
