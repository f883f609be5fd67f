// Check: checksum offload on the VXLAN device. With tx-checksum-ip-generic on, the UDP checksum of VXLAN packets is
// left to be filled in later; behind NAT (and with some kernels and virtual NICs) it comes out wrong and the peer
// drops every packet, which flannel's troubleshooting guide fixes by turning it off with ethtool. Read from the
// kernel (ethtool's netlink family), judged on the vxlan backend only, and a warning: on a node whose path is not
// affected, the offload is harmless.
import { type Features, deviceFeatures } from "../../../lib/netlink/ethtool.ts";
import { type CheckResult, type Finding, fromFindings, ok } from "../check.ts";
import type { NodeSurvey } from "../survey.ts";
import { flannelBackendOf, vxlanDevices } from "./backend.ts";

const ID = "offload";
const FEATURE = "tx-checksum-ip-generic";

/** One VXLAN device's offload: its state as evidence, and a finding when it is on. */
function judgeDevice(dev: string): { state: string; finding?: Finding } {
  let f: Features;
  try {
    f = deviceFeatures(dev);
  } catch (e) {
    const text = `${dev}'s offload features cannot be read (${(e as Error).message})`;
    return { state: text, finding: { status: "warn", text: `not checked: ${text}` } };
  }
  const state = `${dev}: ${FEATURE} ${f.active.has(FEATURE) ? "on" : "off"}${f.fixed.has(FEATURE) ? " [fixed]" : ""}`;
  if (!f.active.has(FEATURE)) return { state };
  const off = `ethtool -K ${dev} ${FEATURE} off`;
  const fix = f.fixed.has(FEATURE)
    ? `${dev}'s driver does not let ${FEATURE} be turned off: if peers drop this node's VXLAN packets, avoid the NAT on the path between the nodes`
    : `"${off}" (flanneld recreates ${dev} when it restarts: a udev rule keeps it off, ` +
      `SUBSYSTEM=="net", ACTION=="add|change|move", ENV{INTERFACE}=="${dev}", RUN+="/usr/sbin/${off}"); ` +
      "doctor --fix never changes flanneld's device";
  return {
    state,
    finding: {
      status: "warn",
      text:
        `${dev} has ${FEATURE} on: behind NAT, or with a kernel or NIC that miscomputes VXLAN's UDP checksum, ` +
        "peers drop its packets (flannel's troubleshooting guide turns it off)",
      fix,
    },
  };
}

export function checkOffload(node: NodeSurvey): CheckResult {
  const { backend } = flannelBackendOf(node);
  const devices = vxlanDevices(node).map(({ dev }) => dev.name);
  if (backend !== "vxlan" || !devices.length) return ok(ID, `not in use (backend ${backend})`);
  const judged = devices.map(judgeDevice);
  return fromFindings(
    ID,
    `${devices.join(", ")} ${devices.length === 1 ? "computes" : "compute"} VXLAN's checksums itself (${FEATURE} off)`,
    judged.map((j) => j.state),
    judged.flatMap((j) => j.finding ?? []),
  );
}
