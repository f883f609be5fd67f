// Check: checksum offload on the VXLAN device. With tx-checksum-ip-generic on, the UDP checksum of VXLAN packets is
// left to be filled in later; behind NAT (and with some kernels and virtual NICs) it comes out wrong and the peer
// drops every packet, which flannel's troubleshooting guide fixes by turning it off with ethtool. Read from the
// kernel (ethtool's netlink family), judged on the vxlan backend only, and a warning: on a node whose path is not
// affected, the offload is harmless.
import { type Features, deviceFeatures } from "../../../lib/netlink/ethtool.ts";
import { type CheckResult, fromFindings, ok, skipped } from "../check.ts";
import type { NodeSurvey } from "../survey.ts";
import { flannelBackendOf } from "./backend.ts";

const ID = "offload";
const FEATURE = "tx-checksum-ip-generic";

export function checkOffload(node: NodeSurvey): CheckResult {
  const { backend, device } = flannelBackendOf(node);
  if (backend !== "vxlan" || !device) return ok(ID, `not in use (backend ${backend})`);
  let f: Features;
  try {
    f = deviceFeatures(device.name);
  } catch (e) {
    return skipped(ID, `${device.name}'s offload features cannot be read (${(e as Error).message})`);
  }
  const dev = device.name;
  const state = `${dev}: ${FEATURE} ${f.active.has(FEATURE) ? "on" : "off"}${f.fixed.has(FEATURE) ? " [fixed]" : ""}`;
  if (!f.active.has(FEATURE)) return ok(ID, `${dev} computes VXLAN's checksums itself (${FEATURE} off)`, [state]);
  const off = `ethtool -K ${dev} ${FEATURE} off`;
  const fix = f.fixed.has(FEATURE)
    ? `${dev}'s driver does not let ${FEATURE} be turned off: if peers drop this node's VXLAN packets, avoid the NAT on the path between the nodes`
    : `"${off}" (flanneld recreates ${dev} when it restarts: a udev rule keeps it off, ` +
      `SUBSYSTEM=="net", ACTION=="add|change|move", ENV{INTERFACE}=="${dev}", RUN+="/usr/sbin/${off}"); ` +
      "doctor --fix never changes flanneld's device";
  return fromFindings(
    ID,
    "",
    [state],
    [
      {
        status: "warn",
        text:
          `${dev} has ${FEATURE} on: behind NAT, or with a kernel or NIC that miscomputes VXLAN's UDP checksum, ` +
          "peers drop its packets (flannel's troubleshooting guide turns it off)",
        fix,
      },
    ],
  );
}
