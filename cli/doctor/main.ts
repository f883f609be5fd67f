// `cni doctor`: the node's pod network checked in the current network namespace (the node's, as kubelet runs
// plugins), each check with a status, its evidence and the fix. Read only, except `--fix`, which applies the
// safe repairs the checks offer (repairs.ts: each printed before it is done, and re-judged under the product's
// locks) and then checks again.
import { basename } from "node:path";
import { writeAll } from "../../lib/skel/index.ts";
import { privilegeProblem } from "./privilege.ts";
import type { CheckResult } from "./check.ts";
import { type NodeSurvey, surveyNode } from "./survey.ts";
import { type Options, PATH_DEFAULTS, PATH_USAGE, UsageError, parseOptions } from "./options.ts";
import { toJSON, toText, useColour } from "./report.ts";
import { type Action, applyRepairs } from "./repairs.ts";
import { checkAddresses } from "./checks/addresses.ts";
import { checkBridge } from "./checks/bridge.ts";
import { checkConfig } from "./checks/config.ts";
import { checkFirewall } from "./checks/firewall.ts";
import { checkForwarding } from "./checks/forwarding.ts";
import { checkLease, leaseSubnets } from "./checks/lease.ts";
import { checkLinks } from "./checks/links.ts";
import { checkNodeMasquerade } from "./checks/masquerade.ts";
import { checkOffload } from "./checks/offload.ts";
import { checkProbe, PROBE_TIMEOUT_MS } from "./checks/probe.ts";
import { checkRoutes } from "./checks/routes.ts";
import { checkVxlan } from "./checks/vxlan.ts";

export const USAGE = `usage: cni doctor [--json] [--fix] [--probe] ${PATH_USAGE}
  checks this node's pod network (run it in the node's network namespace) and says what to fix
  --json      {"checks":[{"id","status","summary","evidence","fix"}],"counts":{"ok","warn","fail"}}, with --fix
              also "actions":[{"what","result":"ok"|"failed"|"skipped","reason"}] (the checks are those after it)
  --fix       apply the safe repairs (stale reservations and their rules, leftovers, orphan veths, a
              mismatched cni0 with no pod on it); never flanneld's devices, routes or FDB, nor the firewall policy;
              each checked again under the network's lock first, and skipped if a pod came back or an ADD is running
  --probe     also send one ICMP echo to each peer's overlay address and each running pod's address, all at once;
              a silent one fails (adds at most ${PROBE_TIMEOUT_MS / 1000} s, whatever the number of peers)
${PATH_DEFAULTS}exit: 0 no check failed, 1 a check failed, 2 usage error or not root (nor CAP_NET_ADMIN)
`;

/** Each check; one with a condition runs only when the options ask for it (the probe sends packets). */
const CHECKS: [string, (node: NodeSurvey) => CheckResult, ((opts: Options) => boolean)?][] = [
  ["config", checkConfig],
  ["lease", checkLease],
  ["bridge", checkBridge],
  ["vxlan", checkVxlan],
  ["offload", checkOffload],
  ["routes", checkRoutes],
  ["probe", checkProbe, (opts) => opts.probe],
  ["forwarding", checkForwarding],
  ["firewall", checkFirewall],
  ["masquerade", checkNodeMasquerade],
  ["addresses", checkAddresses],
  ["links", checkLinks],
];

/** Run every check; one that throws is reported as a failure of its own, never stops the others. */
export function runChecks(node: NodeSurvey): CheckResult[] {
  return CHECKS.filter(([, , when]) => !when || when(node.opts)).map(([id, check]) => {
    try {
      return check(node);
    } catch (e) {
      const summary = `the check itself failed: ${(e as Error).message}`;
      return { id, status: "fail", summary, evidence: [], fix: "report this with the command's output" };
    }
  });
}

export function heading(node: NodeSurvey): string {
  const conf = node.configs.active ? `${basename(node.configs.active.file)}, network "${node.network}"` : "no network configuration";
  const lease = node.lease ? `lease ${leaseSubnets(node.lease)}` : "no lease";
  return `cni doctor: ${conf}; ${lease}`;
}

function examine(opts: Options): { node: NodeSurvey; results: CheckResult[] } {
  const node = surveyNode(opts);
  return { node, results: runChecks(node) };
}

export function doctorMain(argv: string[]): number {
  if (argv.includes("--help") || argv.includes("-h")) {
    writeAll(1, USAGE);
    return 0;
  }
  let opts: ReturnType<typeof parseOptions>;
  try {
    opts = parseOptions(argv, { fix: true, probe: true });
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    writeAll(2, `cni doctor: ${e.message}\n${USAGE}`);
    return 2;
  }
  const unprivileged = privilegeProblem(opts);
  if (unprivileged) {
    writeAll(2, `cni doctor: ${unprivileged}\n`);
    return 2;
  }
  let { node, results } = examine(opts);
  let actions: Action[] | undefined;
  if (opts.fix) {
    // In JSON mode stdout holds only the document (which lists the actions): progress goes to stderr.
    actions = applyRepairs(
      results.flatMap((r) => r.repairs ?? []),
      (s) => writeAll(opts.json ? 2 : 1, `${s}\n`),
    );
    if (actions.length) {
      node.nl.close();
      ({ node, results } = examine(opts));
    }
  }
  writeAll(1, opts.json ? toJSON(results, actions) : toText(results, heading(node), useColour()));
  node.nl.close();
  return results.some((r) => r.status === "fail") ? 1 : 0;
}
