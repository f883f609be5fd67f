// Check 1: a network configuration exists, is valid (JSON Schema, with the key path of each error), is the only
// one (or which one wins, and why), and every plugin it runs is an executable in the bin folder that supports
// the list's version (asked: VERSION).
import { accessSync, constants, statSync } from "node:fs";
import { basename, join } from "node:path";
import { spawnSync } from "../../../lib/sys/spawn.ts";
import { isObject } from "../../../lib/skel/index.ts";
import { loadConfig as loadFlannelConfig } from "../../../plugins/flannel/config.ts";
import { delegateTypes } from "../../../plugins/flannel/render.ts";
import { type CheckResult, type Finding, fromFindings } from "../check.ts";
import type { NodeSurvey } from "../survey.ts";
import { validate } from "../schema.ts";

const ID = "config";

/** Every plugin the list runs, with the delegates flannel (as it renders them) and bridge call. */
function pluginTypes(node: NodeSurvey): string[] {
  const types = new Set<string>();
  const list = node.configs.active?.list;
  for (const p of list?.plugins ?? []) {
    types.add(p.type);
    let extra: unknown[] = [isObject(p.conf.ipam) ? p.conf.ipam.type : undefined];
    if (p.type === "flannel") {
      try {
        const t = delegateTypes(loadFlannelConfig({ ...p.conf, name: list!.name, cniVersion: list!.cniVersion }, { teardown: true }));
        extra = [t.type, t.ipamType];
      } catch {
        extra = []; // flannel refuses its config: the schema check names why
      }
    }
    for (const t of extra) if (typeof t === "string" && t) types.add(t);
  }
  return [...types];
}

function askVersion(path: string, version: string): { versions?: string[]; error?: string } {
  const r = spawnSync(path, [], {
    env: { CNI_COMMAND: "VERSION", PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin" },
    input: JSON.stringify({ cniVersion: version }),
    encoding: "utf8",
    timeout: 10_000,
    maxBuffer: 1 << 20,
  });
  if (r.error) return { error: r.error.message };
  try {
    const j = JSON.parse(r.stdout) as { supportedVersions?: unknown; msg?: unknown };
    if (Array.isArray(j.supportedVersions)) return { versions: j.supportedVersions.map(String) };
    return { error: `answered ${r.stdout.trim().slice(0, 200)}` };
  } catch {
    return { error: `exit ${r.status}, printed ${JSON.stringify(r.stdout.trim().slice(0, 200))}, not a VERSION answer` };
  }
}

function pluginFinding(bin: string, type: string, version: string): Finding | string {
  const path = join(bin, type);
  try {
    if (!statSync(path).isFile()) throw new Error("not a file");
    accessSync(path, constants.X_OK);
  } catch {
    return {
      status: "fail",
      text: `plugin "${type}" is not an executable in ${bin}`,
      fix: `install the ${type} plugin as ${path} (or pass --bin-dir where the runtime's CNI_PATH points)`,
    };
  }
  const v = askVersion(path, version);
  if (v.error) return { status: "fail", text: `${path} does not answer VERSION: ${v.error}`, fix: `replace ${path} with a working CNI plugin` };
  if (version && !v.versions!.includes(version)) {
    return {
      status: "fail",
      text: `${path} does not support cniVersion ${version} (it supports ${v.versions!.join(", ")})`,
      fix: `set "cniVersion" to one of ${v.versions!.join(", ")}, or upgrade the plugin`,
    };
  }
  return `${type}: ${path} supports ${version}`;
}

export function checkConfig(node: NodeSurvey): CheckResult {
  const { configs } = node;
  const findings: Finding[] = [];
  const evidence: string[] = [];
  if (configs.missingDir || !configs.files.length) {
    const why = configs.missingDir ?? `${configs.dir} holds no .conf, .conflist or .json file`;
    const fix = `install the flannel conflist (conf-examples/10-flannel.conflist) into ${configs.dir}`;
    return { id: ID, status: "fail", summary: `no network configuration: ${why}`, evidence: [], fix };
  }
  for (const f of configs.files) {
    if (f.error) findings.push({ status: "fail", text: `${basename(f.file)}: ${f.error}`, fix: `fix or remove ${f.file}` });
    else {
      const { name, cniVersion, plugins } = f.list!;
      evidence.push(`${basename(f.file)}: network "${name}", cniVersion ${cniVersion}, plugins ${plugins.map((p) => p.type).join(", ")}`);
    }
  }
  const active = configs.active;
  if (!active?.list) {
    findings.push({
      status: "fail",
      text: node.opts.network ? `no configuration of network "${node.opts.network}" in ${configs.dir}` : `no valid configuration in ${configs.dir}`,
      fix: `install a valid conflist into ${configs.dir}`,
    });
    return fromFindings(ID, "", evidence, findings);
  }
  evidence.unshift(`active: ${basename(active.file)} (network "${active.list.name}"): ${configs.why}`);
  const others = configs.files.filter((f) => f !== active && f.list);
  if (others.length) {
    const names = others.map((f) => `${basename(f.file)} (network "${f.list!.name}")`).join(", ");
    findings.push({
      status: "fail",
      text:
        `${configs.files.length} configurations in ${configs.dir}: the runtime uses ${basename(active.file)} (${configs.why}); ` +
        `${names} ${others.length > 1 ? "are" : "is"} ignored`,
      fix:
        `keep one configuration per node: the runtime uses ${active.file}; if that is not the one you mean, remove it ` +
        `(or rename yours to sort before it), otherwise remove ${others.map((f) => f.file).join(", ")}`,
    });
  }
  // A .conf is validated as the list of one that libcni makes of it (the list's bytes).
  const isList = active.file.endsWith(".conflist");
  for (const e of validate(JSON.parse(active.list.bytes))) {
    const at = isList ? e.path : e.path.replace(/^plugins\[0\]\.?/, "");
    findings.push({
      status: "fail",
      text: `${basename(active.file)}: ${at || "(top level)"}: ${e.message}`,
      fix: `correct ${at || "the file"} in ${active.file}`,
    });
  }
  for (const type of pluginTypes(node)) {
    const r = pluginFinding(node.opts.binDir, type, active.list.cniVersion);
    if (typeof r === "string") evidence.push(r);
    else findings.push(r);
  }
  return fromFindings(ID, `${basename(active.file)} is valid and its plugins answer for cniVersion ${active.list.cniVersion}`, evidence, findings);
}
