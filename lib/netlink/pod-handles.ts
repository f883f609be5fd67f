// A plugin's two sides at once: a netlink socket in its own namespace and one in the pod's, closed together
// whatever happens (in-process delegation means a leaked fd would outlive the plugin call).
import { NetlinkSocket } from "./socket.ts";
import { Netns } from "../ns/netns.ts";

export interface PodHandles {
  /** The namespace the plugin runs in (the node's). */
  node: NetlinkSocket;
  pod: Netns;
  podNl: NetlinkSocket;
}

export function withNodeAndPod<T>(podPath: string, fn: (h: PodHandles) => T): T {
  const node = NetlinkSocket.open();
  let pod: Netns | undefined;
  let podNl: NetlinkSocket | undefined;
  try {
    pod = Netns.open(podPath);
    podNl = NetlinkSocket.open(pod);
    return fn({ node, pod, podNl });
  } finally {
    podNl?.close();
    pod?.close();
    node.close();
  }
}
