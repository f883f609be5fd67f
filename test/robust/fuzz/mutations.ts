// The general mutation operators: anywhere in the config tree, the environment, the lease and resolv.conf files,
// and raw stdin. Each returns a short description of what it did (printed with a failing case) and, when the
// outcome is known whatever the implementation, an oracle.
//
// Safety: nothing may make a plugin write outside the case's folder. Keys that name where a plugin writes take
// only values inside @T@ (or /dev/null, /dev/zero), are never dropped or nulled (that would mean the machine's
// default /var/lib/cni/...), and the objects holding them are replaced only by scalars. CNI_NETNS never names a
// namespace other than the case's own pod and node, CNI_PATH never a folder of real executables but ours.
import type { Rng } from "./prng.ts";
import { DUPS, Raw, pathString, put, slots } from "./json-text.ts";
import type { Fixture, Protection, Seed } from "./seeds.ts";
import { type Applied, type Oracle, type Subject, insideSandbox, pathVariant, useFixture } from "./subject.ts";
import { BAD_CIDRS, BAD_IPS, DEGENERATE, TYPE_NAMES, badNumber, deepNest, hostileString, otherType, short } from "./values.ts";

function protectionOf(seed: Seed, path: string): Protection | undefined {
  const own = seed.protect[path];
  if (own) return own;
  const below = Object.entries(seed.protect).some(([k, p]) => p === "write-path" && k.startsWith(`${path}.`));
  return below ? "holds-write-path" : undefined;
}

/** A value for a key naming where a plugin writes: "" would mean the machine's default folder. */
const sandboxed = (v: string) => (v !== "" && insideSandbox(v) ? v : `@T@/escaped-${v.length}`);

const KNOWN_KEYS: [string, () => unknown][] = [
  ["ipMasq", () => true],
  ["isGateway", () => false],
  ["isDefaultGateway", () => true],
  ["forceAddress", () => true],
  ["hairpinMode", () => true],
  ["promiscMode", () => true],
  ["mtu", () => 68],
  ["vlan", () => 100],
  ["vlanTrunk", () => [{ minID: 10, maxID: 12 }]],
  ["preserveDefaultVlan", () => false],
  ["enabledad", () => true],
  ["macspoofchk", () => true],
  ["disableContainerInterface", () => true],
  ["portIsolation", () => true],
  ["ipMasqBackend", () => "nftables"],
  ["backend", () => "iptables"],
  ["snat", () => false],
  ["masqAll", () => true],
  ["markMasqBit", () => 31],
  ["externalSetMarkChain", () => "KUBE-MARK-MASQ"],
  ["conditionsV4", () => ["-m", "comment", "--comment", "x\n-A INPUT -j DROP"]],
  ["conditionsV6", () => ["-s", "::1"]],
  ["runtimeConfig", () => ({ portMappings: [{ hostPort: 1, containerPort: 65535, protocol: "sctp" }] })],
  ["runtimeConfig", () => ({ mac: "0a:58:0a:f4:01:05", ips: ["10.99.0.9/24"] })],
  ["args", () => ({ cni: { ips: ["10.99.0.33"], mac: "zz" } })],
  ["dns", () => ({ nameservers: ["10.96.0.10"], search: ["a\nb"] })],
  ["prevResult", () => ({ cniVersion: "1.0.0", ips: [{ address: "nope" }] })],
  ["prevResult", () => null],
  ["cni.dev/valid-attachments", () => [{ containerID: 1, ifname: "eth0" }]],
  ["capabilities", () => ({ portMappings: true })],
  ["__proto__", () => ({ isGateway: true, dataDir: "/" })],
  ["constructor", () => ({ prototype: 1 })],
  ["delegate", () => ({ type: "host-local" })],
  ["cniVersions", () => ["1.0.0"]],
  ["disableCheck", () => true],
  ["bridge", () => "lo"],
  ["bridge", () => "eth0"],
  ["subnet", () => "10.99.0.0/24"],
  ["resolvConf", () => "@T@/resolv.conf"],
  ["routes", () => [{ dst: "0.0.0.0/0", gw: "10.99.0.1", mtu: -1, table: 2 ** 32, scope: 999 }]],
  ["ranges", () => [[{ subnet: "10.99.0.0/24" }], [{ subnet: "10.99.0.0/25" }]]],
  ["ipam", () => ({ type: "host-local", dataDir: "@T@/ipam2", subnet: "10.98.0.0/24" })],
];

