// The config check's look at the bin folder: every plugin name the active list runs (with the delegates flannel
// renders and bridge calls) is an executable there, answers VERSION with the list's cniVersion, and is this
// build of cni — or, when it is not, what it is (another build, or another program), from its own answers.
import { accessSync, constants, statSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "../../lib/sys/spawn.ts";
import { describeValue, isObject } from "../../lib/skel/index.ts";
import { identityText } from "../../lib/skel/build.ts";
import { loadConfig as loadFlannelConfig } from "../../plugins/flannel/config.ts";
import { delegateTypes } from "../../plugins/flannel/render.ts";
import type { Finding } from "./check.ts";
import type { NodeSurvey } from "./survey.ts";
import { claimedPlugin, identify, thisBuild } from "./plugin-identity.ts";
import { INSTALLED_NAME } from "../install-files.ts";

/** Every plugin the list runs, with the delegates flannel (as it renders them) and bridge call. */
export function pluginTypes(node: NodeSurvey): string[] {
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

/** One plugin name: evidence (a string) when it is this build and supports `version`, else a finding. */
export function pluginFinding(bin: string, type: string, version: string): Finding | string {
  // A type is a file name in the bin folder, as libcni (and our delegation) finds it: never a path to run.
  if (type.includes("/") || type.includes("\0")) {
    return {
      status: "fail",
      text: `plugin type ${describeValue(type)} is not a file name: the runtime finds no such plugin`,
      fix: "name the plugin by its file name in the bin folder (flannel, bridge, host-local, portmap, …)",
    };
  }
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
  // Replacing a name with this build is safe for running pods: ours CHECKs and DELs what the Go plugins made.
  // One text for every name, so the report's fixes (joined without repeats) say it once.
  const reinstall =
    `run cni install --dest ${bin} with the cni this node should run (this one is ${thisBuild()}): it writes cni and a ` +
    "launcher of it as every plugin name, and says what each name held; keep a name that is not cni only if you meant to run that program";
  const id = identify(path);
  const who = id.answerer;
  const v = askVersion(path, version);
  if (v.error) {
    return {
      status: "fail",
      text: `${path} does not answer VERSION: ${v.error} (it is ${id.what})`,
      // A launcher fails only for want of its cni: installing puts that back.
      fix: id.launches === undefined ? `replace ${path} with a working CNI plugin` : reinstall,
    };
  }
  const supported = v.versions!.join(", ");
  if (version && !v.versions!.includes(version)) {
    return {
      status: "fail",
      text: `${path} does not support cniVersion ${version} (it supports ${supported}; it is ${id.what})`,
      fix: `set "cniVersion" to one of ${supported}, or upgrade the plugin`,
    };
  }
  // A link to cni works until an installer copies over its name: then cni itself is overwritten, every name with it.
  const fragile =
    id.linkTarget === undefined || id.launches !== undefined
      ? undefined
      : ({
          status: "warn",
          text: `${path} is a link to ${id.linkTarget}: cp -f over this name (as kube-flannel's init container does) writes through it into cni, and then every plugin name runs what was copied`,
          fix: reinstall,
        } satisfies Finding);
  const how = id.launches === undefined ? "" : ` through its launcher ${path}`;
  switch (who.kind) {
    case "self":
      return fragile ?? `${type}: ${id.launches ?? path} is this executable (${thisBuild()})${how} and supports ${version}`;
    case "same-build":
      return (
        fragile ??
        `${type}: ${id.launches ?? path} is ${identityText(who.build)}, this build (a copy of ${id.size} bytes)${how}, and supports ${version}`
      );
    case "other-build":
      return {
        status: "warn",
        text: `${path} is another build of cni, ${identityText(who.build)} (${id.what}), not this one (${thisBuild()})`,
        fix: reinstall,
      };
    case "foreign": {
      const says = who.line === undefined ? "prints no version" : `says ${JSON.stringify(who.line)}`;
      const claimed = claimedPlugin(who.line);
      // A program that says it is another plugin gets this name's configs: pods are not set up as the list says.
      const wrongPlugin = claimed !== undefined && claimed !== type;
      const overwritten =
        id.linkTarget === INSTALLED_NAME
          ? `; ${join(bin, INSTALLED_NAME)} itself was overwritten (cp -f onto a link writes through it)`
          : id.launches !== undefined
            ? `; ${id.launches} itself was replaced, so every name launching it runs that program`
            : "";
      return {
        status: wrongPlugin ? "fail" : "warn",
        text:
          `${path} is not cni but ${id.what}: it ${says}${wrongPlugin ? `, so the "${type}" name runs the ${claimed} plugin` : ""}` +
          ` (VERSION: supports ${supported})${overwritten}`,
        fix: reinstall,
      };
    }
  }
}
