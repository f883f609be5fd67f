// Check 1: a network configuration exists, is valid (JSON Schema, with the key path of each error), is the only
// one (or which one wins, and why), and every plugin it runs is an executable in the bin folder that supports
// the list's version (asked: VERSION) and is this build of cni, or else what it is (plugin-findings.ts).
import { basename } from "node:path";
import { type CheckResult, type Finding, fromFindings } from "../check.ts";
import { pluginFinding, pluginTypes } from "../plugin-findings.ts";
import { thisBuild } from "../plugin-identity.ts";
import type { NodeSurvey } from "../survey.ts";
import { validate } from "../schema.ts";

const ID = "config";

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
  const okSummary = `${basename(active.file)} is valid and its plugins are this cni (${thisBuild()}) and answer for cniVersion ${active.list.cniVersion}`;
  return fromFindings(ID, okSummary, evidence, findings);
}