export function treeMutation(r: Rng, s: Subject): Applied | undefined {
  const all = slots(s.conf);
  const op = r.int(12);
  if (op === 0 || all.length === 0) {
    // A key that is not there: unknown, or one another plugin understands, anywhere in the tree.
    const objects = [
      { path: [] as (string | number)[], obj: s.conf as Record<string, unknown> },
      ...all
        .filter((x) => x.value && typeof x.value === "object" && !Array.isArray(x.value) && !(x.value instanceof Raw))
        .map((x) => ({ path: x.path, obj: x.value as Record<string, unknown> })),
    ];
    const target = r.pick(objects);
    const [key, make] = r.chance(0.7) ? r.pick(KNOWN_KEYS) : [hostileString(r).slice(0, 64), () => hostileString(r)];
    if (key in target.obj && protectionOf(s.seed, pathString([...target.path, key]))) return undefined;
    let value = make();
    if (key === "ipam" || (typeof value === "object" && value !== null && "dataDir" in value))
      value = JSON.parse(JSON.stringify(value).replaceAll('"dataDir":"/"', `"dataDir":"@T@/proto"`));
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
        return {
          what: `${where} = ${v}`,
          oracle:
            isRange && s.seed.command === "ADD" ? { expect: "fail", why: `a ${v} range cannot be allocated from (issue 11, defect 11)` } : undefined,
        };
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
        const v =
          n === 0 ? [] : Array.from({ length: n }, (_, i) => (slot.value as unknown[])[i % Math.max(1, (slot.value as unknown[]).length)] ?? i);
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
    undefined,
    "",
    "@T@/nope",
    "@NODE@",
    "/proc/self/ns/net",
    "/proc/thread-self/ns/net",
    "/proc/self/ns/mnt",
    "/dev/null",
    "netns",
    "@POD@/",
    "@POD@\n",
    "x".repeat(8192),
    () => useFixture(s, "adir"),
    () => useFixture(s, "afile"),
    () => useFixture(s, "fifo"),
    () => useFixture(s, "dangling"),
  ],
  CNI_IFNAME: () => [
    undefined,
    "",
    "a".repeat(16),
    "a".repeat(15),
    ".",
    "..",
    "a/b",
    "a:b",
    "a b",
    "lo",
    "eth0\n",
    "ëëëëëëëë",
    "-",
    "eth%d",
    "*",
    "\u0001",
    "eth0\t",
  ],
  CNI_ARGS: () => [
    "IP=10.99.0.77",
    "IgnoreUnknown=1;IP=10.99.0.77",
    "IgnoreUnknown=1;IP=999.1.1.1",
    "K=V=W",
    ";;",
    "=",
    "IgnoreUnknown=1;MAC=zz",
    "IgnoreUnknown=1;MAC=0a:58:0a:f4:01:05",
    "IP=10.99.0.5/24",
    "K8S_POD_NAME=x",
    "a".repeat(100_000),
    "IgnoreUnknown=1;IP=10.99.0.1",
  ],
  CNI_PATH: (s) => [
    undefined,
    "",
    "@T@/empty",
    "/nonexistent",
    "@BIN@:@BIN@",
    ":::",
    "bin",
    "@BIN@/bridge",
    "x".repeat(65536),
    ...["silent", "garbage", "bad-error", "no-error", "twice", "bad-ip", "result", "noisy"].map((mode) => () => `${fakePluginDir(s, mode)}:@BIN@`),
  ],
  CNI_LOG_LEVEL: () => ["debug"],
  CNI_NETNS_OVERRIDE: () => ["1"],
};

export function envMutation(r: Rng, s: Subject): Applied | undefined {
  const key = r.pick(Object.keys(ENV_VALUES));
  const choice = r.pick(ENV_VALUES[key](s));
  const v = typeof choice === "function" ? choice() : choice;
  if (v === undefined) {
    if (!(key in s.env)) return undefined;
    delete s.env[key];
    const goneNetns = key === "CNI_NETNS" && s.seed.command === "DEL";
    return {
      what: `env: unset ${key}`,
      oracle: goneNetns ? { expect: "succeed", why: "DEL without a namespace must still succeed (spec: DEL when things are gone)" } : undefined,
    };
  }
  s.env[key] = v;
  const goneNetns = key === "CNI_NETNS" && s.seed.command === "DEL" && (v === "@T@/nope" || v === "");
  return {
    what: `env: ${key}=${short(v)}`,
    oracle: goneNetns ? { expect: "succeed", why: "DEL of a namespace that is gone must succeed" } : undefined,
  };
}

/** A valid but long container id: the reference accepts 5,000 characters (issue 11, defect 5). */
export function longIdMutation(r: Rng, s: Subject): Applied | undefined {
  if (!("CNI_CONTAINERID" in s.env)) return undefined;
  const n = r.pick([255, 1019, 1020, 2048, 5000]);
  s.env.CNI_CONTAINERID = `fz${r.hex(8)}${"a".repeat(n - 10)}`;
  const oracle: Oracle | undefined =
    s.seed.command === "ADD" && s.seed.plugin !== "flannel"
      ? { expect: "succeed", why: `a valid ${n}-character container id must be accepted (issue 11, defect 5; the reference takes 5,000)` }
      : undefined;
  return { what: `env: CNI_CONTAINERID of ${n} valid characters`, oracle };
}

const LEASE_EDITS: [string, (t: string, r: Rng) => string][] = [
  [
    "drop a line",
    (t, r) => {
      const ls = t.trim().split("\n");
      ls.splice(r.int(ls.length), 1);
      return `${ls.join("\n")}\n`;
    },
  ],
  ["CRLF", (t) => t.replaceAll("\n", "\r\n")],
  ["empty", () => ""],
  ["garbage", (_t, r) => hostileString(r)],
  ["NUL bytes", (t) => t.replace("=", "=\u0000")],
  ["FLANNEL_MTU out of range", (t, r) => t.replace(/FLANNEL_MTU=\d+/, `FLANNEL_MTU=${r.pick(["0", "-1", "99999999999", "abc", "1e3", "", "67"])}`)],
  ["bad FLANNEL_SUBNET", (t, r) => t.replace(/FLANNEL_SUBNET=\S+/, `FLANNEL_SUBNET=${r.pick(BAD_CIDRS)}`)],
  [
    "bad FLANNEL_NETWORK",
    (t, r) => t.replace(/FLANNEL_NETWORK=\S+/, `FLANNEL_NETWORK=${r.pick([...BAD_CIDRS, "10.244.0.0/16,,", "10.244.0.0/16,10.244.0.0/16", ""])}`),
  ],
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

export function fileMutation(r: Rng, s: Subject): Applied | undefined {
  const f = s.fixtures.find((x) => x.kind === "file" && (x.path === "subnet.env" || x.path === "resolv.conf")) as
    | Extract<Fixture, { kind: "file" }>
    | undefined;
  if (!f) return undefined;
  const [what, edit] = r.pick(f.path === "subnet.env" ? LEASE_EDITS : RESOLV_EDITS);
  if (f.path === "subnet.env" && r.chance(0.1)) {
    f.content = f.content.replace(/FLANNEL_SUBNET=\S+/, "FLANNEL_SUBNET=0.0.0.0/0").replace(/FLANNEL_NETWORK=\S+/, "FLANNEL_NETWORK=0.0.0.0/0");
    const adds = s.seed.command === "ADD" && /FLANNEL_SUBNET=0\.0\.0\.0\/0/.test(f.content);
    return {
      what: "subnet.env: FLANNEL_NETWORK=FLANNEL_SUBNET=0.0.0.0/0",
      oracle: adds ? { expect: "fail", why: "a 0.0.0.0/0 lease cannot be allocated from (issue 11, defect 11)" } : undefined,
    };
  }
  f.content = edit(f.content, r);
  return { what: `${f.path}: ${what}` };
}

/** More than "a few MiB" of config: must be refused (issue 11, defect 2). */
export const OVERSIZED_STDIN = 40 << 20;

export function stdinMutation(r: Rng, s: Subject, text: string): Applied {
  const set = (t: string, latin1 = false) => (s.stdin = { text: t, latin1 });
  switch (r.int(12)) {
    case 0:
      set("");
      return { what: "stdin: empty" };
    case 1: {
      const t = r.pick(["null", "[]", "1", '"s"', "{", "}", "true", "{}", "[{}]", "\u0000"]);
      set(t);
      return { what: `stdin: ${short(t)}` };
    }
    case 2: {
      const n = r.int(text.length);
      set(text.slice(0, n));
      return { what: `stdin: truncated at ${n} of ${text.length}` };
    }
    case 3:
      set(Array.from({ length: r.between(1, 512) }, () => String.fromCharCode(r.int(256))).join(""), true);
      return { what: "stdin: random bytes" };
    case 4:
      set(`\ufeff${text}`);
      return { what: "stdin: byte order mark" };
    case 5:
      set(`${text}\n${text}`);
      return { what: "stdin: two documents" };
    case 6:
      set(`${text}garbage`);
      return { what: "stdin: trailing garbage" };
    case 7:
      set(text.replace(/"(\w+)"/, '"$1\u00ff"'), true);
      return { what: "stdin: invalid UTF-8 in a string" };
    case 8:
      set(`${" ".repeat(1 << 20)}${text}`);
      return { what: "stdin: 1 MiB of leading blanks" };
    case 9:
      set(`${text.slice(0, -1)},"pad":"${"x".repeat(OVERSIZED_STDIN)}"}`);
      return {
        what: `stdin: ${OVERSIZED_STDIN >> 20} MiB config`,
        oracle:
          s.seed.command !== "VERSION"
            ? { expect: "fail", why: "a config of tens of MiB must be refused (issue 11, defect 2: bounded stdin)" }
            : undefined,
      };
    case 10:
      set(text.replaceAll(":", ": ").replaceAll(",", " ,\n\t"));
      return { what: "stdin: odd whitespace" };
    default:
      set(`[${text}]`);
      return { what: "stdin: config inside an array" };
  }
}
